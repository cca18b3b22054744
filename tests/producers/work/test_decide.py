"""What a scheduled item still needs (producers/work/decide.py), case by case from the log's view."""
from __future__ import annotations

import pytest

from producers.orchestrator.plan import TaskSpec, episode_id_for
from producers.work.decide import decide, interrupted_finish
from producers.work.index import Attempt, Item, PairWork

RUN = "r"
SPEC = TaskSpec(RUN, "repo__1", 0, 1234)


def item(attempt: int = 1, done=None) -> Item:
    return Item("ev", episode_id_for(SPEC, attempt), "repo__1", 0, attempt, 1234, 0, 4, done=done)


def pair(*attempts: tuple[int, str | None], evaluated: int = 0) -> PairWork:
    """(attempt number, finish reason or None for still running) per attempt."""
    p = PairWork(evals={f"eval-{i}" for i in range(evaluated)})
    for n, reason in attempts:
        a = Attempt(episode_id_for(SPEC, n))
        if reason is not None:
            a.finished_id, a.reason, a.patch = f"fin-{n}", reason, f"patch {n}"
        p.attempts[n] = a
    return p


def test_a_fresh_item_runs_its_own_attempt():
    d = decide(RUN, item(), pair(), max_interrupted=10)
    assert (d.action, d.attempt, d.episode_id, d.interrupt) == ("run", 1, item().episode_id, ())


def test_an_acknowledged_item_is_skipped():
    assert decide(RUN, item(done=object()), pair((1, "submitted"), evaluated=1), 10).action == "skip"


def test_a_pair_with_its_result_is_only_acknowledged():
    assert decide(RUN, item(), pair((1, "submitted"), evaluated=1), 10).action == "already_done"


def test_a_dead_attempt_is_closed_and_the_pair_runs_again_as_the_next_attempt():
    d = decide(RUN, item(), pair((1, None)), 10)
    assert d.action == "run" and d.attempt == 2 and d.episode_id == episode_id_for(SPEC, 2)
    assert d.interrupt == ((1, episode_id_for(SPEC, 1)),)


def test_interrupted_attempts_do_not_stop_a_later_one():
    d = decide(RUN, item(), pair((1, "interrupted"), (2, "interrupted"), (3, None)), 10)
    assert (d.action, d.attempt) == ("run", 4)
    assert [n for n, _ in d.interrupt] == [3]


def test_a_finished_attempt_is_evaluated_not_run_again():
    d = decide(RUN, item(), pair((1, "interrupted"), (2, "max_steps")), 10)
    assert (d.action, d.attempt, d.finished_id, d.patch) == ("evaluate", 2, "fin-2", "patch 2")


def test_an_item_rescheduled_past_the_known_attempts_keeps_its_own_id():
    d = decide(RUN, item(attempt=3), pair((1, "interrupted")), 10)
    assert (d.action, d.attempt, d.episode_id) == ("run", 3, episode_id_for(SPEC, 3))


@pytest.mark.parametrize("dead, closed", [(3, 0), (2, 1)])
def test_a_pair_that_keeps_killing_its_workers_is_failed(dead, closed):
    attempts = [(n, "interrupted") for n in range(1, dead + 1)] + [(dead + n, None) for n in range(1, closed + 1)]
    d = decide(RUN, item(), pair(*attempts), max_interrupted=3)
    assert d.action == "fail" and "max_interrupted=3" in d.error
    assert len(d.interrupt) == closed


def test_closing_the_same_attempt_twice_is_one_event():
    a = interrupted_finish(RUN, "repo__1", 0, 1, "ep-x", producer="worker.a", why="died")
    b = interrupted_finish(RUN, "repo__1", 0, 1, "ep-x", producer="worker.b", why="died")
    assert a.id == b.id and a.payload.reason == "interrupted" and a.payload.incomplete


def test_an_attempt_that_hit_an_infrastructure_failure_runs_again():
    p = pair((1, "error"))
    p.infra_episodes.add(episode_id_for(SPEC, 1))
    d = decide(RUN, item(), p, 10)
    assert (d.action, d.attempt, d.interrupt) == ("run", 2, ())
