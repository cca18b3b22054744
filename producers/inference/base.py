"""The seam between the proxy and whatever generates tokens.

An upstream takes a `GenerateRequest` and returns a `Generation` (or streams
`Chunk`s ending with one). Token ids and logprobs are whatever the upstream
sampled; an upstream that cannot give them says so (`trainable=False`) and the
sample stays out of training. Scripted and replayed generations are never
trainable (`untrainable_reason`), whatever ids they carry.

Token in, token out: an upstream with a `chat_tokens` attribute (a
`producers.inference.chat_tokens.ChatTokens`) lets the proxy build chat prompts
as token ids, and samples from `GenerateRequest.prompt_token_ids` exactly when
the proxy sets them (never re-rendering the conversation).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Literal, Protocol, runtime_checkable

from events.payloads.policy import UNKNOWN_POLICY, PolicyVersion

__all__ = ["GenerateRequest", "Generation", "Chunk", "Upstream", "UpstreamError",
           "UpstreamTimeout", "ReplayDiverged", "whole_as_stream", "TopLogprobs", "choices_of",
           "supports_n", "stream_of", "token_text_of_bytes"]

TopLogprobs = list[list[tuple[str, float]]]
"""Per completion token, (token text, logprob) of the most likely alternatives, best first."""


class UpstreamError(RuntimeError):
    """The upstream failed; `status` is what the proxy returns to the agent (502 by default)."""

    status = 502

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        if status is not None:
            self.status = status


class UpstreamTimeout(UpstreamError):
    status = 504


class ReplayDiverged(UpstreamError):
    """A request differs from the recording being replayed (HTTP 409, names the turn)."""

    status = 409


@dataclass
class GenerateRequest:
    episode_id: str
    turn: int
    endpoint: Literal["chat", "completions"] = "chat"
    model: str = ""
    messages: list[dict[str, Any]] | None = None
    prompt: str | None = None
    sampling: dict[str, Any] = field(default_factory=dict)
    """temperature, top_p, max_tokens, seed, stop, ... as the client sent them."""
    tools: list[dict[str, Any]] | None = None
    request_id: str = ""
    prompt_token_ids: list[int] | None = None
    """Set by the proxy for upstreams with `chat_tokens`: the exact prompt to sample from."""


@dataclass
class Generation:
    text: str
    finish_reason: str = "stop"
    prompt_token_ids: list[int] | None = None
    completion_token_ids: list[int] | None = None
    logprobs: list[float] | None = None
    """One per completion token."""
    logprobs_mode: str = "none"
    usage: dict[str, int] = field(default_factory=dict)
    policy_version: PolicyVersion = UNKNOWN_POLICY
    """The weights that sampled this (unknown unless the upstream knows)."""
    tool_calls: list[dict[str, Any]] | None = None
    scripted: bool = False
    upstream: str = ""
    tokens: list[str] | None = None
    """Text of each completion token as the upstream detokenised it (OpenAI's convention:
    `bytes:\\xNN...` for a token that is not whole UTF-8); None when the upstream gives none."""
    top_logprobs: TopLogprobs | None = None
    """The alternatives the request asked for (`top_logprobs`), when the upstream gives them."""
    replayed: bool = False
    """Served from a recording (`replay:`), not sampled now."""

    @property
    def untrainable_reason(self) -> str | None:
        """Why this generation can never be trained on, or None when it can."""
        if self.scripted:
            return "scripted"
        if self.replayed:
            return "replayed"
        ids, lps = self.completion_token_ids, self.logprobs
        if self.prompt_token_ids is None or ids is None:
            return "no_token_ids"
        if lps is None:
            return "no_logprobs"
        if len(ids) != len(lps):
            return "logprobs_misaligned"
        return None

    @property
    def trainable(self) -> bool:
        return self.untrainable_reason is None


@dataclass
class Chunk:
    """A piece of a streamed completion; the last one carries `final`."""

    text: str = ""
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    final: Generation | None = None
    index: int = 0
    """The choice this chunk belongs to (requests with n > 1); each choice ends with its own `final`."""
    tokens: list[str] = field(default_factory=list)
    top_logprobs: TopLogprobs = field(default_factory=list)


@runtime_checkable
class Upstream(Protocol):
    """Makes one choice per request. An upstream that can make several (`n` > 1) also sets
    `supports_n = True` and has `async def generate_choices(request, n) -> list[Generation]`
    and `stream_choices(request, n) -> AsyncIterator[Chunk]`, whose chunks carry their
    choice's `index` and which ends every choice with a chunk holding its `final`
    Generation; the proxy then calls those two for every request, n = 1 included."""

    name: str

    async def generate(self, request: GenerateRequest) -> Generation: ...

    def stream(self, request: GenerateRequest) -> AsyncIterator[Chunk]: ...

    async def aclose(self) -> None: ...


def supports_n(upstream: Any) -> bool:
    return bool(getattr(upstream, "supports_n", False)) and hasattr(upstream, "generate_choices")


async def choices_of(upstream: Any, request: GenerateRequest, n: int) -> list[Generation]:
    """`n` generations for `request`."""
    if not supports_n(upstream):
        return [await upstream.generate(request)]
    gens = list(await upstream.generate_choices(request, n))
    if len(gens) != n:
        raise UpstreamError(f"{upstream.name} made {len(gens)} choices, {n} were asked for")
    return gens


def stream_of(upstream: Any, request: GenerateRequest, n: int) -> AsyncIterator[Chunk]:
    """The chunks of `n` choices for `request`."""
    return upstream.stream_choices(request, n) if supports_n(upstream) else upstream.stream(request)


def token_text_of_bytes(data: bytes) -> str:
    """A token's text: itself when it is whole UTF-8, else OpenAI's `bytes:\\xNN...` form."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes:" + "".join(f"\\x{b:02x}" for b in data)


async def whole_as_stream(upstream: Upstream, request: GenerateRequest) -> AsyncIterator[Chunk]:
    """`stream` for upstreams that only produce whole generations: one final chunk."""
    gen = await upstream.generate(request)
    yield Chunk(text=gen.text, token_ids=list(gen.completion_token_ids or []),
                logprobs=list(gen.logprobs or []), final=gen, tokens=list(gen.tokens or []),
                top_logprobs=list(gen.top_logprobs or []))
