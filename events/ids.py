"""Event ids: UUIDv7 for producer events, deterministic uuid5 for derived ones.

UUIDv7 ids are time-ordered, which keeps the log's UNIQUE id index append-mostly
(about 3x faster inserts than random uuid4 ids on SQLite).
"""
from __future__ import annotations

import os
import random
import threading
import time
import uuid

__all__ = ["uuid7", "derived_id", "NAMESPACE"]

NAMESPACE = uuid.UUID("6f1d7c1e-2b1a-4c55-9f0e-5e6c2a9d4b71")

_lock = threading.Lock()
_last_ms = 0
_seq = 0
# Random bits need to be unique, not secret: one urandom-seeded generator per process
# (reseeded in forked children) instead of a system call per id.
_rng = random.Random(os.urandom(32))
os.register_at_fork(after_in_child=lambda: _rng.seed(os.urandom(32)))


def uuid7() -> str:
    """A time-ordered UUIDv7 string; ids made in one process are strictly increasing."""
    global _last_ms, _seq
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            _seq += 1
            if _seq > 0xFFF:  # 4096 ids in one millisecond: borrow the next one
                ms += 1
                _seq = 0
        else:
            _seq = _rng.getrandbits(10)
        _last_ms = ms
        seq = _seq
        rand_b = _rng.getrandbits(62)
    value = (ms << 80) | (0x7 << 76) | (seq << 64) | (0b10 << 62) | rand_b
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def derived_id(processor: str, version: int | str, inputs: str | list[str] | tuple[str, ...]) -> str:
    """Deterministic id of an event derived by `processor@version` from the given input ids.

    Re-running the same processor over the same inputs yields the same id, so
    duplicates are detectable by every sink.
    """
    if not isinstance(inputs, str):
        inputs = ",".join(inputs)
    return str(uuid.uuid5(NAMESPACE, f"{processor}@{version}:{inputs}"))
