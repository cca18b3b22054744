"""The evaluator on a throwaway repo: every verdict path, with real git and real pytest."""
from __future__ import annotations

from dataclasses import replace

import pytest

from events.log import open_log
from producers.evaluator import Evaluator, record_eval
from producers.sandbox.local import LocalSandboxFactory

from .toy_repo import BREAK_PATCH, FIX_PATCH, UNRELATED_PATCH, make_toy_repo


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return make_toy_repo(tmp_path_factory.mktemp("toy"))


@pytest.fixture(scope="module")
def evaluator(tmp_path_factory):
    return Evaluator(LocalSandboxFactory(root=tmp_path_factory.mktemp("sbx")), timeout_s=120)


def test_gold_patch_resolves(toy, evaluator):
    r = evaluator.evaluate(toy, FIX_PATCH, episode_id="ep1")
    assert r.resolved and r.status == "ok", r.log.text
    assert r.fail_to_pass == {"test_sub.py::test_sub": "PASSED"}
    assert r.pass_to_pass == {"test_calc.py::test_add": "PASSED",
                              "test_calc.py::TestAdd::test_zero": "PASSED"}
    assert r.harness == "pytest" and r.harness_version.split(".")[0].isdigit()
    assert r.log is not None and len(r.log.sha256) == 64 and "passed" in r.log.text


def test_empty_patch_is_not_resolved(toy, evaluator):
    r = evaluator.evaluate(toy, "")
    assert not r.resolved and r.status == "empty_patch"
    assert set(r.fail_to_pass.values()) == {"MISSING"}


def test_breaking_a_pass_to_pass_test_is_not_resolved(toy, evaluator):
    r = evaluator.evaluate(toy, BREAK_PATCH)
    assert not r.resolved and r.status == "ok"
    assert r.fail_to_pass == {"test_sub.py::test_sub": "PASSED"}
    assert r.pass_to_pass["test_calc.py::test_add"] == "FAILED"


def test_patch_that_does_not_apply_is_a_result(toy, evaluator):
    bad = FIX_PATCH.replace("-    return a + b", "-    return a * b")
    r = evaluator.evaluate(toy, bad)
    assert not r.resolved and r.status == "patch_failed"
    assert "does not apply: error: patch failed: calc.py" in r.reason and r.log is not None


def test_unfixed_tests_fail_and_missing_tests_count(toy, evaluator):
    with_gone = replace(toy, PASS_TO_PASS=[*toy.PASS_TO_PASS, "test_calc.py::test_gone"])
    r = evaluator.evaluate(with_gone, UNRELATED_PATCH)
    assert r.status == "ok", r.log.text
    assert r.fail_to_pass == {"test_sub.py::test_sub": "FAILED"}
    assert r.pass_to_pass["test_calc.py::test_gone"] == "MISSING"
    assert not r.resolved


def test_timeout_is_a_result(toy, tmp_path):
    sleepy = toy.test_patch.replace("+from calc import sub\n", "+import time\n+time.sleep(30)\n")
    slow = replace(toy, test_patch=sleepy.replace("@@ -0,0 +1,5 @@", "@@ -0,0 +1,6 @@"))
    ev = Evaluator(LocalSandboxFactory(root=tmp_path), timeout_s=2)
    r = ev.evaluate(slow, FIX_PATCH)
    assert r.status == "timeout" and not r.resolved
    assert set(r.fail_to_pass.values()) == {"MISSING"}


def test_record_eval_links_to_the_episode(toy, evaluator, tmp_path):
    log = open_log(f"sqlite:///{tmp_path / 'l.db'}")
    r = evaluator.evaluate(toy, FIX_PATCH, episode_id="ep1")
    ev = record_eval(log, r, run_id="run1", parent="finished-id")
    [rec] = list(log.read("evals"))
    assert rec.event.id == ev.id and rec.event.parent == "finished-id"
    assert rec.event.key == "run1/toy__calc-1" and rec.event.payload.resolved
    log.close()


def test_a_patch_that_breaks_collection_is_not_resolved(toy, evaluator):
    syntax_error = FIX_PATCH.replace("+    return a - b", "+    return a -")
    r = evaluator.evaluate(toy, syntax_error)
    assert not r.resolved and r.status == "ok"
    assert set(r.fail_to_pass.values()) | set(r.pass_to_pass.values()) <= {"MISSING", "ERROR"}
    assert "SyntaxError" in r.log.text
