"""The replay upstream serves a recorded episode to the same agent, exactly; divergence is a 409."""
from __future__ import annotations

import openai
import pytest
from openai import OpenAI

from producers.proxy.server import ProxyServer

from .conftest import proxy_events


def agent(base_url: str, token: str, task: str, turns: int = 5) -> list[str]:
    """A deterministic agent: its next message depends only on the model's replies."""
    client = OpenAI(base_url=base_url, api_key=token, max_retries=0)
    messages = [{"role": "system", "content": "you are an agent"}, {"role": "user", "content": task}]
    replies = []
    for turn in range(turns):
        if turn % 2:
            chunks = client.chat.completions.create(model="m", messages=messages, stream=True, seed=turn)
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        else:
            text = client.chat.completions.create(model="m", messages=messages, seed=turn).choices[0].message.content
        replies.append(text)
        messages += [{"role": "assistant", "content": text}, {"role": "user", "content": f"saw {len(text)} chars"}]
    return replies


def _responses(url: str, episode: str) -> list:
    return [e.payload for e in proxy_events(url, episode) if e.type == "proxy.response"]


def test_replay_reproduces_a_recorded_episode(tmp_path, stub):
    recorded, replayed = f"sqlite:///{tmp_path}/rec.db", f"sqlite:///{tmp_path}/replay.db"
    with ProxyServer(recorded, f"openai:{stub.url}") as p:
        original = agent(p.base_url("orig"), p.token, "fix the bug")
    with ProxyServer(replayed, f"replay:{recorded}", upstream_opts={"episode": "orig"}) as p:
        again = agent(p.base_url("again"), p.token, "fix the bug")
        with pytest.raises(openai.APIStatusError) as diverged:
            agent(p.base_url("other"), p.token, "a different task")
    assert again == original
    a, b = _responses(recorded, "orig"), _responses(replayed, "again")
    assert len(a) == len(b) == 5
    for x, y in zip(a, b):
        assert (x.text, x.completion_token_ids, x.logprobs, x.finish_reason) == \
               (y.text, y.completion_token_ids, y.logprobs, y.finish_reason)
        assert not y.trainable and y.untrainable_reason == "replayed" and y.upstream.startswith("replay:")
    req_a = [e.payload for e in proxy_events(recorded, "orig") if e.type == "proxy.request"]
    req_b = [e.payload for e in proxy_events(replayed, "again") if e.type == "proxy.request"]
    assert req_a[0].prompt_token_ids == req_b[0].prompt_token_ids
    assert [r.prompt_delta.ids for r in req_a[1:]] == [r.prompt_delta.ids for r in req_b[1:]]
    assert diverged.value.status_code == 409 and "turn 0" in diverged.value.message


def test_replay_names_the_turn_where_the_agent_diverges(tmp_path):
    recorded = f"sqlite:///{tmp_path}/rec.db"
    with ProxyServer(recorded, "demo") as p:
        agent(p.base_url("ep"), p.token, "task", turns=3)
    with ProxyServer(f"sqlite:///{tmp_path}/r.db", f"replay:{recorded}") as p:
        client = OpenAI(base_url=p.base_url("ep"), api_key=p.token, max_retries=0)
        first = client.chat.completions.create(model="m", seed=0, messages=[
            {"role": "system", "content": "you are an agent"}, {"role": "user", "content": "task"}])
        with pytest.raises(openai.APIStatusError) as err:
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "changed"}])
    assert first.choices[0].message.content == _responses(recorded, "ep")[0].text
    assert err.value.status_code == 409 and "turn 1" in err.value.message and "messages[0]" in err.value.message
    errors = [e.payload for e in proxy_events(f"sqlite:///{tmp_path}/r.db", "ep") if e.type == "proxy.error"]
    assert [(e.kind, e.status, e.turn) for e in errors] == [("replay_diverged", 409, 1)]
