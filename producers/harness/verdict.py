"""What a harness hands back, and the resolution rule SWE-bench uses.

`resolution(f2p, p2p)`: `full` when every FAIL_TO_PASS test passes and every
PASS_TO_PASS test is maintained; `partial` when some but not all FAIL_TO_PASS
tests pass and every PASS_TO_PASS test is maintained; `no` otherwise. A
FAIL_TO_PASS test passes only as PASSED (xfail is recorded as PASSED); a
PASS_TO_PASS test is maintained when PASSED or SKIPPED (a skip is not a
regression, one that is MISSING is). Empty lists count as fully passing. This
is the official harness's rule (`swebench.harness.grading.get_resolution_status`
over `get_eval_tests_report`); tests/producers/harness/test_resolution.py checks
the two agree on generated status maps.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from events.payloads import EvalStatus, Resolution, TestStatus

__all__ = ["Verdict", "resolution", "MAINTAINED"]

MAINTAINED = frozenset({"PASSED", "SKIPPED"})


def resolution(f2p: dict[str, TestStatus], p2p: dict[str, TestStatus]) -> Resolution:
    if not all(s in MAINTAINED for s in p2p.values()):
        return "no"
    passing = sum(s == "PASSED" for s in f2p.values())
    if passing == len(f2p):
        return "full"
    return "partial" if passing else "no"


@dataclass(frozen=True)
class Verdict:
    """One judgement. `statuses` maps test ids to statuses; `resolution` is set when the
    harness decided it (the official harness), else derived from the statuses."""

    status: EvalStatus
    reason: str
    statuses: dict[str, TestStatus] = field(default_factory=dict)
    harness_version: str = ""
    resolution: Resolution = ""
    infra_cause: str = ""
    spec_digest: str = ""
