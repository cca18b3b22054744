"""A run's results in the official harness's report shapes.

- `instance_report`: what `swebench.harness.grading.get_eval_report` returns for one
  prediction (`patch_is_None`, `patch_exists`, `patch_successfully_applied`,
  `resolved`, `infra_failure`, `tests_status` with FAIL_TO_PASS / PASS_TO_PASS /
  FAIL_TO_FAIL / PASS_TO_FAIL success and failure lists), written where
  `run_evaluation` writes it: `<dir>/<run_id>/<model>/<instance_id>/report.json`
  (+ `test_output.txt` when the log was stored whole), so the harness's own
  `make_run_report` can read it.
- `run_report`: the dict `make_run_report` writes (schema_version 2).

How our statuses map: a result whose tests ran (`ok`, or no results found) is a
completed instance, resolved or not; `patch_failed`, `test_patch_failed` and
`timeout` are the harness's error instances (it writes no report for them);
`empty_patch` its empty-patch instances; `infra` an error instance that is also an
infrastructure failure, its cause as the failure reason.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from events.log import EventLog

__all__ = ["latest_results", "instance_report", "run_report", "write_instance_reports"]

_COMPLETED = {"ok", "error"}
_MAINTAINED = {"PASSED", "SKIPPED"}


def latest_results(log: EventLog, run_id: str, sample_idx: int = 0) -> dict[str, Any]:
    """instance_id -> the run's eval.result payload for that sample (a later real verdict
    replaces an infra one; otherwise the first wins, as the scorer's normaliser says)."""
    out: dict[str, Any] = {}
    for rec in log.read("evals"):
        ev = rec.event
        if ev.run_id != run_id or ev.type != "eval.result" or ev.payload.sample_idx != sample_idx:
            continue
        old = out.get(ev.payload.instance_id)
        if old is None or (old.status == "infra" and ev.payload.status != "infra"):
            out[ev.payload.instance_id] = ev.payload
    return out


def instance_report(result: Any) -> dict[str, Any]:
    from swebench.harness.constants import FAIL_TO_FAIL, FAIL_TO_PASS, PASS_TO_FAIL, PASS_TO_PASS

    report: dict[str, Any] = {"patch_is_None": False, "patch_exists": result.status != "empty_patch",
                              "patch_successfully_applied": result.status == "ok", "resolved": result.resolved,
                              "infra_failure": result.status == "infra"}
    if result.status == "infra":
        report["infra_failure_reason"] = result.infra_cause
    if result.status == "ok":
        report["tests_status"] = {
            FAIL_TO_PASS: _split(result.fail_to_pass, {"PASSED"}),
            PASS_TO_PASS: _split(result.pass_to_pass, _MAINTAINED),
            FAIL_TO_FAIL: {"success": [], "failure": []}, PASS_TO_FAIL: {"success": [], "failure": []}}
    return {result.instance_id: report}


def _split(statuses: dict[str, str], good: set[str]) -> dict[str, list[str]]:
    return {"success": [t for t, s in statuses.items() if s in good],
            "failure": [t for t, s in statuses.items() if s not in good]}


def write_instance_reports(root: Path, run_id: str, model: str, results: dict[str, Any]) -> list[Path]:
    """The harness's per-instance layout under `root` (its logs/run_evaluation)."""
    written = []
    for iid, result in sorted(results.items()):
        if result.status == "empty_patch":
            continue  # the harness never runs an empty patch, so it writes nothing for it
        folder = root / run_id / model.replace("/", "__") / iid
        folder.mkdir(parents=True, exist_ok=True)
        if result.status not in _COMPLETED:
            continue  # an error instance: the harness wrote no report.json
        (folder / "report.json").write_text(json.dumps(instance_report(result), indent=4))
        if result.log is not None and result.log.complete:
            (folder / "test_output.txt").write_text(result.log.text)
        written.append(folder / "report.json")
    return written


def run_report(results: dict[str, Any], dataset_ids: list[str], submitted: list[str]) -> dict[str, Any]:
    """`make_run_report`'s summary of a run: `results` are the evaluated predictions,
    `dataset_ids` every instance of the dataset, `submitted` the predictions' ids."""
    ids = {k: set() for k in ("completed", "resolved", "unresolved", "empty_patch", "error", "infra_failure")}
    reasons: dict[str, str] = {}
    for iid, r in results.items():
        if r.status == "empty_patch":
            ids["empty_patch"].add(iid)
        elif r.status in _COMPLETED:
            ids["completed"].add(iid)
            ids["resolved" if r.resolved else "unresolved"].add(iid)
        else:
            ids["error"].add(iid)
            if r.status == "infra":
                ids["infra_failure"].add(iid)
                reasons[iid] = r.infra_cause
    incomplete = set(dataset_ids) - set(submitted)
    report = {"total_instances": len(dataset_ids), "submitted_instances": len(submitted),
              "completed_instances": len(ids["completed"]), "resolved_instances": len(ids["resolved"]),
              "unresolved_instances": len(ids["unresolved"]), "infra_failure_instances": len(ids["infra_failure"]),
              "ambiguous_failure_instances": 0, "empty_patch_instances": len(ids["empty_patch"]),
              "error_instances": len(ids["error"]), "completed_ids": sorted(ids["completed"]),
              "incomplete_ids": sorted(incomplete), "empty_patch_ids": sorted(ids["empty_patch"]),
              "submitted_ids": sorted(submitted), "resolved_ids": sorted(ids["resolved"]),
              "unresolved_ids": sorted(ids["unresolved"]), "infra_failure_ids": sorted(ids["infra_failure"]),
              "ambiguous_failure_ids": [], "failure_reasons": dict(sorted(reasons.items())),
              "error_ids": sorted(ids["error"]), "schema_version": 2}
    return report
