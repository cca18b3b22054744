"""`proxy` topic: every model call an agent makes, as the proxy saw it."""
from __future__ import annotations

from typing import Any, Literal

from ..blob import Blob
from .base import Payload
from .policy import UNKNOWN_POLICY, PolicyVersion

__all__ = ["PromptDelta", "ProxyRequest", "ProxyResponse", "ProxyError", "StreamEnd"]

StreamEnd = Literal["done", "cancelled", "timeout", "upstream_error"]


class PromptDelta(Payload):
    """Prompt token ids stored relative to the previous turn of the same episode.

    The full prompt is `previous_prompt + previous_completion` truncated to
    `prefix_len`, followed by `ids`.
    """

    base_request: str
    """Id of the proxy.request event whose prompt (+ its completion) this extends."""
    prefix_len: int
    ids: list[int]


class ProxyRequest(Payload):
    episode_id: str
    request_id: str
    turn: int
    """0-based index of this model call within the episode."""
    endpoint: Literal["chat", "completions"] = "chat"
    model: str = ""
    messages: list[dict[str, Any]] = []
    prompt: str | None = None
    """For /v1/completions."""
    sampling: dict[str, Any] = {}
    stream: bool = False
    prompt_token_ids: list[int] | None = None
    """Full prompt ids when they do not extend the previous turn (or on turn 0)."""
    prompt_delta: PromptDelta | None = None
    raw: Blob | None = None
    """The raw request body."""
    tools: list[dict[str, Any]] | None = None
    """Tool definitions the client offered (chat)."""
    upstream: str = ""
    """The upstream the request was forwarded to."""
    scripted: bool = False
    """True when the upstream is a scripted stand-in, not a model."""
    fork_reason: str | None = None
    """Set on a turn > 0 whose prompt does not continue the previous turn's ids (stored whole):
    `kind: detail`, kind one of producers.proxy.continuation.FORK_REASONS."""


class ProxyResponse(Payload):
    episode_id: str
    request_id: str
    turn: int
    text: str = ""
    finish_reason: str | None = None
    completion_token_ids: list[int] | None = None
    logprobs: list[float] | None = None
    logprobs_mode: str = "none"
    """`raw` (sampler logprobs), `processed`, or `none` when the upstream gave none."""
    trainable: bool = False
    """True when token ids and logprobs were sampled now by a model and captured exactly
    (v2: never for scripted or replayed responses)."""
    untrainable_reason: str | None = None
    """Why `trainable` is False: scripted, replayed, no_token_ids, no_logprobs,
    logprobs_misaligned, stream_<reason>."""
    usage: dict[str, int] = {}
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    upstream: str = ""
    policy_version: PolicyVersion = UNKNOWN_POLICY
    """The weights that sampled this response (v2; v1 stored a bare int, upcast to unknown)."""
    stream: bool = False
    reason: StreamEnd = "done"
    tool_calls: list[dict[str, Any]] | None = None
    scripted: bool = False
    """True when the upstream is a scripted stand-in, not a model."""
    choice: int = 0
    """Index of this choice among the request's `n` (each choice is its own response event,
    trainable on its own; all name the same proxy.request as parent)."""
    tokens: list[str] | None = None
    """Text of each completion token as the agent received it (when it asked for logprobs);
    OpenAI's `bytes:\\xNN...` for a token that is not whole UTF-8."""
    top_logprobs: list[list[tuple[str, float]]] | None = None
    """Per completion token, [token, logprob] of the alternatives the agent asked for."""


class ProxyError(Payload):
    episode_id: str
    request_id: str
    turn: int = 0
    status: int
    kind: str
    """e.g. upstream_timeout, upstream_error, log_unavailable, replay_diverged."""
    message: str
    upstream: str = ""
    scripted: bool = False
    """True when the upstream is a scripted stand-in, not a model."""
