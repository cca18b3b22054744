"""One model call through the proxy: forward, record durably, then answer.

Order per call (the invariant of DESIGN.md §4): the agent's (final) response
leaves only after the `proxy.request` + `proxy.response` events of the call
(one response per choice when `n` > 1) are committed, all appended in one
group-commit batch. Before that, the events are checked against the bounds
every reader handles (`recordable`): an event larger than `max_body_bytes` is
answered 413 and nothing is written. A call whose well-formed events the log
does not take is answered 503 `log_unavailable` and its episode is marked
incomplete; a `proxy.error` is then attempted together with its parent
request, so an error never names a request the log does not hold. Streams
forward chunks as they arrive and hold back only the finish chunks and
`[DONE]` until the events are durable.

Messages sent to agents and stored in events never carry Python exception
text: an upstream's unexpected exception is logged (with its traceback) and
reported by kind only.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from fastapi.responses import Response

from events.envelope import Envelope
from events.ids import uuid7
from events.log import LogUnavailable
from producers.inference.base import (GenerateRequest, Generation, ReplayDiverged, Upstream, UpstreamError,
                                      UpstreamTimeout, choices_of, supports_n)

from .capture import EpisodeBook, EpisodeState, error_event, recorded_turn, request_event, response_event, sampling_of
from .config import ProxyConfig
from .continuation import Plan, build_prompt, plan_prompt, tools_id
from .intake import Parsed, Rejected
from .metrics import Metrics
from .recordable import encoded_size_over, request_bound, response_bound, tool_calls_too_deep
from .responses import Detail, Shape, completion_body, error_body
from .writer import GroupWriter

__all__ = ["Forwarder", "Call", "error_response", "upstream_failure"]

log = logging.getLogger("swe_ledger.proxy")


def error_response(status: int, message: str, code: str, headers: dict | None = None,
                   param: str | None = None) -> Response:
    return Response(error_body(status, message, code, param), status_code=status,
                    media_type="application/json", headers=headers)


def upstream_failure(exc: BaseException, upstream: str = "the upstream") -> tuple[int, str, str]:
    """(HTTP status, event kind, message) for an exception raised by an upstream."""
    if isinstance(exc, ReplayDiverged):
        return exc.status, "replay_diverged", str(exc)
    if isinstance(exc, UpstreamTimeout):
        return exc.status, "upstream_timeout", str(exc)
    if isinstance(exc, UpstreamError):
        return exc.status, "upstream_error", str(exc)
    return 502, "upstream_error", f"{upstream} failed unexpectedly (the proxy's log has the details)"


@dataclass(slots=True)
class Call:
    req: GenerateRequest
    raw: bytes
    stream: bool
    shape: Shape
    run_id: str
    t0: float
    n: int = 1
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

    def check_choices(self, parsed: Parsed) -> None:
        if parsed.n > 1 and not supports_n(self.upstream):
            raise Rejected(400, f"n: the {self.upstream.name} upstream makes one choice per request, so n "
                           f"must be 1 (got {parsed.n}); openai: and hf: upstreams make several",
                           "invalid_value", "n")

    def check_size(self, episode_id: str, endpoint: str, raw: bytes, parsed: Parsed, run_id: str) -> None:
        """413 before forwarding when the request's event would already be over the limit."""
        limit = self.config.max_body_bytes
        names = len(episode_id) + len(run_id) + len(self.upstream.name) + len(parsed.model)
        bound = request_bound(len(raw), self.config.raw_cap, None, names)
        if bound <= limit:
            return
        req = GenerateRequest(episode_id=episode_id, turn=0, endpoint=endpoint, model=parsed.model,
                              messages=parsed.messages, prompt=parsed.prompt, sampling=sampling_of(parsed.body, endpoint),
                              tools=parsed.tools, request_id=uuid7())
        ev = request_event(req, raw=raw, stream=parsed.stream, state=EpisodeState(), gen=None, run_id=run_id,
                           upstream=self.upstream.name, raw_cap=self.config.raw_cap, scripted=self.scripted)
        size = encoded_size_over(ev, limit, None)
        if size is not None:
            raise Rejected(413, f"this request would be recorded as a {size}-byte proxy.request event, over the "
                           f"limit of {limit} bytes (--max-body-bytes)", "event_too_large")

    def open_call(self, episode_id: str, endpoint: str, raw: bytes, parsed: Parsed, run_id: str) -> Call:
        rid = uuid7()  # also the id of the call's proxy.request event
        req = GenerateRequest(episode_id=episode_id, turn=self.book.next_turn(episode_id), endpoint=endpoint,
                              model=parsed.model, messages=parsed.messages, prompt=parsed.prompt,
                              sampling=sampling_of(parsed.body, endpoint), tools=parsed.tools, request_id=rid)
        shape = Shape(endpoint, rid, parsed.model, int(time.time()), parsed.body)
        call = Call(req, raw, parsed.stream, shape, run_id, time.perf_counter(), parsed.n)
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
            log.warning("chat template failed on %s turn %d", req.episode_id, req.turn, exc_info=exc)
            raise UpstreamError("the chat template could not render this conversation (the proxy's log "
                                "has the details)", status=400) from exc

    def headers(self, call: Call) -> dict[str, str]:
        return {"X-Request-Id": call.req.request_id, "X-Episode-Id": call.req.episode_id,
                "X-Turn": str(call.req.turn)}

    # -- non-streaming ---------------------------------------------------------------
    async def once(self, call: Call) -> Response:
        try:
            await self.prepare(call)
            gens = await choices_of(self.upstream, call.req, call.n)
            self.check_made(gens)
        except Exception as exc:  # every upstream failure becomes a recorded proxy.error
            return await self.upstream_failed(call, exc)
        latency_ms = (time.perf_counter() - call.t0) * 1000
        details = [call.shape.detail(g.completion_token_ids, g.logprobs, g.tokens, g.top_logprobs) for g in gens]
        req_ev = self.request_event(call, gens[0])
        evs = [req_ev, *self.response_events(call, gens, details, req_ev, stream=False, latency_ms=latency_ms,
                                             ttft_ms=None)]
        too_big = self.oversize(call, evs, gens, details)
        if too_big is not None:
            return too_big
        try:
            await self.writer.submit(evs)
        except LogUnavailable as exc:
            return self.log_failed(call, exc, req_ev)
        self.recorded(call, req_ev, gens)
        return Response(completion_body(call.shape, gens, details), media_type="application/json",
                        headers=self.headers(call))

    # -- shared by both paths ----------------------------------------------------------
    def request_event(self, call: Call, gen: Generation | None) -> Envelope:
        state = self.book.get(call.req.episode_id)
        return request_event(call.req, raw=call.raw, stream=call.stream, state=state, gen=gen,
                             run_id=call.run_id, upstream=self.upstream.name,
                             raw_cap=self.config.raw_cap, scripted=self.scripted, plan=call.plan)

    def response_events(self, call: Call, gens: list[Generation], details: list[Detail], req_ev: Envelope, *,
                        stream: bool, latency_ms: float, ttft_ms: float | None,
                        reason: str = "done") -> list[Envelope]:
        return [response_event(call.req, g, parent=req_ev.id, run_id=call.run_id, stream=stream,
                               latency_ms=latency_ms, ttft_ms=ttft_ms, reason=reason, choice=i,
                               tokens=d.tokens, top_logprobs=d.top)
                for i, (g, d) in enumerate(zip(gens, details))]

    def recorded(self, call: Call, req_ev: Envelope, gens: list[Generation]) -> None:
        """The call's events are durable; with several choices the next prompt cannot be a delta."""
        turn = recorded_turn(req_ev, gens[0], call.req, call.tools_id) if len(gens) == 1 else None
        self.book.recorded(call.req.episode_id, turn)

    def check_made(self, gens: list[Generation]) -> None:
        where = tool_calls_too_deep(gens)
        if where is not None:
            raise UpstreamError(f"{self.upstream.name} answered with {where} nested deeper than the log "
                                "can hold")

    def oversize(self, call: Call, evs: list[Envelope], gens: list[Generation],
                 details: list[Detail]) -> Response | None:
        """413 (and nothing written) when one of the call's events is larger than the body limit."""
        limit = self.config.max_body_bytes
        names = len(call.req.episode_id) + len(call.run_id) + len(self.upstream.name) + len(call.req.model)
        bounds = [request_bound(len(call.raw), self.config.raw_cap, gens[0].prompt_token_ids if gens else None,
                                names)] + [response_bound(g, d) for g, d in zip(gens, details)]
        for ev, bound in zip(evs, bounds):
            size = encoded_size_over(ev, limit, bound)
            if size is not None:
                self.metrics.error("event_too_large")
                self.metrics.observe(call.req.endpoint, 413, time.perf_counter() - call.t0)
                return error_response(413, f"the {ev.type} event of this call would be {size} bytes, over the "
                                      f"limit of {limit} bytes (--max-body-bytes); nothing was recorded",
                                      "event_too_large", self.headers(call))
        return None

    def failure_events(self, call: Call, exc: BaseException, req_ev: Envelope | None = None) -> list[Envelope]:
        status, kind, message = upstream_failure(exc, self.upstream.name)
        req_ev = req_ev or self.request_event(call, None)
        err = error_event(call.req, status=status, kind=kind, message=message, upstream=self.upstream.name,
                          run_id=call.run_id, parent=req_ev.id, scripted=self.scripted)
        return [req_ev, err]

    async def upstream_failed(self, call: Call, exc: BaseException) -> Response:
        status, kind, message = upstream_failure(exc, self.upstream.name)
        if not isinstance(exc, UpstreamError):
            log.error("upstream %s raised on %s turn %d", self.upstream.name, call.req.episode_id,
                      call.req.turn, exc_info=exc)
        self.metrics.error(kind)
        self.book.get(call.req.episode_id).errors += 1
        try:
            await self.writer.submit(self.failure_events(call, exc))
        except LogUnavailable as log_exc:
            self.book.mark_incomplete(call.req.episode_id, call.req.request_id)
            self.metrics.error("log_unavailable")
            log.warning("log did not take the failure events of %s: %s", call.req.request_id, log_exc)
        return error_response(status, message, kind, self.headers(call))

    def log_failed(self, call: Call, exc: LogUnavailable, req_ev: Envelope) -> Response:
        """The log did not take the call's events: mark the episode, try request + proxy.error, answer 503."""
        self.book.mark_incomplete(call.req.episode_id, call.req.request_id)
        self.metrics.error("log_unavailable")
        log.warning("log did not take the events of %s: %s", call.req.request_id, exc)
        err = error_event(call.req, status=503, kind="log_unavailable",
                          message="the event log did not take this call's events; the response was not delivered",
                          upstream=self.upstream.name, run_id=call.run_id, parent=req_ev.id,
                          scripted=self.scripted)
        self.spawn(self._try_append([req_ev, err]))  # the error goes in only with its parent
        message = (f"event log unavailable: the response was not delivered and episode "
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
