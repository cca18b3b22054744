"""The openai: upstream against the real stub server: keep-alive reuse and expiry, errors."""
from __future__ import annotations

import asyncio
import time

import pytest

from producers.inference.base import GenerateRequest, UpstreamError
from producers.inference.openai_http import OpenAIUpstream
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
