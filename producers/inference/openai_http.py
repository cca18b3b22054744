"""`openai:URL`: any OpenAI-compatible server over HTTP.

For vLLM (>= 0.10.2) the request asks for `return_token_ids` and `logprobs`,
and the response's `prompt_token_ids`, `choices[].token_ids` and per-token
logprobs are captured. A server that returns no token ids yields a text-only
Generation (`trainable` is False), which the trainer never learns from.

Connection failures, timeouts, 429 and 5xx are retried with exponential
backoff before the first byte of a response; then the error surfaces as
`UpstreamTimeout` (504) or `UpstreamError` (502, or the upstream's 4xx).
"""
from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

import orjson

from .base import Chunk, GenerateRequest, Generation, UpstreamError, UpstreamTimeout
from .http1 import ConnectionFailed, Pool, Response
from .openai_parse import StreamAccumulator, generations_from_body

__all__ = ["OpenAIUpstream"]

_RETRYABLE = {429, 500, 502, 503, 504}


class OpenAIUpstream:
    """Forwards to `base_url` (e.g. `http://127.0.0.1:8000/v1`); `n` > 1 is forwarded as is."""

    supports_n = True

    def __init__(self, base_url: str, *, timeout_s: float = 600.0,
                 retries: int = 2, backoff_s: float = 0.2, api_key: str | None = None,
                 logprobs_mode: str = "raw", ask_token_ids: bool = True,
                 policy_version: int = 0, **_: Any):
        self.base_url = base_url.rstrip("/")
        self.name = f"openai:{self.base_url}"
        self.timeout_s = timeout_s
        """Seconds to wait for the response headers, for a whole body, or between stream reads."""
        self.retries = retries
        """Extra attempts after the first, on connection errors, timeouts, 429 and 5xx."""
        self.backoff_s = backoff_s
        """First retry delay; doubled per attempt."""
        self.logprobs_mode = logprobs_mode
        """What the server's logprobs are (vLLM `--logprobs-mode`: raw by default)."""
        self.ask_token_ids = ask_token_ids
        """Send vLLM's `return_token_ids`/`logprobs`; off for servers that reject unknown fields."""
        self.policy_version = policy_version
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._pool = Pool(self.base_url, headers)

    # -- protocol --------------------------------------------------------------------
    async def generate(self, request: GenerateRequest) -> Generation:
        return (await self.generate_choices(request, 1))[0]

    async def generate_choices(self, request: GenerateRequest, n: int) -> list[Generation]:
        body = self._body(request, stream=False)
        resp = await self._post(request, body)
        try:
            async with asyncio.timeout(self.timeout_s):
                data = await resp.read()
        except TimeoutError as exc:
            raise UpstreamTimeout(f"{self.name}: no response within {self.timeout_s}s") from exc
        except ConnectionFailed as exc:
            raise UpstreamError(f"{self.name}: {exc}") from exc
        finally:
            resp.close()
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise UpstreamError(f"{self.name}: response is not JSON: {data[:200]!r}") from None
        return [self._finish(g) for g in generations_from_body(parsed, request.endpoint, n, _detail(request))]

    async def stream(self, request: GenerateRequest) -> AsyncIterator[Chunk]:
        body = self._body(request, stream=True)
        resp = await self._post(request, body)
        acc = StreamAccumulator(request.endpoint, _n(request), _detail(request))
        lines = resp.iter_lines()
        try:
            while not acc.done:
                async with asyncio.timeout(self.timeout_s):
                    line = await anext(lines, None)
                if line is None:
                    break
                chunk = acc.feed_line(line)
                if chunk is not None:
                    yield chunk
        except TimeoutError as exc:
            raise UpstreamTimeout(f"{self.name}: stream stalled for {self.timeout_s}s") from exc
        except ConnectionFailed as exc:
            raise UpstreamError(f"{self.name}: stream broke: {exc}") from exc
        finally:
            await lines.aclose()
            resp.close()
        if not acc.done and not acc.saw_finish:
            raise UpstreamError(f"{self.name}: stream ended without [DONE] or a finish_reason")
        for index, gen in enumerate(acc.generations()):
            yield Chunk(final=self._finish(gen), index=index)

    def stream_choices(self, request: GenerateRequest, n: int) -> AsyncIterator[Chunk]:
        return self.stream(request)  # the request's `n` is forwarded; chunks carry their index

    async def aclose(self) -> None:
        self._pool.close()

    # -- internals -------------------------------------------------------------------
    def _finish(self, gen: Generation) -> Generation:
        gen.upstream = self.name
        gen.policy_version = self.policy_version
        gen.logprobs_mode = self.logprobs_mode if gen.logprobs is not None else "none"
        return gen

    def _body(self, request: GenerateRequest, stream: bool) -> bytes:
        body: dict[str, Any] = dict(request.sampling)
        body["model"] = request.model
        if request.endpoint == "chat":
            body["messages"] = request.messages or []
            if request.tools is not None:
                body["tools"] = request.tools
        else:
            body["prompt"] = request.prompt if request.prompt is not None else ""
        if self.ask_token_ids:
            body["return_token_ids"] = True
            if request.endpoint == "chat":
                body["logprobs"] = True
            elif body.get("logprobs") is None:
                body["logprobs"] = 0
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return orjson.dumps(body)

    async def _post(self, request: GenerateRequest, body: bytes) -> Response:
        """POST with retries; returns a 200 response whose body is still unread."""
        path = "/chat/completions" if request.endpoint == "chat" else "/completions"
        last: UpstreamError | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                async with asyncio.timeout(self.timeout_s):
                    resp = await self._pool.post(path, body)
                    if resp.status == 200:
                        return resp
                    text = (await resp.read()).decode("utf-8", "replace")[:2000]
                    resp.close()
            except TimeoutError:
                last = UpstreamTimeout(f"{self.name}: no response within {self.timeout_s}s")
                continue
            except ConnectionFailed as exc:
                last = UpstreamError(f"{self.name}: {exc}")
                continue
            status = resp.status if 400 <= resp.status < 500 and resp.status != 429 else 502
            last = UpstreamError(f"{self.name} answered {resp.status}: {text}", status=status)
            if resp.status not in _RETRYABLE:
                break
        assert last is not None
        raise last


def _n(request: GenerateRequest) -> int:
    n = request.sampling.get("n")
    return n if type(n) is int and n > 1 else 1


def _detail(request: GenerateRequest) -> bool:
    """Whether the agent asked for logprobs (then token texts and alternatives are kept)."""
    lp = request.sampling.get("logprobs")
    return lp is not None and lp is not False
