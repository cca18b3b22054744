"""`ledger run` on SWE-bench-format rows whose repositories are in a mirrors directory.

The whole path, offline: a JSONL of SWE-bench 5 rows (Django-style runner,
SymPy-style runner, a pytest repo) → `dataset.repos` mirrors → episodes (bash
agent, scripted demo upstream) → evaluation by the official harness's eval script
and log parser → scores. One extra row names a repository the mirrors do not have:
its episode fails before any model call, as an infrastructure error.
"""
from __future__ import annotations

import json

import pytest
import yaml

from events.log import open_log

from .test_run import ROOT, ledger_run

PICK = ("swe-mini__minidjango-1", "swe-mini__minidjango-2", "swe-mini__minisympy-1", "swe-mini__minisympy-2",
        "swe-mini__pyops-requests-2")
GHOST = "ghost__absent-1"


@pytest.fixture(scope="module")
def run(swebench_mini, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("swebench-run")
    rows = [r for r in swebench_mini.rows() if r["instance_id"] in PICK]
    ghost = {**rows[-1], "instance_id": GHOST, "repo": "ghost/absent"}
    (tmp / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [*rows, ghost]))
    cfg = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    cfg["run"]["id"] = "swe"
    cfg["dataset"] = {"source": str(tmp / "rows.jsonl"), "repos": str(swebench_mini.mirrors),
                      "cache_dir": str(tmp / "cache")}
    cfg["sampling"].update(n=1, k=[1])
    cfg["log"], cfg["lake"], cfg["artifacts"] = f"sqlite:///{tmp / 'ledger.db'}", str(tmp / "lake"), str(tmp / "art")
    (tmp / "swe.yaml").write_text(yaml.safe_dump(cfg))
    proc = ledger_run(tmp / "swe.yaml", tmp)
    log = open_log(cfg["log"])
    try:
        topics = {t: [r.event for r in log.read(t)] for t in ("evals", "episodes", "proxy", "scores", "runs")}
    finally:
        log.close()
    return proc, topics, swebench_mini.mirrors


def test_every_mirrored_instance_is_judged_by_the_official_harness(run):
    proc, topics, _ = run
    evals = {e.payload.instance_id: e.payload for e in topics["evals"]}
    assert set(evals) == {*PICK, GHOST}
    judged = [evals[i] for i in PICK]
    assert {(e.harness, e.status) for e in judged} == {("swebench", "ok")}, [e.reason for e in judged]
    assert all(e.harness_version.startswith("swebench-5.") for e in judged)
    for e in judged:  # the verdict is the harness's resolution, and the per-test statuses say why
        assert e.resolved == (e.resolution == "full")
        assert e.resolved == all(s == "PASSED" for s in e.fail_to_pass.values()), e
        assert "graded by the harness's parse_log_" in e.reason and "Start Test Output" in e.log.text
    assert sum(e.resolved for e in judged) >= 3
    assert "django" in evals["swe-mini__minidjango-1"].reason and "sympy" in evals["swe-mini__minisympy-1"].reason


def test_the_missing_repository_is_an_infra_error_before_any_model_call(run):
    proc, topics, mirrors = run
    ghost = next(e.payload for e in topics["evals"] if e.payload.instance_id == GHOST)
    assert (ghost.status, ghost.infra_cause, ghost.resolved) == ("infra", "repository missing", False)
    assert "ghost/absent" in ghost.reason and f"{mirrors}/ghost__absent.git" in ghost.reason
    episode = {e.type: e.payload for e in topics["episodes"] if e.payload.instance_id == GHOST}
    assert episode["episode.finished"].infra_cause == "repository missing" and episode["episode.finished"].steps == 0
    assert ghost.reason.split(": ", 1)[1].startswith("repository missing")
    assert not [e for e in topics["proxy"] if e.payload.episode_id == episode["episode.started"].episode_id]


def test_scores_are_printed_and_the_run_exits_3_naming_the_cause(run):
    proc, topics, _ = run
    assert proc.returncode == 3, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines()[-1] == (
        "ledger run: 1 of 6 pairs hit infrastructure errors: repository missing (1); see ledger events --topic evals")
    assert "pass@1" in proc.stdout and "swe-mini/minidjango" in proc.stdout and "swe-mini/minisympy" in proc.stdout
    run_scores = [e.payload for e in topics["scores"] if e.payload.scope == "run" and e.payload.metric == "pass@k"]
    assert run_scores[-1].coverage == pytest.approx(5 / 6) and run_scores[-1].n == 5
    [fin] = [e.payload for e in topics["runs"] if e.type == "run.finished"]
    assert fin.infra_errors == 1 and fin.infra_causes == {"repository missing": 1} and fin.evaluated == 5
