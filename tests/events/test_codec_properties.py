"""Property tests: every event type survives the wire; old versions are upcast on read."""
from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import events
from events import DecodeError, decode, encode
from events.registry import SPECS
from tests.events.strategies import for_model, timestamps

ids = st.uuids().map(str)
names = st.text(max_size=12)


@pytest.mark.parametrize("event_type", sorted(SPECS))
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_every_event_type_round_trips(event_type, data):
    payload = data.draw(for_model(SPECS[event_type].payload), label="payload")
    ev = events.new(payload, producer=data.draw(names), run_id=data.draw(names),
                    parent=data.draw(st.none() | ids), ts=data.draw(timestamps))
    wire = encode(ev)
    back = decode(wire)
    assert back == ev and type(back) is type(ev)
    assert encode(back) == wire


v1_actions = st.fixed_dictionaries({
    "episode_id": names, "step": st.integers(0, 10_000), "command": st.text(max_size=40),
    "output": st.text(max_size=200),
}, optional={"exit_code": st.none() | st.integers(-255, 255), "duration_s": st.floats(0, 1e6)})


@settings(max_examples=100, deadline=None)
@given(payload=v1_actions, event_id=ids, ts=timestamps)
def test_agent_action_v1_is_upcast_to_v2_on_read(payload, event_id, ts):
    stored = {"id": event_id, "type": "agent.action", "v": 1, "ts": ts.isoformat(),
              "key": payload["episode_id"], "producer": "old", "payload": payload}
    ev = decode(json.dumps(stored).encode())
    raw = payload["output"].encode("utf-8")
    assert ev.v == SPECS["agent.action"].version == 2
    assert ev.payload.observation.text == payload["output"]
    assert ev.payload.observation.sha256 == hashlib.sha256(raw).hexdigest()
    assert ev.payload.observation.size == len(raw)
    assert (ev.payload.command, ev.payload.step, ev.id) == (payload["command"], payload["step"], event_id)
    assert decode(encode(ev)) == ev


@settings(max_examples=50, deadline=None)
@given(garbage=st.binary(max_size=64))
def test_garbage_bytes_raise_decode_error_with_a_reason(garbage):
    try:
        decode(garbage)
    except DecodeError as exc:
        assert exc.reason
    else:  # only a real event could decode, and random bytes never are one
        pytest.fail(f"{garbage!r} decoded")


def _stored(event_type: str, payload: dict) -> bytes:
    return json.dumps({"id": "0190f7a4-0000-7000-8000-000000000001", "type": event_type, "v": 1,
                       "ts": "2026-01-02T03:04:05Z", "key": "k", "producer": "old", "payload": payload}).encode()


@settings(max_examples=30, deadline=None)
@given(version=st.integers(0, 10_000), trainer=st.text(min_size=1, max_size=12))
def test_bare_integer_policy_versions_are_upcast_with_their_lineage_or_unknown(version, trainer):
    from events.payloads import UNKNOWN_POLICY, PolicyVersion

    resp = decode(_stored("proxy.response", {"episode_id": "e", "request_id": "r", "turn": 0,
                                             "policy_version": version}))
    started = decode(_stored("episode.started", {"episode_id": "e", "instance_id": "i", "policy_version": version}))
    sample = {"sample_id": "s", "episode_id": "e", "rollout_id": "e", "token_ids": [1, 2], "loss_mask": [0, 1],
              "logprobs": [0.0, -1.0], "reward": 1.0, "policy_version": version}
    group = decode(_stored("rollout.group", {"group_id": "g", "run_id": "r", "prompt_id": "p", "samples": [sample]}))
    step = decode(_stored("trainer.step", {"trainer_id": trainer, "step": version, "loss": 0.5,
                                           "policy_version": version}))
    # A bare integer never said which trainer's weights it meant: never trainable, never "staleness 0".
    assert resp.payload.policy_version == started.payload.policy_version == UNKNOWN_POLICY
    assert group.payload.samples[0].policy_version == UNKNOWN_POLICY
    # A trainer step names its trainer, so its version keeps the lineage.
    assert step.payload.policy_version == PolicyVersion.of(trainer, version)
    assert (resp.v, started.v, group.v, step.v) == (2, 2, 2, 2)
    assert all(decode(encode(e)) == e for e in (resp, started, group, step))
