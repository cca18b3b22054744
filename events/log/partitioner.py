"""Key -> partition, the same rule on every backend.

It is Kafka's default partitioner (murmur2 of the UTF-8 key, masked positive,
modulo the partition count), so events appended through the SQLite log land in
the partition the Kafka clients would choose for the same key.
"""
from __future__ import annotations

from functools import lru_cache

from kafka.partitioner.default import murmur2

__all__ = ["partition_for"]


@lru_cache(maxsize=65536)
def partition_for(key: str | None, partitions: int) -> int:
    if partitions <= 1 or not key:
        return 0
    return (murmur2(key.encode("utf-8")) & 0x7FFFFFFF) % partitions
