"""A worker's share of a run: offsets committed only past acknowledged items, runs served in turn."""
from __future__ import annotations

import events
from events.payloads import EpisodeScheduled
from producers.work.member import RunMember, take_in_turn
from producers.work.setup import RunSetup


def member(run_id: str) -> RunMember:
    return RunMember(RunSetup(run_id, {}, proxy=None, repos={}))


def item(run_id: str, i: int):
    return events.new(EpisodeScheduled(episode_id=f"ep-{run_id}-{i}", instance_id="x", sample_idx=i, seed=0,
                                       seq=i, planned=10), producer="test", run_id=run_id)


def always(_ends) -> bool:
    return True


def test_the_commit_stops_at_the_first_unacknowledged_item():
    m = member("a")
    m.assigned({0})
    m.unsynced.clear()
    for off in range(3):
        m.polled(0, off, item("a", off))
    m.settled(0, 1)  # the second item finished first
    assert m.committable() == {0: 0}
    m.settled(0, 0)
    assert m.committable() == {0: 2}
    m.settled(0, 2)
    m.polled(0, 3, None)  # another run's item: nothing to do, the offset moves past it
    assert m.committable() == {0: 4}


def test_a_revoked_partition_forgets_its_items_and_offsets():
    m = member("a")
    m.assigned({0, 1})
    m.unsynced.clear()
    m.polled(0, 0, item("a", 0))
    m.polled(1, 0, item("a", 1))
    m.revoked({0})
    assert [p.partition for p in m.buffer] == [1] and 0 not in m.committable() and m.held == {1}


def test_items_of_a_newly_held_partition_wait_for_the_index_to_catch_up():
    from concurrent.futures import Future

    m = member("a")
    m.assigned({0})
    m.polled(0, 0, item("a", 0))
    assert m.next_ready(always) is None, "not ready before the end offsets were even asked for"
    ends: Future = Future()
    m.ready_after[0], m.unsynced = ends, set()
    assert m.next_ready(always) is None
    ends.set_result({("episodes", 0): 5})
    assert m.next_ready(lambda e: False) is None
    assert m.next_ready(always).offset == 0


def test_runs_take_turns_for_free_slots():
    runs = [member("big"), member("small")]
    for m, n in zip(runs, (6, 2)):
        m.assigned({0})
        m.unsynced.clear()
        for i in range(n):
            m.polled(0, i, item(m.run_id, i))
    order, turn = [], 0
    while (picked := take_in_turn(runs, turn, always)) is not None:
        turn, m, _ = picked
        order.append(m.run_id)
    assert order == ["big", "small", "big", "small", "big", "big", "big", "big"]
