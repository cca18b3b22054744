"""Our resolution rule equals the official harness's on every status map (hypothesis).

Ours (`producers.harness.resolution`) judges bundled and local instances without
the harness; the harness's is `get_resolution_status(get_eval_tests_report(...))`.
Statuses are the harness's (PASSED, FAILED, SKIPPED, ERROR, XFAIL, or absent);
ours reads XFAIL as PASSED and absence as MISSING, as our JUnit reader does.
"""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from swebench.harness import grading
from swebench.harness.constants import FAIL_TO_PASS, PASS_TO_PASS

from producers.harness import resolution

HARNESS_STATUSES = ["PASSED", "FAILED", "SKIPPED", "ERROR", "XFAIL"]
_OURS = {"XFAIL": "PASSED"}
_NAMES = {"RESOLVED_FULL": "full", "RESOLVED_PARTIAL": "partial", "RESOLVED_NO": "no"}

ids = st.sampled_from([f"tests/test_m.py::test_{i}" for i in range(8)] + ["test_a (m.T)", "test_b"])


@st.composite
def cases(draw):
    f2p = draw(st.lists(ids, max_size=6, unique=True))
    p2p = draw(st.lists(ids, max_size=6, unique=True))
    ran = draw(st.lists(ids, unique=True))
    status_map = {t: draw(st.sampled_from(HARNESS_STATUSES)) for t in ran}
    return f2p, p2p, status_map


def ours(tests: list[str], status_map: dict[str, str]) -> dict[str, str]:
    return {t: _OURS.get(status_map[t], status_map[t]) if t in status_map else "MISSING" for t in tests}


@settings(max_examples=2000, deadline=None)
@given(cases())
def test_resolution_agrees_with_get_resolution_status(case):
    f2p, p2p, status_map = case
    report = grading.get_eval_tests_report(status_map, {FAIL_TO_PASS: f2p, PASS_TO_PASS: p2p})
    official = _NAMES[grading.get_resolution_status(report)]
    assert resolution(ours(f2p, status_map), ours(p2p, status_map)) == official


def test_the_rules_edges_by_hand():
    assert resolution({}, {}) == "full"
    assert resolution({"a": "PASSED"}, {"b": "SKIPPED"}) == "full"     # a skipped P2P is kept
    assert resolution({"a": "SKIPPED"}, {}) == "no"                     # a skipped F2P is not fixed
    assert resolution({"a": "PASSED", "b": "FAILED"}, {}) == "partial"
    assert resolution({"a": "PASSED", "b": "FAILED"}, {"c": "MISSING"}) == "no"
