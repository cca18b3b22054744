"""A worker's membership in one run's work queue: the `work` topic through a consumer group.

Every run in distributed mode has its own group, `[prefix]ledger-worker.<run_id>`; each
member is handed a share of the topic's partitions and sees only their items.
Offsets are committed per partition, explicitly, after the item's `work.done`:

    append work.done (acknowledged by the log) ─▶ commit the partition's offset

so a member killed before the commit leaves the item to whoever gets the
partition next (at-least-once; the item's episode id makes the repeat
detectable). A member learns through `on_assigned` / `on_revoked` which
partitions it holds; `on_revoked` runs before anyone else can be given them.

- Kafka: a kafka-python group member with the cooperative-sticky assignor, so
  a worker joining or leaving moves only the partitions that change hands.
- SQLite (one machine): one member per run at a time, by an exclusive `flock`
  on a file beside the log; another worker waits as a standby and takes over
  the moment the holder dies. Its `work.done` and offsets commit in one
  transaction.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Callable, Protocol, Sequence

from events.envelope import Envelope
from events.log import EventLog, LogUnavailable, Record
from events.log.base import RawRecord
from events.log.decoding import decode_chunk

__all__ = ["WorkQueue", "KafkaWorkQueue", "SqliteWorkQueue", "open_queue", "group_for"]

Partitions = Callable[[set[int]], None]
_MIN_POLL_INTERVAL_MS = 60_000


def group_for(run_id: str, prefix: str = "") -> str:
    """The run's consumer group; on Kafka the log's topic prefix comes first, so deployments
    (and test runs) that share a cluster under different prefixes never share a group."""
    return f"{prefix}ledger-worker.{run_id}"


class WorkQueue(Protocol):
    run_id: str

    def poll(self, max_records: int, timeout_s: float) -> list[Record]:
        """Next items of the partitions held (none while paused)."""

    def pause(self, paused: bool) -> None: ...

    def ack(self, offsets: dict[int, int], outputs: Sequence[Envelope]) -> bool:
        """Append `outputs` to `work`, then commit the next offset of each held partition in `offsets`;
        False when the commit must be retried (a rebalance was under way)."""

    def close(self) -> None: ...


def open_queue(log: EventLog, run_id: str, on_assigned: Partitions, on_revoked: Partitions) -> WorkQueue:
    if hasattr(log, "make_consumer"):
        return KafkaWorkQueue(log, run_id, on_assigned, on_revoked)
    return SqliteWorkQueue(log, run_id, on_assigned, on_revoked)


class KafkaWorkQueue:
    def __init__(self, log, run_id: str, on_assigned: Partitions, on_revoked: Partitions):
        from kafka import ConsumerRebalanceListener
        from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor

        from events.log.kafka import kafka_errors

        self.log, self.run_id = log, run_id
        self.group = group_for(run_id, log.options.prefix)
        self._physical = log.physical("work")
        self._paused = False
        queue = self

        class _Listener(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked):
                on_revoked({tp.partition for tp in revoked if tp.topic == queue._physical})

            def on_partitions_lost(self, lost):
                on_revoked({tp.partition for tp in lost if tp.topic == queue._physical})

            def on_partitions_assigned(self, assigned):
                on_assigned({tp.partition for tp in assigned if tp.topic == queue._physical})

        config = log.options.consumer_group_config()
        # A member's death shows as missing heartbeats (session_timeout_ms); the poll interval
        # only catches a stuck loop, so a slow moment on a loaded machine must not evict it.
        config["max_poll_interval_ms"] = max(config.get("max_poll_interval_ms", 0), _MIN_POLL_INTERVAL_MS)
        try:
            self._consumer = log.make_consumer(
                group_id=self.group, partition_assignment_strategy=[CooperativeStickyAssignor],
                max_partition_fetch_bytes=1024 * 1024, **config)
            self._consumer.subscribe([self._physical], listener=_Listener())
        except kafka_errors() as exc:
            raise LogUnavailable(f"cannot join group {self.group!r} on {log.url}: {exc}") from exc

    def poll(self, max_records: int, timeout_s: float) -> list[Record]:
        from events.log.kafka import kafka_errors

        if self._paused:  # newly assigned partitions start unpaused
            self._consumer.pause(*self._consumer.assignment())
        try:
            batch = self._consumer.poll(timeout_ms=int(timeout_s * 1000), max_records=max(max_records, 1))
        except kafka_errors() as exc:
            raise LogUnavailable(f"poll of group {self.group!r} on {self.log.url} failed: {exc}") from exc
        raws = [RawRecord("work", tp.partition, r.offset, r.key.decode("utf-8", "replace") if r.key else None,
                          r.value) for tp, recs in batch.items() for r in recs]
        return _decode(self.log, raws, self.group)

    def pause(self, paused: bool) -> None:
        if paused == self._paused:
            return
        self._paused = paused
        held = self._consumer.assignment()
        if paused:
            self._consumer.pause(*held)
        else:
            self._consumer.resume(*held)

    def ack(self, offsets: dict[int, int], outputs: Sequence[Envelope]) -> bool:
        from kafka import TopicPartition
        from kafka.errors import CommitFailedError, IllegalGenerationError, RebalanceInProgressError
        from kafka.structs import OffsetAndMetadata

        from events.log.kafka import kafka_errors

        if outputs:
            self.log.append("work", list(outputs))
        held = {tp.partition for tp in self._consumer.assignment()}
        commit = {TopicPartition(self._physical, p): OffsetAndMetadata(o, "", -1)
                  for p, o in offsets.items() if p in held}
        if not commit:
            return True
        try:
            self._consumer.commit(offsets=commit)
        except (CommitFailedError, RebalanceInProgressError, IllegalGenerationError):
            return False
        except kafka_errors() as exc:
            raise LogUnavailable(f"commit of group {self.group!r} on {self.log.url} failed: {exc}") from exc
        return True

    def close(self) -> None:
        self._consumer.close(autocommit=False)


class SqliteWorkQueue:
    """The embedded log's stand-in for a group: the flock holder owns every partition."""

    def __init__(self, log, run_id: str, on_assigned: Partitions, on_revoked: Partitions):
        self.log, self.run_id = log, run_id
        self.group = group_for(run_id)
        self._on_assigned = on_assigned
        self._paused = False
        self._lock_path = Path(f"{log.path}.{self.group}.lock")
        self._fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        self._held = False
        self._positions: dict[int, int] = {}
        self._next = 0

    def _acquire(self) -> bool:
        if not self._held:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            self._held = True
            committed = self.log.load_offsets(self.group)
            parts = range(self.log.partitions("work"))
            self._positions = {p: committed.get(("work", p), 0) for p in parts}
            self._on_assigned(set(parts))
        return True

    def poll(self, max_records: int, timeout_s: float) -> list[Record]:
        if not self._acquire() or self._paused:
            return []
        out: list[Record] = []
        dead: list[Envelope] = []
        parts = sorted(self._positions)
        for i in range(len(parts)):  # round-robin start, so no partition starves
            p = parts[(self._next + i) % len(parts)]
            if len(out) >= max_records:
                break
            records, self._positions[p] = self.log.fetch_records("work", p, self._positions[p],
                                                                 max_records - len(out), dead, self.group)
            out.extend(records)
        self._next += 1
        if dead:
            self.log.append("deadletter", dead)
        return out

    def pause(self, paused: bool) -> None:
        self._paused = paused

    def ack(self, offsets: dict[int, int], outputs: Sequence[Envelope]) -> bool:
        if not self._held:
            return False
        self.log.commit_offsets(self.group, {("work", p): o for p, o in offsets.items()},
                                {"work": list(outputs)} if outputs else None)
        return True

    def close(self) -> None:
        os.close(self._fd)  # releases the flock: a standby takes over
        self._held = False


def _decode(log: EventLog, raws: list[RawRecord], group: str) -> list[Record]:
    dead: list[Envelope] = []
    records = decode_chunk(raws, dead, consumer=group)
    if dead:
        log.append("deadletter", dead)
    return records
