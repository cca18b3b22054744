"""configs/real.yaml on the small synthesized set: `ledger run` through the normal path
(mirrors as `dataset.repos`, the dataset's environment table, the bash agent, the scripted
demo policy playing `demo_scripts.json`), and every verdict is the one the script implies:
the gold patch resolves, the wrong edit does not."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from events.log import open_log
from events.payloads import EvalResult
from tests.conftest import REPO_ROOT

from .conftest import synth_env

pytestmark = pytest.mark.timeout(1800)  # a real synthesis: minutes on a loaded machine

LIMIT = 4


def test_ledger_run_verdicts_match_the_scripted_split(small_run, tmp_path):
    config = yaml.safe_load((REPO_ROOT / "configs" / "real.yaml").read_text())
    out = small_run.out
    config["model"]["upstream"] = f"demo:{out / 'demo_scripts.json'}"
    config["dataset"].update(source=str(out / "dataset.jsonl"), repos=str(out / "mirrors"),
                             environments=str(out / "environments.yaml"), limit=LIMIT,
                             cache_dir=str(small_run.cache))
    config.update(log=f"sqlite:///{tmp_path}/ledger.db", lake=str(tmp_path / "lake"),
                  artifacts=str(tmp_path / "artifacts"))
    path = tmp_path / "real.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.run([sys.executable, "-m", "main", "run", str(path)], cwd=REPO_ROOT, env=synth_env(),
                          capture_output=True, text=True, timeout=1700)
    assert proc.returncode == 0, proc.stderr[-3000:]
    scripts = json.loads((out / "demo_scripts.json").read_text())
    log = open_log(config["log"])
    try:
        results = [r.event.payload for r in log.read("evals") if isinstance(r.event.payload, EvalResult)]
    finally:
        log.close()
    assert len(results) == LIMIT
    verdicts = {r.instance_id: r.resolved for r in results}
    expected = {iid: scripts[iid]["solve_rate"] == 1.0 for iid in verdicts}
    assert verdicts == expected, [r.reason for r in results if verdicts[r.instance_id] != expected[r.instance_id]]
    assert 0 < sum(expected.values()) < LIMIT
    assert {r.harness for r in results} == {"pytest"} and all(r.status == "ok" for r in results)
    assert all(r.spec_digest for r in results)


def test_rl_mode_trains_on_the_synthesized_set(small_run, tmp_path):
    """`run.mode: rl` on a synthesized dataset: episodes of its tasks run in sandboxes on the mirrors
    with the dataset's environments, are evaluated by the projects' own suites, rewarded, grouped and
    trained on (the tiny model writes no patch: the plumbing, not learning)."""
    from producers.orchestrator.config import load_config as load_run_config
    from producers.orchestrator.rl import load_config, run_loop

    out = small_run.out
    base = load_run_config(REPO_ROOT / "configs" / "rl-swe.yaml", {
        "log": f"sqlite:///{tmp_path}/rl.db", "artifacts": str(tmp_path / "artifacts"),
        "dataset.source": str(out / "dataset.jsonl"), "dataset.repos": str(out / "mirrors"),
        "dataset.environments": str(out / "environments.yaml"), "dataset.cache_dir": str(small_run.cache)})
    base = base.model_copy(update={"rl": base.rl | {"steps": 2, "trainer": base.rl["trainer"] | {
        "checkpoint_dir": str(tmp_path / "ck"), "stall_timeout_s": 120.0}}})
    cfg = load_config(base)
    steps = run_loop(cfg)
    assert steps.status == 0, steps.message
    assert [s.step for s in steps] == [1, 2]
    instances = {json.loads(line)["instance_id"] for line in (out / "dataset.jsonl").read_text().splitlines()}
    log = open_log(cfg.log)
    try:
        groups = {r.event.payload.group_id: r.event.payload for r in log.read("rollouts")}
        evals = {r.event.payload.episode_id: r.event.payload for r in log.read("evals")}
    finally:
        log.close()
    for g in (groups[gid] for s in steps for gid in s.group_ids):
        assert g.prompt_id in instances
        for s in g.samples:
            assert evals[s.episode_id].instance_id == g.prompt_id and evals[s.episode_id].status != "infra"
            assert s.policy_version.trainer_id == "rl-swe.trainer"
