"""Reports of the official harness, run elsewhere, imported as `eval.result` events.

Two inputs, as `run_evaluation` leaves them:

- its log directory `logs/run_evaluation/<run_id>/` (or one model's directory in it):
  one `report.json` per evaluated instance (`get_eval_report`'s shape, with
  `tests_status`); instance directories without one are the harness's error
  instances;
- its run summary `<model>.<run_id>.json` (`make_run_report`, schema_version 2):
  resolved / unresolved / error / empty-patch / infra-failure ids.

Each instance becomes one `eval.result` with `harness: swebench-official`:
resolved as the report says; the per-test statuses and the resolution from
`tests_status` (the resolution by the harness's `get_resolution_status`); an
instance the harness flagged as an infrastructure failure is status `infra` (its
reason as the cause), never a model failure. Ids are derived from (run, instance),
so importing the same report twice appends nothing new.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import events
from events.ids import derived_id
from events.log import EventLog
from events.payloads import EvalResult

__all__ = ["OfficialResult", "read_official", "import_official", "to_eval_result", "HARNESS",
           "OfficialReportError"]

HARNESS = "swebench-official"
_PRODUCER = "import.swebench"
_RESOLUTION = {"RESOLVED_FULL": "full", "RESOLVED_PARTIAL": "partial", "RESOLVED_NO": "no"}


class OfficialReportError(ValueError):
    """A file or directory that is not a report of the official harness."""


@dataclass(frozen=True)
class OfficialResult:
    instance_id: str
    model: str
    kind: str
    """resolved | unresolved | error | empty_patch | infra"""
    report: dict[str, Any] = field(default_factory=dict)
    """The instance's report.json entry, when there is one."""
    reason: str = ""


def read_official(path: str | Path) -> list[OfficialResult]:
    path = Path(path)
    if path.is_dir():
        return _from_log_dir(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise OfficialReportError(f"{path}: not a readable JSON report: {exc}") from None
    if not isinstance(data, dict) or "resolved_ids" not in data:
        raise OfficialReportError(f"{path}: not the harness's run report (no resolved_ids; schema_version 2 "
                                  "expected) nor a logs/run_evaluation directory")
    return _from_summary(data, path.name.split(".", 1)[0])


def _from_summary(data: dict, model: str) -> list[OfficialResult]:
    infra = set(data.get("infra_failure_ids", []))
    reasons = data.get("failure_reasons", {})
    out = []
    for kind, key in (("resolved", "resolved_ids"), ("unresolved", "unresolved_ids"),
                      ("empty_patch", "empty_patch_ids"), ("error", "error_ids")):
        for iid in data.get(key, []):
            k = "infra" if iid in infra else kind
            out.append(OfficialResult(iid, model, k, reason=reasons.get(iid, "")))
    return out


def _from_log_dir(root: Path) -> list[OfficialResult]:
    models = [root] if any(root.glob("*/report.json")) or any(root.glob("*/run_instance.log")) \
        else [d for d in sorted(root.iterdir()) if d.is_dir()]
    out = []
    for model_dir in models:
        for inst in sorted(d for d in model_dir.iterdir() if d.is_dir()):
            out.append(_from_instance_dir(inst, model_dir.name))
    if not out:
        raise OfficialReportError(f"{root}: no instance directories (expected logs/run_evaluation/<run_id>/"
                                  "<model>/<instance_id>/report.json)")
    return out


def _from_instance_dir(folder: Path, model: str) -> OfficialResult:
    report_file = folder / "report.json"
    if not report_file.is_file():
        return OfficialResult(folder.name, model, "error", reason="the harness wrote no report (see its "
                              "run_instance.log): the patch did not apply, the tests timed out or the run failed")
    entry = json.loads(report_file.read_text()).get(folder.name)
    if not isinstance(entry, dict):
        raise OfficialReportError(f"{report_file}: no entry for {folder.name}")
    if entry.get("infra_failure"):
        return OfficialResult(folder.name, model, "infra", entry, entry.get("infra_failure_reason", "environment"))
    return OfficialResult(folder.name, model, "resolved" if entry.get("resolved") else "unresolved", entry)


def _statuses(report: dict, kind: str) -> dict[str, str]:
    tests = report.get("tests_status", {}).get(kind, {})
    return {**{t: "PASSED" for t in tests.get("success", [])}, **{t: "FAILED" for t in tests.get("failure", [])}}


def to_eval_result(r: OfficialResult, repo: str = "") -> EvalResult:
    """Per-test statuses are what the report's lists say: PASSED (success) or FAILED."""
    from swebench.harness.grading import get_resolution_status

    status = {"resolved": "ok", "unresolved": "ok", "error": "error", "empty_patch": "empty_patch",
              "infra": "infra"}[r.kind]
    if r.kind == "unresolved" and not r.report.get("patch_successfully_applied", True):
        status = "error"  # the harness found no trustworthy results in the log
    tests = r.report.get("tests_status")
    if tests:
        resolution = _RESOLUTION[get_resolution_status(tests)]
    else:
        resolution = "" if status == "infra" else ("full" if r.kind == "resolved" else "no")
    return EvalResult(
        instance_id=r.instance_id, sample_idx=0, repo=repo, resolved=r.kind == "resolved", status=status,
        reason=r.reason or f"imported from the official harness's report: {r.kind}",
        infra_cause=(r.reason or "environment") if status == "infra" else "", resolution=resolution,
        fail_to_pass=_statuses(r.report, "FAIL_TO_PASS"), pass_to_pass=_statuses(r.report, "PASS_TO_PASS"),
        harness=HARNESS, model=r.model)


def import_official(log: EventLog, results: list[OfficialResult], run_id: str,
                    episodes: dict[str, tuple[str, str]] | None = None,
                    repos: dict[str, str] | None = None) -> list[EvalResult]:
    """Append one eval.result per instance; `episodes` maps instance ids to (episode id, its
    episode.finished id) when the predictions were imported too, so results link to them."""
    events_out, payloads = [], []
    for r in results:
        payload = to_eval_result(r, (repos or {}).get(r.instance_id, ""))
        episode_id, parent = (episodes or {}).get(r.instance_id, (None, None))
        payload = payload.model_copy(update={"episode_id": episode_id})
        events_out.append(events.new(payload, producer=_PRODUCER, run_id=run_id, parent=parent,
                                     id=derived_id(_PRODUCER, 1, [run_id, r.instance_id])))
        payloads.append(payload)
    log.append("evals", events_out)
    return payloads
