"""The evaluator: a patch's verdict on an instance's tests, decided as SWE-bench does.

In a second, clean sandbox at the base commit: apply the model patch, apply the
test patch, run the files holding FAIL_TO_PASS and PASS_TO_PASS with pytest
(JUnit XML for exact per-test statuses), and resolve iff every FAIL_TO_PASS test
passes and every PASS_TO_PASS test still passes. A patch that does not apply, a
timeout or a crash is a result (`status`, `reason`), never an exception.

    result = Evaluator(LocalSandboxFactory()).evaluate(instance, patch, episode_id=...)
    event = record_eval(log, result, run_id=run_id, parent=finished_event_id)
"""
from __future__ import annotations

import hashlib
import re
import shlex
import time
from dataclasses import dataclass, field
from typing import Any

import events
from events.blob import DEFAULT_CAP, make_blob
from events.envelope import Envelope
from events.log import EventLog
from events.payloads import EvalResult, EvalStatus, TestStatus
from producers.agents.workspace import open_sandbox
from producers.sandbox.base import Sandbox, SandboxError, SandboxFactory

from .test_report import JUNIT_OPTIONS, parse_junit, parse_summary, status_of

__all__ = ["Evaluator", "record_eval", "test_files", "HARNESS", "DEFAULT_TEST_COMMAND"]

HARNESS = "pytest"
DEFAULT_TEST_COMMAND = "python -m pytest -rA -p no:cacheprovider"
_WORK = ".git/ledger-eval"
"""Patch files and the JUnit report live inside .git: never part of the tree under test."""
_APPLY = ("git apply --verbose --whitespace=nowarn {p}",
          "patch --batch --fuzz=5 -p1 -i {p}")
"""Tried in order, as SWE-bench's harness does; the first that succeeds wins
(`git apply` is atomic, so a failed attempt leaves the tree as it was)."""
_PYTEST_VERSION = re.compile(r"\bpytest-(\d[\w.+-]*)")


def test_files(test_ids: list[str]) -> list[str]:
    """The files holding the given pytest node ids, in first-seen order."""
    files: list[str] = []
    for test_id in test_ids:
        path = test_id.split("::", 1)[0]
        if path and path not in files:
            files.append(path)
    return files


@dataclass
class _Trace:
    """The evaluation's log: each command and its output, in order."""

    parts: list[str] = field(default_factory=list)

    def add(self, command: str, output: str, exit_code: int | None) -> None:
        self.parts.append(f"$ {command}\n{output}{'' if output.endswith(chr(10)) else chr(10)}"
                          f"[exit code: {exit_code}]\n")

    def text(self) -> str:
        return "".join(self.parts)


class Evaluator:
    """Runs instances' tests on patches in fresh sandboxes made by `sandbox_factory`.

    timeout_s: seconds the test run may take. apply_timeout_s: seconds per patch
    application. log_cap: bytes of the evaluation log stored whole (then excerpt +
    sha256). test_command: the pytest command when the instance names none
    (`Instance.test_command`). plugin_autoload: load setuptools-registered pytest
    plugins; None = off in `local` sandboxes (whose interpreter is the host's, with
    plugins that are not the repo's: hypothesis, hydra... cost ~4 s per run) and on
    elsewhere (a docker image's plugins are the repo's environment).
    """

    def __init__(self, sandbox_factory: SandboxFactory, timeout_s: float = 1800.0,
                 log_cap: int = DEFAULT_CAP, *, apply_timeout_s: float = 120.0,
                 test_command: str = DEFAULT_TEST_COMMAND, plugin_autoload: bool | None = None):
        self.factory = sandbox_factory
        self.timeout_s = timeout_s
        self.apply_timeout_s = apply_timeout_s
        self.log_cap = log_cap
        self.test_command = test_command
        self.plugin_autoload = plugin_autoload

    def evaluate(self, instance: Any, patch: str, *, sample_idx: int = 0,
                 episode_id: str | None = None, model: str = "") -> EvalResult:
        start = time.monotonic()
        base = dict(instance_id=instance.instance_id, sample_idx=sample_idx,
                    episode_id=episode_id, repo=getattr(instance, "repo", ""), model=model,
                    patch_sha256=hashlib.sha256(patch.encode("utf-8", "surrogateescape")).hexdigest())
        f2p, p2p = list(instance.FAIL_TO_PASS), list(instance.PASS_TO_PASS)
        trace = _Trace()
        if not patch.strip():
            verdict = _Verdict("empty_patch", "the patch is empty", {})
        else:
            verdict = self._run(instance, patch, f2p + p2p, trace)
        statuses = verdict.statuses
        fail_to_pass = {t: status_of(t, statuses) for t in f2p}
        pass_to_pass = {t: status_of(t, statuses) for t in p2p}
        resolved = verdict.status == "ok" and _all_pass(fail_to_pass) and _all_pass(pass_to_pass)
        log_text = trace.text()
        return EvalResult(
            **base, resolved=resolved, status=verdict.status, reason=verdict.reason,
            fail_to_pass=fail_to_pass, pass_to_pass=pass_to_pass, harness=HARNESS,
            harness_version=verdict.harness_version,
            duration_s=round(time.monotonic() - start, 6),
            log=make_blob(log_text, self.log_cap) if log_text else None)

    def _run(self, instance: Any, patch: str, test_ids: list[str], trace: _Trace) -> "_Verdict":
        try:
            sandbox = open_sandbox(self.factory, instance)
        except (SandboxError, ValueError, OSError) as exc:
            return _Verdict("error", f"sandbox not created: {exc}", {})
        with sandbox:
            try:
                return self._in_sandbox(sandbox, instance, patch, test_ids, trace)
            except SandboxError as exc:
                return _Verdict("error", f"sandbox failed: {exc}", {})

    def _in_sandbox(self, sandbox: Sandbox, instance: Any, patch: str, test_ids: list[str],
                    trace: _Trace) -> "_Verdict":
        sandbox.write_file(f"{_WORK}/model.patch", patch)
        if not self._apply(sandbox, f"{_WORK}/model.patch", trace):
            return _Verdict("patch_failed", "the model patch does not apply: "
                            + _first_error(trace), {})
        test_patch = getattr(instance, "test_patch", "") or ""
        if test_patch.strip():
            sandbox.write_file(f"{_WORK}/test.patch", test_patch)
            if not self._apply(sandbox, f"{_WORK}/test.patch", trace):
                return _Verdict("test_patch_failed", "the test patch does not apply on top of "
                                "the model patch: " + _first_error(trace), {})
        return self._pytest(sandbox, self._command(sandbox, instance), test_ids, trace)

    def _command(self, sandbox: Sandbox, instance: Any) -> str:
        base = getattr(instance, "test_command", None) or self.test_command
        autoload = self.plugin_autoload
        if autoload is None:
            autoload = sandbox.info.kind != "local"
        return base if autoload else f"PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 {base}"

    def _apply(self, sandbox: Sandbox, path: str, trace: _Trace) -> bool:
        for template in _APPLY:
            command = template.format(p=shlex.quote(path))
            result = sandbox.run(command, timeout_s=self.apply_timeout_s)
            trace.add(command, result.output, result.exit_code)
            if result.exit_code == 0:
                return True
        return False

    def _pytest(self, sandbox: Sandbox, base: str, test_ids: list[str],
                trace: _Trace) -> "_Verdict":
        junit = f"{_WORK}/junit.xml"
        files = " ".join(shlex.quote(f) for f in test_files(test_ids))
        report_opts = f"{' '.join(JUNIT_OPTIONS)} --junitxml={junit} " if "pytest" in base else ""
        command = f"{base} {report_opts}{files}"
        result = sandbox.run(command, timeout_s=self.timeout_s)
        trace.add(command, result.output, result.exit_code)
        version = _version(result.output)
        if result.timed_out:
            return _Verdict("timeout", f"the tests ran past {self.timeout_s:g}s and were killed",
                            parse_summary(result.output), version)
        report = sandbox.run(f"cat {junit}", timeout_s=60)
        try:
            statuses = parse_junit(report.output) if report.exit_code == 0 else None
        except ValueError:
            statuses = None
        if statuses is None:
            statuses = parse_summary(result.output)
            if not statuses:
                return _Verdict("error", f"pytest wrote no report (exit code {result.exit_code})",
                                {}, version)
        return _Verdict("ok", _pytest_reason(result.exit_code), statuses, version)


@dataclass(frozen=True)
class _Verdict:
    status: EvalStatus
    reason: str
    statuses: dict[str, TestStatus]
    harness_version: str = ""


def _all_pass(statuses: dict[str, TestStatus]) -> bool:
    return all(s == "PASSED" for s in statuses.values())


def _version(output: str) -> str:
    m = _PYTEST_VERSION.search(output)
    return m.group(1).rstrip(",") if m else ""


def _first_error(trace: _Trace) -> str:
    """git apply's own verdict lines (`error: patch failed: calc.py:3; ...`), else patch's."""
    lines = [line.strip() for line in trace.text().splitlines()]
    errors = [line for line in lines if line.startswith("error:") and not line.endswith(":")]
    if not errors:
        errors = [line for line in lines if "FAILED" in line or "malformed" in line.lower()]
    return "; ".join(errors[:2])[:300] or "see the log"


def _pytest_reason(exit_code: int | None) -> str:
    return {0: "all collected tests passed", 1: "some tests failed",
            2: "pytest was interrupted (collection errors?)", 3: "pytest internal error",
            4: "pytest usage error (a test file is missing?)",
            5: "no tests were collected"}.get(exit_code or 0, f"pytest exit code {exit_code}")


def record_eval(log: EventLog, result: EvalResult, *, run_id: str, parent: str | None,
                producer: str = "evaluator") -> Envelope:
    """Append the `eval.result` event (parent: the `episode.finished` it judges)."""
    event = events.new(result, producer=producer, run_id=run_id, parent=parent)
    log.append("evals", [event])
    return event
