"""`WorkIndex` folds runs, work, episodes and evals in any interleaving of topics."""
from __future__ import annotations

import itertools

import events
from events.payloads import (DatasetManifest, EpisodeFinished, EpisodeScheduled, EpisodeStarted, EvalResult,
                             RunFinished, RunStarted, WorkDone)
from producers.work.index import WorkIndex

RUN = "r"


def _events():
    def new(payload):
        return events.new(payload, producer="test", run_id=RUN)

    return [
        new(RunStarted(config={"batch": {"mode": "distributed"}},
                       manifest=DatasetManifest(source="bundled", sha256="x", count=1))),
        new(EpisodeScheduled(episode_id="ep-1", instance_id="i", sample_idx=0, attempt=1, seed=7, seq=0,
                             planned=1)),
        new(EpisodeStarted(episode_id="ep-1", instance_id="i", sample_idx=0, attempt=1)),
        new(EpisodeFinished(episode_id="ep-1", instance_id="i", sample_idx=0, attempt=1, reason="interrupted")),
        new(EpisodeStarted(episode_id="ep-2", instance_id="i", sample_idx=0, attempt=2)),
        new(EpisodeFinished(episode_id="ep-2", instance_id="i", sample_idx=0, attempt=2, reason="submitted",
                            patch="diff")),
        new(EvalResult(instance_id="i", sample_idx=0, episode_id="ep-2", resolved=True)),
        new(WorkDone(episode_id="ep-1", instance_id="i", sample_idx=0, outcome="ran", ran="ep-2", attempt=2,
                     interrupted=["ep-1"], worker="w")),
        new(RunFinished()),
    ]


def _state(index: WorkIndex):
    run = index.runs[RUN]
    pair = run.pairs[("i", 0)]
    return (run.distributed, run.finished, run.open_items, pair.evaluated, pair.resolved,
            {n: (a.episode_id, a.reason) for n, a in pair.attempts.items()},
            run.items["ep-1"].done.outcome, pair.interrupted(), {k: len(v) for k, v in run.finished_episodes.items()})


def test_the_same_state_whatever_the_order_across_topics():
    evs = _events()
    by_topic = {}
    for ev in evs:
        by_topic.setdefault(events.SPECS[ev.type].topic, []).append(ev)
    expected = (True, True, 0, 1, True, {1: ("ep-1", "interrupted"), 2: ("ep-2", "submitted")}, "ran", 1,
                {"ep-1": 1, "ep-2": 1})
    for order in itertools.permutations(by_topic):
        index = WorkIndex()
        for topic in order:  # each topic in its own order, topics one after another
            for ev in by_topic[topic]:
                index.apply(ev)
        assert _state(index) == expected, order


def test_applying_an_event_twice_changes_nothing():
    index = WorkIndex()
    for ev in _events():
        index.apply(ev)
        index.apply(ev)
    assert _state(index)[2:] == (0, 1, True, {1: ("ep-1", "interrupted"), 2: ("ep-2", "submitted")}, "ran", 1,
                                 {"ep-1": 1, "ep-2": 1})


def test_a_second_finish_of_one_episode_is_counted():
    index = WorkIndex()
    evs = _events()
    for ev in evs:
        index.apply(ev)
    again = events.new(EpisodeFinished(episode_id="ep-2", instance_id="i", sample_idx=0, attempt=2,
                                       reason="submitted"), producer="test", run_id=RUN)
    index.apply(again)
    assert len(index.runs[RUN].finished_episodes["ep-2"]) == 2
