"""A dataset of two real upstream bug fixes: python-semver's releases, from PyPI.

semver 3.0.1 -> 3.0.2 fixed `Version.replace()` on subclasses (issue #426) and
3.0.2 -> 3.0.4 fixed comparisons with subclasses; each release's own new test is the
instance's FAIL_TO_PASS. The repository's pytest config has `addopts = --cov=semver
...`, so its tests need the pytest-cov plugin: without an environment providing it,
pytest stops with a usage error (exit code 4).

`build(workdir)` downloads the three sdists (`pip download`, pip's cache serves
repeats), commits each release's tree in turn to one git repository, and writes
`rows.jsonl` (gold patch = the release's change under src/semver, test patch = its
change under tests/) and `environments.yaml`.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

REPO = "python-semver/python-semver"
RELEASES = ("3.0.1", "3.0.2", "3.0.4")
INSTANCES = (
    ("python-semver__python-semver-426", "3.0.1", "3.0.2", "Version.replace() returns a Version, not the subclass",
     ["tests/test_subclass.py::test_replace_from_subclass"], ["tests/test_subclass.py::test_subclass_from_versioninfo"]),
    ("python-semver__python-semver-459", "3.0.2", "3.0.4", "comparing a subclass with Version misbehaves",
     ["tests/test_subclass.py::test_compare_with_subclass"],
     ["tests/test_subclass.py::test_subclass_from_versioninfo", "tests/test_subclass.py::test_replace_from_subclass",
      "tests/test_semver.py::test_should_succeed_with_compatible_subclass_for_is_compatible"]),
)
ENVIRONMENTS = {"repos": {REPO: {"*": {"pip_packages": ["pytest==8.3.5", "pytest-cov==6.0.0"],
                                      "pythonpath": ["src", "tests"], "test_cmd": "pytest -rA"}}}}


def _git(repo: Path, *args: str) -> str:
    env = {"PATH": os.environ["PATH"], "HOME": str(repo), "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "semver",
           "GIT_AUTHOR_EMAIL": "semver@invalid", "GIT_COMMITTER_NAME": "semver", "GIT_COMMITTER_EMAIL": "semver@invalid",
           "GIT_AUTHOR_DATE": "2024-01-01T00:00:00+00:00", "GIT_COMMITTER_DATE": "2024-01-01T00:00:00+00:00"}
    proc = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise RuntimeError(f"git {args}: {proc.stderr}")
    return proc.stdout


def _sdist(version: str, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    found = list(into.glob(f"semver-{version}.tar.gz"))
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-binary", ":all:", "--no-deps",
                        f"semver=={version}", "-d", str(into)], check=True)
        found = list(into.glob(f"semver-{version}.tar.gz"))
    return found[0]


def _commit_release(repo: Path, archive: Path, version: str) -> str:
    for entry in repo.iterdir():
        if entry.name != ".git":
            subprocess.run(["rm", "-rf", str(entry)], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(repo.parent / f"x-{version}", filter="data")
    src = repo.parent / f"x-{version}" / f"semver-{version}"
    subprocess.run(["cp", "-a", f"{src}/.", str(repo)], check=True)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", f"semver {version}")
    return _git(repo, "rev-parse", "HEAD").strip()


def build(workdir: Path) -> Path:
    """rows.jsonl + environments.yaml + the repository under `workdir`; returns workdir."""
    repo = workdir / "python-semver"
    repo.mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    commits = {v: _commit_release(repo, _sdist(v, workdir / "sdists"), v) for v in RELEASES}
    rows = []
    for iid, old, new, title, f2p, p2p in INSTANCES:
        rows.append({"instance_id": iid, "repo": REPO, "base_commit": commits[old], "version": "3.0",
                     "problem_statement": f"{title} (fixed in semver {new})", "repo_path": str(repo),
                     "patch": _git(repo, "diff", commits[old], commits[new], "--", "src/semver"),
                     "test_patch": _git(repo, "diff", commits[old], commits[new], "--", "tests"),
                     "FAIL_TO_PASS": f2p, "PASS_TO_PASS": p2p, "environment_setup_commit": commits[old]})
    (workdir / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (workdir / "environments.yaml").write_text(json.dumps(ENVIRONMENTS))
    return workdir
