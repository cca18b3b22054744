"""proxy.response v2: scripted and replayed responses are never trainable, old events included."""
from __future__ import annotations

import orjson

import events
from events.payloads import ProxyResponse


def _v1(**payload) -> bytes:
    ev = events.new(ProxyResponse(episode_id="e", request_id="r", turn=0, completion_token_ids=[1, 2],
                                  logprobs=[-0.1, -0.2], trainable=True), producer="proxy")
    data = orjson.loads(events.encode(ev))
    data["v"] = 1
    data["payload"].update(payload)
    data["payload"].pop("untrainable_reason", None)
    return orjson.dumps(data)


def test_v1_scripted_and_replayed_responses_are_read_as_untrainable():
    scripted = events.decode(_v1(scripted=True, upstream="demo")).payload
    replayed = events.decode(_v1(upstream="replay:sqlite:///x.db")).payload
    model = events.decode(_v1(upstream="hf:tiny")).payload
    assert (scripted.trainable, scripted.untrainable_reason) == (False, "scripted")
    assert (replayed.trainable, replayed.untrainable_reason) == (False, "replayed")
    assert (model.trainable, model.untrainable_reason) == (True, None)
