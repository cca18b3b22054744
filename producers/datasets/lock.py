"""An exclusive lock between processes preparing the same cache entry."""
from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["file_lock", "default_cache_dir"]


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold `flock(LOCK_EX)` on `path` (created if missing). The kernel drops the
    lock when the holder dies, so a SIGKILLed preparer never blocks the next one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def default_cache_dir() -> Path:
    """`$LEDGER_CACHE_DIR`, else `~/.cache/swe-ledger`."""
    env = os.environ.get("LEDGER_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "swe-ledger"
