"""dataset.repos: mirrors directories (both spellings) and URL templates, and what is missing."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from producers.agents.workspace import open_sandbox, repo_source_of
from producers.datasets import Instance
from producers.datasets.mirrors import Mirrors
from producers.sandbox.base import SourceMissing
from producers.sandbox.local import LocalSandboxFactory


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def upstream(tmp_path_factory) -> tuple[Path, str, str]:
    """A repository with two commits: (path, first, second)."""
    repo = tmp_path_factory.mktemp("up") / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    for n in (1, 2):
        (repo / "f.txt").write_text(f"v{n}\n")
        _git(repo, "add", "-A")
        _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", f"c{n}")
    commits = _git(repo, "rev-list", "--reverse", "HEAD").split()
    return repo, commits[0], commits[1]


def _instance(commit: str, repos: str, repo: str = "acme/widget") -> Instance:
    return Instance(instance_id="acme__widget-1", repo=repo, base_commit=commit, problem_statement="p",
                    patch="diff --git a/f.txt b/f.txt\n", FAIL_TO_PASS=["t"], repos=repos)


@pytest.mark.parametrize("layout", ["acme__widget.git", "acme__widget", "acme/widget.git", "acme/widget"])
def test_a_mirror_in_any_layout_serves_only_the_base_commit(upstream, tmp_path, layout):
    repo, first, second = upstream
    mirrors = tmp_path / "mirrors"
    (mirrors / layout).parent.mkdir(parents=True, exist_ok=True)
    bare = ["--bare"] if layout.endswith(".git") else []
    subprocess.run(["git", "clone", "-q", *bare, str(repo), str(mirrors / layout)], check=True)
    inst = _instance(first, str(mirrors))
    assert repo_source_of(inst) == str(mirrors / layout)
    with open_sandbox(LocalSandboxFactory(root=tmp_path / "sbx"), inst) as sb:
        assert (sb.workdir / "f.txt").read_text() == "v1\n"
        assert sb.run("git cat-file -e " + second).exit_code != 0  # the later commit never arrives


def test_a_url_template_is_fetched_by_commit(upstream, tmp_path):
    repo, first, _ = upstream
    mirror = tmp_path / "acme" / "widget.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(mirror)], check=True)
    inst = _instance(first, f"file://{tmp_path}/{{owner}}/{{name}}.git")
    assert repo_source_of(inst) == f"file://{mirror}"
    with open_sandbox(LocalSandboxFactory(root=tmp_path / "sbx"), inst) as sb:
        assert (sb.workdir / "f.txt").read_text() == "v1\n"


def test_missing_repository_commit_or_url_names_repo_commit_and_places(upstream, tmp_path):
    repo, first, _ = upstream
    with pytest.raises(SourceMissing) as exc:
        Mirrors(str(tmp_path)).locate("acme/absent", first)
    assert exc.value.cause == "repository missing"
    message = str(exc.value)
    assert "acme/absent" in message and first in message and f"{tmp_path}/acme__absent.git" in message
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(tmp_path / "acme__widget.git")], check=True)
    with pytest.raises(SourceMissing, match="commit 0{40} is not in the mirror .*acme__widget.git"):
        Mirrors(str(tmp_path)).locate("acme/widget", "0" * 40)
    gone = _instance("1" * 40, f"file://{tmp_path}/nowhere/{{repo}}.git")
    with pytest.raises(SourceMissing, match=f"commit 1{{40}} cannot be fetched from file://{tmp_path}/nowhere/acme/widget.git"):
        open_sandbox(LocalSandboxFactory(root=tmp_path / "sbx"), gone)
    with pytest.raises(SourceMissing, match="has no local repository .*and the dataset names no mirrors"):
        repo_source_of(_instance(first, None))
