"""Per-test statuses from a pytest run: JUnit XML first, the `-rA` summary as fallback.

Statuses are SWE-bench's as far as `resolved` is concerned: xfail counts as
PASSED, xpass(strict) as FAILED; a test absent from the run is MISSING.
JUnit test cases are turned back into pytest node ids
(`path/to/test_x.py::Class::test_name[param]`) using the `file` attribute that
`-o junit_family=xunit1` writes.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from events.payloads import TestStatus

__all__ = ["parse_junit", "parse_failures", "parse_summary", "status_of", "JUNIT_OPTIONS"]

JUNIT_OPTIONS = ("-o", "junit_family=xunit1")

_RANK = {"PASSED": 0, "SKIPPED": 1, "FAILED": 2, "ERROR": 3}
"""When a node id appears twice (a failing teardown), the worse status wins."""

_SUMMARY = re.compile(r"^(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\s+(\S+::\S+?)(?:\s+-\s.*)?$",
                      re.MULTILINE)


def _merge(statuses: dict[str, TestStatus], nodeid: str, status: TestStatus) -> None:
    old = statuses.get(nodeid)
    if old is None or _RANK[status] > _RANK[old]:
        statuses[nodeid] = status


def _case_status(case: ET.Element) -> TestStatus:
    if case.find("error") is not None:
        return "ERROR"
    if case.find("failure") is not None:
        return "FAILED"
    skipped = case.find("skipped")
    if skipped is not None:
        return "PASSED" if skipped.get("type") == "pytest.xfail" else "SKIPPED"
    return "PASSED"


def _nodeid(case: ET.Element) -> str | None:
    name, classname, path = case.get("name"), case.get("classname", ""), case.get("file")
    if not name or not path:
        return None
    module = path[:-3].replace("/", ".") if path.endswith(".py") else path.replace("/", ".")
    if classname.startswith(module):
        rest = classname[len(module):].lstrip(".")
    elif path.endswith(".py") and "." in classname:
        # A test inherited from a class in another file: `file` is where the function is
        # written (tests/__init__.py), `classname` where it was collected
        # (tests.test_lru.LRUCacheTest): the module is the part before the first class.
        path, rest = _split_classname(classname)
    else:
        rest = ""
    parts = [path, *(rest.split(".") if rest else []), name]
    return "::".join(parts)


def _split_classname(classname: str) -> tuple[str, str]:
    dotted = classname.split(".")
    first_class = next((i for i, p in enumerate(dotted) if p[:1].isupper()), len(dotted) - 1)
    first_class = max(first_class, 1)
    return "/".join(dotted[:first_class]) + ".py", ".".join(dotted[first_class:])


def parse_junit(xml_text: str) -> dict[str, TestStatus]:
    """node id -> status; raises ValueError when the text is not JUnit XML."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise ValueError(f"not JUnit XML: {exc}") from exc
    statuses: dict[str, TestStatus] = {}
    for case in root.iter("testcase"):
        nodeid = _nodeid(case)
        if nodeid is not None:
            _merge(statuses, nodeid, _case_status(case))
    return statuses


def parse_summary(output: str) -> dict[str, TestStatus]:
    """node id -> status from pytest's `-rA` short test summary."""
    statuses: dict[str, TestStatus] = {}
    for word, nodeid in _SUMMARY.findall(output):
        status = {"XFAIL": "PASSED", "XPASS": "FAILED"}.get(word, word)
        _merge(statuses, nodeid, status)  # type: ignore[arg-type]
    return statuses


def status_of(test_id: str, statuses: dict[str, TestStatus]) -> TestStatus:
    return statuses.get(test_id, "MISSING")


def parse_failures(xml_text: str) -> dict[str, tuple[str, str]]:
    """node id -> (message, text) of each failed or errored JUnit test case (message: the
    `message` attribute, e.g. `AssertionError: assert 2 == 3`; text: pytest's traceback)."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise ValueError(f"not JUnit XML: {exc}") from exc
    failures: dict[str, tuple[str, str]] = {}
    for case in root.iter("testcase"):
        nodeid = _nodeid(case)
        element = case.find("failure")
        if element is None:
            element = case.find("error")
        if nodeid is not None and element is not None and nodeid not in failures:
            failures[nodeid] = (element.get("message", ""), element.text or "")
    return failures
