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
