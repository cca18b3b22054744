"""`ledger check`, and what readers do with a damaged log: report, never a silent gap,
never a traceback.

Damage is made the way it happens: bytes of the file flipped at random (seeded), and
rows written by another tool that first dropped the log's no-replace trigger.
"""
from __future__ import annotations

import json
import random
import shutil
import sqlite3
from pathlib import Path

import pytest

import events
import main
from events.blob import make_blob
from events.log import open_log
from events.payloads import AgentAction, EvalResult, ScoreUpdated
from tests.processors.synth import run_started

TOPICS = ("runs", "actions", "evals", "scores")


def _build(path: Path) -> dict[str, list[bytes]]:
    """A log with parents across topics and values of many sizes; its events per topic."""
    log = open_log(f"sqlite:///{path}")
    started = run_started("r", [f"o__p-{i}" for i in range(6)])
    log.append("runs", [started])
    rng = random.Random(0)
    for i in range(60):
        act = events.new(AgentAction(episode_id=f"ep-{i % 12}", step=i // 12, command=f"cmd {i}",
                                     observation=make_blob("x" * rng.randint(10, 3000))),
                         producer="agent", run_id="r", parent=started.id)
        ev = events.new(EvalResult(instance_id=f"o__p-{i % 6}", sample_idx=i // 6, resolved=i % 3 == 0),
                        producer="evaluator", run_id="r", parent=started.id)
        score = events.new(ScoreUpdated(scope="run", scope_key="r", metric="pass@k", k=1, value=(i % 7) / 7,
                                        n=1, samples=i + 1), producer="p", run_id="r", parent=ev.id)
        log.append_many({"actions": [act], "evals": [ev], "scores": [score]})
    log.close()
    return _dump(path)


def _dump(path: Path) -> dict[str, list[bytes]]:
    log = open_log(f"sqlite:///{path}", read_only=True)
    try:
        return {t: [events.encode(r.event) for r in log.read(t)] for t in TOPICS}
    finally:
        log.close()


def _ledger(capfdbinary, *argv: str) -> tuple[int, str, str]:
    rc = main.main(list(argv))
    out, err = capfdbinary.readouterr()
    return rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def test_a_whole_log_checks_ok(tmp_path, capfdbinary):
    _build(tmp_path / "l.db")
    rc, out, err = _ledger(capfdbinary, "check", str(tmp_path / "l.db"))
    assert rc == 0 and "181 events in 4 topics" in out and "ok: the log is whole" in out, out + err
    rc, out, _ = _ledger(capfdbinary, "check", str(tmp_path / "l.db"), "--json")
    assert rc == 0 and json.loads(out)["ok"] is True


def test_each_kind_of_damage_is_named(tmp_path, capfdbinary):
    db = tmp_path / "l.db"
    _build(db)
    raw = sqlite3.connect(db, isolation_level=None)
    raw.execute("DROP TRIGGER events_no_replace")  # another tool, careless
    orphan = events.new(ScoreUpdated(scope="run", scope_key="r", metric="pass@k", k=1, value=0.5, n=1, samples=1),
                        producer="p", run_id="r", parent="0190a0b0-0000-7000-8000-00000000dead")
    rows = [("scores", 0, 70, orphan.id, orphan.key, events.encode(orphan)),   # a hole 60..69, a missing parent
            ("scores", 0, 71, "0190a0b0-0000-7000-8000-000000000001", "r", events.encode(orphan)),  # id mismatch
            ("evals", 0, 900, "0190a0b0-0000-7000-8000-000000000002", "k", b"{not json")]
    raw.executemany("INSERT INTO events (topic, partition, offset, id, key, value) VALUES (?, ?, ?, ?, ?, ?)", rows)
    raw.close()
    rc, out, _ = _ledger(capfdbinary, "check", str(db))
    assert rc == 1
    for kind in ("missing offsets: 2:", "scores/0/60-69", "missing parent: 1: scores/0/70", "id mismatch: 1",
                 "undecodable: 1: evals/0/900"):
        assert kind in out, out
    assert "damaged:" in out


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_flipped_bytes_are_reported_never_silent(tmp_path, capfdbinary, seed):
    """Flip 100 random bytes of a log: `ledger check` finds damage; `ledger project` and
    `ledger process` work or stop with one line; for every topic `ledger events` either
    prints every record (exit 0) or reports each one it could not print by position
    (exit 1), or names the damage in one line; never a traceback."""
    clean = tmp_path / "clean.db"
    want = _build(clean)
    db = tmp_path / "flipped.db"
    shutil.copy(clean, db)
    data = bytearray(db.read_bytes())
    rng = random.Random(seed)
    for _ in range(100):
        at = rng.randrange(len(data))
        data[at] ^= rng.randrange(1, 256)
    db.write_bytes(data)
    rc, out, err = _ledger(capfdbinary, "check", str(db))
    assert rc == 1, out + err
    copy = tmp_path / "processed.db"  # the processors write: their own copy
    shutil.copy(db, copy)
    for writer in (["project", "--log", f"sqlite:///{db}", "--lake", str(tmp_path / "lake")],
                   ["process", "--log", f"sqlite:///{copy}", "--snapshot-dir", str(tmp_path / "snapshots")]):
        rc, out, err = _ledger(capfdbinary, *writer)  # an exception would fail the test here
        assert rc == 0 or (rc == 1 and "is damaged" in err and len(err.strip().splitlines()) == 1), (writer, err)
    for topic in TOPICS:
        rc, out, err = _ledger(capfdbinary, "events", "--log", f"sqlite:///{db}", "--topic", topic)
        printed = out.splitlines()
        reported = [line for line in err.splitlines() if "cannot decode" in line]
        if rc == 0:
            assert len(printed) == len(want[topic]) and not err, (topic, err)
        else:
            assert rc == 1
            damaged = "is damaged" in err and "run ledger check" in err
            assert damaged or len(printed) + len(reported) >= len(want[topic]), (topic, len(printed),
                                                                                 len(reported), err[-500:])
