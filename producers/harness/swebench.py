"""The official-harness adapter: SWE-bench's eval script, log parser and grading, run here.

For an instance whose row carries the harness's columns (`swebench_spec`):

1. the model patch is applied with the harness's own command chain
   (`run_evaluation.GIT_APPLY_CMDS`, the tree reset between attempts, then the
   `git apply --check --reverse` test for an already-applied patch);
2. the instance's eval script runs: verbatim inside the harness's image, else
   adapted for our sandbox (`swebench_script.local_script`);
3. its output is graded by the harness alone: `get_logs_eval` (its parser for the
   repo, its markers and exit-code check), `get_eval_tests_report` and
   `get_resolution_status` (`grade_log`).

A log with no results is what the harness calls not resolved, except where the
harness's own classifier (`infra_failure.classify_text`) names an environment
fault: that is an infrastructure error. A crash inside the harness's code is one too.
"""
from __future__ import annotations

import os
import shlex
import tempfile
from dataclasses import dataclass, replace
from typing import Any

from events.payloads import TestStatus
from producers.failures import ENVIRONMENT, HARNESS
from producers.sandbox.base import Sandbox

from .apply import WORK_DIR, apply_patch
from .swebench_script import local_script
from .swebench_spec import harness_version, test_spec
from .trace import Trace
from .verdict import Verdict

__all__ = ["SwebenchHarness", "Grade", "grade_log", "test_status"]

_RESET = "git checkout -- . ; git clean -fd"
"""What the harness runs between two apply attempts (a failed `--reject` leaves debris)."""
_RESOLUTION = {"RESOLVED_FULL": "full", "RESOLVED_PARTIAL": "partial", "RESOLVED_NO": "no"}
_STATUS: dict[str, TestStatus] = {"PASSED": "PASSED", "XFAIL": "PASSED", "FAILED": "FAILED",
                                  "ERROR": "ERROR", "SKIPPED": "SKIPPED"}


@dataclass(frozen=True)
class Grade:
    """The harness's reading of one log."""

    found: bool
    """get_logs_eval found a trustworthy status map (else: not resolved)."""
    status_map: dict[str, str]
    report: dict[str, dict[str, list[str]]]
    """get_eval_tests_report: FAIL_TO_PASS / PASS_TO_PASS success and failure lists."""
    resolution: str
    """full / partial / no (get_resolution_status); "" when nothing was found."""
    infra: tuple[str, str] | None = None
    """The harness's (reason, tier) for a log without results, when it recognises one."""


def grade_log(log_text: str, spec: Any) -> Grade:
    from swebench.harness.constants import FAIL_TO_PASS, PASS_TO_PASS, EvalType
    from swebench.harness.grading import get_eval_tests_report, get_logs_eval, get_resolution_status
    from swebench.harness.infra_failure import classify_text

    fd, path = tempfile.mkstemp(prefix="ledger-swebench-", suffix=".log")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as fh:
            fh.write(log_text)
        status_map, found = get_logs_eval(spec, path)
    finally:
        os.unlink(path)
    if not found:
        return Grade(False, {}, {}, "", classify_text(log_text))
    gold = {"instance_id": spec.instance_id, FAIL_TO_PASS: spec.FAIL_TO_PASS, PASS_TO_PASS: spec.PASS_TO_PASS}
    report = get_eval_tests_report(status_map, gold, eval_type=EvalType(spec.eval_type))
    return Grade(True, status_map, report, _RESOLUTION[get_resolution_status(report)])


def test_status(case: str, status_map: dict[str, str]) -> TestStatus:
    """A test's status as the harness reads it: PASSED when `test_passed` says so (XFAIL
    and truncated parametrized ids included), else its parsed status, else MISSING."""
    from swebench.harness.grading import test_passed

    if test_passed(case, status_map):
        return "PASSED"
    return _STATUS.get(status_map.get(case, ""), "MISSING")


class SwebenchHarness:
    """timeout_s: seconds the eval script may take. apply_timeout_s: per apply attempt."""

    name = "swebench"

    def __init__(self, *, timeout_s: float, apply_timeout_s: float):
        self.timeout_s, self.apply_timeout_s = timeout_s, apply_timeout_s

    def judge(self, sandbox: Sandbox, instance: Any, patch: str, trace: Trace,
              setup: list[str] | None = None) -> Verdict:
        try:
            spec = test_spec(instance)
            version = harness_version()
        except Exception as exc:  # the harness could not even read the row
            return Verdict("infra", f"the official harness failed on the row: {exc}", infra_cause=HARNESS)
        environment = getattr(sandbox, "environment", None)
        digest = environment.digest if environment is not None else ""
        log, stopped = self.run(sandbox, spec, patch, trace, setup)
        if stopped is not None:
            return replace(stopped, harness_version=version, spec_digest=digest)
        try:
            grade = grade_log(log, spec)
        except Exception as exc:  # a parser crash is the harness's, not the model's
            return Verdict("infra", f"the official harness's grading failed: {type(exc).__name__}: {exc}",
                           harness_version=version, infra_cause=HARNESS)
        return replace(_verdict(grade, instance, version), spec_digest=digest)

    def run(self, sandbox: Sandbox, spec: Any, patch: str, trace: Trace,
            setup: list[str] | None = None) -> tuple[str, Verdict | None]:
        """Apply `patch` (nothing when empty: the base commit as it is) and run the eval script:
        (its output, None), or ("", the verdict that stopped it: patch_failed, timeout)."""
        if patch.strip() and not self._apply(sandbox, patch, trace):
            return "", Verdict("patch_failed", "the model patch does not apply (the harness's git apply / "
                               "patch chain): " + trace.first_error())
        script = spec.eval_script if getattr(sandbox, "testbed", False) else \
            local_script(spec.eval_script_list, str(sandbox.workdir), _setup(sandbox, setup))
        sandbox.write_file(f"{WORK_DIR}/eval.sh", script)
        command = f"/bin/bash {WORK_DIR}/eval.sh"
        result = sandbox.run(command, timeout_s=self.timeout_s)
        trace.add(command, result.output, result.exit_code)
        if result.timed_out:
            return "", Verdict("timeout", f"the eval script ran past {self.timeout_s:g}s and was killed")
        return result.output, None

    def _apply(self, sandbox: Sandbox, patch: str, trace: Trace) -> bool:
        from swebench.harness.run_evaluation import GIT_APPLY_CMDS

        path = f"{WORK_DIR}/model.patch"
        sandbox.write_file(path, patch)
        if apply_patch(sandbox, path, GIT_APPLY_CMDS, trace, self.apply_timeout_s, reset=_RESET):
            return True
        check = f"git apply --check --reverse {path}"
        res = sandbox.run(check, timeout_s=self.apply_timeout_s)
        trace.add(check, res.output, res.exit_code)
        return res.exit_code == 0


def _setup(sandbox: Sandbox, setup: list[str] | None) -> list[str]:
    """The environment's lines at the top of the adapted script: with a built environment the
    sandbox already has its PATH and PYTHONPATH; without one the checkout goes first on
    PYTHONPATH, standing in for the editable install the script's install step would make."""
    if setup is not None:
        return setup
    if getattr(sandbox, "environment", None) is not None:
        return []
    return [f'export PYTHONPATH={shlex.quote(str(sandbox.workdir))}"${{PYTHONPATH:+:$PYTHONPATH}}"']


def _verdict(grade: Grade, instance: Any, version: str) -> Verdict:
    if not grade.found:
        if grade.infra and grade.infra[1] == "environment":
            return Verdict("infra", f"no test results; the harness names an environment fault: "
                           f"{grade.infra[0]}", harness_version=version, infra_cause=ENVIRONMENT)
        why = f" (the harness suspects: {grade.infra[0]})" if grade.infra else ""
        return Verdict("error", "the harness found no trustworthy test results in the log (markers, "
                       f"parser or exit code){why}: not resolved", harness_version=version, resolution="no")
    tests = [*instance.FAIL_TO_PASS, *instance.PASS_TO_PASS]
    statuses = {t: test_status(t, grade.status_map) for t in tests}
    return Verdict("ok", f"graded by the harness's {instance.log_parser}: {grade.resolution}",
                   statuses, version, resolution=grade.resolution)
