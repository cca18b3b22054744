"""The bundled suite: small real repos with real bugs, generated into a cache.

Nothing is downloaded. `ensure_bundled(cache_dir)` writes one git repository
per family under `<cache>/bundled/<digest>/` (digest = hash of the suite's
definition, so an edited suite lands in a new directory) with fixed authors
and dates, so base commits and patches are the same on every machine. The
first caller generates into a scratch directory and renames it into place
under a file lock; later and concurrent callers read `tasks.json`.
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .instance import Instance
from .lock import default_cache_dir, file_lock
from .suite import FAMILIES, Edit, Family, TaskSpec

__all__ = ["BundledTask", "ensure_bundled", "ensure_bundled_tasks", "demo_scripts",
           "suite_digest", "REPO_OWNER"]

REPO_OWNER = "ledger-bundled"
_GENERATOR_VERSION = 1
_COMMON_FILES = {
    "pytest.ini": "[pytest]\npythonpath = .\ntestpaths = tests\n",
    ".gitignore": "__pycache__/\n*.pyc\n.pytest_cache/\n",
}
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "Ledger Bundled", "GIT_AUTHOR_EMAIL": "bundled@ledger.invalid",
    "GIT_COMMITTER_NAME": "Ledger Bundled", "GIT_COMMITTER_EMAIL": "bundled@ledger.invalid",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "LC_ALL": "C",
}


@dataclass(frozen=True)
class BundledTask:
    instance: Instance
    kind: str
    """The kind of bug."""
    wrong_patch: str
    """A plausible but wrong fix (fails FAIL_TO_PASS or breaks PASS_TO_PASS)."""
    regression_patch: str
    """A patch that breaks at least one PASS_TO_PASS test."""


def suite_digest() -> str:
    """Changes whenever the suite's definition or its generator changes."""
    text = repr((_GENERATOR_VERSION, _COMMON_FILES, FAMILIES))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def ensure_bundled(cache_dir: Path | str | None = None) -> list[Instance]:
    """The bundled instances, generating their repos on first use."""
    return [task.instance for task in ensure_bundled_tasks(cache_dir)]


def ensure_bundled_tasks(cache_dir: Path | str | None = None) -> list[BundledTask]:
    base = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    root = base / "bundled" / suite_digest()
    if not (root / "tasks.json").is_file():
        with file_lock(root.parent / f"{root.name}.lock"):
            if not (root / "tasks.json").is_file():
                _generate(root)
    return _load(root)


def _load(root: Path) -> list[BundledTask]:
    tasks = []
    for rec in json.loads((root / "tasks.json").read_text()):
        instance = Instance(**{**rec["instance"], "repo_path": str(root / rec["family"])})
        tasks.append(BundledTask(instance, rec["kind"], rec["wrong_patch"],
                                 rec["regression_patch"]))
    return tasks


def _generate(root: Path) -> None:
    """Build every repo in a fresh scratch dir, then rename it into place (all or nothing).

    A generator killed half-way leaves its scratch dir behind, possibly still being
    written for a moment by its orphaned git children: it is removed until gone, and
    never reused.
    """
    root.parent.mkdir(parents=True, exist_ok=True)
    for stale in root.parent.glob(f".{root.name}.partial*"):
        _remove(stale)
    scratch = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}.partial-"))
    records = []
    for family in FAMILIES:
        records += _build_family(family, scratch / family.name)
    (scratch / "tasks.json").write_text(json.dumps(records, indent=1, sort_keys=True))
    os.rename(scratch, root)


def _remove(path: Path, patience_s: float = 10.0) -> None:
    deadline = time.monotonic() + patience_s
    while path.exists() and time.monotonic() < deadline:
        shutil.rmtree(path, ignore_errors=True)
        if path.exists():
            time.sleep(0.05)


def _build_family(family: Family, repo: Path) -> list[dict]:
    repo.mkdir()
    _git(repo, 0, "init", "-q", "-b", "main")
    for path, text in {**_COMMON_FILES, "README.md": f"# {family.name}\n", **family.files}.items():
        _write(repo / path, text)
    _commit(repo, 0, f"Initial import of {family.name}")
    setup_commit = _git(repo, 0, "rev-parse", "HEAD").strip()
    records = []
    for step, task in enumerate(family.tasks, start=1):
        records.append(_record(family, task, repo, setup_commit, step))
        _apply(repo, task.fix + task.tests)
        _commit(repo, step, task.problem_statement.splitlines()[0])
    return records


def _record(family: Family, task: TaskSpec, repo: Path, setup_commit: str, step: int) -> dict:
    before = _collect_tests(repo)
    _apply(repo, task.tests)
    after = _collect_tests(repo)
    _reset(repo)
    instance = Instance(
        instance_id=f"{family.name}__{task.number}", repo=f"{REPO_OWNER}/{family.name}",
        base_commit=_git(repo, 0, "rev-parse", "HEAD").strip(),
        problem_statement=task.problem_statement,
        patch=_patch_of(repo, task.fix), test_patch=_patch_of(repo, task.tests),
        FAIL_TO_PASS=[t for t in after if t not in before],
        PASS_TO_PASS=[t for t in after if t in before],
        version="0.1", environment_setup_commit=setup_commit,
        created_at=_date(step))
    return {"family": family.name, "kind": task.kind,
            "instance": instance.model_dump(exclude={"repo_path"}),
            "wrong_patch": _patch_of(repo, task.wrong),
            "regression_patch": _patch_of(repo, task.regression)}


def _collect_tests(repo: Path) -> list[str]:
    """pytest node ids of the test functions and TestX methods under tests/."""
    ids = []
    for path in sorted((repo / "tests").rglob("test_*.py")):
        rel = path.relative_to(repo).as_posix()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
                ids.append(f"{rel}::{node.name}")
            elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                ids += [f"{rel}::{node.name}::{m.name}" for m in node.body
                        if isinstance(m, ast.FunctionDef) and m.name.startswith("test")]
    return ids


def _patch_of(repo: Path, edits: tuple[Edit, ...]) -> str:
    _apply(repo, edits)
    _git(repo, 0, "add", "-A")
    patch = _git(repo, 0, "diff", "--cached", "--no-color", "--no-ext-diff", "--binary")
    _reset(repo)
    return patch


def _apply(repo: Path, edits: tuple[Edit, ...]) -> None:
    for edit in edits:
        path = repo / edit.path
        text = path.read_text() if path.exists() else ""
        if not edit.old:
            _write(path, text + edit.new)
            continue
        if text.count(edit.old) != 1:
            raise ValueError(f"bundled suite: {edit.path}: edit target found "
                             f"{text.count(edit.old)} times, expected once: {edit.old!r}")
        _write(path, text.replace(edit.old, edit.new))


def _reset(repo: Path) -> None:
    _git(repo, 0, "reset", "-q", "--hard")
    _git(repo, 0, "clean", "-q", "-fdx")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _date(step: int) -> str:
    return f"2024-01-{step + 1:02d}T12:00:00+00:00"


def _commit(repo: Path, step: int, message: str) -> None:
    _git(repo, step, "add", "-A")
    _git(repo, step, "commit", "-q", "--no-verify", "-m", message)


def _git(repo: Path, step: int, *args: str) -> str:
    env = {**_GIT_ENV, "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "HOME": str(repo), "GIT_AUTHOR_DATE": _date(step), "GIT_COMMITTER_DATE": _date(step)}
    proc = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {repo}: {proc.stderr.strip()}")
    return proc.stdout


def demo_scripts() -> dict:
    """instance_id -> DemoScript for the scripted demo policy: `solve` looks around,
    then applies the gold fix from the shell; `wrong` applies the wrong fix."""
    from .demo_script import DemoScript, edit_command

    scripts = {}
    for family in FAMILIES:
        for task in family.tasks:
            iid = f"{family.name}__{task.number}"
            scripts[iid] = DemoScript(
                instance_id=iid, solve=[*task.look, edit_command(task.fix), "git diff"],
                wrong=[task.look[0], edit_command(task.wrong), "git diff"],
                solve_rate=task.solve_rate)
    return scripts
