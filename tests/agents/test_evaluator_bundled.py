"""Acceptance: the evaluator over EVERY bundled task.

gold patch -> resolved; empty patch -> not resolved; a patch breaking a
PASS_TO_PASS test (the task's regression patch) -> not resolved; a patch that
does not apply -> not resolved, with the reason. Evaluations run two at a time.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from producers.datasets.bundled import ensure_bundled_tasks
from producers.evaluator import Evaluator
from producers.sandbox.local import LocalSandboxFactory


def not_applying(patch: str) -> str:
    """The gold patch with its first removed line changed: its context no longer matches."""
    lines = patch.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith("-") and not line.startswith("---"):
            lines[i] = line.rstrip("\n") + "  # not in the file\n"
            return "".join(lines)
    return ("diff --git a/no_such_file.py b/no_such_file.py\n--- a/no_such_file.py\n"
            "+++ b/no_such_file.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n")


@pytest.fixture(scope="module")
def matrix(tmp_path_factory, bundled_cache):
    tasks = ensure_bundled_tasks(bundled_cache)
    evaluator = Evaluator(LocalSandboxFactory(root=tmp_path_factory.mktemp("sbx")), timeout_s=300)
    cases = [(t, kind, patch) for t in tasks for kind, patch in (
        ("gold", t.instance.patch), ("empty", ""), ("regression", t.regression_patch),
        ("not_applying", not_applying(t.instance.patch)))]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda c: evaluator.evaluate(c[0].instance, c[2]), cases))
    return tasks, [(t.instance.instance_id, kind, r) for (t, kind, _), r in zip(cases, results, strict=True)]


def _failures(rows, kind, check):
    return [f"{iid}: {r.status} {r.reason} f2p={r.fail_to_pass} p2p={r.pass_to_pass}"
            for iid, k, r in rows if k == kind and not check(r)]


def test_the_suite_has_at_least_12_tasks(matrix):
    tasks, rows = matrix
    assert len(tasks) >= 12 and len(rows) == 4 * len(tasks)


def test_gold_patch_resolves_every_task(matrix):
    assert _failures(matrix[1], "gold", lambda r: r.resolved and r.status == "ok") == []


def test_empty_patch_resolves_none(matrix):
    assert _failures(matrix[1], "empty", lambda r: not r.resolved and r.status == "empty_patch") == []


def test_breaking_pass_to_pass_resolves_none(matrix):
    def broke_p2p(r):
        return (not r.resolved and r.status == "ok"
                and any(s != "PASSED" for s in r.pass_to_pass.values()))
    assert _failures(matrix[1], "regression", broke_p2p) == []


def test_patch_that_does_not_apply_resolves_none_with_reason(matrix):
    def failed_apply(r):
        return not r.resolved and r.status == "patch_failed" and "does not apply" in r.reason
    assert _failures(matrix[1], "not_applying", failed_apply) == []


def test_every_result_names_the_harness(matrix):
    ran = [r for _, k, r in matrix[1] if k != "empty"]
    assert {r.harness for r in ran} == {"pytest"} and all(r.harness_version for r in ran
                                                         if r.status == "ok")
    assert all(r.log is not None and len(r.log.sha256) == 64 for r in ran)
