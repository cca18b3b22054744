"""Evaluator: seconds per evaluation of gold patches vs. the raw git apply + pytest it wraps."""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tasks", type=int, default=6, help="bundled tasks to evaluate (default 6)")
    p.add_argument("--rounds", type=int, default=1, help="passes over the tasks (default 1)")


def _raw(instance, files: list[str], scratch: Path) -> float:
    """The same work by hand: clone, git apply both patches, pytest with JUnit XML."""
    t0 = time.perf_counter()
    repo = scratch / f"raw-{instance.instance_id}"
    subprocess.run(["git", "clone", "-q", "--shared", "--no-checkout", instance.repo_path, str(repo)], check=True)
    subprocess.run(["git", "checkout", "-q", "--detach", instance.base_commit], cwd=repo, check=True)
    for name, patch in (("m.patch", instance.patch), ("t.patch", instance.test_patch)):
        (repo / ".git" / name).write_text(patch)
        subprocess.run(["git", "apply", f".git/{name}"], cwd=repo, check=True)
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    subprocess.run([sys.executable, "-m", "pytest", "-rA", "-p", "no:cacheprovider", "-o",
                    "junit_family=xunit1", "--junitxml=.git/j.xml", *files], cwd=repo, env=env,
                   capture_output=True)
    shutil.rmtree(repo)
    return time.perf_counter() - t0


def run(args: argparse.Namespace) -> dict:
    """Each task is evaluated by the evaluator and by hand back to back (interleaved, so
    load on a shared machine hits both alike)."""
    from producers.datasets.bundled import ensure_bundled_tasks
    from producers.evaluator import Evaluator, test_files
    from producers.sandbox.local import LocalSandboxFactory

    scratch = Path(tempfile.mkdtemp(prefix="bench-eval-"))
    ours_s: list[float] = []
    raw_s: list[float] = []
    try:
        tasks = ensure_bundled_tasks(scratch / "cache")[: args.tasks]
        evaluator = Evaluator(LocalSandboxFactory(root=scratch / "sbx"), timeout_s=600)
        for _ in range(args.rounds):
            for task in tasks:
                inst = task.instance
                raw_s.append(_raw(inst, test_files([*inst.FAIL_TO_PASS, *inst.PASS_TO_PASS]), scratch))
                t0 = time.perf_counter()
                result = evaluator.evaluate(inst, inst.patch)
                ours_s.append(time.perf_counter() - t0)
                assert result.resolved, (inst.instance_id, result.reason)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    mean_ours, mean_raw = statistics.mean(ours_s), statistics.mean(raw_s)
    return {"tasks": len(tasks), "evaluations": len(ours_s),
            "evaluator_s_per_eval_mean": round(mean_ours, 3),
            "evaluator_s_per_eval_median": round(statistics.median(ours_s), 3),
            "raw_git_apply_pytest_s_mean": round(mean_raw, 3),
            "raw_git_apply_pytest_s_median": round(statistics.median(raw_s), 3),
            "overhead_ratio_median": round(statistics.median(ours_s) / statistics.median(raw_s), 3)}
