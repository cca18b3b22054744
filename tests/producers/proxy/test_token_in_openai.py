"""Token in, token out for `openai:` upstreams that take prompt token ids (vLLM's completions path),
against the stub server answering in vLLM's shapes: the proxy builds each chat prompt as ids with
the served model's tokenizer, the server samples from exactly those ids, and the episode is one
trajectory; tools the parser cannot produce are refused."""
from __future__ import annotations

import openai
import orjson
import pytest
from openai import OpenAI

from infra.openai_stub import completion_ids
from producers.inference.tokenizer import ByteTokenizer
from producers.proxy import ProxyServer

from .conftest import proxy_events

IDS = {"return_token_ids": True}


def test_chat_turns_are_sent_as_token_prompts_and_continue_exactly(log_url, stub):
    tok = ByteTokenizer()
    with ProxyServer(log_url, f"openai:{stub.url}#tokenizer=tiny", run_id="r") as proxy:
        client = OpenAI(base_url=proxy.base_url("ep"), api_key=proxy.token)
        messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "héllo"}]
        replies = []
        for user in ("next ✓", "last"):
            replies.append(client.chat.completions.create(model="m", messages=messages, extra_body=IDS))
            messages = messages + [{"role": "assistant", "content": replies[-1].choices[0].message.content},
                                   {"role": "user", "content": user}]
        replies.append(client.chat.completions.create(model="m", messages=messages, extra_body=IDS))
    evs = proxy_events(log_url, "ep")
    reqs = [e.payload for e in evs if e.type == "proxy.request"]
    resps = [e.payload for e in evs if e.type == "proxy.response"]
    assert [r.fork_reason for r in reqs] == [None, None, None]
    prompt = list(reqs[0].prompt_token_ids)
    assert prompt == tok.apply_chat_template(messages[:2])
    for req, resp in zip(reqs[1:], resps):
        assert req.prompt_delta.prefix_len == len(prompt) + len(resp.completion_token_ids)
        prompt = prompt + resp.completion_token_ids + req.prompt_delta.ids
    assert prompt == tok.apply_chat_template(messages)  # this template continues losslessly
    # the server was asked for a completion of exactly these ids (the stub answers with their count)
    assert replies[-1].choices[0].message.content == f"stub completion ✓ of {len(prompt)} ids"
    assert resps[-1].completion_token_ids == completion_ids(replies[-1].choices[0].message.content)
    assert all(r.trainable for r in resps)
    raw = orjson.loads(reqs[-1].raw.text)
    assert raw["messages"] == messages  # the agent's request is recorded as it sent it


def test_tools_without_a_parser_for_the_template_are_a_400(log_url, stub):
    tools = [{"type": "function", "function": {"name": "bash", "parameters": {"type": "object"}}}]
    with ProxyServer(log_url, f"openai:{stub.url}#tokenizer=tiny") as proxy:
        client = OpenAI(base_url=proxy.base_url("tools"), api_key=proxy.token, max_retries=0)
        with pytest.raises(openai.BadRequestError) as refused:
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "ls"}], tools=tools)
    assert "need a tool-call parser" in str(refused.value)
    (err,) = [e.payload for e in proxy_events(log_url, "tools") if e.type == "proxy.error"]
    assert err.status == 400
