"""`replay:LOG_URL[#episode=ID]`: serve an episode's recorded responses, turn by turn.

An unchanged agent pointed at a proxy with this upstream gets, at turn t, exactly
what the recorded episode got at turn t: the same text, tool calls, token ids,
logprobs — or the same upstream error. The recording is the episode with the
request's own id, or the one named by `#episode=ID` / `episode=` (to replay it
under a new episode id). A request whose messages or prompt differ from the
recorded turn is refused with `ReplayDiverged` (HTTP 409) naming the turn.
Replayed responses are never trainable (`untrainable_reason` `replayed`): they
were not sampled by the policy serving now.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

import orjson

from .base import Chunk, GenerateRequest, Generation, ReplayDiverged, UpstreamError, whole_as_stream

__all__ = ["ReplayUpstream", "RecordedTurn", "load_recording"]


@dataclass
class RecordedTurn:
    turn: int
    request: Any
    """The proxy.request payload."""
    prompt_ids: list[int] | None = None
    response: Any = None
    """The proxy.response payload (reason done), if any."""
    error: Any = None
    """The proxy.error payload, if the call failed."""


@dataclass
class _Recording:
    turns: dict[int, RecordedTurn] = field(default_factory=dict)


def load_recording(log_url: str) -> dict[str, _Recording]:
    """Every episode's recorded turns, read from the log's `proxy` topic."""
    from events.log import open_log

    log = open_log(log_url)
    try:
        records = sorted((r for r in log.read("proxy")), key=lambda r: (r.partition, r.offset))
    finally:
        log.close()
    by_request: dict[str, RecordedTurn] = {}
    prompts: dict[str, tuple[list[int], list[int]]] = {}  # request event id -> (prompt, completion)
    episodes: dict[str, _Recording] = {}
    for rec in records:
        ev, p = rec.event, rec.event.payload
        if ev.type == "proxy.request":
            turn = RecordedTurn(p.turn, p, _full_prompt(p, prompts))
            by_request[p.request_id] = turn
            episodes.setdefault(p.episode_id, _Recording()).turns[p.turn] = turn
            if turn.prompt_ids is not None:
                prompts[ev.id] = (turn.prompt_ids, [])
            by_request[ev.id] = turn
        elif ev.type == "proxy.response" and p.request_id in by_request:
            turn = by_request[p.request_id]
            if p.reason == "done" and p.choice == 0:  # a call with n > 1 is replayed as its first choice
                turn.response = p
                if ev.parent in prompts and p.completion_token_ids is not None:
                    prompts[ev.parent] = (prompts[ev.parent][0], list(p.completion_token_ids))
        elif ev.type == "proxy.error" and p.request_id in by_request:
            by_request[p.request_id].error = p
    return episodes


def _full_prompt(p: Any, prompts: dict[str, tuple[list[int], list[int]]]) -> list[int] | None:
    if p.prompt_token_ids is not None:
        return list(p.prompt_token_ids)
    delta = p.prompt_delta
    if delta is None or delta.base_request not in prompts:
        return None
    base_prompt, base_completion = prompts[delta.base_request]
    return (base_prompt + base_completion)[:delta.prefix_len] + list(delta.ids)


def _canon(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


class ReplayUpstream:
    def __init__(self, target: str, episode: str | None = None, **_: Any):
        url, _, fragment = target.partition("#")
        self.log_url = url
        self.episode = episode or (fragment[len("episode="):] if fragment.startswith("episode=") else None)
        self.name = f"replay:{url}"
        self._episodes: dict[str, _Recording] | None = None

    async def _recording(self, episode_id: str) -> _Recording:
        source = self.episode or episode_id
        if self._episodes is None or source not in self._episodes:
            self._episodes = await asyncio.to_thread(load_recording, self.log_url)
        rec = self._episodes.get(source)
        if rec is None:
            raise ReplayDiverged(f"replay: episode {source!r} is not in the recording at {self.log_url}")
        return rec

    async def generate(self, request: GenerateRequest) -> Generation:
        rec = await self._recording(request.episode_id)
        turn = rec.turns.get(request.turn)
        if turn is None:
            raise ReplayDiverged(f"replay diverged at turn {request.turn}: the recording has "
                                 f"{len(rec.turns)} turns")
        self._check(request, turn)
        if turn.response is None:
            err = turn.error
            status = err.status if err is not None else 502
            raise UpstreamError(f"replayed failure of turn {request.turn}: "
                                f"{err.message if err else 'no response was recorded'}", status=status)
        r = turn.response
        return Generation(
            text=r.text, finish_reason=r.finish_reason or "stop", prompt_token_ids=turn.prompt_ids,
            completion_token_ids=r.completion_token_ids, logprobs=r.logprobs, logprobs_mode=r.logprobs_mode,
            usage=dict(r.usage), policy_version=r.policy_version, tool_calls=r.tool_calls,
            scripted=r.scripted, upstream=self.name, replayed=True, tokens=r.tokens,
            top_logprobs=[list(alts) for alts in r.top_logprobs] if r.top_logprobs is not None else None)

    def _check(self, request: GenerateRequest, turn: RecordedTurn) -> None:
        rec = turn.request
        where = f"replay diverged at turn {request.turn}"
        if request.endpoint != rec.endpoint:
            raise ReplayDiverged(f"{where}: endpoint {request.endpoint!r}, recorded {rec.endpoint!r}")
        if request.endpoint == "completions":
            if request.prompt != rec.prompt:
                raise ReplayDiverged(f"{where}: the prompt differs from the recording")
            return
        got, want = request.messages or [], list(rec.messages)
        for i, (a, b) in enumerate(zip(got, want)):
            if _canon(a) != _canon(b):
                raise ReplayDiverged(f"{where}: messages[{i}] differs from the recording")
        if len(got) != len(want):
            raise ReplayDiverged(f"{where}: {len(got)} messages, recorded {len(want)}")

    def stream(self, request: GenerateRequest) -> AsyncIterator[Chunk]:
        return whole_as_stream(self, request)

    async def aclose(self) -> None:
        pass
