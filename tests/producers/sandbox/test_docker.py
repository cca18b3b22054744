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


def test_timeout_network_and_output_cap(factory, source_repo):
    with factory.create(*source_repo) as sb:
        res = sb.run("sleep 300 & sleep 300", timeout_s=1)
        assert res.timed_out and res.exit_code is None
        assert "sleep 300" not in sb.run("ps -eo args 2>/dev/null || true").output
        net = sb.run("python -c \"import socket; socket.create_connection(('1.1.1.1', 53), 3)\"")
        assert net.exit_code != 0
        big = sb.run("head -c 100000000 /dev/zero", timeout_s=120)
        assert big.output_capped and big.output_size == 100_000_000
