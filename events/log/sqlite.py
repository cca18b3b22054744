"""The embedded log: one SQLite file in WAL mode (DESIGN.md §2).

Invariants the engine enforces, not convention:
- `events` rows are immutable: triggers abort every UPDATE and DELETE.
- an event id is UNIQUE: re-appending it is a no-op that returns its position.
- offsets are dense per (topic, partition): assigned inside the same
  `BEGIN IMMEDIATE` transaction that inserts the rows, so concurrent
  processes serialise on the write lock and never share an offset.
- a batch is one transaction: a writer killed mid-batch leaves nothing of it.
- group offsets live in the same file, so `Consumer.transact` appends outputs
  and commits input offsets atomically (exactly-once on one machine).
"""
from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Iterator, Sequence
from urllib.parse import parse_qs, urlparse

from ..envelope import Envelope
from ..ids import uuid7
from ..registry import SPECS
from ..topics import topic_of
from .base import LogUnavailable, Outputs, Position, RawRecord, Record
from .decoding import decode_rows, gc_paused, iter_records
from .partitioner import partition_for
from .sqlite_checkpoints import CheckpointsMixin
from .sqlite_consumer import SqliteConsumer
from .sqlite_schema import connect

__all__ = ["SqliteLog", "SqliteConsumer"]

_FETCH = ("SELECT partition, offset, key, value FROM events "
          "WHERE topic = ? AND partition = ? AND offset >= ? ORDER BY offset LIMIT ?")
_INSERT = "INSERT INTO events (topic, partition, offset, id, key, value) VALUES (?, ?, ?, ?, ?, ?)"
_NEXT_OFFSET = "SELECT COALESCE(MAX(offset) + 1, 0) FROM events WHERE topic = ? AND partition = ?"
_CHUNK = 5000

_TOPIC_OF_TYPE = {t: spec.topic for t, spec in SPECS.items()}

Row = tuple[str, int, str, str | None, bytes]
"""(topic, partition, id, key, value) of an event about to be appended."""


class SqliteLog(CheckpointsMixin):
    """`sqlite:///relative/path.db` or `sqlite:////absolute/path.db`.

    Query options: `synchronous=normal|full` (default normal: a commit survives
    the process being killed; `full` also survives power loss, one fsync per
    commit), `busy_timeout_ms` (default 60000).
    """

    def __init__(self, url: str):
        self.url = url
        parsed = urlparse(url)
        path = parsed.path[1:] if parsed.path.startswith("/") else parsed.path
        if not path:
            raise ValueError(f"sqlite URL without a path: {url!r} (try sqlite:///.ledger/ledger.db)")
        opts = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._synchronous = opts.get("synchronous", "normal").upper()
        if self._synchronous not in ("NORMAL", "FULL", "EXTRA", "OFF"):
            raise ValueError(f"synchronous must be normal or full, got {opts['synchronous']!r}")
        self._busy_ms = int(opts.get("busy_timeout_ms", 60000))
        self._lock = threading.RLock()
        self._partitions: dict[str, int] = {}
        self._conn = connect(self.path, self._synchronous, self._busy_ms)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> "SqliteLog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- topics ----------------------------------------------------------------------
    def partitions(self, topic: str) -> int:
        n = self._partitions.get(topic)
        if n is None:
            default = topic_of(topic).partitions
            with self._lock:
                row = self._conn.execute("SELECT partitions FROM topics WHERE name = ?", (topic,)).fetchone()
                if row is None:
                    self._conn.execute("INSERT OR IGNORE INTO topics VALUES (?, ?)", (topic, default))
                    row = self._conn.execute("SELECT partitions FROM topics WHERE name = ?", (topic,)).fetchone()
            n = self._partitions[topic] = int(row[0])
        return n

    def end_offsets(self, topic: str) -> dict[int, int]:
        n = self.partitions(topic)
        with self._lock:
            rows = self._conn.execute(
                "SELECT partition, MAX(offset) + 1 FROM events WHERE topic = ? GROUP BY partition",
                (topic,)).fetchall()
        ends = {p: 0 for p in range(n)}
        ends.update({int(p): int(o) for p, o in rows})
        return ends

    # -- appends ---------------------------------------------------------------------
    def append(self, topic: str, events: Sequence[Envelope]) -> list[Position]:
        return self.append_many({topic: events})

    def append_many(self, outputs: Outputs) -> list[Position]:
        rows = self._rows(outputs)
        with self._lock:
            return self._in_transaction(lambda: self._insert(rows))

    def append_raw(self, topic: str, records: Sequence[tuple[str | None, bytes]]) -> list[Position]:
        n = self.partitions(topic)
        rows = [(topic, partition_for(k, n), uuid7(), k, bytes(v)) for k, v in records]
        with self._lock:
            return self._in_transaction(lambda: self._insert(rows))

    def _rows(self, outputs: Outputs) -> list[Row]:
        rows: list[Row] = []
        with gc_paused():
            for topic, events in outputs.items():
                n = self.partitions(topic)
                for ev in events:
                    if _TOPIC_OF_TYPE[ev.type] != topic:
                        raise ValueError(f"{ev.type} belongs to topic {_TOPIC_OF_TYPE[ev.type]!r}, not {topic!r}")
                rows += [(topic, partition_for(ev.key, n), ev.id, ev.key, ev.__pydantic_serializer__.to_json(ev))
                         for ev in events]
        return rows

    def _in_transaction(self, work):
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise LogUnavailable(f"cannot lock {self.path} for writing: {exc}") from exc
        try:
            result = work()
            self._conn.execute("COMMIT")
            return result
        except BaseException as exc:
            self._conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise LogUnavailable(f"append to {self.path} failed: {exc}") from exc
            raise

    def _insert(self, rows: list[Row]) -> list[Position]:
        """Assign offsets and insert; must run inside a write transaction.

        Fast path: ids are fresh (the usual case: new UUIDv7s), so offsets are
        assigned to every row and the batch inserted without looking ids up
        first. If any id already exists (a retry, a re-run processor) or repeats
        inside the batch, the UNIQUE index rejects the insert; the savepoint
        undoes it and the checked path maps known ids to their stored positions.
        """
        if not rows:
            return []
        with gc_paused():
            next_offset: dict[tuple[str, int], int] = {}
            fresh: list[tuple] = []
            for topic, part, eid, key, value in rows:
                off = next_offset.get((topic, part))
                if off is None:
                    off = self._conn.execute(_NEXT_OFFSET, (topic, part)).fetchone()[0]
                next_offset[(topic, part)] = off + 1
                fresh.append((topic, part, off, eid, key, value))
            positions = [Position(r[0], r[1], r[2]) for r in fresh]
        self._conn.execute("SAVEPOINT fresh_ids")
        try:
            self._conn.executemany(_INSERT, fresh)
        except sqlite3.IntegrityError:
            self._conn.execute("ROLLBACK TO fresh_ids")
            self._conn.execute("RELEASE fresh_ids")
            return self._insert_checked(rows)
        self._conn.execute("RELEASE fresh_ids")
        return positions

    def _insert_checked(self, rows: list[Row]) -> list[Position]:
        """The slow path: ids already stored (or repeated in the batch) keep their first position."""
        existing = self._existing([r[2] for r in rows])
        next_offset: dict[tuple[str, int], int] = {}
        positions: list[Position] = []
        fresh: list[tuple] = []
        for topic, part, eid, key, value in rows:
            known = existing.get(eid)
            if known is not None:
                positions.append(known)
                continue
            tp = (topic, part)
            off = next_offset.get(tp)
            if off is None:
                off = self._conn.execute(_NEXT_OFFSET, tp).fetchone()[0]
            next_offset[tp] = off + 1
            pos = Position(topic, part, off)
            existing[eid] = pos  # a duplicate inside the batch maps to the first copy
            positions.append(pos)
            fresh.append((topic, part, off, eid, key, value))
        self._conn.executemany(_INSERT, fresh)
        return positions

    def _existing(self, ids: list[str]) -> dict[str, Position]:
        found: dict[str, Position] = {}
        for i in range(0, len(ids), 900):
            chunk = ids[i:i + 900]
            marks = ",".join("?" * len(chunk))
            for eid, t, p, o in self._conn.execute(
                    f"SELECT id, topic, partition, offset FROM events WHERE id IN ({marks})", chunk):
                found[eid] = Position(t, p, o)
        return found

    # -- reads -----------------------------------------------------------------------
    def fetch(self, topic: str, partition: int, offset: int, limit: int = _CHUNK) -> list[RawRecord]:
        with self._lock:
            rows = self._conn.execute(_FETCH, (topic, partition, offset, limit)).fetchall()
        return [RawRecord(topic, p, o, k, v) for p, o, k, v in rows]

    def fetch_records(self, topic: str, partition: int, offset: int, limit: int, dead: list[Envelope],
                      consumer: str = "") -> tuple[list[Record], int]:
        """Decoded records from `offset` (undecodable ones into `dead`) and the next offset."""
        with gc_paused():
            with self._lock:
                rows = self._conn.execute(_FETCH, (topic, partition, offset, limit)).fetchall()
            records = decode_rows(topic, rows, dead, consumer)
        return records, (rows[-1][1] + 1 if rows else offset)

    def read_raw(self, topic: str, start: int = 0, partition: int | None = None) -> Iterator[RawRecord]:
        parts = [partition] if partition is not None else range(self.partitions(topic))
        ends = self.end_offsets(topic)
        for part in parts:
            offset = start
            while offset < ends[part]:
                chunk = self.fetch(topic, part, offset, min(_CHUNK, ends[part] - offset))
                if not chunk:
                    break
                yield from chunk
                offset = chunk[-1].offset + 1

    def read(self, topic: str, start: int = 0, partition: int | None = None, *,
             follow: bool = False, poll_s: float = 0.05) -> Iterator[Record]:
        parts = [partition] if partition is not None else list(range(self.partitions(topic)))
        positions = {p: start for p in parts}
        ends = self.end_offsets(topic)
        while True:
            progressed = False
            for part in parts:
                limit = _CHUNK if follow else min(_CHUNK, ends[part] - positions[part])
                if limit <= 0:
                    continue
                with self._lock:
                    rows = self._conn.execute(_FETCH, (topic, part, positions[part], limit)).fetchall()
                if not rows:
                    continue
                progressed = True
                positions[part] = rows[-1][1] + 1
                dead: list[Envelope] = []
                yield from iter_records(topic, rows, dead, "read")
                if dead:
                    self.append("deadletter", dead)
            if not progressed:
                if not follow:
                    return
                time.sleep(poll_s)

    # -- groups ----------------------------------------------------------------------
    def consumer(self, group: str, topics: Sequence[str]) -> SqliteConsumer:
        return SqliteConsumer(self, group, topics)

    def load_offsets(self, group: str) -> dict[tuple[str, int], int]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT topic, partition, next_offset FROM group_offsets WHERE grp = ?", (group,)).fetchall()
        return {(t, p): o for t, p, o in rows}

    def _store_offsets(self, group: str, offsets: dict[tuple[str, int], int]) -> None:
        self._conn.executemany(
            "INSERT INTO group_offsets (grp, topic, partition, next_offset) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (grp, topic, partition) DO UPDATE SET next_offset = excluded.next_offset",
            [(group, t, p, o) for (t, p), o in offsets.items()])

    def commit_offsets(self, group: str, offsets: dict[tuple[str, int], int],
                       outputs: Outputs | None = None) -> list[Position]:
        """Append `outputs` (if any) and store the group's offsets in one transaction."""
        rows = self._rows(outputs) if outputs else []

        def work() -> list[Position]:
            positions = self._insert(rows) if rows else []
            self._store_offsets(group, offsets)
            return positions

        with self._lock:
            return self._in_transaction(work)

    def data_version(self) -> int:
        with self._lock:
            return self._conn.execute("PRAGMA data_version").fetchone()[0]
