"""Validate one candidate bug by running the project's tests (in a worker process).

In a fresh local sandbox at the bug's commit, with the project's environment:

1. run the test files whose kept tests execute the changed entity (the whole kept
   suite with `pass_to_pass: suite`); FAIL_TO_PASS = the kept tests that do not pass;
   none: rejected `no_test_broken`;
2. apply the fix (the gold patch) and run the files holding FAIL_TO_PASS and
   PASS_TO_PASS again: every one must pass. If some do not, run once more: passing
   now is `flaky`, failing again is `fails_after_revert`.

A run past the per-candidate timeout is `timeout`; a bug or fix that does not apply
is `patch_failed`; no readable report is `error`.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from producers.environments import Environment
from producers.sandbox.base import Sandbox, SandboxError, SandboxFactory

from .candidates import Candidate
from .repo import ProjectRepo, RepoError
from .statement import template_statement
from .testrun import WORK_DIR, TestRun, run_tests

__all__ = ["Accepted", "Rejected", "ValidationInput", "validate"]


@dataclass(frozen=True)
class ValidationInput:
    candidate: Candidate
    repo: ProjectRepo
    environment: Environment
    passed: frozenset[str]
    """The project's kept tests."""
    test_files: list[str]
    """The files to run with the bug."""
    scope: str
    """`files` or `suite` (PASS_TO_PASS)."""
    timeout_s: float
    commit_message: str


@dataclass(frozen=True)
class Accepted:
    base_commit: str
    patch: str
    fail_to_pass: list[str]
    pass_to_pass: list[str]
    problem_statement: str
    failures: dict[str, tuple[str, str]] = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class Rejected:
    reason: str
    detail: str


def validate(job: ValidationInput, factory: SandboxFactory) -> Accepted | Rejected:
    repo = job.repo
    try:
        buggy = repo.bug_commit(job.candidate.candidate_id, job.candidate.bug_patch, job.commit_message)
        fix = repo.diff(buggy, repo.pristine)
    except RepoError as exc:
        return Rejected("patch_failed", f"the bug patch does not apply: {exc}"[:500])
    try:
        with factory.create(repo.path, buggy, environment=job.environment) as sandbox:
            return _in_sandbox(job, sandbox, buggy, fix)
    except SandboxError as exc:
        return Rejected("error", f"sandbox: {exc}"[:500])


def _in_sandbox(job: ValidationInput, sandbox: Sandbox, buggy: str, fix: str) -> Accepted | Rejected:
    with_bug = run_tests(sandbox, job.environment, job.test_files, job.timeout_s, name="bug")
    problem = _problem(with_bug, "with the bug")
    if problem is not None:
        return problem
    ran = [t for t in sorted(job.passed) if t.split("::", 1)[0] in set(job.test_files)]
    f2p = [t for t in ran if not with_bug.passed(t)]
    if not f2p:
        return Rejected("no_test_broken", f"all {len(ran)} kept tests of {len(job.test_files)} "
                                          "file(s) still pass with the bug")
    f2p_files = {t.split("::", 1)[0] for t in f2p}
    scope = ran if job.scope == "suite" else [t for t in ran if t.split("::", 1)[0] in f2p_files]
    p2p = [t for t in scope if with_bug.passed(t)]
    sandbox.write_file(f"{WORK_DIR}/fix.patch", fix)
    applied = sandbox.run(f"git apply --whitespace=nowarn {shlex.quote(WORK_DIR + '/fix.patch')}", timeout_s=120)
    if applied.exit_code != 0:
        return Rejected("patch_failed", f"the fix does not apply on the bug: {applied.output[-300:]}")
    files = sorted({t.split("::", 1)[0] for t in f2p + p2p})
    verdict = _after_fix(job, sandbox, files, f2p + p2p)
    if verdict is not None:
        return verdict
    statement = template_statement(f2p, with_bug.failures, sandbox_root=str(sandbox.workdir))
    return Accepted(buggy, fix, f2p, p2p, statement, with_bug.failures)


def _after_fix(job: ValidationInput, sandbox: Sandbox, files: list[str], tests: list[str]) -> Rejected | None:
    first = run_tests(sandbox, job.environment, files, job.timeout_s, name="fix")
    problem = _problem(first, "with the fix")
    if problem is not None:
        return problem
    failing = [t for t in tests if not first.passed(t)]
    if not failing:
        return None
    again = run_tests(sandbox, job.environment, files, job.timeout_s, name="fix-again")
    problem = _problem(again, "with the fix, run again")
    if problem is not None:
        return problem
    still = [t for t in tests if not again.passed(t)]
    if still:
        return Rejected("fails_after_revert", f"{len(still)} test(s) fail with the fix applied, twice: "
                        + ", ".join(still[:5]))
    return Rejected("flaky", f"{len(failing)} test(s) failed with the fix applied, then passed: "
                    + ", ".join(failing[:5]))


def _problem(run: TestRun, when: str) -> Rejected | None:
    if run.timed_out:
        return Rejected("timeout", f"the tests {when} ran past the per-candidate timeout")
    if run.problem:
        return Rejected("error", f"the tests {when}: {run.problem}")
    if not run.reported:
        return Rejected("error", f"the tests {when} wrote no JUnit report (exit {run.exit_code}): "
                        f"{run.output_tail[-400:]}")
    return None
