"""Where an instance's repository comes from when the dataset row carries none.

`dataset.repos` names either a directory of git mirrors or a URL template:

- a directory holding `<owner>__<name>.git` (what `git clone --mirror` makes,
  the harness's instance-id spelling), `<owner>__<name>`, `<owner>/<name>.git`
  or `<owner>/<name>`: the first that exists is used, and the base commit must
  be in it;
- a template such as `https://github.com/{repo}.git` (`{repo}` is `owner/name`;
  `{owner}` and `{name}` also work): the sandbox fetches the base commit alone
  from that URL (shallow, only that commit).

A repository or commit that is not there is `SourceMissing`, whose message
names the repo, the commit and every place looked at, raised when the
episode's sandbox is made — before any model call.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

from producers.sandbox.base import SourceMissing

__all__ = ["Mirrors"]


class Mirrors:
    """spec: a directory of mirrors or a URL template (see the module docstring)."""

    def __init__(self, spec: str):
        if not spec:
            raise ValueError("dataset.repos is empty")
        self.spec = spec
        self.template = "{" in spec or "://" in spec

    def candidates(self, repo: str) -> list[str]:
        owner, _, name = repo.partition("/")
        if self.template:
            return [self.spec.format(repo=repo, owner=owner, name=name)]
        root = Path(self.spec).expanduser()
        return [str(root / f) for f in (f"{owner}__{name}.git", f"{owner}__{name}",
                                        f"{owner}/{name}.git", f"{owner}/{name}")]

    def locate(self, repo: str, commit: str) -> str:
        """The local path or URL to fetch `commit` of `repo` from; SourceMissing when a
        local mirror is absent or lacks the commit (a URL is checked when fetched)."""
        places = self.candidates(repo)
        if self.template:
            return places[0]
        for place in places:
            if _is_git_dir(Path(place)):
                if not _has_commit(Path(place), commit):
                    raise SourceMissing(f"repository {repo}: commit {commit} is not in the mirror "
                                        f"{place}")
                return place
        raise SourceMissing(f"repository {repo} (commit {commit}) not found in the mirrors "
                            f"directory {self.spec}: looked for {', '.join(places)}")


def _is_git_dir(path: Path) -> bool:
    return (path / ".git").exists() or (path / "HEAD").is_file()


def _has_commit(repo: Path, commit: str) -> bool:
    proc = subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=repo,
                          capture_output=True, timeout=60)
    return proc.returncode == 0
