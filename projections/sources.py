"""Raw records by position, and group-offset commits, for each log backend.

The projector resumes from its manifest, so it reads by position (bytes, no
decoding) rather than from a group's committed offsets; it commits the
group's offsets afterwards so operators see its lag like any consumer's.

- SQLite: the values of an offset range through a read-only connection of
  its own (no per-record objects: offsets are dense, so a range's offsets
  are known once its row count matches), and `commit_offsets`.
- Kafka: one assigned kafka-python consumer, kept across rounds; each round
  seeks to the manifest's positions and reads up to the end offsets seen when
  the round began; commits go to the group with explicit offsets.
- Anything else with `fetch` or `read_raw`: read by position; no group commit.

Every source hands back a `Chunk` per topic-partition: the record values and
their offsets, in log order, and says which log it reads (`identity()`): for
SQLite the id of the file's first event (None while the file is empty), for
Kafka the cluster id and the topic prefix.
"""
from __future__ import annotations

import itertools
import sqlite3
import threading
from dataclasses import dataclass
from operator import itemgetter
from typing import Protocol

import polars as pl

from events.log.base import EventLog, LogUnavailable, RawRecord

__all__ = ["TP", "Chunk", "RawSource", "source_for", "Identity"]

Identity = dict

TP = tuple[str, int]


@dataclass
class Chunk:
    """Records of one topic-partition in log order: offsets (Int64) and values."""

    offsets: pl.Series
    values: list[bytes]

    @staticmethod
    def of(raws: list[RawRecord]) -> "Chunk":
        return Chunk(pl.Series("log_offset", [r.offset for r in raws], dtype=pl.Int64), [r.value for r in raws])

    @property
    def last(self) -> int:
        return int(self.offsets[-1])

    def __len__(self) -> int:
        return len(self.values)


class RawSource(Protocol):
    def fetch(self, starts: dict[TP, int], limit: int) -> dict[TP, Chunk]:
        """Up to `limit` records per topic-partition from the given offsets."""

    def commit(self, offsets: dict[TP, int]) -> None:
        """Store the group's next offsets (progress for operators)."""

    def close(self) -> None: ...

    def identity(self) -> tuple[Identity | None, str]:
        """(what identifies the log, a name to follow it under); None while it cannot be known."""


class _ByPosition:
    def __init__(self, log: EventLog, group: str):
        self.log, self.group = log, group

    def identity(self) -> tuple[Identity | None, str]:
        url = str(getattr(self.log, "url", "") or type(self.log).__name__)
        return {"kind": type(self.log).__name__, "url": url}, "log"

    def fetch(self, starts: dict[TP, int], limit: int) -> dict[TP, Chunk]:
        fetch = getattr(self.log, "fetch", None)
        out = {}
        for (topic, part), start in starts.items():
            if fetch is not None:
                raws = fetch(topic, part, start, limit)
            else:
                raws = list(itertools.islice(self.log.read_raw(topic, start, part), limit))
            out[(topic, part)] = Chunk.of(raws)
        return out

    def commit(self, offsets: dict[TP, int]) -> None:
        commit = getattr(self.log, "commit_offsets", None)
        if commit is not None:
            commit(self.group, offsets)

    def close(self) -> None:
        pass


_END = "SELECT COALESCE(MAX(offset) + 1, 0) FROM events WHERE topic = ? AND partition = ?"
_VALUES = ("SELECT value FROM events WHERE topic = ? AND partition = ? AND offset >= ? AND offset < ? "
           "ORDER BY offset")


class _Sqlite(_ByPosition):
    """Values by offset range from the log file through read-only connections (one per
    thread, so partitions can be fetched side by side); commits through the log."""

    by_partition = True
    """`fetch` may be called for one partition at a time from several threads."""

    def __init__(self, log, group: str):
        super().__init__(log, group)
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._guard = threading.Lock()
        self._connection()  # fail early when the file cannot be read

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.log.path.resolve().as_uri() + "?mode=ro", uri=True,
                                       check_same_thread=False, timeout=60.0)
            except sqlite3.Error as exc:
                raise LogUnavailable(f"cannot open {self.log.path} to read: {exc}") from exc
            self._local.conn = conn
            with self._guard:
                self._conns.append(conn)
        return conn

    def identity(self) -> tuple[Identity | None, str]:
        try:
            row = self._connection().execute("SELECT id FROM events ORDER BY seq LIMIT 1").fetchone()
        except sqlite3.Error as exc:
            raise LogUnavailable(f"cannot read {self.log.path}: {exc}") from exc
        name = self.log.path.stem
        return (None, name) if row is None else ({"kind": "sqlite", "first_event": row[0]}, name)

    def fetch(self, starts: dict[TP, int], limit: int) -> dict[TP, Chunk]:
        out = {}
        conn = self._connection()
        for (topic, part), start in starts.items():
            try:
                # the end first: every offset below it is committed, so the range is complete
                stop = min(start + limit, conn.execute(_END, (topic, part)).fetchone()[0])
                rows = conn.execute(_VALUES, (topic, part, start, stop)).fetchall() if stop > start else []
                values = list(map(itemgetter(0), rows))
            except sqlite3.Error as exc:
                raise LogUnavailable(f"cannot read {self.log.path}: {exc}") from exc
            if len(values) != max(0, stop - start):  # not dense after all: read the offsets too
                out.update(super().fetch({(topic, part): start}, limit))
                continue
            out[(topic, part)] = Chunk(pl.int_range(start, stop, dtype=pl.Int64, eager=True).alias("log_offset"),
                                       values)
        return out

    def close(self) -> None:
        with self._guard:
            for conn in self._conns:
                conn.close()
            self._conns.clear()


class _Kafka:
    def __init__(self, log, group: str):
        self.log, self.group = log, group
        self._consumer = log.make_consumer(group_id=group, max_partition_fetch_bytes=4 * 1024 * 1024)

    def identity(self) -> tuple[Identity | None, str]:
        from kafka import KafkaAdminClient

        prefix = self.log.options.prefix
        admin = KafkaAdminClient(**self.log.options.client_config())
        try:
            cluster = admin.describe_cluster().get("cluster_id")
        except Exception:  # a broker without DescribeCluster: its bootstrap list stands in
            cluster = None
        finally:
            admin.close()
        cluster = cluster or "bootstrap:" + ",".join(sorted(self.log.options.bootstrap))
        name = "kafka-" + prefix.strip(".-_") if prefix.strip(".-_") else "kafka"
        return {"kind": "kafka", "cluster_id": cluster, "prefix": prefix}, name

    def fetch(self, starts: dict[TP, int], limit: int) -> dict[TP, Chunk]:
        ends: dict[TP, int] = {}
        for topic in {t for t, _ in starts}:
            ends.update({(topic, p): o for p, o in self.log.end_offsets(topic).items()})
        want = {tp: start for tp, start in starts.items() if start < ends.get(tp, 0)}
        out: dict[TP, list[RawRecord]] = {tp: [] for tp in starts}
        if want:
            self._poll(want, ends, limit, out)
        return {tp: Chunk.of(raws) for tp, raws in out.items()}

    def _poll(self, want: dict[TP, int], ends: dict[TP, int], limit: int, out: dict[TP, list[RawRecord]]) -> None:
        from kafka import TopicPartition

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

    def commit(self, offsets: dict[TP, int]) -> None:
        from kafka import TopicPartition
        from kafka.structs import OffsetAndMetadata

        self._consumer.commit(offsets={TopicPartition(self.log.physical(t), p): OffsetAndMetadata(o, "", -1)
                                       for (t, p), o in offsets.items()})

    def close(self) -> None:
        self._consumer.close(autocommit=False)


def source_for(log: EventLog, group: str) -> RawSource:
    from events.log.sqlite import SqliteLog

    if hasattr(log, "make_consumer") and hasattr(log, "physical"):
        return _Kafka(log, group)
    if type(log) is SqliteLog:
        return _Sqlite(log, group)
    return _ByPosition(log, group)
