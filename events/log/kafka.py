"""The distributed log: Apache Kafka (or any Kafka-protocol broker) via kafka-python 3.

    KafkaLog("kafka://127.0.0.1:9092?prefix=staging.")

- Topics of the catalog are created on open (partitions from events.topics,
  the prefix applied on the wire only); existing ones are left alone.
- The producer is idempotent with acks=all; `append` returns only after every
  record is acknowledged, with the positions the broker assigned.
- Partitions are chosen by `partition_for`, the same rule as the SQLite log.
- Appending an event id twice appends it twice: Kafka has no unique index.
  Ids are deterministic for derived events, so consumers detect duplicates
  (see events.log.dedupe).
- Every kafka-python error surfaces as LogUnavailable naming the cluster.
"""
from __future__ import annotations

import threading
import time
from typing import Iterator, Sequence

from ..bounds import KAFKA_MESSAGE_BYTES
from ..codec import encode
from ..envelope import Envelope
from ..registry import SPECS
from ..topics import CATALOG, logical_name, physical_name, topic_of
from .base import LogUnavailable, Outputs, Position, RawRecord, Record
from .decoding import iter_records
from .kafka_options import KafkaOptions, parse_kafka_url
from .partitioner import partition_for

__all__ = ["KafkaLog", "kafka_errors"]

_ALREADY_EXISTS = 36
_SEND_TIMEOUT_S = 120.0


def _rows(partition: int, recs: list, start: int, end: int | None) -> list[tuple[int, int, str | None, bytes]]:
    """Consumer records as (partition, offset, key, value), those in [start, end) only."""
    return [(partition, r.offset, r.key.decode("utf-8", "replace") if r.key is not None else None, r.value)
            for r in recs if r.offset >= start and (end is None or r.offset < end)]


def kafka_errors():
    """The exception classes kafka-python raises (imported lazily: kafka is a heavy import)."""
    from kafka.errors import KafkaError

    return KafkaError


class KafkaLog:
    """An EventLog on a Kafka cluster; one producer shared by all appends (thread-safe)."""

    def __init__(self, url: str):
        self.url = url
        self.options: KafkaOptions = parse_kafka_url(url)
        self._where = ",".join(self.options.bootstrap)
        self._lock = threading.RLock()
        self._partitions: dict[str, int] = {}
        self._producer = None
        self._meta = None  # a group-less consumer for offsets and partition counts
        try:
            if self.options.create_topics:
                self.create_topics()
            self._producer = self._make_producer()
        except kafka_errors() as exc:
            self.close()
            raise LogUnavailable(f"cannot open Kafka log at {self._where}: {exc}") from exc

    # -- names -----------------------------------------------------------------------
    def physical(self, topic: str) -> str:
        return physical_name(topic, self.options.prefix)

    def logical(self, physical: str) -> str:
        return logical_name(physical, self.options.prefix)

    # -- set-up ----------------------------------------------------------------------
    def _make_producer(self):
        from kafka import KafkaProducer

        return KafkaProducer(**self.options.client_config(), acks="all", enable_idempotence=True,
                             linger_ms=self.options.linger_ms, batch_size=self.options.batch_size,
                             max_request_size=KAFKA_MESSAGE_BYTES)  # one event of events.bounds.MAX_EVENT_BYTES

    def make_consumer(self, **config):
        from kafka import KafkaConsumer

        return KafkaConsumer(**self.options.client_config(), enable_auto_commit=False,
                             auto_offset_reset="earliest", **config)

    def create_topics(self, names: Sequence[str] | None = None) -> None:
        """Create the catalog's topics (or `names`) with their partitions; existing ones are kept."""
        from kafka import KafkaAdminClient

        wanted = {self.physical(n): topic_of(n) for n in (names or CATALOG)}
        spec = {name: {"num_partitions": t.partitions, "replication_factor": self.options.replication_factor,
                       "configs": {"retention.ms": str(t.retention_ms),
                                   "max.message.bytes": str(KAFKA_MESSAGE_BYTES)}} for name, t in wanted.items()}
        admin = KafkaAdminClient(**self.options.client_config())
        try:
            result = admin.create_topics(spec, raise_errors=False, wait_for_metadata=True)
        finally:
            admin.close()
        errors = [f"{t['name']}: {t['error_message'] or t['error_code']}" for t in result["topics"]
                  if t["error_code"] not in (0, _ALREADY_EXISTS)]
        if errors:
            raise LogUnavailable(f"cannot create topics on {self._where}: {'; '.join(errors)}")

    def close(self) -> None:
        with self._lock:
            producer, self._producer = self._producer, None
            meta, self._meta = self._meta, None
        if producer is not None:
            producer.close(timeout=10)
        if meta is not None:
            meta.close(autocommit=False)

    def __enter__(self) -> "KafkaLog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- topics ----------------------------------------------------------------------
    def partitions(self, topic: str) -> int:
        n = self._partitions.get(topic)
        if n is None:
            topic_of(topic)
            with self._lock:
                try:
                    found = self._meta_consumer().partitions_for_topic(self.physical(topic))
                except kafka_errors() as exc:
                    raise LogUnavailable(f"cannot read metadata of {topic!r} on {self._where}: {exc}") from exc
            if not found:
                raise LogUnavailable(f"topic {self.physical(topic)!r} does not exist on {self._where} "
                                     f"(create it with python -m infra.topics --log {self.url})")
            n = self._partitions[topic] = len(found)
        return n

    def _meta_consumer(self):
        if self._meta is None:
            self._meta = self.make_consumer(fetch_max_wait_ms=10, max_partition_fetch_bytes=1)
        return self._meta

    def end_offsets(self, topic: str) -> dict[int, int]:
        from kafka import TopicPartition

        tps = [TopicPartition(self.physical(topic), p) for p in range(self.partitions(topic))]
        with self._lock:
            try:
                ends = self._high_watermarks(tps)
            except kafka_errors() as exc:
                raise LogUnavailable(f"cannot read end offsets of {topic!r} on {self._where}: {exc}") from exc
        return {tp.partition: ends[tp] for tp in tps}

    def _high_watermarks(self, tps: list) -> dict:
        """End offsets as the high watermark of a fetch.

        ListOffsets alone is not enough: some Kafka-protocol brokers (Tansu 0.6)
        answer it with the last batch's base offset + 1. It is a lower bound, so
        fetch from just below it and take the watermark the fetch reports.
        """
        meta = self._meta_consumer()
        lower = meta.end_offsets(tps)
        meta.assign(tps)
        for tp in tps:
            meta.seek(tp, max(lower[tp] - 1, 0))
        deadline = time.monotonic() + 30
        while any(meta.highwater(tp) is None for tp in tps):
            if time.monotonic() > deadline:
                raise LogUnavailable(f"no fetch answer from {self._where} within 30 s")
            meta.poll(timeout_ms=100, max_records=1)
        ends = {tp: max(meta.highwater(tp), lower[tp]) for tp in tps}
        meta.unsubscribe()
        return ends

    # -- appends ---------------------------------------------------------------------
    def append(self, topic: str, events: Sequence[Envelope]) -> list[Position]:
        return self.append_many({topic: events})

    def append_many(self, outputs: Outputs) -> list[Position]:
        rows = []
        for topic, events in outputs.items():
            n = self.partitions(topic)
            for ev in events:
                spec_topic = SPECS[ev.type].topic
                if spec_topic != topic:
                    raise ValueError(f"{ev.type} belongs to topic {spec_topic!r}, not {topic!r}")
                rows.append((topic, partition_for(ev.key, n), ev.key, encode(ev)))
        return self._send(rows)

    def append_raw(self, topic: str, records: Sequence[tuple[str | None, bytes]]) -> list[Position]:
        n = self.partitions(topic)
        return self._send([(topic, partition_for(k, n), k, bytes(v)) for k, v in records])

    def _send(self, rows: list[tuple[str, int, str | None, bytes]]) -> list[Position]:
        """Send every row, flush, then read each acknowledgement (offsets assigned by the broker)."""
        if not rows:
            return []
        producer = self._producer
        if producer is None:
            raise LogUnavailable(f"Kafka log {self._where} is closed")
        try:
            futures = [producer.send(self.physical(topic), value=value,
                                     key=key.encode("utf-8") if key is not None else None, partition=part)
                       for topic, part, key, value in rows]
            producer.flush(timeout=_SEND_TIMEOUT_S)
            metas = [f.get(timeout=_SEND_TIMEOUT_S) for f in futures]
        except kafka_errors() as exc:
            raise LogUnavailable(f"append to {self._where} not acknowledged: {exc}") from exc
        return [Position(topic, m.partition, m.offset) for (topic, _, _, _), m in zip(rows, metas)]

    # -- reads -----------------------------------------------------------------------
    def read_raw(self, topic: str, start: int = 0, partition: int | None = None) -> Iterator[RawRecord]:
        for chunk in self._chunks(topic, start, partition, follow=False, poll_s=0.05):
            yield from (RawRecord(topic, p, o, k, v) for p, o, k, v in chunk)

    def read(self, topic: str, start: int = 0, partition: int | None = None, *,
             follow: bool = False, poll_s: float = 0.05) -> Iterator[Record]:
        for chunk in self._chunks(topic, start, partition, follow=follow, poll_s=poll_s):
            dead: list[Envelope] = []
            yield from iter_records(topic, chunk, dead, "read")
            if dead:
                self.append("deadletter", dead)

    def _chunks(self, topic: str, start: int, partition: int | None, *, follow: bool,
                poll_s: float) -> Iterator[list[tuple[int, int, str | None, bytes]]]:
        """(partition, offset, key, value) rows from `start` per partition, one poll's worth
        at a time; without `follow`, up to the end offsets as they were when the read began."""
        from kafka import TopicPartition

        parts = [partition] if partition is not None else list(range(self.partitions(topic)))
        ends = self.end_offsets(topic)
        if not follow:
            parts = [p for p in parts if start < ends[p]]
            if not parts:
                return
        physical = self.physical(topic)
        tps = {TopicPartition(physical, p): p for p in parts}
        try:
            consumer = self.make_consumer(max_partition_fetch_bytes=4 * 1024 * 1024)
        except kafka_errors() as exc:
            raise LogUnavailable(f"cannot read {topic!r} from {self._where}: {exc}") from exc
        try:
            consumer.assign(list(tps))
            for tp, p in tps.items():
                consumer.seek(tp, min(start, ends[p]))
            remaining = set(tps)
            while follow or remaining:
                try:
                    batch = consumer.poll(timeout_ms=int(poll_s * 1000) if follow else 500, max_records=5000)
                except kafka_errors() as exc:
                    raise LogUnavailable(f"read of {topic!r} from {self._where} failed: {exc}") from exc
                for tp, recs in batch.items():
                    chunk = _rows(tps[tp], recs, start, None if follow else ends[tps[tp]])
                    if not follow and recs and recs[-1].offset + 1 >= ends[tps[tp]]:
                        remaining.discard(tp)
                        consumer.pause(tp)
                    if chunk:
                        yield chunk
        finally:
            consumer.close(autocommit=False)

    # -- groups ----------------------------------------------------------------------
    def consumer(self, group: str, topics: Sequence[str]):
        from .kafka_consumer import KafkaGroupConsumer

        return KafkaGroupConsumer(self, group, topics)
