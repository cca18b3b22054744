"""The local sandbox against real processes, a real git repo and real sockets."""
from __future__ import annotations

import json
import os
import subprocess
import socket
import sys
from pathlib import Path

import pytest

from producers.sandbox.base import Sandbox, SandboxError
from producers.sandbox.isolation import probe_network_isolation
from producers.sandbox.local import LocalSandboxFactory



def _alive(pid: int) -> bool:
    """True for a running process; a zombie waiting to be reaped counts as dead."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return False
    return fields[0] != "Z"


def test_is_a_sandbox_checked_out_at_base(factory, source_repo):
    repo, base = source_repo
    with factory.create(repo, base) as sb:
        assert isinstance(sb, Sandbox)
        assert sb.base_commit == base
        res = sb.run("pwd && git rev-parse HEAD && cat pkg/core.py")
        assert res.exit_code == 0 and not res.timed_out and not res.output_capped
        assert res.output.splitlines()[:2] == [str(sb.workdir), base]
        assert "return a + b" in res.output


def test_exit_code_and_interleaved_output(factory, source_repo):
    with factory.create(*source_repo) as sb:
        res = sb.run("echo out; echo err >&2; exit 3")
        assert res.exit_code == 3
        assert res.output == "out\nerr\n" and res.output_size == 8


def test_network_socket_fails(factory, source_repo):
    isolation = probe_network_isolation()
    if not isolation.isolated:
        pytest.skip(f"no network namespace on this machine: {isolation.note}")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    script = ("import socket,sys\n"
              "for addr in [('127.0.0.1', %d), ('1.1.1.1', 53)]:\n"
              "    try:\n"
              "        socket.create_connection(addr, timeout=3); print('CONNECTED', addr)\n"
              "    except OSError as e:\n"
              "        print('FAILED', addr, e)\n") % port
    try:
        with factory.create(*source_repo) as sb:
            assert sb.info.network_isolated and sb.info.note == ""
            sb.write_file("probe.py", script)
            res = sb.run("python probe.py")
    finally:
        server.close()
    assert res.exit_code == 0, res.output
    assert "CONNECTED" not in res.output and res.output.count("FAILED") == 2


def test_network_allowed_is_recorded(tmp_path, source_repo):
    factory = LocalSandboxFactory(root=tmp_path / "sb", network=True)
    with factory.create(*source_repo) as sb:
        assert not sb.info.network_isolated and "allowed" in sb.info.note


def test_timeout_kills_command_and_its_children(factory, source_repo):
    with factory.create(*source_repo) as sb:
        res = sb.run("sleep 300 & echo $! > child.pid; "
                     "setsid sleep 300 & echo $! > escaped.pid; sleep 300", timeout_s=1)
        assert res.timed_out and res.exit_code is None
        child = int((sb.workdir / "child.pid").read_text())
        escaped = int((sb.workdir / "escaped.pid").read_text())
        assert not _alive(child) and not _alive(escaped)
        assert sb.run("echo still usable").output == "still usable\n"


def test_background_children_do_not_outlive_the_command(factory, source_repo):
    with factory.create(*source_repo) as sb:
        res = sb.run("sleep 300 & echo $! > bg.pid; echo done", timeout_s=30)
        assert res.exit_code == 0 and not res.timed_out
        assert not _alive(int((sb.workdir / "bg.pid").read_text()))


def test_one_gigabyte_of_output_is_capped(factory, source_repo):
    with factory.create(*source_repo) as sb:
        res = sb.run("head -c 1073741824 /dev/zero | tr '\\0' x; echo; echo tail", timeout_s=300)
        assert res.exit_code == 0 and not res.timed_out
        assert res.output_capped and res.output_size == (1 << 30) + len("\ntail\n")
        assert len(res.output) == 64 * 1024 and set(res.output) == {"x"}


def test_file_size_rlimit(tmp_path, source_repo):
    from producers.sandbox.isolation import Rlimits
    factory = LocalSandboxFactory(root=tmp_path / "sb", rlimits=Rlimits(file_size_bytes=1 << 20))
    with factory.create(*source_repo) as sb:
        res = sb.run("head -c 5000000 /dev/zero > big.bin")
        assert res.exit_code != 0
        assert (sb.workdir / "big.bin").stat().st_size <= 1 << 20


def test_clean_environment_and_project_python(factory, source_repo):
    os.environ["LEDGER_TEST_API_KEY"] = "secret"  # the test process has a secret; the sandbox must not
    try:
        with factory.create(*source_repo) as sb:
            names = {line.split("=", 1)[0] for line in sb.run("env").output.splitlines()}
    finally:
        del os.environ["LEDGER_TEST_API_KEY"]
    assert "PYTHONPATH" not in names and not any("KEY" in n for n in names)
    with factory.create(*source_repo) as sb:
        out = sb.run("python -c 'import sys, os, tempfile; print(sys.prefix); "
                     "print(os.path.expanduser(\"~\")); print(tempfile.gettempdir())'")
        prefix, home, tmp = out.output.split()
        assert prefix == sys.prefix
        assert Path(home).is_relative_to(sb.root) and Path(tmp).is_relative_to(sb.root)
        res = sb.run("pytest -q tests")
        assert res.exit_code == 0 and "1 passed" in res.output


def test_nothing_written_outside_the_sandbox(factory, source_repo):
    repo, base = source_repo
    before = _snapshot(repo)
    with factory.create(repo, base) as sb:
        sb.run("pytest -q; python -c 'import tempfile; tempfile.mkstemp()'; "
               "touch ~/x; echo more >> README.md; git add -A; git commit -qm agent; mkdir -p ~/.cache/y")
        assert sb.diff()
        assert [p.name for p in factory.root.iterdir()] == [sb.root.name]
        root = sb.root
    assert _snapshot(repo) == before
    assert not root.exists() and list(factory.root.iterdir()) == []


def _snapshot(tree: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in tree.rglob("*") if p.is_file()}


def test_write_file_refuses_escaping_paths(factory, source_repo):
    with factory.create(*source_repo) as sb:
        sb.write_file("new/dir/file.txt", "hello")
        assert (sb.workdir / "new/dir/file.txt").read_text() == "hello"
        os.symlink(sb.root.parent, sb.workdir / "link")
        for bad in ["../escape.txt", "/etc/ledger-escape", "link/escape.txt", "."]:
            with pytest.raises(SandboxError):
                sb.write_file(bad, "x")
        assert not (sb.root / "escape.txt").exists()


def test_bad_repo_or_commit_is_a_sandbox_error(factory, source_repo, tmp_path):
    repo, _ = source_repo
    with pytest.raises(SandboxError, match="deadbeef"):
        factory.create(repo, "deadbeef")
    with pytest.raises(SandboxError, match="not a git repository"):
        factory.create(tmp_path, "HEAD")
    assert list(factory.root.iterdir()) == []


def test_closed_sandbox_refuses_work(factory, source_repo):
    sb = factory.create(*source_repo)
    sb.close()
    sb.close()
    with pytest.raises(SandboxError):
        sb.run("true")


def test_without_network_namespaces_the_sandbox_says_so(tmp_path, source_repo):
    """Where the kernel refuses `unshare -n`, commands still run and `info` says why."""
    fake = tmp_path / "fakebin"
    fake.mkdir()
    (fake / "unshare").write_text("#!/bin/sh\necho 'unshare: Operation not permitted' >&2\nexit 1\n")
    (fake / "unshare").chmod(0o755)
    repo, base = source_repo
    code = ("import sys; from pathlib import Path; "
            "from producers.sandbox.local import LocalSandboxFactory\n"
            "with LocalSandboxFactory(root=sys.argv[1]).create(Path(sys.argv[2]), sys.argv[3]) as sb:\n"
            "    print(sb.info.model_dump_json()); print(sb.run('echo ran').output.strip())")
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "sb"), str(repo), base],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    info_line, ran = proc.stdout.splitlines()
    info = json.loads(info_line)
    assert info["network_isolated"] is False and "unshare -n" in info["note"] and ran == "ran"


def test_memory_and_cpu_rlimits(tmp_path, source_repo):
    from producers.sandbox.isolation import Rlimits
    factory = LocalSandboxFactory(root=tmp_path / "sb",
                                  rlimits=Rlimits(memory_bytes=1 << 30, cpu_s=1))
    with factory.create(*source_repo) as sb:
        mem = sb.run("python -c 'x = bytearray(3 << 30)'")
        assert mem.exit_code != 0 and "MemoryError" in mem.output
        cpu = sb.run("python -c 'while True: pass'", timeout_s=120)
        assert not cpu.timed_out and cpu.exit_code != 0


def test_commands_write_only_inside_their_sandbox(tmp_path, source_repo):
    from producers.sandbox.isolation import probe_filesystem_isolation

    isolation = probe_filesystem_isolation()
    if not isolation.isolated:
        pytest.skip(f"no read-only mount namespace on this machine: {isolation.note}")
    factory = LocalSandboxFactory(root=tmp_path / "sb")
    outside = tmp_path / "outside.txt"
    shm = Path("/dev/shm") / f"ledger-probe-{os.getpid()}"
    with factory.create(*source_repo) as sb:
        assert sb.info.filesystem_isolated and sb.info.note == ""
        res = sb.run(f"echo x > {outside}; echo $?; echo y > in-repo.txt && cat in-repo.txt; "
                     f"t=$(mktemp) && echo z > $t && cat $t; echo w > {shm} && cat {shm}; "
                     "python -c 'import tempfile; print(tempfile.gettempdir())'; pwd")
        lines = res.output.splitlines()
        assert "Read-only file system" in lines[0] and lines[1] == "1", res.output
        assert lines[2:5] == ["y", "z", "w"], res.output
        assert lines[5] == str(sb.root / "tmp") and lines[6] == str(sb.workdir)
        assert (sb.workdir / "in-repo.txt").read_text() == "y\n"
        assert "in-repo.txt" in sb.diff()
    assert not outside.exists() and not shm.exists()  # /dev/shm was the sandbox's own tmpfs


def test_writing_outside_allowed_is_recorded(tmp_path, source_repo):
    factory = LocalSandboxFactory(root=tmp_path / "sb", write_outside=True)
    outside = tmp_path / "outside.txt"
    with factory.create(*source_repo) as sb:
        assert not sb.info.filesystem_isolated and "writes outside the sandbox allowed" in sb.info.note
        assert sb.run(f"echo x > {outside}").exit_code == 0
    assert outside.read_text() == "x\n"
