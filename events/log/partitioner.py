"""Key -> partition, the same rule on every backend.

It is Kafka's default partitioner (murmur2 of the UTF-8 key, masked positive,
modulo the partition count), so events appended through the SQLite log land in
the partition the Kafka clients would choose for the same key.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

from kafka.partitioner.default import murmur2

__all__ = ["partition_for", "partitions_for"]

_KNOWN_LIMIT = 65536
_known: dict[int, dict[str | None, int]] = {}
"""partition count -> key -> partition, for keys seen lately (keys repeat: episode ids, run ids)."""


def _partition(key: str | None, partitions: int) -> int:
    if partitions <= 1 or not key:
        return 0
    return (murmur2(key.encode("utf-8")) & 0x7FFFFFFF) % partitions


partition_for = lru_cache(maxsize=65536)(_partition)
"""One key's partition (cached: keys repeat)."""


def partitions_for(keys: Sequence[str | None], partitions: int) -> list[int]:
    """`partition_for` of each key; a batch costs one dict lookup per key once its keys are known."""
    if partitions <= 1:
        return [0] * len(keys)
    known = _known.setdefault(partitions, {})
    parts = list(map(known.get, keys))
    if None in parts:
        if len(known) > _KNOWN_LIMIT:
            known.clear()
        parts = [p if p is not None else known.setdefault(k, _partition(k, partitions))
                 for p, k in zip(parts, keys)]
    return parts
