"""experiences: resolved episodes are recorded with their actions; every N successes
in a memory scope request a workflow induction."""
from __future__ import annotations

import events
from events.blob import make_blob
from events.log import open_log
from events.payloads import AgentAction
from processors.reducers.experiences import Experiences
from processors.runtime import Runtime
from tests.processors.synth import episode_events, eval_result


def episode(run, eid, inst, resolved, idx):
    evs = episode_events(run, eid, inst, [([1], [2])], sample_idx=idx, actions=2)
    acts = [events.new(AgentAction(episode_id=eid, step=s, command=f"cmd {s} " + "x" * 500, exit_code=s,
                                   observation=make_blob("out" * 200)), producer="agent", run_id=run)
            for s in range(2)]
    return evs[:-1] + acts + [evs[-1], eval_result(run, inst, idx, resolved, episode_id=eid, repo="org/lib")]


def test_records_successes_and_requests_induction_every_n(tmp_path):
    log = open_log(f"sqlite:///{tmp_path}/l.db")
    eps = [episode("r", f"e{i}", f"org__lib-{i}", resolved=i != 2, idx=0) for i in range(6)]
    # an eval that arrives before its episode.finished is buffered
    late = eps[5]
    eps[5] = [late[-1]] + late[:-1]
    for ep in eps:
        for e in ep:
            log.append(e.topic, [e])
    Runtime(log, [Experiences(every=2)]).run()
    exps = [r.event for r in log.read("experiences")]
    assert [e.payload.episode_id for e in exps] == ["e0", "e1", "e3", "e4", "e5"]
    x = exps[0].payload
    assert x.scope == "org/lib" and x.problem == "fix org__lib-0" and x.patch.startswith("diff --git")
    assert [s.exit_code for s in x.steps] == [0, 1] and len(x.steps[0].command) == 400
    assert x.steps[0].observation_excerpt == ("out" * 200)[:240]
    reqs = [r.event.payload for r in log.read("workflows")]
    assert [(q.successes, len(q.experience_ids)) for q in reqs] == [(2, 2), (4, 2)]
    assert reqs[1].experience_ids == [exps[2].id, exps[3].id]


def test_an_eval_that_overtakes_the_actions_waits_for_them(tmp_path):
    """Topics interleave freely (the faust app reads them side by side): the experience is
    recorded once all the episode's actions (episode.finished.turns) are there."""
    in_order = episode("r", "e0", "org__lib-0", resolved=True, idx=0)
    acts = [e for e in in_order if e.type == "agent.action"]
    others = [e for e in in_order if e.type != "agent.action"]
    out = {}
    for name, evs in (("in-order", in_order), ("eval-first", others + acts)):
        log = open_log(f"sqlite:///{tmp_path}/{name}.db")
        for e in evs:
            log.append(e.topic, [e])
        Runtime(log, [Experiences(every=5)]).run()
        out[name] = [r.event for r in log.read("experiences")]
    assert len(out["in-order"]) == 1
    assert [(e.id, e.payload) for e in out["eval-first"]] == [(e.id, e.payload) for e in out["in-order"]]
    assert len(out["in-order"][0].payload.steps) == 2
