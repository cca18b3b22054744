"""configs/rl-swe.yaml end to end with the tiny model: SWE episodes through the proxy feed the trainer.

Ten async steps; every trained sample is an episode of a bundled instance played by the bash agent
in a sandbox through the run's proxy, evaluated and rewarded; the proxy followed the trainer (its
responses carry rising versions of the trainer's lineage) and no trained sample is staler than allowed.
"""
from __future__ import annotations

from pathlib import Path

from events.log import open_log
from producers.orchestrator.config import load_config as load_run_config
from producers.orchestrator.rl import load_config, run_loop

ROOT = Path(__file__).resolve().parents[2]


def test_rl_swe_config_trains_ten_async_steps_on_swe_episodes(tmp_path, bundled_cache):
    base = load_run_config(ROOT / "configs" / "rl-swe.yaml", {
        "log": f"sqlite:///{tmp_path}/rl.db", "artifacts": str(tmp_path / "artifacts"),
        "dataset.cache_dir": str(bundled_cache)})
    base = base.model_copy(update={"rl": base.rl | {"trainer": base.rl["trainer"] | {
        "checkpoint_dir": str(tmp_path / "ck"), "stall_timeout_s": 60.0}}})
    cfg = load_config(base)
    steps = run_loop(cfg)
    assert steps.status == 0, steps.message
    assert [s.step for s in steps] == list(range(1, 11))

    log = open_log(cfg.log)
    read = lambda topic: [r.event for r in log.read(topic)]  # noqa: E731
    groups = {e.payload.group_id: e.payload for e in read("rollouts")}
    started = {e.payload.episode_id: e.payload for e in read("episodes") if e.type == "episode.started"}
    proxy = read("proxy")
    requests = {e.payload.episode_id: e.payload for e in proxy if e.type == "proxy.request" and e.payload.turn == 0}
    responses = [e.payload for e in proxy if e.type == "proxy.response"]
    evals = {e.payload.episode_id for e in read("evals")}
    instances = {p.instance_id for p in started.values()}
    trained = [groups[g] for s in steps for g in s.group_ids]
    assert len(trained) == 10 * cfg.rl.trainer["batch_groups"]
    for g in trained:
        assert g.run_id == "rl-swe" and g.prompt_id in instances
        for s in g.samples:
            ep = started[s.episode_id]
            assert ep.agent == "bash" and ep.instance_id == g.prompt_id and ep.sandbox.kind == "local"
            assert s.episode_id in evals  # evaluated, rewarded
            prompt = requests[s.episode_id].prompt_token_ids
            assert s.token_ids[:len(prompt)] == prompt  # the tokens the proxy recorded
            assert s.policy_version.trainer_id == "rl-swe.trainer"
    # Versions checked: nothing staler than max_staleness was trained; the proxy followed the trainer.
    assert all(int(k) <= 1 for s in steps for k in s.staleness)
    served = {r.policy_version for r in responses}
    assert {v.trainer_id for v in served} == {"rl-swe.trainer"}
    assert len({v.step for v in served}) >= 5
    policies = [e.payload.step for e in read("trainer") if e.type == "policy.updated"]
    assert policies == list(range(1, 11))
    (finished,) = [e.payload for e in read("runs") if e.type == "run.finished"]
    assert finished.status == "finished"


def test_rl_mode_refuses_an_upstream_it_cannot_train(tmp_path):
    """A scripted upstream in rl mode is a config error naming the fix, before anything starts."""
    import subprocess
    import sys

    import yaml

    cfg = {"run": {"id": "rl-demo", "mode": "rl"}, "model": {"upstream": "demo"},
           "log": f"sqlite:///{tmp_path}/rl.db", "rl": {"steps": 1}}
    (tmp_path / "rl.yaml").write_text(yaml.safe_dump(cfg))
    res = subprocess.run([sys.executable, "-m", "main", "run", str(tmp_path / "rl.yaml")], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2, res.stderr
    assert "model.upstream must be hf:MODEL or openai:URL" in res.stderr and "rl.environment: toy" in res.stderr
    assert "Traceback" not in res.stderr and not (tmp_path / "rl.db").exists()


def test_rl_mode_trains_on_swebench_format_rows(tmp_path, swebench_mini):
    """The same loop on a SWE-bench JSONL (repositories from mirrors): episodes of its instances run in
    sandboxes on the mirrored repositories, are evaluated through the SWE-bench harness path (the tiny
    model writes no patch, so the verdict is `empty_patch`), rewarded, grouped and trained on."""
    import json

    pick = ("swe-mini__minisympy-1", "swe-mini__pyops-requests-2")
    rows = [r for r in swebench_mini.rows() if r["instance_id"] in pick]
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    base = load_run_config(ROOT / "configs" / "rl-swe.yaml", {
        "log": f"sqlite:///{tmp_path}/rl.db", "artifacts": str(tmp_path / "artifacts"),
        "dataset.source": str(tmp_path / "rows.jsonl"), "dataset.repos": str(swebench_mini.mirrors),
        "dataset.cache_dir": str(tmp_path / "cache")})
    base = base.model_copy(update={"rl": base.rl | {"steps": 3, "trainer": base.rl["trainer"] | {
        "checkpoint_dir": str(tmp_path / "ck"), "stall_timeout_s": 60.0}}})
    cfg = load_config(base)
    steps = run_loop(cfg)
    assert steps.status == 0, steps.message
    assert [s.step for s in steps] == [1, 2, 3]

    log = open_log(cfg.log)
    groups = {r.event.payload.group_id: r.event.payload for r in log.read("rollouts")}
    evals = {r.event.payload.episode_id: r.event.payload for r in log.read("evals")}
    trained = [groups[g] for s in steps for g in s.group_ids]
    assert {g.prompt_id for g in trained} <= set(pick)
    for g in trained:
        for s in g.samples:
            ev = evals[s.episode_id]
            assert ev.harness == "swebench" and ev.status in ("ok", "empty_patch") and ev.instance_id == g.prompt_id
            if ev.status == "empty_patch":  # partial@1 of no passing test, and rl-swe.yaml has no no_patch penalty
                assert s.reward == 0.0 and cfg.rl.penalties.no_patch == 0.0
            assert s.policy_version.trainer_id == "rl-swe.trainer"
