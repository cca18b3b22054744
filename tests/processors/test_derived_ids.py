"""Derived events that summarise inputs are content-addressed: an id names one content.

Re-deriving from the same inputs gives the same ids (deduplicated); different inputs
behind the same trigger never give an id that already names other content, so a
newer summary is never dropped as a "duplicate" of an older one.
"""
from __future__ import annotations

import json
import subprocess
import sys

import events
from events.log import open_log
from events.payloads import AgentAction
from processors.reducers.experiences import Experiences
from processors.reducers.pass_at_k import PassAtK
from processors.reducers.rollouts import Rollouts
from processors.rescore import rescore_scores
from processors.runtime import Runtime
from projections.scores import from_log
from tests.conftest import REPO_ROOT
from tests.processors.synth import episode_events, eval_result, run_started, synthetic_run


def _rescore(url: str, env: dict) -> dict:
    done = subprocess.run([sys.executable, "main.py", "rescore", "r1", "--log", url, "--scorer", "1",
                           "--k", "1,2"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _index(url: str) -> dict:
    frame = from_log(url).collect().filter(events_of_rescore())
    return {(r["scope"], r["scope_key"], r["metric"], r["k"]): (r["value"], r["n"], r["samples"], r["c"])
            for r in frame.iter_rows(named=True)}


def events_of_rescore():
    import polars as pl

    return pl.col("run_id") == "r1"


def test_rescore_then_more_results_then_rescore_equals_a_fresh_rescore(tmp_path, subprocess_env):
    started, evs = synthetic_run("r1", 6, 8, seed=3)
    first, later = evs[: len(evs) // 2], evs[len(evs) // 2:]
    grown, fresh = f"sqlite:///{tmp_path}/grown.db", f"sqlite:///{tmp_path}/fresh.db"
    for url, batches in ((grown, [first]), (fresh, [first, later])):
        log = open_log(url)
        log.append("runs", [started])
        for batch in batches:
            log.append("evals", batch)
        log.close()
    before = _rescore(grown, subprocess_env)
    assert before["stored"] == before["scores"] > 0 and before["already_present"] == 0
    again = _rescore(grown, subprocess_env)  # unchanged input: the same ids, nothing new stored
    assert again["stored"] == 0 and again["already_present"] == again["scores"] == before["scores"]
    log = open_log(grown)
    log.append("evals", later)
    log.close()
    after = _rescore(grown, subprocess_env)
    assert after["stored"] == after["scores"]  # every score of the grown input set is a new event
    _rescore(fresh, subprocess_env)
    assert _index(grown) == _index(fresh)
    assert {v[1:3] for k, v in _index(grown).items() if k[0] == "run"} == {(6, 8)}  # 6 instances, 8 samples each


def test_streaming_scores_never_reuse_an_id_for_another_value():
    plan = run_started("r", ["a__b-1", "a__b-2"])
    evs = [eval_result("r", "a__b-1", s, s % 2 == 0) for s in range(3)] + [eval_result("r", "a__b-2", 0, True)]

    def fold(order):
        reducer, state, out = PassAtK((1, 2)), None, []
        state = reducer.initial_state()
        for ev in [plan] + order:
            state, made = reducer.apply(state, _record(ev))
            out.extend(made)
        return {e.id: e.payload for e in out}

    a, b = fold(evs), fold(list(reversed(evs)))
    shared = set(a) & set(b)
    assert all(a[i] == b[i] for i in shared)
    assert a != b  # the orders do differ in what they saw before each verdict
    assert fold(evs) == a  # and the same order gives the same ids and values


def _record(ev):
    from events.log.base import Record

    return Record(ev.topic, 0, 0, ev)


def _groups(tmp_path, name: str, completion: list[int]) -> list:
    log = open_log(f"sqlite:///{tmp_path}/{name}.db")
    for i in range(2):
        for e in episode_events("r", f"e{i}", "a__b-1", [([1, 2, 3], completion)], sample_idx=i):
            log.append(e.topic, [e])
        from events.payloads import RewardAssigned

        log.append("rewards", [events.new(RewardAssigned(episode_id=f"e{i}", instance_id="a__b-1", sample_idx=i,
                                                         eval_id=f"ev{i}", reward=1.0, reward_fn="binary",
                                                         reward_version=1), producer="test", run_id="r")])
    Runtime(log, [Rollouts(group_size=2)]).run()
    return [r.event for r in log.read("rollouts")]


def test_a_rollout_group_id_names_its_content(tmp_path):
    [a], [again], [b] = _groups(tmp_path, "a", [10, 11]), _groups(tmp_path, "a2", [10, 11]), \
        _groups(tmp_path, "b", [10, 12])
    assert a.payload.group_id == b.payload.group_id == "r/a__b-1/0"
    assert a.id == again.id and a.id != b.id


def _experience(tmp_path, name: str, command: str):
    log = open_log(f"sqlite:///{tmp_path}/{name}.db")
    evs = episode_events("r", "e0", "a__b-1", [([1], [2])], actions=1)
    act = events.new(AgentAction(episode_id="e0", step=0, command=command, observation=events.make_blob("ok")),
                     producer="agent", run_id="r")
    for e in evs[:-1] + [act, evs[-1], eval_result("r", "a__b-1", 0, True, episode_id="e0")]:
        log.append(e.topic, [e])
    Runtime(log, [Experiences(every=5)]).run()
    return [r.event for r in log.read("experiences")]


def test_an_experience_id_names_its_content(tmp_path):
    [a], [again], [b] = (_experience(tmp_path, "a", "pytest"), _experience(tmp_path, "a2", "pytest"),
                         _experience(tmp_path, "b", "pytest -x"))
    assert a.payload.episode_id == b.payload.episode_id == "e0"
    assert a.id == again.id and a.id != b.id


def test_rescore_in_process_reports_what_was_stored(tmp_path):
    log = open_log(f"sqlite:///{tmp_path}/l.db")
    started, evs = synthetic_run("r1", 3, 2, seed=1)
    log.append("runs", [started])
    log.append("evals", evs)
    made, stored, _ = rescore_scores(log, "r1", 1, (1,))
    assert stored == made > 0
    assert rescore_scores(log, "r1", 1, (1,))[:2] == (made, 0)
