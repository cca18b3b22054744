"""SWE-bench in and out: predictions.jsonl + the harness's report shapes, and back (real CLI).

Results come from real logs (the parity corpus) graded as the evaluator grades them.
The exported per-instance layout is fed to the harness's own `make_run_report`,
whose summary must equal ours; importing either report gives back the verdicts.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import events
from events.log import open_log
from events.payloads import DatasetManifest, RunStarted
from processors.rescore import final_scores
from producers.datasets import Instance
from producers.evaluator import _result, infra_result, record_eval
from producers.harness import grade_log
from producers.harness.swebench import _verdict
from producers.harness.swebench_spec import test_spec as spec_of
from producers.harness.verdict import Verdict
from producers.predictions import import_predictions
from producers.predictions.format import Prediction
from producers.predictions.official import import_official, read_official

from tests.conftest import REPO_ROOT

CORPUS = REPO_ROOT / "tests" / "producers" / "harness" / "corpus"
ROWS = {r["instance_id"]: r for r in map(json.loads, (CORPUS / "rows.jsonl").read_text().splitlines())}
PLAN = {"swe-mini__minidjango-1": "gold", "swe-mini__minisympy-1": "partial", "swe-mini__pyops-seaborn-2": "wrong",
        "swe-mini__pyops-requests-1": "gold", "swe-mini__minisympy-2": "empty", "swe-mini__minidjango-2": "apply",
        "swe-mini__pyops-pytest-1": "infra"}
NOT_SUBMITTED = "swe-mini__pyops-astropy-1"


def _results() -> dict[str, object]:
    out = {}
    for iid, case in PLAN.items():
        inst = Instance.model_validate(ROWS[iid])
        if case == "empty":
            verdict = Verdict("empty_patch", "the patch is empty", resolution="no")
        elif case == "apply":
            verdict = Verdict("patch_failed", "the model patch does not apply")
        elif case == "infra":
            out[iid] = infra_result(inst, "upstream unreachable", "502 after retries")
            continue
        else:
            text = (CORPUS / "logs" / iid / f"{case}.log").read_text()
            verdict = _verdict(grade_log(text, spec_of(inst)), inst, "swebench-5.0.2")
        out[iid] = _result(inst, "" if case == "empty" else "diff", verdict, "swebench", duration_s=0.0)
    return out


def _ledger(*args, env):
    return subprocess.run([sys.executable, str(REPO_ROOT / "main.py"), *args], capture_output=True, text=True,
                          env=env, cwd=REPO_ROOT)


def _evals(url: str, run_id: str) -> dict:
    log = open_log(url)
    try:
        return {r.event.payload.instance_id: r.event for r in log.read("evals") if r.event.run_id == run_id}
    finally:
        log.close()


def test_export_matches_the_harness_and_imports_back(sqlite_url, tmp_path, subprocess_env, monkeypatch):
    results = _results()
    log = open_log(sqlite_url)
    ids = sorted([*PLAN, NOT_SUBMITTED])
    manifest = DatasetManifest(source="mini", sha256="0" * 64, count=len(ids), instance_ids=ids)
    log.append("runs", [events.new(RunStarted(config={}, manifest=manifest), producer="t", run_id="orig")])
    preds = [Prediction(instance_id=iid, model_name_or_path="org/model", model_patch="" if c == "empty" else "diff")
             for iid, c in PLAN.items()]
    for ep in import_predictions(log, preds, "orig"):
        record_eval(log, results[ep.prediction.instance_id], run_id="orig", parent=ep.finished_event_id)
    log.close()

    out = _ledger("export-predictions", "orig", "--out", str(tmp_path / "preds.jsonl"), "--log", sqlite_url,
                  "--report", str(tmp_path / "report.json"), "--instance-reports", str(tmp_path / "logs" /
                  "run_evaluation"), env=subprocess_env)
    assert out.returncode == 0, out.stderr
    preds_rows = [json.loads(line) for line in (tmp_path / "preds.jsonl").read_text().splitlines()]
    assert {tuple(sorted(r)) for r in preds_rows} >= {("episode_id", "instance_id", "model_name_or_path",
                                                        "model_patch", "run_id", "sample_idx")}
    ours = json.loads((tmp_path / "report.json").read_text())
    assert ours["resolved_ids"] == ["swe-mini__minidjango-1", "swe-mini__pyops-requests-1"]
    assert ours["infra_failure_ids"] == ["swe-mini__pyops-pytest-1"] and ours["incomplete_ids"] == [NOT_SUBMITTED]
    assert ours["failure_reasons"] == {"swe-mini__pyops-pytest-1": "upstream unreachable"}

    # the harness's own summary over the per-instance reports we wrote: the same report
    from swebench.harness.reporting import make_run_report

    monkeypatch.chdir(tmp_path)
    theirs_path = make_run_report({r["instance_id"]: r for r in preds_rows}, [{"instance_id": i} for i in ids],
                                  "orig", None, str(tmp_path / "official"))
    theirs = json.loads(Path(theirs_path).read_text())
    advisory = {"infra_failure_instances", "infra_failure_ids", "failure_reasons"}  # theirs reads logs we do not have
    def same(report: dict) -> dict:
        return {k: v for k, v in report.items() if k not in advisory}

    assert same(theirs) == same(ours)

    out = _ledger("import-report", str(tmp_path / "logs" / "run_evaluation" / "orig"), "--run-id", "back",
                  "--predictions", str(tmp_path / "preds.jsonl"), "--log", sqlite_url, env=subprocess_env)
    assert out.returncode == 0 and "imported 6 results" in out.stderr, out.stderr
    back = _evals(sqlite_url, "back")
    assert {e.payload.harness for e in back.values()} == {"swebench-official"}
    for iid, ev in back.items():
        orig = results[iid]
        assert ev.payload.resolved == orig.resolved and ev.parent is not None
        assert ev.payload.resolution == orig.resolution or orig.status not in ("ok",)
        if orig.status == "ok":
            assert {t for t, s in ev.payload.fail_to_pass.items() if s == "PASSED"} == \
                {t for t, s in orig.fail_to_pass.items() if s == "PASSED"}

    log = open_log(sqlite_url)
    try:
        summary = {r.instance_id: r for r in import_official(log, read_official(theirs_path), "back-summary")}
        back_ours = import_official(log, read_official(tmp_path / "report.json"), "back-ours")
        log.append("runs", [events.new(RunStarted(config={}, manifest=manifest), producer="t", run_id="back-ours")])
        scores = {run: final_scores(log, run, (1,)).board.all_scores(run) for run in ("orig", "back-ours")}
    finally:
        log.close()
    assert [(r.instance_id, r.status, r.infra_cause) for r in back_ours if r.status == "infra"] == [
        ("swe-mini__pyops-pytest-1", "infra", "upstream unreachable")]
    run_score = {run: next(s for s in rows if s.scope == "run") for run, rows in scores.items()}
    assert run_score["orig"].value == run_score["back-ours"].value == 2 / 6   # the infra pair stays unscored
    assert run_score["orig"].n == run_score["back-ours"].n == 6  # instances scored
    assert {iid for iid, r in summary.items() if r.resolved} == set(ours["resolved_ids"])


def test_a_file_that_is_not_a_report_imports_nothing(sqlite_url, tmp_path, subprocess_env):
    bad = tmp_path / "x.json"
    bad.write_text('{"hello": 1}')
    out = _ledger("import-report", str(bad), "--run-id", "r", "--log", sqlite_url, env=subprocess_env)
    assert out.returncode == 2 and "not the harness's run report" in out.stderr and "nothing imported" in out.stderr
