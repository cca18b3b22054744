"""What isolation this machine allows: network and mount namespaces, resource limits.

Probed once per process. A missing capability is not an error: the sandbox
runs without it and says so (`SandboxInfo.network_isolated`,
`filesystem_isolated`, `note`).

Filesystem isolation: each command runs in a fresh mount namespace where the
sandbox directory is bind-mounted onto itself (writable), then `/` and the
other shared writable mounts (/tmp, /var/tmp, the sandbox's own mount) are
remounted read-only and /dev/shm gets a private tmpfs. A command can read the
machine (the project interpreter, its packages) but write only inside its
sandbox.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Rlimits", "Namespace", "probe_network_isolation",
           "probe_filesystem_isolation", "wrap_command"]


@dataclass(frozen=True)
class Rlimits:
    """Per-command resource limits (None = inherit)."""

    cpu_s: int | None = 600
    """CPU seconds (RLIMIT_CPU)."""
    memory_bytes: int | None = 4 << 30
    """Address space (RLIMIT_AS)."""
    file_size_bytes: int | None = 1 << 30
    """Largest file a command may write (RLIMIT_FSIZE)."""
    open_files: int | None = 4096
    """Open file descriptors (RLIMIT_NOFILE)."""

    def prlimit_args(self) -> list[str]:
        pairs = [("--cpu", self.cpu_s), ("--as", self.memory_bytes),
                 ("--fsize", self.file_size_bytes), ("--nofile", self.open_files)]
        return [f"{flag}={value}" for flag, value in pairs if value is not None]


@dataclass(frozen=True)
class Namespace:
    """A kind of namespace isolation this machine allows, or why it does not."""

    prefix: tuple[str, ...]
    """argv prefix that makes the namespace, e.g. `unshare -n` or `unshare -r -m` (empty: none)."""
    note: str
    """Why there is none, when there is none."""

    @property
    def isolated(self) -> bool:
        return bool(self.prefix)


def _works(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@functools.cache
def probe_network_isolation() -> Namespace:
    """`unshare -n` (root), else `unshare -rn` (unprivileged user namespace), else none."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return Namespace((), "unshare not found: commands have network access")
    for prefix in ((unshare, "-n"), (unshare, "-r", "-n")):
        if _works([*prefix, "true"]):
            return Namespace(prefix, "")
    return Namespace((), "the kernel refused a network namespace (unshare -n): "
                                "commands have network access")


_LOOPBACK = "ip link set lo up 2>/dev/null || true"
"""A fresh network namespace has its loopback down: up, localhost servers in tests work
(nothing outside the namespace is reachable either way)."""

_SETUP = """cmd=$1 rw=$2 wd=$3 shm=$4 net=$5; shift 5
if [ "$net" = 1 ]; then """ + _LOOPBACK + """; fi
mount --bind "$rw" "$rw" || exit 125
for m in "$@"; do mount -o remount,bind,ro "$m" || exit 125; done
if [ "$shm" = 1 ]; then mount -t tmpfs -o size=256m,mode=1777 tmpfs /dev/shm || exit 125; fi
cd "$wd" || exit 125
exec bash -c "$cmd"
"""
"""Runs inside the new mount namespace, then becomes `bash -c command` in the workdir
(re-entered by path, so the cwd is on the writable bind mount, not the read-only one)."""


def _mount_point(path: Path) -> str:
    path = path.resolve()
    while not os.path.ismount(path):
        path = path.parent
    return str(path)


@functools.lru_cache(maxsize=256)
def _mount_args(writable: Path) -> tuple[str, ...]:
    """(private /dev/shm?, mounts to make read-only) for a sandbox directory: the mount
    layout is looked up once per directory, not on every command."""
    shared = ["/", *(p for p in ("/tmp", "/var/tmp") if os.path.ismount(p)), _mount_point(writable)]
    return ("1" if os.path.ismount("/dev/shm") else "0", *dict.fromkeys(shared))


def _fs_argv(prefix: tuple[str, ...], command: str, writable: Path, cwd: Path,
             net: bool = False) -> list[str]:
    shm, *mounts = _mount_args(writable)
    return [*prefix, "sh", "-c", _SETUP, "ledger-sandbox", command, str(writable), str(cwd),
            shm, "1" if net else "0", *mounts]


@functools.cache
def probe_filesystem_isolation() -> Namespace:
    """`unshare -m` (root), else `unshare -r -m`, checked end to end: the probe writes
    inside a sandbox-like directory and must fail to write next to it."""
    unshare, mount = shutil.which("unshare"), shutil.which("mount")
    if unshare is None or mount is None:
        return Namespace((), "unshare or mount not found: commands can write outside the sandbox")
    with tempfile.TemporaryDirectory(prefix="ledger-fsprobe-") as tmp:
        inside, outside = Path(tmp) / "sandbox", Path(tmp) / "outside"
        inside.mkdir()
        for prefix in ((unshare, "-m"), (unshare, "-r", "-m")):
            argv = _fs_argv(prefix, f"touch inside; touch {outside} 2>/dev/null; true", inside, inside)
            if _works(argv) and (inside / "inside").exists() and not outside.exists():
                return Namespace(prefix, "")
            outside.unlink(missing_ok=True)
    return Namespace((), "the kernel refused a read-only mount namespace (unshare -m): "
                                   "commands can write outside the sandbox")


@functools.cache
def _prlimit() -> str | None:
    path = shutil.which("prlimit")
    return path if path and _works([path, "--nofile=1024", "true"]) else None


def wrap_command(command: str, rlimits: Rlimits, network: Namespace | None,
                 filesystem: Namespace | None = None, writable: Path | None = None,
                 cwd: Path | None = None) -> list[str]:
    """argv for `bash -c command` under the limits, (optionally) without network and
    (optionally) able to write under `writable` only, starting in `cwd`.

    Limits are applied by the `prlimit` binary rather than a `preexec_fn`, which
    is unsafe in a threaded parent (several episodes run in threads). One
    `unshare` makes both namespaces when both are asked for."""
    argv: list[str] = []
    if _prlimit() is not None and rlimits.prlimit_args():
        argv += [_prlimit(), *rlimits.prlimit_args(), "--"]
    net = network is not None and network.isolated
    if filesystem is not None and filesystem.isolated and writable is not None:
        prefix = list(filesystem.prefix)
        if net:
            prefix += [f for f in network.prefix[1:] if f not in prefix]
        return argv + _fs_argv(tuple(prefix), command, writable, cwd or writable, net)
    if net:
        return argv + [*network.prefix, "sh", "-c", _LOOPBACK + '; exec bash -c "$1"',
                       "ledger-sandbox", command]
    return argv + ["bash", "-c", command]
