"""An sdist as a git repository with a reproducible history, and the commits of its bugs.

`import_sdist` unpacks the archive (its single top directory stripped) and commits
every file with a fixed author, committer and date: the same archive gives the same
commit id on every machine. The repository lives in the cache, keyed by the sdist's
sha256; its working tree is the pristine import, read (never written) by candidate
generation.

A bug is a *root* commit (no parent) whose tree is the pristine tree with the bug
patch applied: a checkout of it holds no trace of the code before the bug, even with
full history. Commits are made through a temporary index, so concurrent workers can
add bugs to one repository; `refs/candidates/<id>` keeps each one reachable.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from producers.datasets.lock import file_lock

__all__ = ["ProjectRepo", "RepoError", "import_sdist", "GIT_DATE"]

GIT_DATE = "2024-01-01T00:00:00+00:00"
_IDENTITY = {"GIT_AUTHOR_NAME": "Ledger Synth", "GIT_AUTHOR_EMAIL": "synth@ledger.invalid",
             "GIT_COMMITTER_NAME": "Ledger Synth", "GIT_COMMITTER_EMAIL": "synth@ledger.invalid",
             "GIT_AUTHOR_DATE": GIT_DATE, "GIT_COMMITTER_DATE": GIT_DATE}
_IMPORT_VERSION = 1
"""Part of the repository's cache key: bump it when the import's rules change."""


class RepoError(RuntimeError):
    """A git step on a synthesized repository failed."""


def git_env(home: Path) -> dict[str, str]:
    return {**_IDENTITY, "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
            "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "LC_ALL": "C",
            "GIT_TERMINAL_PROMPT": "0"}


@dataclass(frozen=True)
class ProjectRepo:
    path: Path
    """The repository (its working tree = the pristine import)."""
    pristine: str
    """The import commit."""

    def git(self, *args: str, index: Path | None = None, input: str | None = None) -> str:
        env = git_env(self.path)
        if index is not None:
            env["GIT_INDEX_FILE"] = str(index)
        proc = subprocess.run(["git", "-c", "core.autocrlf=false", *args], cwd=self.path, env=env,
                              capture_output=True, text=True, input=input, timeout=300)
        if proc.returncode != 0:
            raise RepoError(f"git {' '.join(args)} in {self.path}: {proc.stderr.strip()[-600:]}")
        return proc.stdout

    def bug_commit(self, candidate_id: str, patch: str, message: str, reverse: bool = False) -> str:
        """The root commit of pristine + `patch` (applied in reverse with `reverse`: the fix
        turned back into the bug); the same commit every time."""
        apply = ["apply", "--cached", "--whitespace=nowarn", *(["--reverse"] if reverse else []), "-"]
        with tempfile.TemporaryDirectory(prefix="ledger-synth-index-") as tmp:
            index = Path(tmp) / "index"
            self.git("read-tree", self.pristine, index=index)
            self.git(*apply, index=index, input=patch)
            tree = self.git("write-tree", index=index).strip()
        commit = self.git("commit-tree", tree, "-m", message).strip()
        self.git("update-ref", f"refs/candidates/{candidate_id}", commit)
        return commit

    def diff(self, a: str, b: str) -> str:
        """The patch that turns commit `a` into commit `b`."""
        return self.git("diff", "--no-color", "--no-ext-diff", "--binary", "--full-index", a, b)


def import_sdist(archive: Path, sha256: str, name: str, version: str, cache_dir: Path,
                 message: str) -> ProjectRepo:
    """The sdist's repository in the cache, imported on first use (all or nothing)."""
    root = Path(cache_dir) / "synthesis" / "repos" / f"{name}-{version}-{sha256[:16]}-v{_IMPORT_VERSION}"
    done = root / ".git" / "ledger-pristine"
    if not done.is_file():
        with file_lock(root.parent / f"{root.name}.lock"):
            if not done.is_file():
                _import(archive, root, message)
    return ProjectRepo(root, done.read_text().strip())


def _import(archive: Path, root: Path, message: str) -> None:
    root.parent.mkdir(parents=True, exist_ok=True)
    for stale in root.parent.glob(f".{root.name}.partial-*"):
        shutil.rmtree(stale, ignore_errors=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{root.name}.partial-", dir=root.parent))
    tree = _unpack(archive, scratch / "unpacked")
    repo = ProjectRepo(tree, "")
    repo.git("init", "--quiet")
    repo.git("add", "--all", "--force", ".")
    repo.git("commit", "--quiet", "--no-verify", "-m", message)
    pristine = repo.git("rev-parse", "HEAD").strip()
    (tree / ".git" / "ledger-pristine").write_text(pristine + "\n")
    if root.exists():
        shutil.rmtree(root)
    os.rename(tree, root)
    shutil.rmtree(scratch, ignore_errors=True)


def _unpack(archive: Path, dest: Path) -> Path:
    """Extract safely (no links or paths out of `dest`) and return the single top directory."""
    dest.mkdir(parents=True)
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                target = (dest / member).resolve()
                if not target.is_relative_to(dest.resolve()):
                    raise RepoError(f"{archive.name}: member {member!r} escapes the archive")
            zf.extractall(dest)
    else:
        with tarfile.open(archive) as tf:
            tf.extractall(dest, filter="data")
    tops = list(dest.iterdir())
    if len(tops) != 1 or not tops[0].is_dir():
        raise RepoError(f"{archive.name}: expected one top directory, found {sorted(p.name for p in tops)}")
    return tops[0]
