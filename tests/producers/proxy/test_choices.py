"""n > 1 and logprobs detail through the proxy, with the real openai SDK: forwarded to upstreams
that make several choices (openai:, hf:), one response event per choice, each trainable; refused
by the others; token texts, bytes and top_logprobs as the upstream gave them, recorded as sent."""
from __future__ import annotations

import asyncio

import openai
import pytest
from openai import OpenAI

from infra.openai_stub import completion_ids, logprob_of, reply_text, token_text
from producers.inference.base import GenerateRequest
from producers.proxy.server import ProxyServer

from .conftest import proxy_events

MSG = [{"role": "user", "content": "choose ✓"}]


def test_n_choices_are_forwarded_and_recorded_one_response_each(proxy, log_url):
    client = OpenAI(base_url=proxy.base_url("ep-n"), api_key=proxy.token, max_retries=0)
    r = client.chat.completions.create(model="m", messages=MSG, n=3, logprobs=True, top_logprobs=2,
                                       extra_body={"return_token_ids": True})
    body = r.model_dump()
    assert [c.index for c in r.choices] == [0, 1, 2]
    assert [c.message.content for c in r.choices] == [reply_text({"messages": MSG}, "chat", i) for i in range(3)]
    req, *resps = proxy_events(log_url, "ep-n")
    assert req.type == "proxy.request" and req.payload.sampling["n"] == 3
    assert [e.payload.choice for e in resps] == [0, 1, 2] and all(e.parent == req.id for e in resps)
    for choice, resp in zip(r.choices, resps):
        ids = body["choices"][choice.index]["token_ids"]
        assert resp.payload.text == choice.message.content and resp.payload.completion_token_ids == ids
        assert resp.payload.trainable and resp.payload.logprobs == [c.logprob for c in choice.logprobs.content]
        assert resp.payload.tokens == [c.token for c in choice.logprobs.content] == [token_text(t) for t in ids]
        assert resp.payload.top_logprobs == [[(a.token, a.logprob) for a in c.top_logprobs]
                                             for c in choice.logprobs.content]
    assert r.usage.completion_tokens == sum(len(e.payload.completion_token_ids) for e in resps)
    client.chat.completions.create(model="m", messages=[*MSG, {"role": "assistant", "content": r.choices[1]
                                                               .message.content}, {"role": "user", "content": "on"}])
    nxt = [e for e in proxy_events(log_url, "ep-n") if e.type == "proxy.request"][1]
    assert nxt.payload.prompt_delta is None and nxt.payload.prompt_token_ids  # which choice went on is unknown


def test_n_choices_stream_interleaved_and_each_ends_with_its_response(proxy, log_url):
    client = OpenAI(base_url=proxy.base_url("ep-ns"), api_key=proxy.token, max_retries=0)
    texts: dict[int, str] = {}
    finishes: dict[int, str] = {}
    for chunk in client.chat.completions.create(model="m", messages=MSG, n=2, stream=True,
                                                extra_body={"stub_pieces": 3}):
        for c in chunk.choices:
            texts[c.index] = texts.get(c.index, "") + (c.delta.content or "")
            finishes[c.index] = c.finish_reason or finishes.get(c.index)
    _, *resps = proxy_events(log_url, "ep-ns")
    assert texts == {e.payload.choice: e.payload.text for e in resps} and len(resps) == 2
    assert finishes == {0: "stop", 1: "stop"} and all(e.payload.reason == "done" for e in resps)
    assert [e.payload.completion_token_ids for e in resps] == [completion_ids(texts[0]), completion_ids(texts[1])]


def test_upstreams_without_n_refuse_it_and_record_nothing(tmp_path):
    url = f"sqlite:///{tmp_path}/demo.db"
    with ProxyServer(url, "demo") as p:
        client = OpenAI(base_url=p.base_url("ep-demo"), api_key=p.token, max_retries=0)
        for stream in (False, True):
            with pytest.raises(openai.BadRequestError) as refused:
                client.chat.completions.create(model="m", messages=MSG, n=2, stream=stream)
            err = refused.value.body
            assert err["param"] == "n" and "one choice per request" in err["message"]
        assert client.chat.completions.create(model="m", messages=MSG, n=1).choices[0].message.content
    assert len(proxy_events(url)) == 2


def test_logprobs_carry_token_text_bytes_and_alternatives(proxy, log_url):
    client = OpenAI(base_url=proxy.base_url("ep-lp"), api_key=proxy.token, max_retries=0)
    r = client.chat.completions.create(model="m", messages=MSG, logprobs=True, top_logprobs=3,
                                       extra_body={"stub_reply": "ok ✓"})
    content = r.choices[0].logprobs.content
    assert [c.token for c in content[:3]] == ["o", "k", " "]
    assert content[3].token == "bytes:\\xe2" and content[3].bytes == [0xE2]
    assert b"".join(bytes(c.bytes) for c in content[:-1]) == "ok ✓".encode()
    assert content[-1].token == "<|im_end|>" and content[-1].bytes == list(b"<|im_end|>")
    assert all(len(c.top_logprobs) == 3 and c.top_logprobs[0].token == c.token for c in content)
    assert [c.logprob for c in content] == [logprob_of(t, i) for i, t in enumerate(completion_ids("ok ✓"))]
    plain = client.chat.completions.create(model="m", messages=MSG)
    assert plain.choices[0].logprobs is None
    cmpl = client.completions.create(model="m", prompt="def f():", logprobs=2, extra_body={"stub_reply": "é"})
    lp = cmpl.choices[0].logprobs
    assert lp.tokens[:2] == ["bytes:\\xc3", "bytes:\\xa9"] and len(lp.top_logprobs[0]) == 2
    events = [e.payload for e in proxy_events(log_url, "ep-lp") if e.type == "proxy.response"]
    assert events[0].tokens == [c.token for c in content]
    assert events[0].top_logprobs == [[(a.token, a.logprob) for a in c.top_logprobs] for c in content]
    assert events[1].tokens is None and events[1].top_logprobs is None  # not asked for, not sent
    assert events[2].tokens == lp.tokens and [dict(t) for t in events[2].top_logprobs] == lp.top_logprobs


def test_hf_makes_several_choices_each_seeded_on(tmp_path):
    from producers.inference.hf import HfUpstream

    up = HfUpstream("tiny", seed=0)
    single = [asyncio.run(up.generate(GenerateRequest(episode_id="e", turn=0, messages=MSG, sampling={
        "temperature": 1.0, "max_tokens": 6, "seed": s}))) for s in (7, 8)]
    url = f"sqlite:///{tmp_path}/hf.db"
    with ProxyServer(url, up) as p:
        client = OpenAI(base_url=p.base_url("ep-hf"), api_key=p.token, max_retries=0)
        r = client.chat.completions.create(model="tiny", messages=MSG, n=2, temperature=1.0, max_tokens=6, seed=7,
                                           logprobs=True)
        streamed: dict[int, str] = {}
        for chunk in client.chat.completions.create(model="tiny", messages=MSG, n=2, temperature=1.0, max_tokens=6,
                                                    seed=7, stream=True):
            for c in chunk.choices:
                streamed[c.index] = streamed.get(c.index, "") + (c.delta.content or "")
    assert [c.message.content for c in r.choices] == [g.text for g in single]
    resps = [e.payload for e in proxy_events(url, "ep-hf") if e.type == "proxy.response"]
    assert [x.choice for x in resps] == [0, 1, 0, 1] and all(x.trainable for x in resps)
    assert [x.completion_token_ids for x in resps] == [g.completion_token_ids for g in single] * 2
    assert [x.text for x in resps[2:]] == [streamed[0], streamed[1]]  # streamed: the text as sent, token by token
    assert resps[0].tokens == [c.token for c in r.choices[0].logprobs.content]
