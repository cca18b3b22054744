"""Evaluator: seconds per evaluation of gold patches vs. the raw git apply + pytest it wraps.

Two parts, each interleaved with its raw counterpart in the same run:
- bundled tasks (our pytest/JUnit harness) against clone + `git apply` x2 + pytest by hand;
- mini SWE-bench instances (the official harness's spec, eval script and parser, `--swebench N`)
  against the same local sandbox made by hand, `git apply` of the gold patch and
  `bash eval.sh` (the instance's eval script, adapted once beforehand) — the harness's
  eval script run by hand.
"""
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
    p.add_argument("--swebench", type=int, default=8,
                   help="mini SWE-bench instances judged by the official harness (default 8; 0 skips)")


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
    return {**_bundled_figures(tasks, ours_s, raw_s, mean_ours, mean_raw), **_swebench(args),
            "load_avg": os.getloadavg()[0]}


def _bundled_figures(tasks, ours_s, raw_s, mean_ours, mean_raw) -> dict:
    return {"tasks": len(tasks), "evaluations": len(ours_s),
            "evaluator_s_per_eval_mean": round(mean_ours, 3),
            "evaluator_s_per_eval_median": round(statistics.median(ours_s), 3),
            "raw_git_apply_pytest_s_mean": round(mean_raw, 3),
            "raw_git_apply_pytest_s_median": round(statistics.median(raw_s), 3),
            "overhead_ratio_median": round(statistics.median(ours_s) / statistics.median(raw_s), 3)}


def _by_hand(factory, inst, script: str) -> float:
    """The harness's eval script by hand in the same kind of sandbox: make it, git apply the
    gold patch, bash the script."""
    from producers.agents.workspace import open_sandbox

    t0 = time.perf_counter()
    with open_sandbox(factory, inst) as sb:
        sb.write_file(".git/hand/gold.patch", inst.patch)
        sb.run("git apply .git/hand/gold.patch", timeout_s=120)
        sb.write_file(".git/hand/eval.sh", script.replace("@WORKDIR@", str(sb.workdir)))
        sb.run("bash .git/hand/eval.sh", timeout_s=600)
    return time.perf_counter() - t0


def _swebench(args: argparse.Namespace) -> dict:
    """Mini SWE-bench instances: the evaluator (official harness) against the script by hand."""
    if not args.swebench:
        return {}
    from producers.datasets import load_dataset
    from producers.datasets.swebench_mini import ensure_swebench_mini
    from producers.evaluator import Evaluator
    from producers.harness.swebench_script import local_script
    from producers.harness.swebench_spec import test_spec
    from producers.sandbox.local import LocalSandboxFactory

    import swebench.harness.grading  # noqa: F401  (imported once, before the clock, as a worker would)

    scratch = Path(tempfile.mkdtemp(prefix="bench-swebench-"))
    ours_s: list[float] = []
    hand_s: list[float] = []
    try:
        suite = ensure_swebench_mini(scratch / "cache")
        instances = load_dataset(suite.rows_path, repos=str(suite.mirrors)).instances[: args.swebench]
        factory = LocalSandboxFactory(root=scratch / "sbx")
        evaluator = Evaluator(factory, timeout_s=600)
        for _ in range(args.rounds):
            for inst in instances:
                script = local_script(test_spec(inst).eval_script_list, "@WORKDIR@",
                                      ['export PYTHONPATH="@WORKDIR@"'])
                hand_s.append(_by_hand(factory, inst, script))
                t0 = time.perf_counter()
                result = evaluator.evaluate(inst, inst.patch)
                ours_s.append(time.perf_counter() - t0)
                assert result.resolved and result.harness == "swebench", (inst.instance_id, result.reason)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {"swebench_instances": len(instances), "swebench_evaluations": len(ours_s),
            "swebench_evaluator_s_median": round(statistics.median(ours_s), 3),
            "swebench_by_hand_s_median": round(statistics.median(hand_s), 3),
            "swebench_overhead_ratio_median": round(statistics.median(ours_s) / statistics.median(hand_s), 3)}
