"""Results with status `infra` are not samples: pass@k, rewards, rescoring and resume skip them."""
from __future__ import annotations

import events
from events.log import open_log
from events.log.base import Record
from events.payloads import EpisodeFinished, EpisodeStarted
from processors.reducers.pass_at_k import PassAtK
from processors.reducers.rewards import Rewards
from processors.rescore import final_scores
from producers.orchestrator.config import ResumePolicy
from producers.orchestrator.plan import plan_specs, plan_work, read_state
from tests.processors.synth import eval_result, run_started


def _fold(reducer, evs):
    state, out = reducer.initial_state(), []
    for i, ev in enumerate(evs):
        state, made = reducer.apply(state, Record(ev.topic, 0, i, ev))
        out.extend(made)
    return out


def _infra(run, iid, s):
    return eval_result(run, iid, s, False, status="infra", infra_cause="upstream unreachable")


def _last(out):
    return {(e.payload.scope, e.payload.scope_key, e.payload.metric, e.payload.k): e.payload for e in out}


def test_infra_results_leave_the_sample_unscored_and_a_later_verdict_counts():
    evs = [run_started("r", ["a__b-1", "a__b-2"], samples=2),
           eval_result("r", "a__b-1", 0, True), _infra("r", "a__b-1", 1),
           _infra("r", "a__b-2", 0), _infra("r", "a__b-2", 1)]
    out = _fold(PassAtK((1, 2)), evs)
    last = _last(out)
    inst = last[("instance", "a__b-1", "pass@k", 1)]
    assert (inst.samples, inst.c, inst.value) == (1, 1, 1.0)     # the infra sample is not samples=2, c=1
    assert ("instance", "a__b-1", "pass@k", 2) not in last       # n < k: no value, not 0
    assert not any(k[1] == "a__b-2" for k in last)               # only infra: missing, not 0.0
    run = last[("run", "r", "pass@k", 1)]
    assert run.coverage == 0.5 and run.value == 1.0
    # the outage is over: a real verdict of the same sample is its first, not a duplicate
    out = _fold(PassAtK((1, 2)), [*evs, eval_result("r", "a__b-1", 1, False)])
    p = _last(out)[("instance", "a__b-1", "pass@k", 2)]
    assert (p.samples, p.c, p.value, p.dropped_duplicates) == (2, 1, 1.0, 0)


def test_no_reward_for_an_infra_result():
    assert _fold(Rewards(), [_infra("r", "a__b-1", 0)]) == []
    assert len(_fold(Rewards(), [eval_result("r", "a__b-1", 0, False)])) == 1


def test_rescore_skips_infra_results(sqlite_url):
    log = open_log(sqlite_url)
    log.append("runs", [run_started("r", ["a__b-1"], samples=2)])
    log.append("evals", [eval_result("r", "a__b-1", 0, True), _infra("r", "a__b-1", 1)])
    state = final_scores(log, "r", (1,))
    log.close()
    assert state.board.runs["r"].instances["a__b-1"][:2] == [1, 1]
    assert state.norm.duplicates["r"] == 0 and state.norm.malformed["r"] == 0


def test_resume_runs_an_infra_pair_again_in_a_new_attempt(sqlite_url):
    log = open_log(sqlite_url)
    for iid, cause in (("a__b-1", "upstream unreachable"), ("a__b-2", ""), ("a__b-3", "")):
        ep = f"ep-{iid}"
        log.append("episodes", [
            events.new(EpisodeStarted(episode_id=ep, instance_id=iid), producer="t", run_id="r"),
            events.new(EpisodeFinished(episode_id=ep, instance_id=iid, patch="p", reason="error",
                                       infra_cause=cause), producer="t", run_id="r")])
    log.append("evals", [_infra("r", "a__b-1", 0),
                         eval_result("r", "a__b-2", 0, False, status="infra", infra_cause="sandbox"),
                         # the runner did not know, the worker's look at the proxy did: nothing was judged
                         eval_result("r", "a__b-3", 0, False, status="infra", infra_cause="upstream unreachable",
                                     harness="none", episode_id="ep-a__b-3")])
    todo, done = plan_work(plan_specs("r", ["a__b-1", "a__b-2", "a__b-3"], 1), read_state(log, "r"), ResumePolicy())
    log.close()
    assert done == 0
    by_id = {w.spec.instance_id: w for w in todo}
    assert (by_id["a__b-1"].kind, by_id["a__b-1"].attempt) == ("episode", 2)   # the episode hit the outage
    assert (by_id["a__b-2"].kind, by_id["a__b-2"].patch) == ("evaluate", "p")  # only its evaluation did
    assert (by_id["a__b-3"].kind, by_id["a__b-3"].attempt) == ("episode", 2)
