"""Run one command in its own process group with a timeout and a capped output.

The output is read as it is produced: bytes past the cap are counted and
discarded, so a command printing a gigabyte costs neither memory nor disk.
When the command times out, or exits while leaving children behind, the whole
process group is killed, and so is any process that escaped the group but
still carries the sandbox's marker in its environment.
"""
from __future__ import annotations

import fcntl
import os
import select
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RawResult", "run_capped", "kill_marked"]

_CHUNK = 1 << 20
_DRAIN_GRACE_S = 1.0
"""How long the pipe is still read after the command exited or was killed."""
MARKER_VAR = "LEDGER_SANDBOX_ID"


@dataclass(frozen=True)
class RawResult:
    exit_code: int | None
    output: bytes
    output_size: int
    output_capped: bool
    timed_out: bool
    duration_s: float


def run_capped(argv: list[str], *, cwd: Path, env: dict[str, str], timeout_s: float,
               output_cap: int) -> RawResult:
    """Run `argv`; stdout and stderr are interleaved into one capped stream."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    _grow_pipe(proc.stdout.fileno())
    reader = _CappedReader(proc.stdout.fileno(), output_cap)
    code: int | None = None
    try:
        if reader.read_until(lambda: proc.poll() is not None, start + timeout_s):
            code = _wait(proc, start + timeout_s)
        timed_out = code is None
        # Reaped before the group is killed, so the exit status is the command's own.
        _kill_group(proc.pid)
        # SIGKILL lands asynchronously: always wait for the group to be gone; look for
        # setsid escapees (by marker) only when something may still hold the output.
        escaped = timed_out or not reader.eof
        kill_marked(env.get(MARKER_VAR, "") if escaped else "", pgid=proc.pid)
        reader.read_until(lambda: False, time.monotonic() + _DRAIN_GRACE_S)
        proc.wait()
    finally:
        proc.stdout.close()
        if proc.poll() is None:
            _kill_group(proc.pid)
            proc.wait()
    return RawResult(exit_code=code, output=bytes(reader.kept),
                     output_size=reader.size, output_capped=reader.size > output_cap,
                     timed_out=timed_out, duration_s=time.monotonic() - start)


def _wait(proc: subprocess.Popen, deadline: float) -> int | None:
    try:
        return proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return None


class _CappedReader:
    """Reads a pipe, keeping the first `cap` bytes and counting all of them."""

    def __init__(self, fd: int, cap: int) -> None:
        self.fd, self.cap = fd, cap
        self.kept = bytearray()
        self.size = 0
        self.eof = False

    def read_until(self, done, deadline: float) -> bool:
        """Read until EOF (True), or `deadline` passes (False). `done()` being true
        alone does not stop the read: children may still hold the pipe."""
        exited_at: float | None = None
        while not self.eof:
            now = time.monotonic()
            if now >= deadline:
                return False
            if exited_at is None and done():
                exited_at = now
            if exited_at is not None and now - exited_at > _DRAIN_GRACE_S:
                return True
            ready, _, _ = select.select([self.fd], [], [], min(0.2, deadline - now))
            if ready:
                self._read_chunk()
        return True

    def _read_chunk(self) -> None:
        chunk = os.read(self.fd, _CHUNK)
        if not chunk:
            self.eof = True
            return
        self.size += len(chunk)
        room = self.cap - len(self.kept)
        if room > 0:
            self.kept += chunk[:room]


def _grow_pipe(fd: int) -> None:
    """Fewer, larger reads when a command floods its output (best effort)."""
    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _CHUNK)
    except OSError:
        pass


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def kill_marked(marker: str, pgid: int | None = None, settle_s: float = 5.0) -> int:
    """SIGKILL every live process in group `pgid` or whose environment carries
    `MARKER_VAR=marker` (children that left the group with setsid), and return once
    none is left running (zombies awaiting their reaper count as gone), or after
    `settle_s`. SIGKILL is delivered asynchronously, hence the re-check. Returns the
    number of kill signals sent."""
    return _kill_until_gone(f"{MARKER_VAR}={marker}".encode() if marker else None, pgid, settle_s)


def kill_with_env(entry: str, settle_s: float = 5.0) -> int:
    """SIGKILL every live process whose environment holds `entry` (`NAME=value`), as
    `kill_marked` does; for processes of a sandbox whose owner is gone."""
    return _kill_until_gone(entry.encode(), None, settle_s)


def _kill_until_gone(needle: bytes | None, pgid: int | None, settle_s: float) -> int:
    sent = 0
    deadline = time.monotonic() + settle_s
    while True:
        live = _live_members(needle, pgid)
        if not live or time.monotonic() > deadline:
            return sent
        for pid in live:
            try:
                os.kill(pid, signal.SIGKILL)
                sent += 1
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.02)


def _live_members(needle: bytes | None, pgid: int | None) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if fields[0] in ("Z", "X"):
                continue
            if pgid is not None and int(fields[2]) == pgid:
                found.append(int(entry.name))
            elif needle is not None and needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue
    return found
