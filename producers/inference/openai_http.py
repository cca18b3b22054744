"""`openai:URL`: any OpenAI-compatible server over HTTP.

For vLLM (>= 0.10.2) the request asks for `return_token_ids` and `logprobs`,
and the response's `prompt_token_ids`, `choices[].token_ids` and per-token
logprobs are captured. A server that returns no token ids yields a text-only
Generation (`trainable` is False), which the trainer never learns from.

Connection failures, timeouts, 429 and 5xx are retried with exponential
backoff before the first byte of a response; then the error surfaces as
`UpstreamTimeout` (504) or `UpstreamError` (502, or the upstream's 4xx).

Token in, token out (`openai:URL#tokenizer=SPEC`, or the `tokenizer` option; SPEC
is `tiny`, `smollm2-135m` or a local model directory holding the served model's
tokenizer): the proxy builds chat prompts as token ids with that tokenizer's chat
template (producers/inference/chat_tokens.py) and this upstream sends them to the
server's completions endpoint as a token-id `prompt` (vLLM accepts a list of ids
there and samples from exactly them), asking for token ids and logprobs back.
The agent still gets a chat completion. Tool calls on that path are parsed in
SmolLM2's `<tool_call>` format for templates without a tools branch; for any
other template a request with tools is refused (400), since no parser for its
format is known here.

Policy version: a server whose weights this process does not manage stamps
`unknown` (never trained on). With `follow=TRAINER_ID` (and `log_url`) the
server is taken to be a vLLM server started on that trainer's initial weights:
each `policy.updated` checkpoint is pushed into it (producers/inference/vllm_sync.py)
and responses are stamped with the version actually served.
"""
from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

import orjson

from events.payloads.policy import UNKNOWN_POLICY, PolicyVersion

from .base import Chunk, GenerateRequest, Generation, UpstreamError, UpstreamTimeout
from .follower import PolicyFollower
from .http1 import ConnectionFailed, Pool, Response
from .openai_parse import StreamAccumulator, generations_from_body
from .tool_calls import check_tool_request, offered_tools, parse_tool_calls

__all__ = ["OpenAIUpstream"]

_RETRYABLE = {429, 500, 502, 503, 504}
_CHAT_ONLY = frozenset({"tool_choice", "parallel_tool_calls", "response_format", "logprobs", "top_logprobs",
                        "functions", "function_call", "max_completion_tokens"})
"""Chat fields a completions request (the token-in path) does not take."""


class OpenAIUpstream:
    """Forwards to `base_url` (e.g. `http://127.0.0.1:8000/v1`); `n` > 1 is forwarded as is."""

    supports_n = True

    def __init__(self, base_url: str, *, timeout_s: float = 600.0,
                 retries: int = 2, backoff_s: float = 0.2, api_key: str | None = None,
                 logprobs_mode: str = "raw", ask_token_ids: bool = True,
                 tokenizer: str | None = None, log_url: str | None = None, follow: str | None = None,
                 **_: Any):
        from .vllm_sync import VllmWeightSync, WeightGate

        base_url, _sep, fragment = base_url.partition("#")
        if fragment.startswith("tokenizer="):
            tokenizer = tokenizer or fragment[len("tokenizer="):]
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
        self.gate = WeightGate(PolicyVersion.of(follow, 0) if follow else UNKNOWN_POLICY)
        """Stamps each response with the version serving it; closed while weights are pushed."""
        self.chat_tokens = None
        """Set with `tokenizer`: the proxy builds chat prompts as ids, sent as completions prompts."""
        if tokenizer:
            from .chat_tokens import load_chat_tokens

            self.chat_tokens = load_chat_tokens(tokenizer)
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._pool = Pool(self.base_url, headers)
        self.follower: PolicyFollower | None = None
        if follow:
            if not log_url:
                raise ValueError("following a trainer's policy needs the event log URL (log_url)")
            self.weight_sync = VllmWeightSync(self.base_url, self.gate, timeout_s=timeout_s, api_key=api_key)
            self.follower = PolicyFollower(log_url, follow, self.weight_sync)
            self.follower.catch_up()
            self.follower.start()

    @property
    def policy_version(self) -> PolicyVersion:
        return self.gate.version

    # -- protocol --------------------------------------------------------------------
    async def generate(self, request: GenerateRequest) -> Generation:
        return (await self.generate_choices(request, 1))[0]

    async def generate_choices(self, request: GenerateRequest, n: int) -> list[Generation]:
        version = await self.gate.enter()
        try:
            return [self._finish(g, request, version) for g in await self._generate(request, n)]
        finally:
            self.gate.exit()

    async def _generate(self, request: GenerateRequest, n: int) -> list[Generation]:
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
        except orjson.JSONDecodeError as exc:
            raise UpstreamError(f"{self.name}: response is not JSON: {data[:200]!r}") from exc
        return generations_from_body(parsed, _wire(request), n, _detail(request))

    async def stream(self, request: GenerateRequest) -> AsyncIterator[Chunk]:
        version = await self.gate.enter()
        try:
            async for chunk in self._stream(request):
                if chunk.final is not None:
                    chunk.final = self._finish(chunk.final, request, version)
                yield chunk
        finally:
            self.gate.exit()

    async def _stream(self, request: GenerateRequest) -> AsyncIterator[Chunk]:
        body = self._body(request, stream=True)
        resp = await self._post(request, body)
        acc = StreamAccumulator(_wire(request), _n(request), _detail(request))
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
            yield Chunk(final=gen, index=index)

    def stream_choices(self, request: GenerateRequest, n: int) -> AsyncIterator[Chunk]:
        return self.stream(request)  # the request's `n` is forwarded; chunks carry their index

    async def aclose(self) -> None:
        if self.follower is not None:
            await asyncio.to_thread(self.follower.stop)
        self._pool.close()

    # -- internals -------------------------------------------------------------------
    def _finish(self, gen: Generation, request: GenerateRequest, version: PolicyVersion) -> Generation:
        gen.upstream = self.name
        gen.policy_version = version
        gen.logprobs_mode = self.logprobs_mode if gen.logprobs is not None else "none"
        if _token_in(request):
            if gen.prompt_token_ids is None:
                gen.prompt_token_ids = list(request.prompt_token_ids or [])
            if offered_tools(request.tools, request.sampling):
                content, calls = parse_tool_calls(gen.text, request.turn)
                if calls:
                    gen.text, gen.tool_calls, gen.finish_reason = content or "", calls, "tool_calls"
        return gen

    def _token_in_body(self, request: GenerateRequest) -> dict[str, Any]:
        """A chat request whose prompt the proxy built: a completions request with a token-id prompt."""
        if offered_tools(request.tools, request.sampling) and not getattr(self.chat_tokens, "tools_in_system", False):
            raise UpstreamError(f"{self.name}: tools over the token-in path need a tool-call parser for this "
                                "model's chat template; only SmolLM2's <tool_call> format is known", status=400)
        check_tool_request(request.tools, request.sampling, self.name)
        body = {k: v for k, v in request.sampling.items() if k not in _CHAT_ONLY}
        if request.sampling.get("max_completion_tokens") is not None and body.get("max_tokens") is None:
            body["max_tokens"] = request.sampling["max_completion_tokens"]
        body["prompt"] = list(request.prompt_token_ids or [])
        return body

    def _body(self, request: GenerateRequest, stream: bool) -> bytes:
        if _token_in(request):
            body: dict[str, Any] = self._token_in_body(request)
        else:
            body = dict(request.sampling)
        body["model"] = request.model
        if _token_in(request):
            pass
        elif request.endpoint == "chat":
            body["messages"] = request.messages or []
            if request.tools is not None:
                body["tools"] = request.tools
        else:
            body["prompt"] = request.prompt if request.prompt is not None else ""
        if self.ask_token_ids:
            body["return_token_ids"] = True
            if _wire(request) == "chat":
                body["logprobs"] = True
            elif body.get("logprobs") is None:
                body["logprobs"] = 0
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return orjson.dumps(body)

    async def _post(self, request: GenerateRequest, body: bytes) -> Response:
        """POST with retries; returns a 200 response whose body is still unread."""
        path = "/chat/completions" if _wire(request) == "chat" else "/completions"
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


def _token_in(request: GenerateRequest) -> bool:
    return request.endpoint == "chat" and request.prompt_token_ids is not None


def _wire(request: GenerateRequest) -> str:
    """The endpoint the server is asked: completions for a token-in chat request."""
    return "completions" if _token_in(request) else request.endpoint
