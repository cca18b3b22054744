"""`ledger events` as a real subprocess: append JSON lines, print a topic."""
from __future__ import annotations

import json
import subprocess
import sys

from events import decode, encode
from events.log import open_log
from tests.conftest import REPO_ROOT
from tests.events.samples import actions


def ledger(env, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "main.py", "events", *args], cwd=REPO_ROOT, env=env,
                          input=stdin, capture_output=True, text=True, timeout=120)


def test_append_then_print_round_trips(log_url, subprocess_env):
    evs = actions(6)
    lines = "".join(encode(ev).decode() + "\n" for ev in evs)
    done = ledger(subprocess_env, "--log", log_url, "--append", "--topic", "actions", stdin=lines)
    assert done.returncode == 0, done.stderr
    assert "appended 6 events to actions" in done.stderr
    printed = ledger(subprocess_env, "--log", log_url, "--topic", "actions")
    assert printed.returncode == 0, printed.stderr
    assert sorted((decode(line) for line in printed.stdout.splitlines()), key=lambda e: e.id) == \
        sorted(evs, key=lambda e: e.id)


def test_partial_lines_get_id_key_and_version_filled_in(sqlite_url, subprocess_env):
    line = json.dumps({"type": "agent.action", "payload": {
        "episode_id": "ep-7", "step": 0, "command": "ls",
        "observation": {"text": "", "sha256": "e3b0", "size": 0}}})
    done = ledger(subprocess_env, "--log", sqlite_url, "--append", "--topic", "actions", stdin=line + "\n")
    assert done.returncode == 0, done.stderr
    [rec] = list(open_log(sqlite_url).read("actions"))
    assert rec.event.key == "ep-7" and rec.event.v == 2 and rec.event.producer == "cli"


def test_a_bad_line_is_reported_by_number_and_nothing_is_appended(log_url, subprocess_env):
    good = [encode(ev).decode() for ev in actions(3)]
    cases = {
        "{not json": "line 3: not JSON",
        json.dumps({"type": "no.such", "payload": {}}): "line 3: unknown event type 'no.such'",
        json.dumps({"type": "agent.action", "payload": {"episode_id": "e"}}): "line 3: invalid agent.action",
        json.dumps({"type": "eval.result", "payload": {}}): "line 3: eval.result belongs to topic 'evals'",
    }
    for bad, message in cases.items():
        stdin = "\n".join([good[0], good[1], bad, good[2]]) + "\n"
        done = ledger(subprocess_env, "--log", log_url, "--append", "--topic", "actions", stdin=stdin)
        assert done.returncode == 2
        assert message in done.stderr and "nothing appended" in done.stderr
    log = open_log(log_url)
    try:
        assert sum(log.end_offsets("actions").values()) == 0
    finally:
        log.close()


def test_unknown_topic_lists_the_known_ones(sqlite_url, subprocess_env):
    done = ledger(subprocess_env, "--log", sqlite_url, "--topic", "nope")
    assert done.returncode == 2 and "unknown topic 'nope'" in done.stderr and "evals" in done.stderr


def _count(url: str, topic: str) -> int:
    from pathlib import Path

    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        return 0  # nothing was ever written there
    log = open_log(url, read_only=True)
    try:
        return sum(log.end_offsets(topic).values())
    finally:
        log.close()


def test_ids_must_be_uuids(sqlite_url, subprocess_env):
    good = encode(actions(1)[0]).decode()
    for bad_id in ("", "42", "not-a-uuid", "0190A0B0-0000-7000-8000-000000000001", 7):
        obj = json.loads(encode(actions(1, start=5)[0]))
        obj["id"] = bad_id
        done = ledger(subprocess_env, "--log", sqlite_url, "--append", "--topic", "actions",
                      stdin=good + "\n" + json.dumps(obj) + "\n")
        assert done.returncode == 2, done.stderr
        assert "line 2: id must be a UUID" in done.stderr and "nothing appended" in done.stderr
    assert _count(sqlite_url, "actions") == 0


def test_payload_ranges_are_validated(sqlite_url, subprocess_env):
    line = json.dumps({"type": "eval.result", "run_id": "r", "payload": {
        "instance_id": "a__b-1", "sample_idx": -5, "resolved": True}})
    done = ledger(subprocess_env, "--log", sqlite_url, "--append", "--topic", "evals", stdin=line + "\n")
    assert done.returncode == 2 and "line 1: invalid eval.result payload: sample_idx" in done.stderr, done.stderr
    assert _count(sqlite_url, "evals") == 0


def test_an_id_stored_with_other_content_is_a_conflict_and_nothing_is_appended(log_url, subprocess_env):
    first = actions(2)
    lines = "".join(encode(ev).decode() + "\n" for ev in first)
    assert ledger(subprocess_env, "--log", log_url, "--append", "--topic", "actions", stdin=lines).returncode == 0
    forged = json.loads(encode(first[1]))
    forged["payload"]["command"] = "rm -rf /"
    more = encode(actions(1, start=9)[0]).decode()
    done = ledger(subprocess_env, "--log", log_url, "--append", "--topic", "actions",
                  stdin=more + "\n" + json.dumps(forged) + "\n")
    assert done.returncode == 2, done.stderr
    assert f"line 2: id {first[1].id} is already stored as a different event (differs in payload)" in done.stderr
    assert "nothing appended" in done.stderr
    assert _count(log_url, "actions") == 2


def test_identical_lines_are_reported_present_and_counts_are_what_was_stored(log_url, subprocess_env):
    evs = actions(3)
    once = "".join(encode(ev).decode() + "\n" for ev in evs[:2])
    assert "appended 2 events" in ledger(subprocess_env, "--log", log_url, "--append", "--topic", "actions",
                                         stdin=once).stderr
    # the two stored ones again, a new one twice (identical): one new event stored
    again = once + encode(evs[2]).decode() + "\n" + encode(evs[2]).decode() + "\n"
    done = ledger(subprocess_env, "--log", log_url, "--append", "--topic", "actions", stdin=again)
    assert done.returncode == 0, done.stderr
    assert "appended 1 events to actions; 2 already present (identical); 1 repeated line(s) appended once" \
        in done.stderr
    assert _count(log_url, "actions") == 3
    # a partial line naming a stored id: the fields it leaves out come from the stored event
    partial = json.dumps({"id": evs[0].id, "type": "agent.action",
                          "payload": json.loads(evs[0].payload.model_dump_json())})
    done = ledger(subprocess_env, "--log", log_url, "--append", "--topic", "actions", stdin=partial + "\n")
    assert done.returncode == 0 and "appended 0 events to actions; 1 already present" in done.stderr


def test_one_id_for_two_different_lines_is_a_conflict(sqlite_url, subprocess_env):
    ev = actions(1)[0]
    other = json.loads(encode(ev))
    other["payload"]["step"] = 99
    done = ledger(subprocess_env, "--log", sqlite_url, "--append", "--topic", "actions",
                  stdin=encode(ev).decode() + "\n" + json.dumps(other) + "\n")
    assert done.returncode == 2
    assert f"line 2: id {ev.id} is already used by line 1 for a different event" in done.stderr
    assert _count(sqlite_url, "actions") == 0


def test_printing_reads_only_and_reports_undecodable_records(tmp_path, subprocess_env):
    import sqlite3

    url = f"sqlite:///{tmp_path}/ledger.db"
    missing = ledger(subprocess_env, "--log", url, "--topic", "actions")
    assert missing.returncode == 1 and "no log at" in missing.stderr and not (tmp_path / "ledger.db").exists()
    assert "Traceback" not in missing.stderr
    log = open_log(url)
    good = actions(4, keys=1)
    log.append("actions", good[:2])
    [bad] = log.append_raw("actions", [("ep-0", b"\xff not json")])
    log.append("actions", good[2:])
    log.close()
    before = (tmp_path / "ledger.db").read_bytes()
    printed = ledger(subprocess_env, "--log", url, "--topic", "actions")
    assert printed.returncode == 1
    assert [decode(line) for line in printed.stdout.splitlines()] == good
    assert f"cannot decode actions/{bad.partition}/{bad.offset}: not JSON" in printed.stderr
    assert "Traceback" not in printed.stderr
    conn = sqlite3.connect(tmp_path / "ledger.db")
    assert conn.execute("SELECT COUNT(*) FROM events WHERE topic = 'deadletter'").fetchone()[0] == 0
    conn.close()
    assert (tmp_path / "ledger.db").read_bytes() == before
