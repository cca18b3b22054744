"""The Sandbox contract, run against every implementation (`any_factory`)."""
from __future__ import annotations

import pytest

from producers.sandbox.base import Sandbox, SandboxError


def test_runs_in_the_checkout_at_base(any_factory, source_repo):
    repo, base = source_repo
    with any_factory.create(repo, base) as sb:
        assert isinstance(sb, Sandbox) and sb.base_commit == base
        res = sb.run("git rev-parse HEAD && cat pkg/core.py && echo err >&2 && exit 3")
        assert res.exit_code == 3 and not res.timed_out
        assert res.output.startswith(base) and "return a + b" in res.output and "err" in res.output


def test_timeout_is_a_result(any_factory, source_repo):
    with any_factory.create(*source_repo) as sb:
        res = sb.run("sleep 300 & sleep 300", timeout_s=1)
        assert res.timed_out and res.exit_code is None
        assert sb.run("echo after").output == "after\n"


def test_output_is_capped_and_counted(any_factory, source_repo):
    with any_factory.create(*source_repo) as sb:
        res = sb.run("head -c 10000000 /dev/zero", timeout_s=120)
        assert res.output_capped and res.output_size == 10_000_000
        assert len(res.output) == 64 * 1024


def test_no_network(any_factory, source_repo):
    with any_factory.create(*source_repo) as sb:
        if not sb.info.network_isolated:
            pytest.skip(f"no network isolation here: {sb.info.note}")
        res = sb.run("python -c \"import socket; socket.create_connection(('1.1.1.1', 53), 3)\"")
        assert res.exit_code != 0


def test_write_file_and_diff(any_factory, source_repo):
    with any_factory.create(*source_repo) as sb:
        sb.write_file("docs/new.txt", "hello\n")
        with pytest.raises(SandboxError):
            sb.write_file("../escape.txt", "x")
        sb.run("git mv old_name.txt new_name.txt && git rm -q README.md && "
               "printf '\\x00\\x01\\x02' > logo.bin")
        patch = sb.diff()
        assert "docs/new.txt" in patch and "rename to new_name.txt" in patch
        assert "deleted file mode" in patch and "GIT binary patch" in patch


def test_empty_diff_and_closed_sandbox(any_factory, source_repo):
    sb = any_factory.create(*source_repo)
    assert sb.diff() == ""
    sb.close()
    sb.close()
    with pytest.raises(SandboxError):
        sb.run("true")
