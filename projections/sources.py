"""Raw records by position, and group-offset commits, for each log backend.

The projector resumes from its manifest, so it reads by position (bytes, no
decoding) rather than from a group's committed offsets; it commits the
group's offsets afterwards so operators see its lag like any consumer's.

- SQLite: `fetch` by (topic, partition, offset) and `commit_offsets`.
- Kafka: one assigned kafka-python consumer, kept across rounds; each round
  seeks to the manifest's positions and reads up to the end offsets seen when
  the round began; commits go to the group with explicit offsets.
- Anything else with `read_raw`: read by position; no group commit.
"""
from __future__ import annotations

import itertools
from typing import Protocol

from events.log.base import EventLog, RawRecord

__all__ = ["RawSource", "source_for"]

TP = tuple[str, int]


class RawSource(Protocol):
    def fetch(self, starts: dict[TP, int], limit: int) -> dict[TP, list[RawRecord]]:
        """Up to `limit` records per topic-partition from the given offsets."""

    def commit(self, offsets: dict[TP, int]) -> None:
        """Store the group's next offsets (progress for operators)."""

    def close(self) -> None: ...


class _ByPosition:
    def __init__(self, log: EventLog, group: str):
        self.log, self.group = log, group

    def fetch(self, starts: dict[TP, int], limit: int) -> dict[TP, list[RawRecord]]:
        fetch = getattr(self.log, "fetch", None)
        out = {}
        for (topic, part), start in starts.items():
            if fetch is not None:
                out[(topic, part)] = fetch(topic, part, start, limit)
            else:
                out[(topic, part)] = list(itertools.islice(self.log.read_raw(topic, start, part), limit))
        return out

    def commit(self, offsets: dict[TP, int]) -> None:
        commit = getattr(self.log, "commit_offsets", None)
        if commit is not None:
            commit(self.group, offsets)

    def close(self) -> None:
        pass


class _Kafka:
    def __init__(self, log, group: str):
        self.log, self.group = log, group
        self._consumer = log.make_consumer(group_id=group, max_partition_fetch_bytes=4 * 1024 * 1024)

    def fetch(self, starts: dict[TP, int], limit: int) -> dict[TP, list[RawRecord]]:
        from kafka import TopicPartition

        ends: dict[TP, int] = {}
        for topic in {t for t, _ in starts}:
            ends.update({(topic, p): o for p, o in self.log.end_offsets(topic).items()})
        want = {tp: start for tp, start in starts.items() if start < ends.get(tp, 0)}
        out: dict[TP, list[RawRecord]] = {tp: [] for tp in starts}
        if not want:
            return out
        tps = {TopicPartition(self.log.physical(t), p): (t, p) for t, p in want}
        self._consumer.assign(list(tps))
        for tp, key in tps.items():
            self._consumer.seek(tp, want[key])
        open_ = set(tps)
        while open_:
            batch = self._consumer.poll(timeout_ms=500, max_records=limit)
            for tp, recs in batch.items():
                key = tps[tp]
                got = out[key]
                for r in recs:
                    if r.offset >= want[key] and len(got) < limit and r.offset < ends[key]:
                        key_s = r.key.decode("utf-8", "replace") if r.key is not None else None
                        got.append(RawRecord(key[0], key[1], r.offset, key_s, r.value))
                if len(got) >= limit or (got and got[-1].offset + 1 >= ends[key]):
                    open_.discard(tp)
                    self._consumer.pause(tp)
        self._consumer.resume(*tps)
        return out

    def commit(self, offsets: dict[TP, int]) -> None:
        from kafka import TopicPartition
        from kafka.structs import OffsetAndMetadata

        self._consumer.commit(offsets={TopicPartition(self.log.physical(t), p): OffsetAndMetadata(o, "", -1)
                                       for (t, p), o in offsets.items()})

    def close(self) -> None:
        self._consumer.close(autocommit=False)


def source_for(log: EventLog, group: str) -> RawSource:
    if hasattr(log, "make_consumer") and hasattr(log, "physical"):
        return _Kafka(log, group)
    return _ByPosition(log, group)
