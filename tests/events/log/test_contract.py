"""The EventLog contract: one suite, run against every backend (`log_url`)."""
from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
from collections import Counter, defaultdict

import pytest

from events.log import EventLog, SeenIds, open_log
from tests.conftest import REPO_ROOT
from tests.events.samples import actions

WORKERS = [sys.executable, "-m", "tests.events.log.workers"]


@pytest.fixture
def log(log_url):
    log = open_log(log_url)
    yield log
    log.close()


def poll_until(consumer, count: int, max_polls: int = 200) -> list:
    """Poll until `count` records arrived (joining a Kafka group takes a few seconds)."""
    out = []
    for _ in range(max_polls):
        if len(out) >= count:
            break
        out.extend(consumer.poll(max_records=1000, timeout_s=0.5))
    return out


def test_backend_implements_the_interface(log):
    assert isinstance(log, EventLog)
    assert log.end_offsets("actions") == {p: 0 for p in range(log.partitions("actions"))}


def test_offsets_are_dense_and_monotonic_per_partition(log):
    positions = log.append("actions", actions(30)) + log.append("actions", actions(17, start=30))
    by_partition = defaultdict(list)
    for pos in positions:
        assert pos.topic == "actions"
        by_partition[pos.partition].append(pos.offset)
    for offsets in by_partition.values():
        assert offsets == list(range(len(offsets)))
    ends = log.end_offsets("actions")
    assert {p: len(o) for p, o in by_partition.items()} == {p: e for p, e in ends.items() if e}


def test_per_key_order_is_append_order(log):
    appended = []
    for start in range(0, 60, 12):
        batch = actions(12, keys=4, start=start)
        log.append("actions", batch)
        appended.extend(batch)
    partitions_of_key = defaultdict(set)
    steps_of_key = defaultdict(list)
    for rec in log.read("actions"):
        partitions_of_key[rec.event.key].add(rec.partition)
        steps_of_key[rec.event.key].append(rec.event.payload.step)
    assert all(len(parts) == 1 for parts in partitions_of_key.values())
    expected = defaultdict(list)
    for ev in appended:
        expected[ev.key].append(ev.payload.step)
    assert steps_of_key == expected


def test_replay_from_zero_equals_the_appended_history(log):
    appended = actions(40)
    positions = log.append("actions", appended)
    replayed = {(r.partition, r.offset): r.event for r in log.read("actions", start=0)}
    assert replayed == {(p.partition, p.offset): ev for p, ev in zip(positions, appended)}
    raw = list(log.read_raw("actions"))
    assert len(raw) == 40 and all(r.value for r in raw)


def test_read_from_an_offset_and_one_partition(log):
    positions = log.append("actions", actions(20, keys=1))
    part = positions[0].partition
    got = [r.offset for r in log.read("actions", start=5, partition=part)]
    assert got == list(range(5, 20))


def test_duplicate_ids_never_reach_a_deduping_sink(log):
    appended = actions(10)
    first = log.append("actions", appended)
    again = log.append("actions", appended)
    seen = SeenIds()
    fresh = seen.fresh(log.read("actions"))
    assert sorted(r.event.id for r in fresh) == sorted(e.id for e in appended)
    if log.url.startswith("sqlite"):
        assert again == first and seen.duplicates == 0  # a no-op on the embedded log
    else:
        assert seen.duplicates == len(appended)  # Kafka keeps both copies; the sink drops one


def test_undecodable_records_go_to_deadletter_and_the_consumer_keeps_going(log):
    good = actions(4)
    log.append("actions", good[:2])
    unknown = json.dumps({"type": "no.such.event", "v": 1, "payload": {}}).encode()
    log.append_raw("actions", [("ep-0", b"\xff not json"), ("ep-1", unknown)])
    log.append("actions", good[2:])
    consumer = log.consumer("g-dead", ["actions"])
    try:
        got = poll_until(consumer, 4)
        consumer.commit()
    finally:
        consumer.close()
    assert sorted(r.event.id for r in got) == sorted(e.id for e in good)
    dead = SeenIds().fresh(log.read("deadletter"))
    reasons = {base64.b64decode(r.event.payload.raw_b64): r.event.payload.reason for r in dead}
    assert set(reasons) == {b"\xff not json", unknown}
    assert reasons[b"\xff not json"].startswith("not JSON")
    assert "unknown event type 'no.such.event'" in reasons[unknown]
    assert all(r.event.payload.source_topic == "actions" and r.event.payload.consumer == "g-dead"
               for r in dead)


def test_a_v1_record_is_upcast_on_read(log):
    v1 = {"id": "0190a0b0-0000-7000-8000-000000000001", "type": "agent.action", "v": 1,
          "ts": "2026-01-01T00:00:00Z", "key": "ep-9", "producer": "old",
          "payload": {"episode_id": "ep-9", "step": 0, "command": "ls", "output": "a\nb"}}
    log.append_raw("actions", [("ep-9", json.dumps(v1).encode())])
    [rec] = list(log.read("actions"))
    assert rec.event.v == 2 and rec.event.payload.observation.text == "a\nb"


def test_group_member_killed_resumes_from_its_last_commit(log, log_url, subprocess_env):
    appended = actions(100)
    log.append("actions", appended)
    member = subprocess.Popen([*WORKERS, "group-member", log_url, "g-kill", "10"], cwd=REPO_ROOT,
                              env=subprocess_env, stdout=subprocess.PIPE, text=True)
    committed_ids, last = [], None
    try:
        while True:
            line = json.loads(member.stdout.readline())
            if line["state"] == "polled":
                uncommitted = line["ids"]
                break
            committed_ids.extend(line["ids"])
            last = line["offsets"]
        member.send_signal(signal.SIGKILL)
        member.wait(30)
    finally:
        if member.poll() is None:
            member.kill()
    assert member.returncode == -signal.SIGKILL
    resumed = log.consumer("g-kill", ["actions"])
    try:
        committed = resumed.committed()
        assert {(t, p): o for t, p, o in last}.items() <= committed.items()
        rest = poll_until(resumed, len(appended) - len(committed_ids))
    finally:
        resumed.close()
    first_offsets = {}
    for r in rest:
        first_offsets.setdefault((r.topic, r.partition), r.offset)
    assert all(committed[tp] == off for tp, off in first_offsets.items())  # nothing skipped
    assert set(uncommitted) <= {r.event.id for r in rest}  # the uncommitted poll comes again
    assert Counter(committed_ids + [r.event.id for r in rest]) == Counter(e.id for e in appended)


def test_concurrent_producers_lose_and_duplicate_nothing(log, log_url, subprocess_env):
    log.partitions("actions")
    procs = [subprocess.Popen([*WORKERS, "producer", log_url, f"p{i}", "120", "15"], cwd=REPO_ROOT,
                              env=subprocess_env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for i in range(4)]
    try:
        for proc in procs:
            assert json.loads(proc.stdout.readline())["state"] == "ready"
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        acknowledged = []
        for proc in procs:
            line = json.loads(proc.stdout.readline())
            assert line["state"] == "done"
            acknowledged.extend(line["ids"])
            assert proc.wait(60) == 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    records = list(log.read("actions"))
    assert Counter(r.event.id for r in records) == Counter(acknowledged)
    assert len(acknowledged) == 480
    by_partition = defaultdict(list)
    for r in records:
        by_partition[r.partition].append(r.offset)
    assert all(sorted(o) == list(range(len(o))) for o in by_partition.values())
    by_producer_key = defaultdict(list)
    for r in records:
        by_producer_key[(r.event.producer, r.event.key)].append(r.event.payload.step)
    assert all(steps == sorted(steps) for steps in by_producer_key.values())


def test_transact_appends_outputs_and_commits_then_replay_rereads(log):
    from events import derive
    from events.payloads import RewardAssigned

    inputs = actions(12)
    log.append("actions", inputs)
    consumer = log.consumer("g-transact", ["actions"])
    try:
        got = poll_until(consumer, 12)
        outputs = [derive(RewardAssigned(episode_id=r.event.key, instance_id="i", eval_id=r.event.id,
                                         reward=1.0, reward_fn="test", reward_version=1),
                          processor="test", version=1, inputs=[r.event.id]) for r in got]
        positions = consumer.transact({"rewards": outputs})
        assert [p.topic for p in positions] == ["rewards"] * 12
        ends = log.end_offsets("actions")
        assert {p: o for (t, p), o in consumer.committed().items() if o} == {p: e for p, e in ends.items() if e}
        consumer.seek_to_beginning()
        again = poll_until(consumer, 12)
    finally:
        consumer.close()
    assert sorted(r.event.id for r in again) == sorted(e.id for e in inputs)
    assert sorted(r.event.id for r in log.read("rewards")) == sorted(e.id for e in outputs)


def test_follow_sees_events_appended_later(log):
    import threading

    seen: list = []
    done = threading.Event()

    def follow() -> None:
        for rec in log.read("actions", follow=True, poll_s=0.02):
            seen.append(rec.event.id)
            if len(seen) == 6:
                break
        done.set()

    log.append("actions", actions(3))
    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    later = actions(3, start=3)
    log.append("actions", later)
    assert done.wait(60), f"follow saw only {len(seen)} of 6 events"
    assert set(e.id for e in later) <= set(seen)
