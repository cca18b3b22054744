"""The embedded log's work queue: one holder per run at a time, a standby takes over,
and an acknowledgement appends `work.done` and commits offsets in one transaction."""
from __future__ import annotations

import events
from events.log import open_log
from events.payloads import EpisodeScheduled, WorkDone
from producers.work.queue import SqliteWorkQueue, group_for

RUN = "r"


def scheduled(n: int):
    return [events.new(EpisodeScheduled(episode_id=f"ep-{i}", instance_id=f"i{i}", sample_idx=0, attempt=1,
                                        seed=i, seq=i, planned=n), producer="test", run_id=RUN)
            for i in range(n)]


def test_one_holder_at_a_time_and_the_standby_resumes_from_the_committed_offsets(sqlite_url):
    log = open_log(sqlite_url)
    log.append("work", scheduled(6))
    got: dict[str, set[int]] = {"a": set(), "b": set()}
    a = SqliteWorkQueue(log, RUN, got["a"].update, lambda parts: None)
    b = SqliteWorkQueue(log, RUN, got["b"].update, lambda parts: None)
    first = a.poll(max_records=100, timeout_s=0)
    assert len(first) == 6 and got["a"] == set(range(log.partitions("work")))
    assert b.poll(max_records=100, timeout_s=0) == [] and not got["b"], "the standby must hold nothing"
    done = first[0]
    ack = events.new(WorkDone(episode_id=done.event.payload.episode_id, instance_id="i0", outcome="ran",
                              worker="a"), producer="test", run_id=RUN)
    assert a.ack({done.partition: done.offset + 1}, [ack])
    assert log.load_offsets(group_for(RUN))[("work", done.partition)] == done.offset + 1
    assert any(r.event.id == ack.id for r in log.read("work"))
    a.close()  # the holder goes away (a SIGKILL releases the flock the same way)
    again = b.poll(max_records=100, timeout_s=0)
    assert got["b"] and done.event.id not in {r.event.id for r in again}
    assert {r.event.payload.episode_id for r in again if r.event.type == "episode.scheduled"} == \
        {f"ep-{i}" for i in range(6)} - {done.event.payload.episode_id}
    b.close()
    log.close()
