"""Grading parity with the official harness over a corpus of real test-run logs.

`corpus/` holds 78 logs of real runs (`make_corpus.py`: the mini SWE-bench's eval
scripts at base and with the gold, partial, wrong and regression patches) in the
formats of 7 of the harness's log parsers: django (./tests/runtests.py), sympy
(bin/test), astropy and sphinx (pytest_v2), requests (pytest_options: `/path` ids),
seaborn, matplotlib (MouseButton ids), pytest (ids with spaces). For each log, what
the evaluator decides (`grade_log` -> verdict, per-test statuses, resolution) is
compared with what `swebench.harness.grading.get_eval_report` — the harness's own
top-level grading, as `run_evaluation` calls it — says on the same log and row.
Three mutations per parser add the harness's rejection paths (no markers, a log
that claims success while the tests exited 1, a test patch that did not apply).
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from swebench.harness.constants import FAIL_TO_PASS, PASS_TO_PASS
from swebench.harness.grading import get_eval_report, get_resolution_status

from producers.datasets import Instance
from producers.evaluator import _result
from producers.harness import MAINTAINED, grade_log
from producers.harness.swebench import _verdict
from producers.harness.swebench_spec import test_spec as spec_of

CORPUS = Path(__file__).with_name("corpus")
ROWS = {r["instance_id"]: r for r in map(json.loads, (CORPUS / "rows.jsonl").read_text().splitlines())}
LOGS = sorted((CORPUS / "logs").glob("*/*.log"))
_NAMES = {"RESOLVED_FULL": "full", "RESOLVED_PARTIAL": "partial", "RESOLVED_NO": "no"}


def _mutations(text: str) -> dict[str, str]:
    spoofed = text.replace("FAILED", "PASSED").replace(" ... FAIL", " ... ok").replace(" F\n", " ok\n")
    return {"no-markers": text.replace(">>>>> Start Test Output", "(start)"),
            "spoofed-exit-1": spoofed.replace("Test Exit Code: 0", "Test Exit Code: 1"),
            "apply-failed": ">>>>> Patch Apply Failed\n" + text}


def _cases() -> list[tuple[str, str, str]]:
    cases = [(p.parent.name, p.stem, p.read_text()) for p in LOGS]
    for iid in sorted({c[0] for c in cases}):
        if iid.endswith("-1"):
            gold = (CORPUS / "logs" / iid / "gold.log").read_text()
            cases += [(iid, name, text) for name, text in _mutations(gold).items()]
    return cases


CASES = _cases()


def _official(row: dict, text: str, tmp: Path) -> dict:
    log = tmp / "test_output.txt"
    log.write_text(text)
    pred = {"instance_id": row["instance_id"], "model_patch": "diff", "model_name_or_path": "m"}
    return get_eval_report(spec_of(Instance.model_validate(row)), pred, str(log), True)[row["instance_id"]]


def _disagreements(row: dict, text: str, tmp: Path) -> list[str]:
    instance = Instance.model_validate(row)
    official = _official(row, text, tmp)
    ours = _result(instance, "diff", _verdict(grade_log(text, spec_of(instance)), instance, "v"),
                   "swebench", duration_s=0.0)
    out = []
    if ours.resolved != official["resolved"]:
        out.append(f"resolved: ours {ours.resolved}, harness {official['resolved']}")
    if (ours.status == "ok") != official["patch_successfully_applied"]:
        out.append(f"status {ours.status} but the harness found results: {official['patch_successfully_applied']}")
    report = official.get("tests_status")
    if report is None:
        return out
    if ours.resolution != _NAMES[get_resolution_status(report)]:
        out.append(f"resolution: ours {ours.resolution}, harness {get_resolution_status(report)}")
    for kind, mine, good in ((FAIL_TO_PASS, ours.fail_to_pass, {"PASSED"}),
                             (PASS_TO_PASS, ours.pass_to_pass, MAINTAINED)):
        for test, status in mine.items():
            theirs = "success" if test in report[kind]["success"] else "failure"
            if (status in good) != (theirs == "success"):
                out.append(f"{kind} {test!r}: ours {status}, harness {theirs}")
    return out


def test_the_corpus_covers_the_formats_asked_for():
    parsers = Counter(ROWS[iid]["log_parser"] for iid, _, _ in CASES)
    assert len(LOGS) >= 60 and len(parsers) >= 6, parsers
    assert {"parse_log_django", "parse_log_sympy", "parse_log_astropy", "parse_log_requests", "parse_log_sphinx",
            "parse_log_seaborn", "parse_log_matplotlib", "parse_log_pytest"} <= set(parsers)
    verdicts = Counter((ROWS[iid]["log_parser"], case) for iid, case, _ in CASES)
    assert all(verdicts[(p, c)] for p in parsers for c in ("base", "gold", "wrong", "regression"))


def test_zero_disagreements_with_the_harness(tmp_path):
    problems = {f"{iid}/{case}": d for iid, case, text in CASES if (d := _disagreements(ROWS[iid], text, tmp_path))}
    assert problems == {}


@pytest.mark.parametrize("case, resolved", [("gold", True), ("base", False), ("wrong", False),
                                            ("regression", False), ("partial", False)])
def test_the_corpus_verdicts_are_the_expected_ones(case, resolved, tmp_path):
    """Not only equal to the harness: gold resolves and the others do not, on every repo."""
    logs = [p for p in LOGS if p.stem == case]
    assert logs and all(_official(ROWS[p.parent.name], p.read_text(), tmp_path)["resolved"] is resolved
                        for p in logs)


def test_partial_patches_are_partial(tmp_path):
    partial = {p.parent.name: _official(ROWS[p.parent.name], p.read_text(), tmp_path)
               for p in LOGS if p.stem == "partial"}
    statuses = {iid: get_resolution_status(r["tests_status"]) for iid, r in partial.items()}
    assert len(statuses) >= 8 and Counter(statuses.values())["RESOLVED_PARTIAL"] >= 6, statuses


def test_a_row_no_harness_can_judge_is_infra_not_a_model_failure(tmp_path):
    """An older SWE-bench row (no eval_script) with Django test names: neither harness can run
    it, so the result is an infrastructure error, not an unresolved patch."""
    from producers.evaluator import Evaluator
    from producers.sandbox.local import LocalSandboxFactory

    row = {k: v for k, v in ROWS["swe-mini__minidjango-1"].items()
           if k not in ("eval_script", "log_parser", "eval_type", "image")}
    result = Evaluator(LocalSandboxFactory(root=tmp_path)).evaluate(Instance.model_validate(row), "diff --git a/x b/x")
    assert (result.status, result.infra_cause, result.resolved) == ("infra", "harness", False)
    assert "not pytest node ids" in result.reason
