"""Subprocess workers for the log's crash and concurrency tests.

    python -m tests.events.log.workers group-member URL GROUP BATCH
    python -m tests.events.log.workers producer URL NAME N BATCH
    python -m tests.events.log.workers writer URL N_FIRST N_SECOND

Each reports progress as JSON lines on stdout (flushed), so the test knows
where it is before it sends SIGKILL.
"""
from __future__ import annotations

import json
import sys
import time

from events.log import open_log
from tests.events.samples import action, actions


def say(**fields) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def group_member(url: str, group: str, batch: int) -> None:
    """Commit three non-empty polls, then poll once more and hang before committing."""
    log = open_log(url)
    consumer = log.consumer(group, ["actions"])
    commits = 0
    while True:
        records = consumer.poll(max_records=batch, timeout_s=0.5)
        if not records:
            continue
        ids = [r.event.id for r in records]
        if commits == 3:
            say(state="polled", ids=ids)
            time.sleep(3600)  # killed here: polled, not committed
        consumer.commit()
        commits += 1
        say(state="committed", ids=ids,
            offsets=[[t, p, o] for (t, p), o in sorted(consumer.position().items())])


def producer(url: str, name: str, n: int, batch: int) -> None:
    """Say ready, wait for a line on stdin, append `n` events in batches, print their ids."""
    log = open_log(url)
    log.partitions("actions")
    say(state="ready")
    sys.stdin.readline()
    ids = []
    for start in range(0, n, batch):
        evs = actions(min(batch, n - start), keys=7, start=start, producer=name)
        log.append("actions", evs)
        ids.extend(e.id for e in evs)
    say(state="done", ids=ids)
    log.close()


def writer(url: str, n_first: int, n_second: int) -> None:
    """Commit one batch, then start a second one (whose middle row the test makes slow).

    The log's own connection runs with the engine's triggers off (events.log.sqlite_schema);
    the test's slow-row trigger needs them on in this writer."""
    from events.log.sqlite_schema import set_triggers

    log = open_log(url)
    assert set_triggers(log._conn, True)
    first = actions(n_first)
    log.append("actions", first)
    say(state="committed", ids=[e.id for e in first])
    second = actions(n_second, start=n_first)
    second[n_second // 2] = action("slow", 0)
    say(state="appending", ids=[e.id for e in second])
    log.append("actions", second)
    say(state="committed-second")


if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    if cmd == "group-member":
        group_member(args[0], args[1], int(args[2]))
    elif cmd == "producer":
        producer(args[0], args[1], int(args[2]), int(args[3]))
    elif cmd == "writer":
        writer(args[0], int(args[1]), int(args[2]))
    else:
        sys.exit(f"unknown worker {cmd!r}")
