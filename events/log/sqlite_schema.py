"""The embedded log's file: schema, pragmas and how a connection is opened.

The `events` table is a rowid table: `seq` is the global append order (writers
serialise on the write lock, so visible rows are always a prefix of it), and
(topic, partition, offset) is the Kafka-style position, unique.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

from .base import LogUnavailable

__all__ = ["SCHEMA", "PRAGMAS", "NEW_FILE_PRAGMAS", "connect"]

SCHEMA = """
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

NEW_FILE_PRAGMAS = ["PRAGMA page_size = 16384"]
"""Pages of a new file: ~40 events of 400 bytes each, fewer b-tree steps per append and read.
Only settable before the file switches to WAL (a no-op on existing files)."""

PRAGMAS = [
    "PRAGMA journal_mode = WAL",
    "PRAGMA cache_size = -65536",  # 64 MiB
    "PRAGMA mmap_size = 268435456",  # reads straight from the page cache, 256 MiB
    "PRAGMA wal_autocheckpoint = 2000",  # ~32 MiB of WAL between checkpoints: fewer, larger ones
    "PRAGMA temp_store = MEMORY",
]
"""Per-connection settings (besides busy_timeout and synchronous, which the URL chooses)."""


def connect(path: Path, synchronous: str, busy_ms: int) -> sqlite3.Connection:
    """Open (creating if needed) the log file in WAL mode with the schema in place."""
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=busy_ms / 1000)
        conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
        for pragma in NEW_FILE_PRAGMAS + PRAGMAS:
            conn.execute(pragma)
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'events_no_delete'").fetchone():
            conn.executescript("BEGIN IMMEDIATE;" + SCHEMA + "COMMIT;")
        return conn
    except sqlite3.Error as exc:
        raise LogUnavailable(f"cannot open {path}: {exc}") from exc
