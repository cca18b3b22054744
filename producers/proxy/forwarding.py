"""One model call through the proxy: forward, record durably, then answer.

Order per call (the invariant of DESIGN.md §4): the agent's (final) response
leaves only after the `proxy.request` + `proxy.response` events of the call
are committed, both appended in one group-commit batch. A call whose events
cannot be committed is answered 503 and its episode is marked incomplete.
Streams forward chunks as they arrive and hold back only the finish chunk and
`[DONE]` until the events are durable.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from fastapi.responses import Response

from events.envelope import Envelope
from events.ids import uuid7
from events.log import LogUnavailable
from producers.inference.base import (GenerateRequest, Generation, ReplayDiverged, Upstream, UpstreamError,
                                      UpstreamTimeout)

from .capture import EpisodeBook, error_event, recorded_turn, request_event, response_event, sampling_of
from .config import ProxyConfig
from .continuation import Plan, build_prompt, plan_prompt, tools_id
from .intake import Parsed
from .metrics import Metrics
from .responses import Shape, completion_body, error_body
from .writer import GroupWriter

__all__ = ["Forwarder", "Call", "error_response"]


def error_response(status: int, message: str, code: str, headers: dict | None = None) -> Response:
    return Response(error_body(status, message, code), status_code=status,
                    media_type="application/json", headers=headers)


def upstream_failure(exc: BaseException) -> tuple[int, str, str]:
    """(HTTP status, event kind, message) for an exception raised by an upstream."""
    if isinstance(exc, ReplayDiverged):
        return exc.status, "replay_diverged", str(exc)
    if isinstance(exc, UpstreamTimeout):
        return exc.status, "upstream_timeout", str(exc)
    if isinstance(exc, UpstreamError):
        return exc.status, "upstream_error", str(exc)
    return 502, "upstream_error", f"upstream failed: {type(exc).__name__}: {exc}"


@dataclass(slots=True)
class Call:
    req: GenerateRequest
    raw: bytes
    stream: bool
    shape: Shape
    run_id: str
    t0: float
    plan: Plan | None = None
    """Token in, token out: how the proxy builds this chat prompt (None: the upstream renders it)."""
    tools_id: str = ""


class Forwarder:
    """Holds what every call shares: upstream, group writer, episode book, metrics."""

    def __init__(self, upstream: Upstream, writer: GroupWriter, config: ProxyConfig, metrics: Metrics):
        self.upstream = upstream
        self.writer = writer
        self.config = config
        self.metrics = metrics
        self.book = EpisodeBook(config.keep_turns)
        self.scripted = bool(getattr(upstream, "scripted", False))
        self.tokens = getattr(upstream, "chat_tokens", None)
        """The upstream's ChatTokens when it samples from the proxy's prompt ids (token in, token out)."""
        self._background: set[asyncio.Task] = set()

    def open_call(self, episode_id: str, endpoint: str, raw: bytes, parsed: Parsed, run_id: str) -> Call:
        rid = uuid7()  # also the id of the call's proxy.request event
        req = GenerateRequest(episode_id=episode_id, turn=self.book.next_turn(episode_id), endpoint=endpoint,
                              model=parsed.model, messages=parsed.messages, prompt=parsed.prompt,
                              sampling=sampling_of(parsed.body), tools=parsed.tools, request_id=rid)
        shape = Shape(endpoint, rid, parsed.model, int(time.time()), parsed.body)
        call = Call(req, raw, parsed.stream, shape, run_id, time.perf_counter())
        if endpoint == "chat" and self.tokens is not None:
            call.tools_id = tools_id(req.tools, req.sampling)
            call.plan = plan_prompt(self.book.get(episode_id).last, req.turn, endpoint, req.messages or [],
                                    call.tools_id)
        return call

    async def prepare(self, call: Call) -> None:
        """Build a token-in prompt (off the event loop); a template that fails is a 400."""
        if call.plan is None:
            return
        req = call.req
        try:
            req.prompt_token_ids = await asyncio.to_thread(build_prompt, self.tokens, call.plan,
                                                           req.messages or [], req.tools, req.sampling)
        except UpstreamError:
            raise
        except Exception as exc:
            raise UpstreamError(f"the chat template could not render this conversation: "
                                f"{type(exc).__name__}: {exc}", status=400) from exc

    def headers(self, call: Call) -> dict[str, str]:
        return {"X-Request-Id": call.req.request_id, "X-Episode-Id": call.req.episode_id,
                "X-Turn": str(call.req.turn)}

    # -- non-streaming ---------------------------------------------------------------
    async def once(self, call: Call) -> Response:
        try:
            await self.prepare(call)
            gen = await self.upstream.generate(call.req)
        except Exception as exc:  # every upstream failure becomes a recorded proxy.error
            return await self.upstream_failed(call, exc)
        latency_ms = (time.perf_counter() - call.t0) * 1000
        req_ev = self.request_event(call, gen)
        resp_ev = response_event(call.req, gen, parent=req_ev.id, run_id=call.run_id, stream=False,
                                 latency_ms=latency_ms, ttft_ms=None)
        try:
            await self.writer.submit([req_ev, resp_ev])
        except LogUnavailable as exc:
            return self.log_failed(call, exc, req_ev)
        self.book.recorded(call.req.episode_id, recorded_turn(req_ev, gen, call.req, call.tools_id))
        return Response(completion_body(call.shape, gen), media_type="application/json",
                        headers=self.headers(call))

    # -- shared by both paths ----------------------------------------------------------
    def request_event(self, call: Call, gen: Generation | None) -> Envelope:
        state = self.book.get(call.req.episode_id)
        return request_event(call.req, raw=call.raw, stream=call.stream, state=state, gen=gen,
                             run_id=call.run_id, upstream=self.upstream.name,
                             raw_cap=self.config.raw_cap, scripted=self.scripted, plan=call.plan)

    def failure_events(self, call: Call, exc: BaseException, req_ev: Envelope | None = None) -> list[Envelope]:
        status, kind, message = upstream_failure(exc)
        req_ev = req_ev or self.request_event(call, None)
        err = error_event(call.req, status=status, kind=kind, message=message, upstream=self.upstream.name,
                          run_id=call.run_id, parent=req_ev.id, scripted=self.scripted)
        return [req_ev, err]

    async def upstream_failed(self, call: Call, exc: BaseException) -> Response:
        status, kind, message = upstream_failure(exc)
        self.metrics.error(kind)
        self.book.get(call.req.episode_id).errors += 1
        try:
            await self.writer.submit(self.failure_events(call, exc))
        except LogUnavailable:
            self.book.mark_incomplete(call.req.episode_id, call.req.request_id)
            self.metrics.error("log_unavailable")
        return error_response(status, message, kind, self.headers(call))

    def log_failed(self, call: Call, exc: LogUnavailable, req_ev: Envelope | None) -> Response:
        """The events of a call could not be committed: mark the episode, try a proxy.error, answer 503."""
        self.book.mark_incomplete(call.req.episode_id, call.req.request_id)
        self.metrics.error("log_unavailable")
        err = error_event(call.req, status=503, kind="log_unavailable", message=str(exc),
                          upstream=self.upstream.name, run_id=call.run_id,
                          parent=req_ev.id if req_ev else None, scripted=self.scripted)
        self.spawn(self._try_append([err]))
        message = (f"event log unavailable ({exc}); the response was not delivered and episode "
                   f"{call.req.episode_id!r} is marked incomplete")
        return error_response(503, message, "log_unavailable", self.headers(call))

    async def _try_append(self, evs: list[Envelope]) -> None:
        try:
            await self.writer.submit(evs)
        except LogUnavailable:
            pass

    def spawn(self, coro: Any) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def status(self, episode_id: str) -> dict[str, Any]:
        state = self.book.peek(episode_id)
        if state is None:
            return {"episode_id": episode_id, "known": False, "turns": 0, "recorded": 0,
                    "errors": 0, "incomplete": False, "unrecorded": []}
        return {"episode_id": episode_id, "known": True, "turns": state.next_turn, "recorded": state.recorded,
                "errors": state.errors, "incomplete": state.incomplete, "unrecorded": list(state.unrecorded)}
