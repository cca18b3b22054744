"""The openai: upstream against the real stub server: keep-alive reuse and expiry, errors."""
from __future__ import annotations

import asyncio
import re
import time

import pytest

from producers.inference.base import GenerateRequest, UpstreamError
from producers.inference.openai_http import OpenAIUpstream
from producers.inference.openai_parse import generations_from_body
from tests.producers.proxy.conftest import Stub

REQ = GenerateRequest(episode_id="e", turn=0, model="m", messages=[{"role": "user", "content": "hi"}])


def test_idle_connection_closed_by_the_server_is_replaced_without_a_retry():
    stub = Stub("--keep-alive", "0.2")
    try:
        async def run():
            up = OpenAIUpstream(stub.url, retries=0)
            first = await up.generate(REQ)
            assert len(up._pool.idle) == 1  # kept alive for the next call
            time.sleep(0.6)  # the server drops the idle connection meanwhile
            second = await up.generate(REQ)
            streamed = [c async for c in up.stream(REQ)]
            await up.aclose()
            return first, second, streamed

        first, second, streamed = asyncio.run(run())
    finally:
        stub.kill()
    assert first.text == second.text and first.trainable and second.trainable
    assert streamed[-1].final.text == first.text


def test_nothing_listening_is_an_upstream_error():
    async def run():
        up = OpenAIUpstream("http://127.0.0.1:9/v1", retries=1, backoff_s=0.01)
        with pytest.raises(UpstreamError, match="cannot connect"):
            await up.generate(REQ)

    asyncio.run(run())


@pytest.mark.parametrize("body, where", [
    ({"choices": "x"}, "choices is a string"),
    ({"choices": [{"message": {"content": 5}}]}, "choices[0].message.content is an integer"),
    ({"choices": [{"message": {"content": "a", "tool_calls": [{"function": {"name": "f", "arguments": {}}}]}}]},
     "choices[0].message.tool_calls[0].function.arguments is an object"),
    ({"choices": [{"message": {"content": "a"}, "token_ids": [1, "2"]}]}, "choices[0].token_ids holds"),
    ({"choices": [{"message": {"content": "a"}, "finish_reason": 3}]}, "choices[0].finish_reason is an integer"),
    ({"choices": [{"message": {"content": "a"}, "logprobs": {"content": [{"logprob": "x"}]}}]},
     "logprobs.content[].logprob holds something other than numbers"),
    ({"choices": [{"message": {"content": "a"}}] * 2}, "choices has 2 entries, 1 were asked for"),
])
def test_malformed_responses_are_upstream_errors_naming_the_field(body, where):
    with pytest.raises(UpstreamError, match=re.escape(where)) as err:
        generations_from_body(body, "chat")
    assert "Error:" not in str(err.value)


def test_usage_keeps_integer_counts_only():
    """vLLM sends `prompt_tokens_details: null`; usage is recorded as counts, so it must not pass."""
    body = {"choices": [{"message": {"content": "a"}}], "usage": {
        "prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4, "prompt_tokens_details": None,
        "completion_tokens_details": {"reasoning_tokens": 0}}}
    assert generations_from_body(body, "chat")[0].usage == {"prompt_tokens": 3, "completion_tokens": 1,
                                                            "total_tokens": 4}
