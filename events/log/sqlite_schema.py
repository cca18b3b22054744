"""The embedded log's file: schema, pragmas and how a connection is opened.

The `events` table is a rowid table: `seq` is the global append order (writers
serialise on the write lock, so visible rows are always a prefix of it), and
(topic, partition, offset) is the Kafka-style position, unique.

Immutability is the engine's, for every connection of every program:
- `events_no_update` / `events_no_delete` abort any UPDATE or DELETE (an UPSERT's
  DO UPDATE included);
- `events_no_replace` aborts an INSERT whose id, position or seq is already
  stored, or whose offset is not its partition's next one. REPLACE conflict
  resolution (`INSERT OR REPLACE`, `REPLACE INTO`) deletes the conflicting row
  without firing delete triggers unless `recursive_triggers` is on, so this
  check runs before the conflict can arise. Only dropping a trigger (a schema
  change) lifts it, and the next writer to open the file puts it back.

A writer opening a file made before a protection existed adds it (schema
version in `PRAGMA user_version`). The writer's own connection runs with
triggers off (SQLITE_DBCONFIG_ENABLE_TRIGGER): it only ever issues plain
INSERTs, which the UNIQUE constraints already stop from replacing anything, and
an INSERT trigger would cost every append a temporary copy of each multi-row
statement (measured: ~25% of SQLite's insert time). Where the setting cannot
be reached the triggers stay on: correct, a little slower.
"""
from __future__ import annotations

import ctypes
import os
import sqlite3
import sys
from pathlib import Path

from .base import LogDamaged, LogError, LogFull, LogUnavailable

__all__ = ["SCHEMA", "SCHEMA_VERSION", "PROTECTION", "PRAGMAS", "NEW_FILE_PRAGMAS", "connect",
           "connect_read_only", "translate", "set_triggers", "SQLITE_ERRORS"]

SCHEMA_VERSION = 2
"""1: tables, no-update/no-delete triggers. 2: + no-replace trigger, processor_checkpoints."""

PROTECTION = ("events_no_update", "events_no_delete", "events_no_replace")

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
CREATE TABLE IF NOT EXISTS processor_checkpoints (
    grp TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    snapshot_seq INTEGER NOT NULL,
    snapshot BLOB
);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are immutable: UPDATE rejected'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are immutable: DELETE rejected'); END;
CREATE TRIGGER IF NOT EXISTS events_no_replace BEFORE INSERT ON events
WHEN EXISTS (SELECT 1 FROM events WHERE id = NEW.id)
  OR (NEW.seq >= 0 AND EXISTS (SELECT 1 FROM events WHERE seq = NEW.seq))
  OR NEW.offset IS NOT (SELECT COALESCE(MAX(offset) + 1, 0) FROM events
                        WHERE topic = NEW.topic AND partition = NEW.partition)
BEGIN SELECT RAISE(ABORT, 'events are immutable: an INSERT may not replace a stored event or leave a gap in its partition'); END;
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

_READ_PRAGMAS = ["PRAGMA query_only = ON", "PRAGMA cache_size = -65536", "PRAGMA mmap_size = 268435456"]

_SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_NOTADB = 10, 11, 13, 26
_DBCONFIG_ENABLE_TRIGGER = 1003


SQLITE_ERRORS = (sqlite3.Error, UnicodeDecodeError)
"""What a sqlite3 call raises: its own errors, and UnicodeDecodeError when a damaged file
turns the text of an error message or a schema entry into bytes that are not UTF-8."""


def translate(exc: Exception, where: str, doing: str) -> LogError:
    """The log error for a sqlite3 error: damaged file, full disk, or unavailable."""
    if isinstance(exc, UnicodeDecodeError):
        return LogDamaged.at(where, f"text that is not UTF-8 where SQLite keeps its own ({exc.reason})")
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    text = str(exc)
    if primary in (_SQLITE_CORRUPT, _SQLITE_NOTADB) or "malformed" in text or "not a database" in text \
            or text.startswith("Could not decode"):
        return LogDamaged.at(where, text)
    if text.startswith(("no such column", "no such table")):  # our own statements: the schema is not the log's
        return LogDamaged.at(where, f"its schema is not an event log's ({text})")
    if primary == _SQLITE_FULL or "disk is full" in text or (primary == _SQLITE_IOERR and disk_full(where)):
        return LogFull.at(where, text)
    return LogUnavailable(f"{doing} the log at {where} failed: {text}")


def disk_full(path: str | Path) -> bool:
    """No space left for an unprivileged write on the filesystem holding `path`."""
    try:
        st = os.statvfs(Path(path).parent if not Path(path).is_dir() else path)
    except OSError:
        return False
    return st.f_bavail == 0


def connect(path: Path, synchronous: str, busy_ms: int) -> sqlite3.Connection:
    """Open (creating if needed) the log file for writing, in WAL mode, schema up to date."""
    conn = None
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=busy_ms / 1000)
        conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
        for pragma in NEW_FILE_PRAGMAS + PRAGMAS:
            conn.execute(pragma)
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        if not _up_to_date(conn):
            _migrate(conn)
        set_triggers(conn, False)
        return conn
    except SQLITE_ERRORS as exc:
        if conn is not None:
            conn.close()
        raise translate(exc, str(path), "opening") from exc


def connect_read_only(path: Path, busy_ms: int) -> sqlite3.Connection:
    """Open an existing log file read-only (mode=ro, query_only): no table, row or file is made."""
    if not path.is_file():
        raise LogUnavailable(f"no log at {path}" + ("" if path.exists() else " (the file does not exist)"))
    try:
        return _open_read_only(path, busy_ms, "")
    except LogFull:
        wal = Path(f"{path}-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise
    # The disk is full, so SQLite cannot size the WAL index (-shm) a reader needs. With
    # no un-checkpointed WAL frames the main file holds every commit, and no writer can
    # commit on a full disk: read the file as it is, without the index.
    return _open_read_only(path, busy_ms, "&immutable=1")


def _open_read_only(path: Path, busy_ms: int, options: str) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro{options}", uri=True, isolation_level=None,
                               check_same_thread=False, timeout=busy_ms / 1000)
    except SQLITE_ERRORS as exc:
        raise translate(exc, str(path), "opening") from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
        for pragma in _READ_PRAGMAS:
            conn.execute(pragma)
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # a file that is not a database fails here
        return conn
    except SQLITE_ERRORS as exc:
        conn.close()
        raise translate(exc, str(path), "opening") from exc


def _up_to_date(conn: sqlite3.Connection) -> bool:
    if conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
        return False
    marks = ",".join("?" * len(PROTECTION))
    found = conn.execute(f"SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND name IN ({marks})",
                         PROTECTION).fetchone()[0]
    return found == len(PROTECTION)


def _migrate(conn: sqlite3.Connection) -> None:
    """Create the schema, or add what an older file lacks, in one write transaction."""
    try:
        conn.executescript(f"BEGIN IMMEDIATE; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def set_triggers(conn: sqlite3.Connection, enabled: bool) -> bool:
    """Turn the engine's triggers on or off for this connection only (see the module doc);
    False when the setting is out of reach (the triggers then stay as they were: on)."""
    setconfig = getattr(conn, "setconfig", None)
    if setconfig is not None:  # Python >= 3.12
        setconfig(_DBCONFIG_ENABLE_TRIGGER, enabled)
        return True
    if sys.implementation.name != "cpython" or sys.version_info[:2] != (3, 11):
        return False
    try:  # CPython 3.11: the connection object starts with the sqlite3* after PyObject_HEAD
        import _sqlite3

        lib = ctypes.CDLL(_sqlite3.__file__)
        handle = ctypes.c_void_p.from_address(id(conn) + object.__basicsize__).value
        state = ctypes.c_int(-1)
        rc = lib.sqlite3_db_config(ctypes.c_void_p(handle), ctypes.c_int(_DBCONFIG_ENABLE_TRIGGER),
                                   ctypes.c_int(int(enabled)), ctypes.byref(state))
        return rc == 0 and state.value == int(enabled)
    except (AttributeError, OSError, ValueError):
        return False
