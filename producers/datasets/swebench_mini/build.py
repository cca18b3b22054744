"""Building the mini suite: git histories, bare mirrors, rows whose test lists the
harness derived.

FAIL_TO_PASS and PASS_TO_PASS are found the way SWE-bench finds them: each row's
eval script runs at the base commit and with the gold patch (local sandbox, the
harness's adapted script), the harness's parser reads both logs, and
FAIL_TO_PASS = passing with the gold patch only, PASS_TO_PASS = passing in both.
The lists are derived once and kept in `tests.json` beside the definitions
(`python -m producers.datasets.swebench_mini derive` rewrites it); a build derives
only rows that file does not hold, and `ledger datasets validate` re-checks them.
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

from ..bundled import _COMMON_FILES, _apply, _commit, _date, _git, _patch_of, _remove, _write
from ..instance import Instance
from .families import FAMILIES, MiniFamily
from .rows import directives, eval_script, row

__all__ = ["generate", "known_tests", "TESTS_FILE"]


TESTS_FILE = Path(__file__).with_name("tests.json")


def known_tests() -> dict[str, dict[str, list[str]]]:
    return json.loads(TESTS_FILE.read_text()) if TESTS_FILE.is_file() else {}


def generate(root: Path, derive_all: bool = False) -> None:
    """Build everything in a scratch directory, then rename it to `root` (all or nothing)."""
    root.parent.mkdir(parents=True, exist_ok=True)
    for stale in root.parent.glob(f".{root.name}.partial*"):
        _remove(stale)
    scratch = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}.partial-"))
    rows, cases = [], []
    known = {} if derive_all else known_tests()
    for fam in FAMILIES:
        work = scratch / "work" / fam.family.name
        tasks = _history(fam, work)
        for flavour in fam.flavours:
            mirror = scratch / "mirrors" / f"{flavour.repo.replace('/', '__')}.git"
            _run(["git", "clone", "--bare", "--quiet", str(work), str(mirror)])
            for task in tasks:
                r, c = _row(fam, flavour, task, mirror, scratch / "sbx", known)
                rows.append(r)
                cases.append(c)
    _write(scratch / "rows.jsonl", "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
    _write(scratch / "cases.jsonl", "".join(json.dumps(c, sort_keys=True) + "\n" for c in cases))
    _remove(scratch / "work")
    _remove(scratch / "sbx")
    os.rename(scratch, root)


def _history(fam: MiniFamily, repo: Path) -> list[dict]:
    """The family's repository, one commit per task; each task's base commit and patches."""
    repo.mkdir(parents=True)
    _git(repo, 0, "init", "-q", "-b", "main")
    for path, text in {**_COMMON_FILES, "README.md": f"# {fam.family.name}\n", **fam.family.files}.items():
        _write(repo / path, text)
    for runner in ("tests/runtests.py", "bin/test"):
        if (repo / runner).exists():
            (repo / runner).chmod(0o755)
    _commit(repo, 0, f"Initial import of {fam.family.name}")
    setup = _git(repo, 0, "rev-parse", "HEAD").strip()
    tasks = []
    for step, task in enumerate(fam.family.tasks, start=1):
        patches = {"gold": _patch_of(repo, task.fix), "test": _patch_of(repo, task.tests),
                   "wrong": _patch_of(repo, task.wrong), "regression": _patch_of(repo, task.regression)}
        if task.number in fam.partial:
            patches["partial"] = _patch_of(repo, fam.partial[task.number])
        tasks.append({"task": task, "base": _git(repo, 0, "rev-parse", "HEAD").strip(), "setup": setup,
                      "step": step, "patches": patches})
        _apply(repo, task.fix + task.tests)
        _commit(repo, step, task.problem_statement.splitlines()[0])
    return tasks


def _row(fam: MiniFamily, flavour, t: dict, mirror: Path, sandboxes: Path,
         known: dict) -> tuple[dict, dict]:
    from swebench.image_builder.image_spec import ImageSpec

    task, patches = t["task"], t["patches"]
    iid = f"{flavour.repo.replace('/', '__')}-{task.number}"
    tests = directives(patches["test"], fam.directive)
    instance = {"instance_id": iid, "repo": flavour.repo, "base_commit": t["base"],
                "problem_statement": task.problem_statement, "patch": patches["gold"],
                "test_patch": patches["test"], "version": "0.1", "environment_setup_commit": t["setup"],
                "created_at": _date(t["step"]), "hints_text": "",
                "eval_script": eval_script(t["base"], patches["test"], flavour, tests)}
    image = ImageSpec(instance_id=iid, dockerfile="(built from the harness's task repo)", namespace=None).name
    if iid in known:
        f2p, p2p = known[iid]["FAIL_TO_PASS"], known[iid]["PASS_TO_PASS"]
    else:
        f2p, p2p = _derive_tests({**instance, "FAIL_TO_PASS": ["-"], "log_parser": flavour.log_parser,
                                  "eval_type": "pass_and_fail", "repo_path": str(mirror)}, sandboxes)
    case = {"instance_id": iid, "style": flavour.style, "kind": task.kind,
            **{name: p for name, p in patches.items() if name != "test"}}
    return row(instance, flavour, image, f2p, p2p), case


def _derive_tests(fields: dict, sandboxes: Path) -> tuple[list[str], list[str]]:
    from swebench.harness.grading import test_passed

    from producers.harness.swebench import SwebenchHarness, grade_log
    from producers.harness.swebench_spec import test_spec
    from producers.harness.trace import Trace
    from producers.sandbox.local import LocalSandboxFactory

    instance = Instance.model_validate(fields)
    spec = test_spec(instance)
    harness = SwebenchHarness(timeout_s=300, apply_timeout_s=60)
    factory = LocalSandboxFactory(root=sandboxes)
    maps = []
    for patch in ("", instance.patch):
        with factory.create(Path(instance.repo_path), instance.base_commit) as sandbox:
            log, stopped = harness.run(sandbox, spec, patch, Trace())
        grade = grade_log(log, spec) if stopped is None else None
        if grade is None or not grade.found:
            raise RuntimeError(f"mini suite: {instance.instance_id}: no test results "
                               f"({'gold' if patch else 'base'}): {stopped or log[-2000:]}")
        maps.append(grade.status_map)
    base, gold = maps
    f2p = [t for t in gold if test_passed(t, gold) and not test_passed(t, base)]
    p2p = [t for t in gold if test_passed(t, gold) and test_passed(t, base)]
    if not f2p:
        raise RuntimeError(f"mini suite: {instance.instance_id}: the gold patch fixes no test")
    return f2p, p2p


def _run(argv: list[str]) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {proc.stderr.strip()}")

