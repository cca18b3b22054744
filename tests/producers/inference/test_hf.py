"""The `hf:` upstream: streaming equals non-streaming, and both reach the proxy's events intact."""
from __future__ import annotations

import asyncio

from openai import OpenAI

from events.log import open_log
from events.payloads import BASE_POLICY
from producers.inference.base import GenerateRequest
from producers.inference.hf import HfUpstream
from producers.inference.tokenizer import IM_END
from producers.proxy.server import ProxyServer

MESSAGES = [{"role": "user", "content": "x=3"}]


def _request(seed: int, max_tokens: int = 12) -> GenerateRequest:
    return GenerateRequest(episode_id="e", turn=0, messages=MESSAGES,
                           sampling={"temperature": 0.8, "max_tokens": max_tokens, "seed": seed})


async def _stream(up: HfUpstream, req: GenerateRequest):
    return [c async for c in up.stream(req)]


def test_stream_yields_the_tokens_generate_returns():
    up = HfUpstream("tiny", seed=0)
    whole = asyncio.run(up.generate(_request(5)))
    chunks = asyncio.run(_stream(up, _request(5)))
    final = chunks[-1].final
    assert final is not None and all(c.final is None for c in chunks[:-1])
    assert [t for c in chunks[:-1] for t in c.token_ids] == whole.completion_token_ids == final.completion_token_ids
    assert [lp for c in chunks[:-1] for lp in c.logprobs] == whole.logprobs
    # a piece ending inside a character is held back; the final chunk carries what is left
    assert "".join(c.text for c in chunks) == whole.text
    assert whole.usage["completion_tokens"] == len(whole.completion_token_ids) <= 12
    assert whole.finish_reason == ("stop" if whole.completion_token_ids[-1] == IM_END else "length")
    asyncio.run(up.aclose())


def test_proxy_records_hf_tokens_for_plain_and_streamed_calls(tmp_path):
    url = f"sqlite:///{tmp_path}/log.db"
    up = HfUpstream("tiny", seed=0)
    expected = asyncio.run(up.generate(_request(9)))
    with ProxyServer(url, up, run_id="hf") as proxy:
        for ep, stream in (("plain", False), ("streamed", True)):
            client = OpenAI(base_url=proxy.base_url(ep), api_key=proxy.token, max_retries=0)
            kwargs = dict(model="tiny", messages=MESSAGES, temperature=0.8, max_tokens=12, seed=9)
            if stream:
                text = "".join(c.choices[0].delta.content or "" for c in
                               client.chat.completions.create(stream=True, **kwargs) if c.choices)
            else:
                text = client.chat.completions.create(**kwargs).choices[0].message.content
            assert text == expected.text
    log = open_log(url)
    responses = {r.event.payload.episode_id: r.event.payload for r in log.read("proxy")
                 if r.event.type == "proxy.response"}
    for ep in ("plain", "streamed"):
        r = responses[ep]
        assert r.trainable and r.completion_token_ids == expected.completion_token_ids
        assert r.logprobs == expected.logprobs and r.upstream == "hf:tiny" and r.policy_version == BASE_POLICY
