"""Guarantees only the embedded log makes: enforced immutability (no statement of any
connection can replace, update or delete a stored event), its migration onto older
files, read-only readers, atomic batches under SIGKILL."""
from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from events.log import open_log
from tests.conftest import REPO_ROOT
from tests.events.samples import actions

WORKERS = [sys.executable, "-m", "tests.events.log.workers"]


def db_path(url: str) -> str:
    return url[len("sqlite:///"):]


@pytest.mark.parametrize("statement", [
    "UPDATE events SET value = x'00'",
    "UPDATE events SET key = 'other' WHERE offset = 0",
    "DELETE FROM events",
    "DELETE FROM events WHERE offset = 1",
])
def test_update_and_delete_are_rejected_by_the_engine(sqlite_url, statement):
    log = open_log(sqlite_url)
    appended = actions(3, keys=1)
    log.append("actions", appended)
    log.close()
    conn = sqlite3.connect(db_path(sqlite_url))
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):
        conn.execute(statement)
    conn.close()
    log = open_log(sqlite_url)
    assert [r.event for r in log.read("actions")] == appended


FORGED = "x'7b7d'"  # b"{}": a value no reader would accept as the event it replaces


def _stored(url: str) -> list[tuple]:
    conn = sqlite3.connect(db_path(url))
    rows = conn.execute("SELECT seq, topic, partition, offset, id, key, value FROM events ORDER BY seq").fetchall()
    conn.close()
    return rows


@pytest.mark.parametrize("statement", [
    # REPLACE conflict resolution deletes the conflicting row without firing delete triggers
    # (recursive_triggers is off): on the id, the position and the seq
    f"INSERT OR REPLACE INTO events (topic, partition, offset, id, key, value) "
    f"SELECT topic, partition, 99, id, key, {FORGED} FROM events WHERE offset = 0",
    f"REPLACE INTO events (topic, partition, offset, id, key, value) "
    f"SELECT topic, partition, offset, 'forged-id', key, {FORGED} FROM events WHERE offset = 1",
    f"INSERT OR REPLACE INTO events (seq, topic, partition, offset, id, key, value) "
    f"SELECT seq, topic, partition, 3, 'forged-id', key, {FORGED} FROM events WHERE offset = 2",
    f"INSERT INTO events (topic, partition, offset, id, key, value) "
    f"SELECT topic, partition, offset, id, key, {FORGED} FROM events WHERE offset = 0 "
    f"ON CONFLICT (id) DO UPDATE SET value = excluded.value",
    "UPDATE OR REPLACE events SET id = (SELECT id FROM events WHERE offset = 0) WHERE offset = 1",
    # an insert that leaves a hole in the partition's offsets (a reader would lose its place)
    f"INSERT INTO events (topic, partition, offset, id, key, value) "
    f"SELECT topic, partition, 7, 'forged-id', key, {FORGED} FROM events WHERE offset = 0",
])
def test_no_statement_can_replace_a_stored_event(sqlite_url, statement):
    log = open_log(sqlite_url)
    appended = actions(3, keys=1)
    log.append("actions", appended)
    log.close()
    before = _stored(sqlite_url)
    conn = sqlite3.connect(db_path(sqlite_url), isolation_level=None)
    conn.execute("PRAGMA recursive_triggers = OFF")
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):
        conn.execute(statement)
    conn.close()
    assert _stored(sqlite_url) == before
    log = open_log(sqlite_url, read_only=True)
    assert [r.event for r in log.read("actions")] == appended


OLD_SCHEMA = """
CREATE TABLE topics (name TEXT PRIMARY KEY, partitions INTEGER NOT NULL);
CREATE TABLE events (seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, partition INTEGER NOT NULL,
    offset INTEGER NOT NULL, id TEXT NOT NULL UNIQUE, key TEXT, value BLOB NOT NULL);
CREATE UNIQUE INDEX events_position ON events (topic, partition, offset);
CREATE TABLE group_offsets (grp TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL, PRIMARY KEY (grp, topic, partition));
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are immutable: UPDATE rejected'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are immutable: DELETE rejected'); END;
"""
"""The file layout before the no-replace trigger (schema version 0 in user_version)."""


def _old_log(path) -> list:
    from events import encode

    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(OLD_SCHEMA)
    evs = actions(2, keys=1)
    conn.executemany("INSERT INTO events (topic, partition, offset, id, key, value) VALUES (?, ?, ?, ?, ?, ?)",
                     [("actions", 0, i, e.id, e.key, encode(e)) for i, e in enumerate(evs)])
    conn.execute("INSERT INTO topics VALUES ('actions', 1)")
    conn.close()
    return evs


def test_an_older_file_gets_the_protection_when_a_writer_opens_it(tmp_path):
    path = tmp_path / "old.db"
    evs = _old_log(path)
    replace = (f"INSERT OR REPLACE INTO events (topic, partition, offset, id, key, value) "
               f"VALUES ('actions', 0, 2, '{evs[0].id}', 'k', {FORGED})")
    reader = open_log(f"sqlite:///{path}", read_only=True)  # a reader changes nothing
    assert [r.event for r in reader.read("actions")] == evs
    reader.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'events_no_replace'").fetchone()
    conn.close()
    open_log(f"sqlite:///{path}").close()
    conn = sqlite3.connect(path, isolation_level=None)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):
        conn.execute(replace)
    conn.execute("DROP TRIGGER events_no_replace")  # a schema change; the next writer restores it
    conn.close()
    log = open_log(f"sqlite:///{path}")
    log.append("actions", actions(1, keys=1, start=50))
    log.close()
    conn = sqlite3.connect(path, isolation_level=None)
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):
        conn.execute(replace)
    conn.close()


def test_a_reader_never_creates_the_file_or_a_row(tmp_path):
    from events.log import LogReadOnly, LogUnavailable

    missing = tmp_path / "none" / "ledger.db"
    with pytest.raises(LogUnavailable, match="no log at"):
        open_log(f"sqlite:///{missing}", read_only=True)
    assert not missing.parent.exists()
    url = f"sqlite:///{tmp_path}/ledger.db"
    open_log(url).close()
    log = open_log(url, read_only=True)
    assert list(log.read("evals")) == [] and log.end_offsets("evals") == {p: 0 for p in range(4)}
    with pytest.raises(LogReadOnly):
        log.append("actions", actions(1))
    with pytest.raises(LogReadOnly):
        log.append_raw("actions", [("k", b"junk")])
    log.close()
    conn = sqlite3.connect(f"{tmp_path}/ledger.db")
    assert conn.execute("SELECT COUNT(*) FROM topics").fetchone()[0] == 0  # not even a topic row
    conn.close()


def test_a_duplicate_inside_one_batch_is_stored_once(sqlite_url):
    log = open_log(sqlite_url)
    ev = actions(1)[0]
    positions = log.append("actions", [ev, ev])
    assert positions[0] == positions[1]
    assert sum(log.end_offsets("actions").values()) == 1


def test_writer_killed_mid_batch_leaves_no_partial_batch(sqlite_url, subprocess_env):
    log = open_log(sqlite_url)
    log.partitions("actions")
    conn = sqlite3.connect(db_path(sqlite_url), isolation_level=None)
    # A row keyed "slow" runs a long cross join inside the writer's transaction,
    # after half of its batch is already inserted: the kill lands mid-batch.
    conn.execute("CREATE TABLE spin (x)")
    conn.executemany("INSERT INTO spin VALUES (?)", [(i,) for i in range(2000)])
    conn.execute("CREATE TRIGGER slow_row AFTER INSERT ON events WHEN NEW.key = 'slow' "
                 "BEGIN SELECT count(*) FROM spin a, spin b, spin c; END")
    writer = subprocess.Popen([*WORKERS, "writer", sqlite_url, "50", "200"], cwd=REPO_ROOT,
                              env=subprocess_env, stdout=subprocess.PIPE, text=True)
    try:
        first = json.loads(writer.stdout.readline())
        assert first["state"] == "committed"
        assert json.loads(writer.stdout.readline())["state"] == "appending"
        while not _write_locked(conn):  # the writer is inside BEGIN IMMEDIATE ... COMMIT
            assert writer.poll() is None, "writer finished before it could be killed"
            time.sleep(0.01)
        writer.send_signal(signal.SIGKILL)
        writer.wait(30)
    finally:
        if writer.poll() is None:
            writer.kill()
    assert writer.returncode == -signal.SIGKILL
    conn.execute("DROP TRIGGER slow_row")
    conn.close()
    log = open_log(sqlite_url)
    assert sorted(r.event.id for r in log.read("actions")) == sorted(first["ids"])
    more = actions(5, start=1000)
    log.append("actions", more)  # the lock died with the writer
    assert sum(log.end_offsets("actions").values()) == 55


def _write_locked(conn: sqlite3.Connection) -> bool:
    conn.execute("PRAGMA busy_timeout = 0")
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:
        return True
    conn.execute("ROLLBACK")
    return False
