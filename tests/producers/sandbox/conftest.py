from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from producers.sandbox.local import LocalSandboxFactory


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def source_repo(tmp_path: Path) -> tuple[Path, str]:
    """A real git repo with a few files and one commit; returns (path, base_commit)."""
    repo = tmp_path / "source"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "pkg").mkdir()
    (repo / "pkg" / "__init__.py").write_text("")
    (repo / "pkg" / "core.py").write_text("def add(a, b):\n    return a + b\n")
    (repo / "README.md").write_text("# demo\n")
    (repo / "old_name.txt").write_text("a line that survives a rename\n" * 5)
    (repo / "logo.bin").write_bytes(bytes(range(256)))
    (repo / "tests").mkdir()
    (repo / "tests" / "test_core.py").write_text(
        "from pkg.core import add\n\ndef test_add():\n    assert add(1, 2) == 3\n")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "base")
    return repo, git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture
def factory(tmp_path: Path) -> LocalSandboxFactory:
    return LocalSandboxFactory(root=tmp_path / "sandboxes", output_cap=64 * 1024)


@pytest.fixture(params=["local", "docker"])
def any_factory(request, tmp_path: Path):
    """Every Sandbox implementation; docker skips, with the reason, where no engine answers."""
    if request.param == "local":
        return LocalSandboxFactory(root=tmp_path / "sandboxes", output_cap=64 * 1024)
    from producers.sandbox.docker import DockerSandboxFactory, docker_available
    available, why = docker_available()
    if not available:
        pytest.skip(f"docker sandbox: {why}")
    import os
    image = os.environ.get("LEDGER_TEST_DOCKER_IMAGE", "python:3.11")
    return DockerSandboxFactory(image=image, memory="512m", startup_timeout=120,
                                output_cap=64 * 1024)
