"""rollouts: exact token ids, loss masks, forks, exclusions, GRPO groups."""
from __future__ import annotations

import random

from events.log import open_log
from events.payloads import PolicyVersion
from processors.reducers.rewards import Rewards
from processors.reducers.rollouts import Rollouts
from processors.runtime import Runtime
from tests.processors.synth import episode_events, eval_result

P0 = [1, 2, 3]
C0 = [10, 11]
P1 = P0 + C0 + [4, 5]          # extends: stored as a delta
C1 = [12]
P2 = [1, 2, 99]                # does not extend: a fork
C2 = [13, 14]


def build(tmp_path, episodes, shuffle_seed=None, group_size=2):
    log = open_log(f"sqlite:///{tmp_path}/l.db")
    evs = [e for ep in episodes for e in ep]
    if shuffle_seed is not None:  # cross-topic order is free: interleave topics at random
        by_topic = {}
        for e in evs:
            by_topic.setdefault(e.topic, []).append(e)
        rng = random.Random(shuffle_seed)
        topics = list(by_topic)
        rng.shuffle(topics)
        evs = [e for t in topics for e in by_topic[t]]
    for e in evs:
        log.append(e.topic, [e])
    Runtime(log, [Rewards()]).run()
    Runtime(log, [Rollouts(group_size=group_size)]).run()
    return [r.event for r in log.read("rollouts")]


def ep(run, eid, inst, turns, resolved=True, **kw):
    return episode_events(run, eid, inst, turns, **kw) + [eval_result(run, inst, kw.get("sample_idx", 0),
                                                                      resolved, episode_id=eid)]


def test_sample_tokens_mask_logprobs_and_fork(tmp_path):
    e1 = ep("r", "e1", "a__b-1", [(P0, C0), (P1, C1), (P2, C2)], policy_versions=[3, 2, 5])
    e2 = ep("r", "e2", "a__b-1", [(P0, C0)], resolved=False, sample_idx=1)
    groups = build(tmp_path, [e1, e2])
    assert len(groups) == 1
    g = groups[0].payload
    assert g.group_id == "r/a__b-1/0" and g.prompt_id == "a__b-1" and g.excluded == 0
    s0, s1, s2 = g.samples
    assert (s0.rollout_id, s0.fork, s1.rollout_id, s1.fork) == ("e1", 0, "e1", 1)
    assert s0.token_ids == P1 + C1
    assert s0.loss_mask == [0, 0, 0, 1, 1, 0, 0, 1]
    assert s0.logprobs == [0.0, 0.0, 0.0, -0.1, -0.2, 0.0, 0.0, -0.1]
    assert s0.policy_version == PolicyVersion.of("t", 2) and s0.reward == 1.0 and s0.prompt_len == 3
    assert s1.token_ids == P2 + C2 and s1.loss_mask == [0, 0, 0, 1, 1] and s1.policy_version.step == 5
    assert s2.episode_id == "e2" and s2.reward == 0.0 and s2.token_ids == P0 + C0
    # where each call's sampled tokens are, under which policy; why the second fork started
    assert [(x.turn, x.start, x.end, x.policy_version) for x in s0.spans] == [
        (0, 3, 5, PolicyVersion.of("t", 3)), (1, 7, 8, PolicyVersion.of("t", 2))]
    assert s0.fork_reason is None and s1.fork_reason == "history_edited: test"
    assert all(s.trainable for s in g.samples) and g.trainable


def test_a_turn_forks_only_where_the_proxy_recorded_one(tmp_path):
    """Ids are never compared: a delta continues its fork, full ids start one."""
    same = P0 + C0 + [4, 5]  # full ids that happen to extend the previous turn: still a recorded fork
    evs = ep("r", "e1", "a__b-1", [(P0, C0), (same, C1)])
    req = next(e for e in evs if e.type == "proxy.request" and e.payload.turn == 1)
    assert req.payload.prompt_delta is not None  # the synthetic proxy stored a delta
    (g,) = build(tmp_path / "a", [evs], group_size=1)
    assert len(g.payload.samples) == 1 and g.payload.samples[0].token_ids == same + C1
    forked = [e if e is not req else e.model_copy(update={"payload": req.payload.model_copy(update={
        "prompt_delta": None, "prompt_token_ids": same, "fork_reason": "history_edited: messages[1]"})})
        for e in evs]
    (g,) = build(tmp_path / "b", [forked], group_size=1)
    assert [s.token_ids for s in g.payload.samples] == [P0 + C0, same + C1]
    assert g.payload.samples[1].fork_reason == "history_edited: messages[1]"


def test_scripted_and_replayed_episodes_never_join_a_training_group(tmp_path):
    real = [ep("r", f"m{i}", "a__b-1", [(P0, C0)], sample_idx=i) for i in range(2)]
    scripted = [ep("r", f"s{i}", "a__b-1", [(P0, C0), (P1, C1)], sample_idx=10 + i,
                   untrainable_reason="scripted") for i in range(2)]
    replayed = [ep("r", "p0", "a__b-1", [(P0, C0)], sample_idx=20, untrainable_reason="replayed")]
    groups = {g.payload.group_id: g.payload for g in build(tmp_path, scripted + real + replayed)}
    assert set(groups) == {"r/a__b-1/0", "r/a__b-1/untrainable/0"}
    train, other = groups["r/a__b-1/0"], groups["r/a__b-1/untrainable/0"]
    assert train.trainable and {s.episode_id for s in train.samples} == {"m0", "m1"}
    assert all(s.trainable for s in train.samples) and train.excluded == 0
    assert not other.trainable and other.untrainable_reason == "scripted"
    assert {s.episode_id for s in other.samples} == {"s0", "s1"}
    assert all(not s.trainable and s.untrainable_reason == "scripted" for s in other.samples)
    assert other.samples[0].token_ids == P1 + C1  # still one assembled trajectory, for analysis


def test_exclusions_are_counted_and_never_sampled(tmp_path):
    good = [ep("r", f"g{i}", "a__b-1", [(P0, C0)], sample_idx=i) for i in range(2)]
    bad = [ep("r", "x1", "a__b-1", [(P0, C0), (P1, C1)], error_at=1, sample_idx=5),
           ep("r", "x2", "a__b-1", [(P0, C0)], trainable=False, sample_idx=6),
           ep("r", "x3", "a__b-1", [(P0, C0)], incomplete=True, sample_idx=7),
           ep("r", "x4", "a__b-1", [(P0, C0)], reason="cancelled", sample_idx=8)]
    missing = ep("r", "x5", "a__b-1", [(P0, C0)], sample_idx=9)
    missing = [e for e in missing if e.type != "proxy.response"]
    groups = build(tmp_path, bad + [missing] + good, group_size=7)
    (g,) = [x.payload for x in groups]
    assert {s.episode_id for s in g.samples} == {"g0", "g1"}
    assert g.excluded == 5
    assert g.excluded_reasons == {"proxy_error": 1, "not_trainable": 1, "incomplete": 1,
                                  "stream_cancelled": 1, "missing_response": 1}
    # Excluded episodes count toward group_size: a group never waits for episodes that will not come.
    small = [x.payload for x in build(tmp_path / "small", bad + [missing] + good[:1], group_size=3)]
    assert [(len(x.samples), x.excluded) for x in small] == [(0, 3), (1, 2)]


def test_groups_are_independent_of_topic_interleaving(tmp_path):
    eps = [ep("r", f"e{i}", f"a__b-{i % 2}", [(P0, C0), (P1, C1)], sample_idx=i // 2, resolved=i % 3 == 0)
           for i in range(8)]
    base = build(tmp_path / "a", eps, group_size=2)
    other = build(tmp_path / "b", eps, shuffle_seed=3, group_size=2)
    assert len(base) == 4
    key = lambda g: g.payload.group_id  # noqa: E731
    assert [g.payload.samples for g in sorted(base, key=key)] == [g.payload.samples for g in sorted(other, key=key)]
