"""A Kafka consumer-group member behind the `Consumer` interface.

Offsets are committed only by `commit()` / `transact()` (auto-commit off); a
new group starts at the earliest offset. `transact(outputs)` is at-least-once:

    1. append the outputs and wait for every acknowledgement (KafkaLog.append_many)
    2. then commit the input offsets

A crash between 1 and 2 re-processes the inputs after restart; the outputs are
appended again with the same deterministic ids, which consumers downstream
drop with events.log.dedupe.SeenIds.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from ..envelope import Envelope
from .base import LogUnavailable, Outputs, Position, RawRecord, Record
from .decoding import decode_chunk

if TYPE_CHECKING:
    from .kafka import KafkaLog

__all__ = ["KafkaGroupConsumer"]


class KafkaGroupConsumer:
    """One member of consumer group `group` subscribed to logical `topics`."""

    def __init__(self, log: "KafkaLog", group: str, topics: Sequence[str]):
        from kafka import ConsumerRebalanceListener

        from .kafka import kafka_errors

        self.log = log
        self.group = group
        self.topics = list(topics)
        for t in self.topics:
            log.partitions(t)  # an unknown or missing topic fails here, not in a poll
        self._position: dict[tuple[str, int], int] = {}
        self._rewind: set[tuple[str, int]] = set()
        owner = self

        class _Listener(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked):
                for tp in revoked:
                    owner._position.pop(owner._key(tp), None)

            def on_partitions_assigned(self, assigned):
                owner._on_assigned(assigned)

        try:
            self._consumer = log.make_consumer(group_id=group, max_partition_fetch_bytes=4 * 1024 * 1024,
                                               **log.options.consumer_group_config())
            self._consumer.subscribe([log.physical(t) for t in self.topics], listener=_Listener())
        except kafka_errors() as exc:
            raise LogUnavailable(f"cannot join group {group!r} on {log._where}: {exc}") from exc

    def _key(self, tp) -> tuple[str, int]:
        return (self.log.logical(tp.topic), tp.partition)

    def _on_assigned(self, assigned) -> None:
        rewind = [tp for tp in assigned if self._key(tp) in self._rewind]
        if rewind:
            self._consumer.seek_to_beginning(*rewind)
            self._rewind.difference_update(self._key(tp) for tp in rewind)

    # -- consuming -------------------------------------------------------------------
    def poll(self, max_records: int = 1000, timeout_s: float = 0.5) -> list[Record]:
        from .kafka import kafka_errors

        try:
            batch = self._consumer.poll(timeout_ms=int(timeout_s * 1000), max_records=max_records)
        except kafka_errors() as exc:
            raise LogUnavailable(f"poll of group {self.group!r} on {self.log._where} failed: {exc}") from exc
        raws: list[RawRecord] = []
        for tp, recs in batch.items():
            topic = self.log.logical(tp.topic)
            for r in recs:
                key = r.key.decode("utf-8", "replace") if r.key is not None else None
                raws.append(RawRecord(topic, tp.partition, r.offset, key, r.value))
            if recs:
                self._position[(topic, tp.partition)] = recs[-1].offset + 1
        dead: list[Envelope] = []
        records = decode_chunk(raws, dead, consumer=self.group)
        if dead:
            self.log.append("deadletter", dead)
        return records

    def position(self) -> dict[tuple[str, int], int]:
        return dict(self._position)

    # -- committing ------------------------------------------------------------------
    def commit(self) -> None:
        from kafka import TopicPartition
        from kafka.structs import OffsetAndMetadata

        from .kafka import kafka_errors

        offsets = {TopicPartition(self.log.physical(t), p): OffsetAndMetadata(o, "", -1)
                   for (t, p), o in self._position.items()}
        if not offsets:
            return
        try:
            self._consumer.commit(offsets=offsets)
        except kafka_errors() as exc:
            raise LogUnavailable(f"commit of group {self.group!r} on {self.log._where} failed: {exc}") from exc

    def transact(self, outputs: Outputs) -> list[Position]:
        positions = self.log.append_many(outputs) if outputs else []
        self.commit()
        return positions

    def committed(self) -> dict[tuple[str, int], int]:
        from kafka import TopicPartition

        from .kafka import kafka_errors

        out: dict[tuple[str, int], int] = {}
        try:
            for t in self.topics:
                for p in range(self.log.partitions(t)):
                    off = self._consumer.committed(TopicPartition(self.log.physical(t), p))
                    out[(t, p)] = off if off is not None and off >= 0 else 0
        except kafka_errors() as exc:
            raise LogUnavailable(f"cannot read offsets of group {self.group!r}: {exc}") from exc
        return out

    def caught_up(self) -> bool:
        """Assigned (the group join is done) and at the end of every partition it holds."""
        from .kafka import kafka_errors

        try:
            held = list(self._consumer.assignment())
            if not held or self._rewind:
                return False
            ends: dict[str, dict[int, int]] = {}
            for tp in held:
                topic = self.log.logical(tp.topic)
                if topic not in ends:
                    ends[topic] = self.log.end_offsets(topic)
                if self._consumer.position(tp) < ends[topic].get(tp.partition, 0):
                    return False
        except kafka_errors() as exc:
            raise LogUnavailable(f"cannot read positions of group {self.group!r} on {self.log._where}: {exc}") from exc
        return True

    def seek_to_beginning(self) -> None:
        """Replay: every partition this member holds, or will be given, restarts at offset 0."""
        self._rewind = {(t, p) for t in self.topics for p in range(self.log.partitions(t))}
        held = list(self._consumer.assignment())
        if held:
            self._on_assigned(held)
        for key in [self._key(tp) for tp in held]:
            self._position.pop(key, None)

    def close(self) -> None:
        self._consumer.close(autocommit=False)
