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

from ..codec import encode
from ..envelope import Envelope
from ..ids import uuid7
from ..registry import SPECS
from ..topics import topic_of
from .base import LogUnavailable, Outputs, Position, RawRecord, Record
from .decoding import decode_chunk
from .partitioner import partition_for

__all__ = ["SqliteLog", "SqliteConsumer"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS topics (
    name TEXT PRIMARY KEY,
    partitions INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    id TEXT NOT NULL UNIQUE,
    key TEXT,
    value BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS events_position ON events (topic, partition, offset);
CREATE TABLE IF NOT EXISTS group_offsets (
    grp TEXT NOT NULL,
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (grp, topic, partition)
);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are immutable: UPDATE rejected'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are immutable: DELETE rejected'); END;
"""

_CHECKPOINTS = """
CREATE TABLE IF NOT EXISTS processor_checkpoints (
    grp TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    snapshot_seq INTEGER NOT NULL,
    snapshot BLOB
)"""

_FETCH = ("SELECT partition, offset, key, value FROM events "
          "WHERE topic = ? AND partition = ? AND offset >= ? ORDER BY offset LIMIT ?")
_CHUNK = 5000


class SqliteLog:
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
        self._conn = self._connect()

    # -- connection -----------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=self._busy_ms / 1000)
            conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'events_no_delete'").fetchone():
                conn.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")
            return conn
        except sqlite3.Error as exc:
            raise LogUnavailable(f"cannot open {self.path}: {exc}") from exc

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

    def _rows(self, outputs: Outputs) -> list[tuple]:
        rows = []
        for topic, events in outputs.items():
            n = self.partitions(topic)
            for ev in events:
                spec_topic = SPECS[ev.type].topic
                if spec_topic != topic:
                    raise ValueError(f"{ev.type} belongs to topic {spec_topic!r}, not {topic!r}")
                rows.append((topic, partition_for(ev.key, n), ev.id, ev.key, encode(ev)))
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

    def _insert(self, rows: list[tuple]) -> list[Position]:
        """Assign offsets to new ids and insert them; must run inside a write transaction."""
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
                off = self._conn.execute(
                    "SELECT COALESCE(MAX(offset) + 1, 0) FROM events WHERE topic = ? AND partition = ?",
                    tp).fetchone()[0]
            next_offset[tp] = off + 1
            pos = Position(topic, part, off)
            existing[eid] = pos  # a duplicate inside the batch maps to the first copy
            positions.append(pos)
            fresh.append((topic, part, off, eid, key, value))
        self._conn.executemany(
            "INSERT INTO events (topic, partition, offset, id, key, value) VALUES (?, ?, ?, ?, ?, ?)", fresh)
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
                chunk = self.fetch(topic, part, positions[part], limit)
                if not chunk:
                    continue
                progressed = True
                positions[part] = chunk[-1].offset + 1
                dead: list[Envelope] = []
                yield from decode_chunk(chunk, dead, consumer="read")
                if dead:
                    self.append("deadletter", dead)
            if not progressed:
                if not follow:
                    return
                time.sleep(poll_s)

    # -- groups ----------------------------------------------------------------------
    def consumer(self, group: str, topics: Sequence[str]) -> "SqliteConsumer":
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

    # -- processor checkpoints (runtime-owned side table) -------------------------------
    def fetch_merged(self, topics: Sequence[str], after_seq: int, limit: int = _CHUNK) -> list[tuple[int, RawRecord]]:
        """Records of several topics in global append order (`seq`), after `after_seq`.

        Writers serialise on the write lock, so the visible rows are always a prefix
        of that order: a reader that follows it sees the same sequence whatever its
        batch boundaries or restart points.
        """
        marks = ",".join("?" * len(topics))
        with self._lock:
            rows = self._conn.execute(
                f"SELECT seq, topic, partition, offset, key, value FROM events "
                f"WHERE seq > ? AND topic IN ({marks}) ORDER BY seq LIMIT ?",
                (after_seq, *topics, limit)).fetchall()
        return [(seq, RawRecord(t, p, o, k, v)) for seq, t, p, o, k, v in rows]

    def _ensure_checkpoints(self) -> None:
        if not getattr(self, "_checkpoints_ready", False):
            self._conn.execute(_CHECKPOINTS)
            self._checkpoints_ready = True

    def load_checkpoint(self, group: str) -> tuple[int, int, bytes | None]:
        """(seq processed, seq of the snapshot, snapshot bytes) of a group; zeros when new."""
        with self._lock:
            self._ensure_checkpoints()
            row = self._conn.execute(
                "SELECT seq, snapshot_seq, snapshot FROM processor_checkpoints WHERE grp = ?",
                (group,)).fetchone()
        return (int(row[0]), int(row[1]), row[2]) if row else (0, 0, None)

    def commit_checkpoint(self, group: str, offsets: dict[tuple[str, int], int], outputs: Outputs,
                          seq: int, snapshot: bytes | None = None) -> list[Position]:
        """Append `outputs`, store the group's offsets and its progress (`seq`, and a
        state snapshot taken at `seq` when given) in ONE transaction."""
        rows = self._rows(outputs) if outputs else []

        def work() -> list[Position]:
            positions = self._insert(rows) if rows else []
            self._store_offsets(group, offsets)
            if snapshot is None:
                self._conn.execute(
                    "INSERT INTO processor_checkpoints (grp, seq, snapshot_seq, snapshot) VALUES (?, ?, 0, NULL) "
                    "ON CONFLICT (grp) DO UPDATE SET seq = excluded.seq", (group, seq))
            else:
                self._conn.execute(
                    "INSERT OR REPLACE INTO processor_checkpoints (grp, seq, snapshot_seq, snapshot) "
                    "VALUES (?, ?, ?, ?)", (group, seq, seq, snapshot))
            return positions

        with self._lock:
            self._ensure_checkpoints()
            return self._in_transaction(work)

    def data_version(self) -> int:
        with self._lock:
            return self._conn.execute("PRAGMA data_version").fetchone()[0]


class SqliteConsumer:
    """A group consumer on the embedded log; one member per group.

    Its position starts at the group's committed offsets (0 for a new group).
    """

    def __init__(self, log: SqliteLog, group: str, topics: Sequence[str]):
        self.log = log
        self.group = group
        self.topics = list(topics)
        self._assignment = [(t, p) for t in self.topics for p in range(log.partitions(t))]
        committed = log.load_offsets(group)
        self._position = {tp: committed.get(tp, 0) for tp in self._assignment}
        self._next = 0  # round-robin start, so no partition starves

    def poll(self, max_records: int = 1000, timeout_s: float = 0.5) -> list[Record]:
        deadline = time.monotonic() + timeout_s
        while True:
            records = self._poll_once(max_records)
            if records or time.monotonic() >= deadline:
                return records
            version = self.log.data_version()
            while time.monotonic() < deadline and self.log.data_version() == version:
                time.sleep(0.005)

    def _poll_once(self, max_records: int) -> list[Record]:
        out: list[Record] = []
        n = len(self._assignment)
        for i in range(n):
            if len(out) >= max_records:
                break
            tp = self._assignment[(self._next + i) % n]
            raws = self.log.fetch(tp[0], tp[1], self._position[tp], max_records - len(out))
            if not raws:
                continue
            self._position[tp] = raws[-1].offset + 1
            dead: list[Envelope] = []
            out.extend(decode_chunk(raws, dead, consumer=self.group))
            if dead:
                self.log.append("deadletter", dead)
        self._next = (self._next + 1) % max(n, 1)
        return out

    def position(self) -> dict[tuple[str, int], int]:
        return dict(self._position)

    def commit(self) -> None:
        self.log.commit_offsets(self.group, self._position)

    def transact(self, outputs: Outputs) -> list[Position]:
        return self.log.commit_offsets(self.group, self._position, outputs)

    def committed(self) -> dict[tuple[str, int], int]:
        stored = self.log.load_offsets(self.group)
        return {tp: stored.get(tp, 0) for tp in self._assignment}

    def seek_to_beginning(self) -> None:
        self._position = {tp: 0 for tp in self._assignment}

    def close(self) -> None:
        pass
