"""A fresh checkout of one commit: a shallow fetch of that commit alone.

The source is a local git repository (a working copy or a bare mirror) or a URL.
Later commits of the source, which may hold the fix, never reach the checkout,
and nothing is written to the source. A commit that is not in a local source,
or that a URL will not serve, is `SourceMissing`: the message names the commit
and where it was looked for.
"""
from __future__ import annotations

from pathlib import Path

from .base import SandboxError, SourceMissing
from .patch import EXCLUDED, git

__all__ = ["checkout_commit", "is_url"]

_FULL_SHA = 40


def is_url(source: str | Path) -> bool:
    return isinstance(source, str) and "://" in source


def checkout_commit(source: str | Path, base_commit: str, dest: Path,
                    env: dict[str, str] | None = None) -> str:
    """Make `dest` a repository holding only `base_commit` of `source`, checked out detached;
    returns the full commit id."""
    if is_url(source):
        url, full = str(source), _remote_commit(str(source), base_commit)
    else:
        url, full = _local_source(Path(source), base_commit, env)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        git(dest, "init", "--quiet", env=env)
        git(dest, "fetch", "--quiet", "--depth", "1", url, full, env=env)
    except RuntimeError as exc:
        if is_url(source):
            raise SourceMissing(f"commit {base_commit} cannot be fetched from {url}: {exc}") from exc
        raise SandboxError(f"cannot fetch {full} from {source}: {exc}") from exc
    try:
        git(dest, "-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", full, env=env)
    except RuntimeError as exc:
        raise SandboxError(f"cannot check out {full}: {exc}") from exc
    exclude = dest / ".git" / "info" / "exclude"
    exclude.parent.mkdir(exist_ok=True)
    exclude.write_text("\n".join(EXCLUDED) + "\n")
    return full


def _local_source(repo: Path, base_commit: str, env: dict[str, str] | None) -> tuple[str, str]:
    if not (repo / ".git").exists() and not (repo / "HEAD").is_file():
        raise SourceMissing(f"not a git repository: {repo} (looking for commit {base_commit})")
    try:
        full = git(repo, "rev-parse", "--verify", "--quiet", f"{base_commit}^{{commit}}", env=env).strip()
    except RuntimeError:
        raise SourceMissing(f"commit {base_commit} is not in {repo}") from None
    return f"file://{repo.resolve()}", full


def _remote_commit(url: str, base_commit: str) -> str:
    """Servers fetch by full commit id only (uploadpack.allowReachableSHA1InWant)."""
    if len(base_commit) != _FULL_SHA:
        raise SourceMissing(f"commit {base_commit} of {url}: a URL source needs the full "
                            f"{_FULL_SHA}-character commit id")
    return base_commit
