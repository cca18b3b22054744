"""The evaluator: a patch's verdict on an instance's tests, decided as SWE-bench decides.

In a second, clean sandbox at the base commit, one of the harnesses
(`producers.harness`) applies the patch and runs the tests: the official
SWE-bench harness's spec, eval script and parser for rows that carry them
(`harness: swebench`), our pytest/JUnit harness for the rest (`harness:
pytest`). A patch that does not apply, a timeout or tests that fail are model
failures and results (`status`, `reason`); when the sandbox, repository,
environment or harness fails instead, the result says `status: infra` with its
cause and the sample is not scored. Nothing here raises for either.

    result = Evaluator(LocalSandboxFactory()).evaluate(instance, patch, episode_id=...)
    event = record_eval(log, result, run_id=run_id, parent=finished_event_id)
"""
from __future__ import annotations

import hashlib
import time
from typing import Any

import events
from events.blob import DEFAULT_CAP, make_blob
from events.envelope import Envelope
from events.log import EventLog
from events.payloads import EvalResult
from producers.agents.workspace import open_sandbox
from producers.failures import HARNESS as HARNESS_CRASH
from producers.harness import (DEFAULT_TEST_COMMAND, PytestHarness, SwebenchHarness, Trace, Verdict, knows,
                               missing_reason, resolution, test_files, wants)
from producers.sandbox.base import SandboxError, SandboxFactory

__all__ = ["Evaluator", "record_eval", "infra_result", "test_files", "HARNESS", "DEFAULT_TEST_COMMAND"]

HARNESS = PytestHarness.name
"""The harness of instances the official one does not know."""


class Evaluator:
    """Judges patches in fresh sandboxes made by `sandbox_factory`.

    timeout_s: seconds the tests (or the eval script) may take. apply_timeout_s: seconds per
    patch application. log_cap: bytes of the evaluation log stored whole (then excerpt +
    sha256). test_command: the pytest command when an instance names none. plugin_autoload:
    see `PytestHarness`.
    """

    def __init__(self, sandbox_factory: SandboxFactory, timeout_s: float = 1800.0,
                 log_cap: int = DEFAULT_CAP, *, apply_timeout_s: float = 120.0,
                 test_command: str = DEFAULT_TEST_COMMAND, plugin_autoload: bool | None = None):
        self.factory = sandbox_factory
        self.timeout_s = timeout_s
        self.log_cap = log_cap
        self.pytest = PytestHarness(timeout_s=timeout_s, apply_timeout_s=apply_timeout_s,
                                    test_command=test_command, plugin_autoload=plugin_autoload)
        self.swebench = SwebenchHarness(timeout_s=timeout_s, apply_timeout_s=apply_timeout_s)

    def harness_for(self, instance: Any) -> PytestHarness | SwebenchHarness:
        return self.swebench if wants(instance) else self.pytest

    def evaluate(self, instance: Any, patch: str, *, sample_idx: int = 0,
                 episode_id: str | None = None, model: str = "", baseline: bool = False) -> EvalResult:
        """`baseline`: an empty patch runs the tests at the base commit (with the test patch)
        instead of being an `empty_patch` result (what dataset validation needs)."""
        start = time.monotonic()
        harness = self.harness_for(instance)
        trace = Trace()
        if wants(instance) and not knows(instance):
            verdict = Verdict("infra", missing_reason(instance), infra_cause=HARNESS_CRASH)
        elif not wants(instance) and not _pytest_ids(instance):
            verdict = Verdict("infra", "no harness can judge this row: its tests are not pytest node ids "
                              "(path::name) and it carries no eval_script for the official harness (SWE-bench 5 "
                              "rows do; swebench 5 keeps no per-repo specs for older rows)",
                              infra_cause=HARNESS_CRASH)
        elif not patch.strip() and not baseline:
            verdict = Verdict("empty_patch", "the patch is empty", resolution="no")
        else:
            verdict = self._run(harness, instance, patch, trace)
        log_text = trace.text()
        return _result(instance, patch, verdict, harness.name, sample_idx=sample_idx,
                       episode_id=episode_id, model=model, duration_s=time.monotonic() - start,
                       log=make_blob(log_text, self.log_cap) if log_text else None)

    def _run(self, harness: PytestHarness | SwebenchHarness, instance: Any, patch: str,
             trace: Trace) -> Verdict:
        try:
            sandbox = open_sandbox(self.factory, instance)
        except (SandboxError, ValueError, OSError) as exc:
            cause = exc.cause if isinstance(exc, SandboxError) else SandboxError.cause
            return Verdict("infra", f"sandbox not created: {exc}", infra_cause=cause)
        with sandbox:
            try:
                return harness.judge(sandbox, instance, patch, trace)
            except SandboxError as exc:
                return Verdict("infra", f"sandbox failed: {exc}", infra_cause=exc.cause)


def _pytest_ids(instance: Any) -> bool:
    return all("::" in t for t in [*instance.FAIL_TO_PASS, *instance.PASS_TO_PASS])


def _result(instance: Any, patch: str, verdict: Verdict, harness: str, **fields: Any) -> EvalResult:
    f2p = {t: verdict.statuses.get(t, "MISSING") for t in instance.FAIL_TO_PASS}
    p2p = {t: verdict.statuses.get(t, "MISSING") for t in instance.PASS_TO_PASS}
    decided = verdict.resolution or (resolution(f2p, p2p) if verdict.status == "ok" else "")
    return EvalResult(
        instance_id=instance.instance_id, repo=getattr(instance, "repo", ""),
        patch_sha256=hashlib.sha256(patch.encode("utf-8", "surrogateescape")).hexdigest(),
        resolved=verdict.status == "ok" and decided == "full", status=verdict.status,
        reason=verdict.reason, infra_cause=verdict.infra_cause, resolution=decided,
        fail_to_pass=f2p, pass_to_pass=p2p, harness=harness, harness_version=verdict.harness_version,
        spec_digest=verdict.spec_digest, duration_s=round(fields.pop("duration_s"), 6), **fields)


def infra_result(instance: Any, cause: str, reason: str, *, patch: str = "", sample_idx: int = 0,
                 episode_id: str | None = None, model: str = "") -> EvalResult:
    """The result of a pair the infrastructure kept from being judged (nothing ran; `harness`
    is `none`): e.g. an episode that ended because the upstream was unreachable."""
    return _result(instance, patch, Verdict("infra", reason, infra_cause=cause), "none",
                   sample_idx=sample_idx, episode_id=episode_id, model=model, duration_s=0.0, log=None)


def record_eval(log: EventLog, result: EvalResult, *, run_id: str, parent: str | None,
                producer: str = "evaluator") -> Envelope:
    """Append the `eval.result` event (parent: the `episode.finished` it judges)."""
    event = events.new(result, producer=producer, run_id=run_id, parent=parent)
    log.append("evals", [event])
    return event
