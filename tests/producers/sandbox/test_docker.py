"""The docker sandbox against a real engine; skipped, with the reason, where none answers."""
from __future__ import annotations

import os

import pytest

from producers.sandbox.base import Sandbox, SandboxError
from producers.sandbox.docker import DockerSandboxFactory, docker_available

AVAILABLE, WHY = docker_available()
pytestmark = pytest.mark.skipif(not AVAILABLE, reason=f"docker sandbox: {WHY}")
IMAGE = os.environ.get("LEDGER_TEST_DOCKER_IMAGE", "python:3.11")


@pytest.fixture
def factory():
    return DockerSandboxFactory(image=IMAGE, memory="512m", startup_timeout=120,
                                output_cap=64 * 1024)


def test_runs_diffs_and_cleans_up(factory, source_repo):
    import docker

    repo, base = source_repo
    with factory.create(repo, base) as sb:
        assert isinstance(sb, Sandbox) and sb.info.kind == "docker" and sb.info.network_isolated
        res = sb.run("cat pkg/core.py && echo err >&2 && exit 3")
        assert res.exit_code == 3 and "return a + b" in res.output and "err" in res.output
        sb.write_file("added.txt", "new\n")
        sb.run("git mv old_name.txt new_name.txt && printf '\\x00\\x01' > logo.bin")
        patch = sb.diff()
        assert "added.txt" in patch and "rename to new_name.txt" in patch
        assert "GIT binary patch" in patch
        with pytest.raises(SandboxError):
            sb.write_file("../escape", "x")
        name = sb._container.name
    names = [c.name for c in docker.from_env().containers.list(all=True)]
    assert name not in names
