"""The synthesized dataset, written from the events alone (so a resumed synthesis writes
the same bytes as an uninterrupted one).

    <output>/<id>/
        dataset.jsonl       SWE-bench rows, sorted by instance_id (FAIL_TO_PASS and
                            PASS_TO_PASS as JSON-encoded lists, as the hub dataset has them)
        dataset.parquet     the same rows
        manifest.json       DatasetManifest (sha256 of the instances), sha256 of each file,
                            and per project: sdist, pristine commit, environment digest, counts
        environments.yaml   the environment table (repos[repo][version] = spec), for
                            producers.environments
        demo_scripts.json   the scripted demo policy's plays: the gold patch for half the
                            instances, a wrong patch for the other half (configs/real.yaml)
        mirrors/pypi__<name>.git   bare repositories: refs/heads/main = the pristine import,
                            refs/tasks/<instance_id> = each task's buggy commit (`dataset.repos`)

Which tasks: per project, the first `max_per_project` accepted candidates in the seeded
candidate order. The directory is written beside its final place and renamed over it.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shlex
import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from events.payloads import DatasetManifest, TaskSynthesized
from producers.datasets.instance import Instance
from producers.datasets.loader import manifest_of
from producers.environments import EnvironmentTable

from .config import SynthConfig, spec_fields
from .repo import ProjectRepo, RepoError
from .state import SynthState

__all__ = ["WRONG_NOTE", "demo_scripts", "mirror_name", "rows_of", "select_tasks", "write_dataset"]

CREATED_AT = "2024-01-01T00:00:00+00:00"
WRONG_NOTE = "# Investigated: this module looks right to me.\n"
"""What the scripted policy's wrong attempt adds: a plausible edit that fixes nothing."""
_COLUMNS = ("repo", "instance_id", "base_commit", "patch", "test_patch", "problem_statement",
            "hints_text", "created_at", "version", "FAIL_TO_PASS", "PASS_TO_PASS",
            "environment_setup_commit")


def mirror_name(repo: str) -> str:
    return repo.replace("/", "__") + ".git"


def select_tasks(state: SynthState, config: SynthConfig) -> list[TaskSynthesized]:
    chosen: dict[str, TaskSynthesized] = {}
    for project in config.projects:
        accepted = sorted(state.accepted.get(project.slug, {}).values(), key=lambda t: t.order)
        for task in accepted[:config.max_per_project]:
            chosen.setdefault(task.instance_id, task)
    return [chosen[i] for i in sorted(chosen)]


def rows_of(tasks: list[TaskSynthesized]) -> list[dict[str, Any]]:
    rows = []
    for t in tasks:
        values = {"repo": t.repo, "instance_id": t.instance_id, "base_commit": t.base_commit,
                  "patch": t.patch, "test_patch": "", "problem_statement": t.problem_statement,
                  "hints_text": "", "created_at": CREATED_AT, "version": t.version,
                  "FAIL_TO_PASS": json.dumps(t.FAIL_TO_PASS), "PASS_TO_PASS": json.dumps(t.PASS_TO_PASS),
                  "environment_setup_commit": t.environment_setup_commit}
        rows.append({c: values[c] for c in _COLUMNS})
    return rows


def write_dataset(out_dir: Path, tasks: list[TaskSynthesized], state: SynthState, config: SynthConfig,
                  repos: dict[str, ProjectRepo]) -> DatasetManifest:
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    scratch.chmod(0o755)  # mkdtemp's 0700 would leave the dataset readable by its writer alone
    rows = rows_of(tasks)
    jsonl = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    (scratch / "dataset.jsonl").write_text(jsonl)
    _write_parquet(scratch / "dataset.parquet", rows)
    (scratch / "environments.yaml").write_text(_environments(config).to_yaml())
    (scratch / "demo_scripts.json").write_text(json.dumps(demo_scripts(tasks), indent=1, sort_keys=True) + "\n")
    _mirrors(scratch / "mirrors", tasks, state, repos, config)
    manifest = manifest_of([Instance(**r) for r in rows], source=f"synthesis:{config.id}", split="test",
                           revision="sha256:" + _sha(jsonl.encode()))
    (scratch / "manifest.json").write_text(json.dumps(
        _manifest(manifest, scratch, tasks, state, config), indent=1, sort_keys=True) + "\n")
    _swap(scratch, out_dir)
    return manifest


def _write_parquet(path: Path, rows: list[dict[str, Any]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(c, pa.string()) for c in _COLUMNS])
    table = pa.Table.from_pylist(rows, schema=schema)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd", write_statistics=False)
    path.write_bytes(buffer.getvalue())


def _environments(config: SynthConfig) -> EnvironmentTable:
    repos: dict[str, dict[str, dict[str, Any]]] = {}
    for project in config.projects:
        repos.setdefault(project.repo, {})[project.version] = spec_fields(config, project).model_dump()
    return EnvironmentTable(repos=repos)


def demo_scripts(tasks: list[TaskSynthesized]) -> dict[str, dict[str, Any]]:
    """instance_id -> a DemoScript's fields: every other instance (sorted) gets the gold
    patch (`solve_rate` 1), the rest a wrong edit of the same file (`solve_rate` 0)."""
    scripts = {}
    for i, task in enumerate(sorted(tasks, key=lambda t: t.instance_id)):
        apply_gold = f"git apply --whitespace=nowarn - <<'LEDGER_PATCH_EOF'\n{task.patch}LEDGER_PATCH_EOF"
        wrong = f"printf '%s' {shlex.quote(WRONG_NOTE)} >> {shlex.quote(task.file)}"
        scripts[task.instance_id] = {
            "instance_id": task.instance_id, "solve": [f"cat {shlex.quote(task.file)} | head -5",
                                                       apply_gold, "git diff --stat"],
            "wrong": [f"cat {shlex.quote(task.file)} | head -5", wrong, "git diff --stat"],
            "solve_rate": 1.0 if i % 2 == 0 else 0.0}
    return scripts


def _mirrors(root: Path, tasks: list[TaskSynthesized], state: SynthState,
             repos: dict[str, ProjectRepo], config: SynthConfig) -> None:
    by_project: dict[str, list[TaskSynthesized]] = {}
    for task in tasks:
        by_project.setdefault(task.project, []).append(task)
    messages = {p.slug: p.commit_message for p in config.projects}
    for project, project_tasks in sorted(by_project.items()):
        repo = repos[project]
        mirror = root / mirror_name(project_tasks[0].repo)
        mirror.mkdir(parents=True)
        _git(mirror, "init", "--quiet", "--bare")
        refspecs = [f"{state.baselines[project].base_commit}:refs/heads/main"]
        for task in project_tasks:
            _ensure_commit(repo, task, messages[project])
            refspecs.append(f"refs/candidates/{task.candidate_id}:refs/tasks/{task.instance_id}")
        for start in range(0, len(refspecs), 200):
            _git(mirror, "fetch", "--quiet", "--no-tags", str(repo.path), *refspecs[start:start + 200])
        _git(mirror, "symbolic-ref", "HEAD", "refs/heads/main")


def _ensure_commit(repo: ProjectRepo, task: TaskSynthesized, message: str) -> None:
    """The task's buggy commit under its candidate ref; rebuilt from the fix (applied in
    reverse) when the repository cache no longer has it. It must have the recorded id."""
    try:
        if repo.git("rev-parse", f"refs/candidates/{task.candidate_id}").strip() == task.base_commit:
            return
    except RepoError:
        pass
    commit = repo.bug_commit(task.candidate_id, task.patch, message, reverse=True)
    if commit != task.base_commit:
        raise RepoError(f"{task.instance_id}: rebuilt buggy commit {commit} differs from the "
                        f"recorded {task.base_commit}")


def _manifest(manifest: DatasetManifest, scratch: Path, tasks: list[TaskSynthesized],
              state: SynthState, config: SynthConfig) -> dict[str, Any]:
    files = {name: _sha((scratch / name).read_bytes())
             for name in ("dataset.jsonl", "dataset.parquet", "environments.yaml", "demo_scripts.json")}
    projects = {}
    for project in config.projects:
        base = state.baselines[project.slug]
        mine = [t for t in tasks if t.project == project.slug]
        projects[project.slug] = {
            "name": project.name, "version": project.version, "repo": project.repo,
            "sdist_sha256": base.sdist_sha256, "pristine_commit": base.base_commit,
            "environment_digest": base.environment_digest, "tests_kept": len(base.passed),
            "tests_flaky": len(base.flaky), "tests_failing": len(base.failing),
            "tasks": len(mine), "mirror": f"mirrors/{mirror_name(project.repo)}"}
    return {"dataset": manifest.model_dump(), "files": files, "projects": projects,
            "per_modifier": dict(sorted(Counter(t.modifier for t in tasks).items())),
            "config_sha256": state.started.config_sha256 if state.started else "",
            "seed": config.seed}


def _swap(scratch: Path, out_dir: Path) -> None:
    old = out_dir.with_name(f".{out_dir.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if out_dir.exists():
        os.rename(out_dir, old)
    os.rename(scratch, out_dir)
    shutil.rmtree(old, ignore_errors=True)


def _git(cwd: Path, *args: str) -> str:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_CONFIG_GLOBAL": os.devnull, "LC_ALL": "C"}
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RepoError(f"git {' '.join(args)} in {cwd}: {proc.stderr.strip()[-600:]}")
    return proc.stdout


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
