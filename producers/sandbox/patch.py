"""Patch extraction: what the agent changed, as a patch against the base commit.

`git add -A` then `git diff --cached --binary -M <base>`: new, deleted, renamed
and binary files are all included, and commits the agent made are folded in
(the diff is against the base commit, not HEAD). When the working tree shows
no change, a patch file the agent wrote is used instead: `$LEDGER_PATCH_FILE`
(`<sandbox>/home/submission.patch`, outside the repository) or
`submission.patch` at the repository root (kept out of the diff by
`.git/info/exclude`). An empty patch is a valid result: it fails evaluation.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

__all__ = ["PATCH_FILE_NAME", "EXCLUDED", "extract_patch", "git"]

PATCH_FILE_NAME = "submission.patch"
EXCLUDED = ("__pycache__/", "*.pyc", ".pytest_cache/", ".coverage", ".coverage.*", f"/{PATCH_FILE_NAME}")
"""Written to `.git/info/exclude`: byproducts of running tests are not the agent's patch."""


def git(workdir: Path, *args: str, env: dict[str, str] | None = None,
        check: bool = True) -> str:
    proc = subprocess.run(["git", *args], cwd=workdir, env=env, capture_output=True,
                          timeout=300)
    if check and proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {workdir}: "
                           f"{proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout.decode("utf-8", errors="replace")


def extract_patch(workdir: Path, base_commit: str, fallbacks: list[Path],
                  env: dict[str, str] | None = None) -> str:
    """The working tree's patch against `base_commit`, else the first non-empty fallback file."""
    git(workdir, "add", "-A", env=env)
    patch = git(workdir, "diff", "--cached", "--binary", "-M", "--no-color", "--no-ext-diff",
                base_commit, "--", env=env)
    if patch.strip():
        return patch
    for path in fallbacks:
        if path.is_file():
            text = path.read_text(errors="replace")
            if text.strip():
                return text
    return ""
