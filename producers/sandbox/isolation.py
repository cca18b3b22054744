"""What isolation this machine allows: network namespaces and resource limits.

Probed once per process. A missing capability is not an error: the sandbox
runs without it and says so (`SandboxInfo.network_isolated`, `note`).
"""
from __future__ import annotations

import functools
import shutil
import subprocess
from dataclasses import dataclass

__all__ = ["Rlimits", "NetworkIsolation", "probe_network_isolation", "wrap_command"]


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
class NetworkIsolation:
    prefix: tuple[str, ...]
    """argv prefix that puts the command in a fresh network namespace (empty: none)."""
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
def probe_network_isolation() -> NetworkIsolation:
    """`unshare -n` (root), else `unshare -rn` (unprivileged user namespace), else none."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return NetworkIsolation((), "unshare not found: commands have network access")
    for prefix in ((unshare, "-n"), (unshare, "-r", "-n")):
        if _works([*prefix, "true"]):
            return NetworkIsolation(prefix, "")
    return NetworkIsolation((), "the kernel refused a network namespace (unshare -n): "
                                "commands have network access")


@functools.cache
def _prlimit() -> str | None:
    path = shutil.which("prlimit")
    return path if path and _works([path, "--nofile=1024", "true"]) else None


def wrap_command(command: str, rlimits: Rlimits, network: NetworkIsolation | None) -> list[str]:
    """argv for `bash -c command` under the limits and (optionally) no network.

    Limits are applied by the `prlimit` binary rather than a `preexec_fn`, which
    is unsafe in a threaded parent (several episodes run in threads)."""
    argv: list[str] = []
    if _prlimit() is not None and rlimits.prlimit_args():
        argv += [_prlimit(), *rlimits.prlimit_args(), "--"]
    if network is not None and network.isolated:
        argv += list(network.prefix)
    return argv + ["bash", "-c", command]
