"""Guarantees only the embedded log makes: enforced immutability, atomic batches under SIGKILL."""
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
