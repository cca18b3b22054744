"""One run of a project's tests in a sandbox, read back from its JUnit XML."""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from producers.environments import Environment
from producers.sandbox.base import Sandbox
from producers.test_report import JUNIT_OPTIONS, parse_failures, parse_junit

__all__ = ["TestRun", "run_tests", "WORK_DIR"]

WORK_DIR = ".git/ledger-synth"
"""Reports and patches live inside .git: never part of the tree under test."""

_ROOTDIR = re.compile(r"^rootdir: (.+?)(?:, configfile: .*)?$", re.MULTILINE)


@dataclass(frozen=True)
class TestRun:
    statuses: dict[str, str]
    """node id -> PASSED / FAILED / ERROR / SKIPPED (empty when there was no report)."""
    failures: dict[str, tuple[str, str]] = field(default_factory=dict)
    """node id -> (message, traceback) of failed and errored tests."""
    exit_code: int | None = None
    timed_out: bool = False
    reported: bool = True
    """False when pytest wrote no readable JUnit report."""
    output_tail: str = ""
    duration_s: float = 0.0
    problem: str = ""
    """Why the run's report is not to be read, when that is not a missing report."""

    def passed(self, test_id: str) -> bool:
        return self.statuses.get(test_id) == "PASSED"


def run_tests(sandbox: Sandbox, env: Environment, paths: list[str], timeout_s: float,
              name: str = "junit", extra: str = "") -> TestRun:
    """`eval_commands && test_cmd` on `paths` with a JUnit report (`extra`: more pytest options)."""
    report = f"{WORK_DIR}/{name}.xml"
    sandbox.run(f"mkdir -p {WORK_DIR} && rm -f {report}", timeout_s=60)
    targets = " ".join(shlex.quote(p) for p in paths)
    command = (f"{env.test_command()} {' '.join(JUNIT_OPTIONS)} --junitxml={report} {extra} "
               f"{targets}")
    result = sandbox.run(command, timeout_s=timeout_s)
    tail = result.output[-3000:]
    if result.timed_out:
        return TestRun({}, exit_code=None, timed_out=True, reported=False, output_tail=tail,
                       duration_s=result.duration_s)
    outside = _rootdir_outside(result.output, sandbox.workdir)
    if outside:
        return TestRun({}, exit_code=result.exit_code, reported=False, output_tail=tail,
                       duration_s=result.duration_s,
                       problem=f"pytest took {outside} as its rootdir, outside the checkout: a pytest "
                               "configuration above the sandbox applied (keep sandboxes out of "
                               "directories with one)")
    xml = _read_report(sandbox, report)
    try:
        if xml is None:
            raise ValueError("no report")
        statuses, failures = parse_junit(xml), parse_failures(xml)
    except ValueError:
        return TestRun({}, exit_code=result.exit_code, reported=False, output_tail=tail,
                       duration_s=result.duration_s)
    return TestRun(statuses, failures, result.exit_code, False, True, tail, result.duration_s)


def _rootdir_outside(output: str, workdir: Path) -> str | None:
    """The rootdir pytest printed when it is not the checkout or a directory in it (a config
    file in a directory above the sandbox was found first: its options and conftests leak in)."""
    found = _ROOTDIR.search(output)
    if found is None:
        return None
    rootdir = Path(found.group(1).strip())
    inside = any(rootdir == w or w in rootdir.parents for w in (Path(workdir), Path(workdir).resolve()))
    return None if inside else str(rootdir)


def _read_report(sandbox: Sandbox, report: str) -> str | None:
    """The report's text: read from the host when the workdir is a host path (the local
    sandbox; a report can be larger than a command's output cap), else through `cat`."""
    path = sandbox.workdir / report
    if path.is_file():
        return path.read_text(errors="replace")
    xml = sandbox.run(f"cat {report}", timeout_s=60)
    return xml.output if xml.exit_code == 0 and not xml.output_capped else None
