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

__all__ = ["GenerateRequest", "Generation", "Chunk", "Upstream", "UpstreamError",
           "UpstreamTimeout", "ReplayDiverged", "whole_as_stream"]


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
    policy_version: int = 0
    tool_calls: list[dict[str, Any]] | None = None
    scripted: bool = False
    upstream: str = ""
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


@runtime_checkable
class Upstream(Protocol):
    name: str

    async def generate(self, request: GenerateRequest) -> Generation: ...

    def stream(self, request: GenerateRequest) -> AsyncIterator[Chunk]: ...

    async def aclose(self) -> None: ...


async def whole_as_stream(upstream: Upstream, request: GenerateRequest) -> AsyncIterator[Chunk]:
    """`stream` for upstreams that only produce whole generations: one final chunk."""
    gen = await upstream.generate(request)
    yield Chunk(text=gen.text, token_ids=list(gen.completion_token_ids or []),
                logprobs=list(gen.logprobs or []), final=gen)
