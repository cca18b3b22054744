"""The bundled suite validates itself: real repos, real pytest runs in the local sandbox."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from producers.datasets.bundled import (BundledTask, demo_scripts, ensure_bundled,
                                        ensure_bundled_tasks, suite_digest)
from producers.sandbox.local import LocalSandbox, LocalSandboxFactory

_RESULT = re.compile(r"^(PASSED|FAILED|ERROR) (\S+)", re.M)


@pytest.fixture(scope="module")
def tasks(tmp_path_factory) -> list[BundledTask]:
    return ensure_bundled_tasks(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def sandboxes(tmp_path_factory) -> LocalSandboxFactory:
    return LocalSandboxFactory(root=tmp_path_factory.mktemp("sandboxes"))


def _apply(sb: LocalSandbox, patch: str) -> None:
    path = sb.root / "home" / "apply.patch"
    path.write_text(patch)
    res = sb.run(f"git apply --binary {path}")
    assert res.exit_code == 0, res.output


def _outcomes(sb: LocalSandbox, task: BundledTask) -> dict[str, str]:
    """test id -> PASSED/FAILED/ERROR for FAIL_TO_PASS + PASS_TO_PASS."""
    inst = task.instance
    ids = inst.FAIL_TO_PASS + inst.PASS_TO_PASS
    res = sb.run(f"{inst.test_command} {' '.join(ids)}", timeout_s=120)
    found = dict((tid, status) for status, tid in _RESULT.findall(res.output))
    return {tid: found.get(tid, "MISSING") for tid in ids}


def _check_task(factory: LocalSandboxFactory, task: BundledTask) -> list[str]:
    """Problems with one task (empty: the task is sound)."""
    inst, problems = task.instance, []
    states = {"base+tests": [inst.test_patch], "gold": [inst.test_patch, inst.patch],
              "wrong": [inst.test_patch, task.wrong_patch],
              "regression": [inst.test_patch, task.regression_patch]}
    results = {}
    for name, patches in states.items():
        with factory.create(Path(inst.repo_path), inst.base_commit) as sb:
            for patch in patches:
                _apply(sb, patch)
            results[name] = _outcomes(sb, task)
    f2p, p2p = inst.FAIL_TO_PASS, inst.PASS_TO_PASS
    if any(results["base+tests"][t] == "PASSED" for t in f2p):
        problems.append("a FAIL_TO_PASS test passes at base")
    if any(results["base+tests"][t] != "PASSED" for t in p2p):
        problems.append("a PASS_TO_PASS test fails at base")
    if any(v != "PASSED" for v in results["gold"].values()):
        problems.append(f"gold leaves failures: {results['gold']}")
    if all(v == "PASSED" for v in results["wrong"].values()):
        problems.append("the wrong patch resolves the task")
    if all(results["regression"][t] == "PASSED" for t in p2p):
        problems.append("the regression patch breaks no PASS_TO_PASS test")
    return [f"{inst.instance_id}: {p}" for p in problems]


def test_every_bundled_task_is_sound(tasks, sandboxes):
    """base+test_patch: FAIL_TO_PASS fail, PASS_TO_PASS pass; +gold: all pass;
    the wrong patch does not resolve; the regression patch breaks a PASS_TO_PASS test."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        problems = [p for ps in pool.map(lambda t: _check_task(sandboxes, t), tasks) for p in ps]
    assert problems == []


def test_demo_scripts_play_the_gold_and_wrong_fixes(tasks, sandboxes):
    scripts = demo_scripts()
    assert set(scripts) == {t.instance.instance_id for t in tasks}
    for task in tasks:
        inst, script = task.instance, scripts[task.instance.instance_id]
        for commands, expected in [(script.solve, inst.patch), (script.wrong, task.wrong_patch)]:
            with sandboxes.create(Path(inst.repo_path), inst.base_commit) as sb:
                for command in commands:
                    res = sb.run(command)
                    assert res.exit_code == 0, (inst.instance_id, command, res.output)
                assert sb.diff() == expected, inst.instance_id


def test_suite_shape(tasks):
    assert len(tasks) >= 12
    assert len({t.kind for t in tasks}) >= 8
    repos = [t.instance.repo for t in tasks]
    assert max(repos.count(r) for r in repos) >= 3
    assert len({t.instance.instance_id for t in tasks}) == len(tasks)
    for task in tasks:
        inst = task.instance
        assert inst.FAIL_TO_PASS and len(inst.PASS_TO_PASS) >= 2
        assert not set(inst.FAIL_TO_PASS) & set(inst.PASS_TO_PASS)
        assert inst.repo.startswith("ledger-bundled/") and Path(inst.repo_path, ".git").is_dir()
    rates = {s.solve_rate for s in demo_scripts().values()}
    assert min(rates) <= 0.25 and max(rates) == 1.0
    same_repo = [t.instance.base_commit for t in tasks if t.instance.repo == repos[0]]
    assert len(set(same_repo)) == len(same_repo)


def test_generation_is_deterministic_and_cached(tasks, tmp_path):
    again = ensure_bundled(tmp_path)
    assert [i.model_dump(exclude={"repo_path"}) for i in again] == \
        [t.instance.model_dump(exclude={"repo_path"}) for t in tasks]
    root = tmp_path / "bundled" / suite_digest()
    stamp = (root / "tasks.json").stat().st_mtime_ns
    ensure_bundled(tmp_path)
    assert (root / "tasks.json").stat().st_mtime_ns == stamp
    assert sorted(p.name for p in (tmp_path / "bundled").iterdir()) == \
        sorted([suite_digest(), f"{suite_digest()}.lock"])


def test_concurrent_preparation_is_safe(tmp_path):
    code = ("import json, sys; from producers.datasets.bundled import ensure_bundled; "
            "print(json.dumps([i.base_commit for i in ensure_bundled(sys.argv[1])]))")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], env=env,
                              stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [json.loads(p.communicate(timeout=300)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outs[0] == outs[1] == outs[2] and len(outs[0]) >= 12
    assert [p.name for p in (tmp_path / "bundled").iterdir() if not p.name.endswith(".lock")] \
        == [suite_digest()]


def test_sigkill_during_generation_leaves_nothing_half_written(tmp_path):
    import signal
    import time
    code = "import sys; from producers.datasets.bundled import ensure_bundled; ensure_bundled(sys.argv[1])"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], env=env)
    partials = lambda: list((tmp_path / "bundled").glob(f".{suite_digest()}.partial*"))  # noqa: E731
    deadline = time.monotonic() + 120
    while not any((p / "textkit" / ".git").exists() for p in partials()) and proc.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    root = tmp_path / "bundled" / suite_digest()
    assert not (root / "tasks.json").exists() or proc.returncode == 0
    instances = ensure_bundled(tmp_path)
    assert len(instances) >= 12 and not partials()
    assert all(Path(i.repo_path).is_dir() for i in instances)
