"""What the proxy remembers per episode, and the events it writes for each call.

Prompt token ids rule (the rollouts processor relies on it). For chat calls to
an upstream with `chat_tokens` the proxy builds the prompt itself, token in,
token out (producers/proxy/continuation.py): a turn that continues turn - 1
stores a `prompt_delta` (the ids appended after the previous prompt + its
sampled completion); any other turn > 0 is a fork and stores the full
`prompt_token_ids` with `fork_reason`. For upstreams that render prompts
themselves, a turn whose ids start with exactly (previous turn's prompt ids +
completion ids) stores a delta; otherwise full ids, and on turn > 0 a
`fork_reason`. "Previous turn" means turn - 1 of the same episode, recorded
durably with completion ids; anything else stores full ids.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import events
from events.blob import make_blob
from events.envelope import Envelope
from events.ids import response_id
from events.payloads import PromptDelta, ProxyError, ProxyRequest, ProxyResponse
from producers.inference.base import GenerateRequest, Generation

from .continuation import Plan, returned_message

__all__ = ["Turn", "EpisodeState", "EpisodeBook", "prompt_fields", "request_event",
           "response_event", "error_event", "recorded_turn", "sampling_of", "PRODUCER"]

PRODUCER = "proxy"


@dataclass(slots=True)
class Turn:
    """A durably recorded turn: what the next turn's prompt may extend."""

    turn: int
    request_event_id: str
    prompt_ids: list[int]
    completion_ids: list[int]
    endpoint: str = "chat"
    messages: list[dict[str, Any]] | None = None
    """The request's messages (chat), as the agent sent them."""
    reply: tuple = ()
    """The structure of the assistant message the proxy returned (continuation._shape)."""
    tools_id: str = ""


@dataclass(slots=True)
class EpisodeState:
    next_turn: int = 0
    last: Turn | None = None
    incomplete: bool = False
    """Some call of this episode could not be recorded; it must not be trained on."""
    errors: int = 0
    recorded: int = 0
    """Calls whose events are durably in the log."""
    unrecorded: list[str] = field(default_factory=list)
    """Request ids whose events could not be appended."""


class EpisodeBook:
    """Per-episode state; touched only from the event loop thread.

    Counters (turns, recorded, errors, incomplete) are kept for every episode
    the proxy has seen: they are small and `GET /e/{id}/status` reports them.
    The last turn's token ids, which can be tens of thousands of ints, are kept
    only for the `keep_turns` most recently active episodes; an idle episode
    past that bound loses them, and its next turn stores full prompt ids
    instead of a delta (the module rule allows that: correct, less compact).
    """

    def __init__(self, keep_turns: int = 1024) -> None:
        if keep_turns < 1:
            raise ValueError(f"keep_turns must be at least 1, got {keep_turns}")
        self.keep_turns = keep_turns
        self.dropped_turns = 0
        """How many episodes' last-turn token ids were dropped to stay in bound."""
        self._episodes: dict[str, EpisodeState] = {}
        self._holding: dict[str, None] = {}
        """Episodes whose `last` is set, least recently recorded first."""

    def get(self, episode_id: str) -> EpisodeState:
        state = self._episodes.get(episode_id)
        if state is None:
            state = self._episodes[episode_id] = EpisodeState()
        return state

    def peek(self, episode_id: str) -> EpisodeState | None:
        return self._episodes.get(episode_id)

    def next_turn(self, episode_id: str) -> int:
        state = self.get(episode_id)
        turn = state.next_turn
        state.next_turn += 1
        return turn

    def recorded(self, episode_id: str, turn: Turn | None) -> None:
        state = self.get(episode_id)
        state.recorded += 1
        if turn is not None and (state.last is None or turn.turn > state.last.turn):
            state.last = turn
            self._holding.pop(episode_id, None)
            self._holding[episode_id] = None
            while len(self._holding) > self.keep_turns:
                oldest = next(iter(self._holding))
                del self._holding[oldest]
                self._episodes[oldest].last = None
                self.dropped_turns += 1

    @property
    def holding(self) -> int:
        """Episodes whose last turn's token ids are in memory (at most `keep_turns`)."""
        return len(self._holding)

    def mark_incomplete(self, episode_id: str, request_id: str) -> None:
        state = self.get(episode_id)
        state.incomplete = True
        state.unrecorded.append(request_id)

    @property
    def incomplete(self) -> list[str]:
        return [e for e, s in self._episodes.items() if s.incomplete]


def prompt_fields(state: EpisodeState, turn: int, prompt_ids: list[int] | None,
                  plan: Plan | None = None) -> tuple[list[int] | None, PromptDelta | None, str | None]:
    """(full ids, None, fork reason) or (None, delta, None) for this turn's prompt, per the module rule."""
    if prompt_ids is None:
        return None, None, None
    if plan is not None and (plan.delta is not None or plan.fork_reason is not None or turn == 0):
        if plan.delta is not None:
            return None, plan.delta, None
        return list(prompt_ids), None, plan.fork_reason
    last = state.last
    if last is not None and last.turn == turn - 1:
        n = len(last.prompt_ids) + len(last.completion_ids)
        if (len(prompt_ids) >= n and prompt_ids[:len(last.prompt_ids)] == last.prompt_ids
                and prompt_ids[len(last.prompt_ids):n] == last.completion_ids):
            return None, PromptDelta.model_construct(base_request=last.request_event_id,
                                                     prefix_len=n, ids=prompt_ids[n:]), None
        return list(prompt_ids), None, (
            f"upstream_retokenized: the {last.endpoint} prompt the upstream rendered does not extend "
            f"turn {turn - 1}'s prompt and completion ids")
    reason = None if turn == 0 else f"previous_turn_unrecorded: turn {turn - 1} has no recorded ids to extend"
    return list(prompt_ids), None, reason


def request_event(req: GenerateRequest, *, raw: bytes, stream: bool, state: EpisodeState,
                  gen: Generation | None, run_id: str, upstream: str, raw_cap: int,
                  scripted: bool, plan: Plan | None = None) -> Envelope:
    ids = gen.prompt_token_ids if gen else None
    if plan is not None and ids is not None and ids != req.prompt_token_ids:
        plan = None  # the upstream did not sample from the ids the proxy built: judge its own
    full, delta, fork_reason = prompt_fields(state, req.turn, ids, plan)
    payload = ProxyRequest.model_construct(
        episode_id=req.episode_id, request_id=req.request_id, turn=req.turn, endpoint=req.endpoint,
        model=req.model, messages=req.messages or [], prompt=req.prompt, sampling=req.sampling,
        stream=stream, prompt_token_ids=full, prompt_delta=delta, raw=make_blob(raw, raw_cap),
        tools=req.tools, upstream=upstream, scripted=scripted, fork_reason=fork_reason)
    return events.new(payload, producer=PRODUCER, run_id=run_id, id=req.request_id)


def response_event(req: GenerateRequest, gen: Generation, *, parent: str, run_id: str, stream: bool,
                   latency_ms: float, ttft_ms: float | None, reason: str = "done", choice: int = 0,
                   tokens: list[str] | None = None, top_logprobs: list | None = None) -> Envelope:
    """`tokens` and `top_logprobs`: what the agent received of them (None when it did not ask)."""
    payload = ProxyResponse.model_construct(
        episode_id=req.episode_id, request_id=req.request_id, turn=req.turn, text=gen.text,
        finish_reason=gen.finish_reason, completion_token_ids=gen.completion_token_ids,
        logprobs=gen.logprobs, logprobs_mode=gen.logprobs_mode,
        trainable=gen.trainable and reason == "done",
        untrainable_reason=gen.untrainable_reason or (None if reason == "done" else f"stream_{reason}"),
        usage=gen.usage, latency_ms=latency_ms,
        ttft_ms=ttft_ms, upstream=gen.upstream, policy_version=gen.policy_version, stream=stream,
        reason=reason, tool_calls=gen.tool_calls, scripted=gen.scripted, choice=choice, tokens=tokens,
        top_logprobs=top_logprobs)
    # id derived from the request id (and choice): agents name this event as their actions' parent
    return events.new(payload, producer=PRODUCER, run_id=run_id, parent=parent,
                      id=response_id(req.request_id, choice or 0))


def error_event(req: GenerateRequest, *, status: int, kind: str, message: str, upstream: str,
                run_id: str, parent: str | None, scripted: bool = False) -> Envelope:
    payload = ProxyError(episode_id=req.episode_id, request_id=req.request_id, turn=req.turn,
                         status=status, kind=kind, message=message, upstream=upstream, scripted=scripted)
    return events.new(payload, producer=PRODUCER, run_id=run_id, parent=parent)


def recorded_turn(req_event: Envelope, gen: Generation, req: GenerateRequest, tools_id: str = "") -> Turn | None:
    if gen.prompt_token_ids is None or gen.completion_token_ids is None:
        return None
    chat = req.endpoint == "chat"
    return Turn(req.turn, req_event.id, list(gen.prompt_token_ids), list(gen.completion_token_ids),
                endpoint=req.endpoint, messages=req.messages if chat else None,
                reply=returned_message(gen.text, gen.tool_calls) if chat else (), tools_id=tools_id)


def sampling_of(body: dict[str, Any], endpoint: str = "chat") -> dict[str, Any]:
    """Every field of the body but those the request event keeps in fields of their own."""
    own = _OWN_FIELDS[endpoint]
    return {k: v for k, v in body.items() if k not in own}


_OWN_FIELDS = {"chat": frozenset({"model", "messages", "stream", "tools"}),
               "completions": frozenset({"model", "prompt", "stream"})}
