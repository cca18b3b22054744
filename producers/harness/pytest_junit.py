"""Our harness for instances the official one does not know (bundled, synthesized, local).

In a clean sandbox at the base commit: apply the model patch, apply the test
patch, run the files holding FAIL_TO_PASS and PASS_TO_PASS with pytest (JUnit
XML for exact per-test statuses, the `-rA` summary as fallback). Test ids are
pytest node ids; the resolution rule is SWE-bench's (`verdict.resolution`).
"""
from __future__ import annotations

import re
import shlex
from dataclasses import replace
from typing import Any

from producers.sandbox.base import Sandbox
from producers.test_report import JUNIT_OPTIONS, parse_junit, parse_summary

from .apply import PYTEST_APPLY, WORK_DIR, apply_patch
from .trace import Trace
from .verdict import Verdict

__all__ = ["PytestHarness", "test_files", "DEFAULT_TEST_COMMAND"]

DEFAULT_TEST_COMMAND = "python -m pytest -rA -p no:cacheprovider"
_PYTEST_VERSION = re.compile(r"\bpytest-(\d[\w.+-]*)")


def test_files(test_ids: list[str]) -> list[str]:
    """The files holding the given pytest node ids, in first-seen order."""
    files: list[str] = []
    for test_id in test_ids:
        path = test_id.split("::", 1)[0]
        if path and path not in files:
            files.append(path)
    return files


class PytestHarness:
    """timeout_s: seconds the test run may take. apply_timeout_s: per patch application.
    test_command: the pytest command when the instance names none. plugin_autoload: load
    setuptools-registered pytest plugins (None: off in `local` sandboxes, whose interpreter is
    the host's, with plugins that are not the repo's; on elsewhere)."""

    name = "pytest"

    def __init__(self, *, timeout_s: float, apply_timeout_s: float,
                 test_command: str = DEFAULT_TEST_COMMAND, plugin_autoload: bool | None = None):
        self.timeout_s, self.apply_timeout_s = timeout_s, apply_timeout_s
        self.test_command, self.plugin_autoload = test_command, plugin_autoload

    def judge(self, sandbox: Sandbox, instance: Any, patch: str, trace: Trace) -> Verdict:
        """`patch` empty: the base commit as it is (validation's first run)."""
        environment = getattr(sandbox, "environment", None)
        digest = environment.digest if environment is not None else ""
        return replace(self._judge(sandbox, instance, patch, trace, environment), spec_digest=digest)

    def _judge(self, sandbox: Sandbox, instance: Any, patch: str, trace: Trace, environment: Any) -> Verdict:
        sandbox.write_file(f"{WORK_DIR}/model.patch", patch)
        if patch.strip() and not apply_patch(sandbox, f"{WORK_DIR}/model.patch", PYTEST_APPLY, trace,
                                             self.apply_timeout_s):
            return Verdict("patch_failed", "the model patch does not apply: " + trace.first_error())
        test_patch = getattr(instance, "test_patch", "") or ""
        if test_patch.strip():
            sandbox.write_file(f"{WORK_DIR}/test.patch", test_patch)
            if not apply_patch(sandbox, f"{WORK_DIR}/test.patch", PYTEST_APPLY, trace, self.apply_timeout_s):
                return Verdict("test_patch_failed", "the test patch does not apply on top of the "
                               "model patch: " + trace.first_error())
        test_ids = [*instance.FAIL_TO_PASS, *instance.PASS_TO_PASS]
        return self._pytest(sandbox, self._command(sandbox, instance, environment), test_ids, trace)

    def _command(self, sandbox: Sandbox, instance: Any, environment: Any) -> str:
        """The environment's `eval_commands && test_cmd`, else the instance's test command;
        an environment's own pytest plugins load (they are the repository's)."""
        own_environment = environment is not None
        base = environment.test_command() if own_environment else \
            getattr(instance, "test_command", None) or self.test_command
        autoload = self.plugin_autoload
        if autoload is None:
            autoload = own_environment or sandbox.info.kind != "local"
        return f"PYTEST_DISABLE_PLUGIN_AUTOLOAD={'' if autoload else '1'} {base}"

    def _pytest(self, sandbox: Sandbox, base: str, test_ids: list[str], trace: Trace) -> Verdict:
        junit = f"{WORK_DIR}/junit.xml"
        files = " ".join(shlex.quote(f) for f in test_files(test_ids))
        report_opts = f"{' '.join(JUNIT_OPTIONS)} --junitxml={junit} " if "pytest" in base else ""
        command = f"{base} {report_opts}{files}"
        result = sandbox.run(command, timeout_s=self.timeout_s)
        trace.add(command, result.output, result.exit_code)
        version = _version(result.output)
        if result.timed_out:
            return Verdict("timeout", f"the tests ran past {self.timeout_s:g}s and were killed",
                           parse_summary(result.output), version)
        report = sandbox.run(f"cat {junit}", timeout_s=60)
        try:
            statuses = parse_junit(report.output) if report.exit_code == 0 else None
        except ValueError:
            statuses = None
        if statuses is None:
            statuses = parse_summary(result.output)
            if not statuses:
                return Verdict("error", f"pytest wrote no report (exit code {result.exit_code})", {}, version)
        return Verdict("ok", _pytest_reason(result.exit_code), statuses, version)


def _version(output: str) -> str:
    m = _PYTEST_VERSION.search(output)
    return m.group(1).rstrip(",") if m else ""


def _pytest_reason(exit_code: int | None) -> str:
    return {0: "all collected tests passed", 1: "some tests failed",
            2: "pytest was interrupted (collection errors?)", 3: "pytest internal error",
            4: "pytest usage error (a test file is missing?)",
            5: "no tests were collected"}.get(exit_code or 0, f"pytest exit code {exit_code}")
