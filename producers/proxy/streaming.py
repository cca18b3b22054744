"""Streamed calls: forward first, record second, always one final event with a reason.

Chunks go to the agent as the upstream produces them. The finish chunk and
`[DONE]` are held back until the request + response events are committed, so
an agent never sees a complete stream whose events are not durable. Every
stream ends with a `proxy.response` whose `reason` is `done`, `cancelled`
(the client went away), `timeout` or `upstream_error` (the last two also get a
`proxy.error`). A failure before the first chunk is answered like a
non-streamed failure (502/504/409 with a JSON error).
"""
from __future__ import annotations

import dataclasses
import time
from typing import AsyncIterator

from fastapi.responses import Response, StreamingResponse

from events.envelope import Envelope
from events.log import LogUnavailable
from producers.inference.base import Chunk, Generation, UpstreamTimeout

from .capture import recorded_turn, response_event
from .forwarding import Call, Forwarder, upstream_failure
from .responses import chunk_bytes, error_body, final_chunks

__all__ = ["stream_call"]


class _Received:
    """What the agent has been sent so far."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.ids: list[int] = []
        self.lps: list[float] = []
        self.saw_ids = False
        self.saw_lps = False
        self.ttft_ms: float | None = None
        self.final: Generation | None = None
        self.recorded = False

    def add(self, chunk: Chunk, t0: float) -> None:
        if self.ttft_ms is None:
            self.ttft_ms = (time.perf_counter() - t0) * 1000
        self.texts.append(chunk.text)
        self.ids.extend(chunk.token_ids)
        self.lps.extend(chunk.logprobs)
        self.saw_ids = self.saw_ids or bool(chunk.token_ids)
        self.saw_lps = self.saw_lps or bool(chunk.logprobs)

    def generation(self, upstream: str) -> Generation:
        """The Generation to record: exactly the text sent, ids/logprobs as sampled."""
        text = "".join(self.texts)
        final = self.final
        if final is None:
            return Generation(text=text, finish_reason=None,  # type: ignore[arg-type]
                              completion_token_ids=self.ids if self.saw_ids else None,
                              logprobs=self.lps if self.saw_lps else None, upstream=upstream,
                              logprobs_mode="none")
        ids = final.completion_token_ids if final.completion_token_ids is not None else (
            self.ids if self.saw_ids else None)
        lps = final.logprobs if final.logprobs is not None else (self.lps if self.saw_lps else None)
        return dataclasses.replace(final, text=text, completion_token_ids=ids, logprobs=lps,
                                   upstream=final.upstream or upstream)


async def stream_call(fw: Forwarder, call: Call) -> Response:
    try:
        await fw.prepare(call)
    except Exception as exc:
        return await fw.upstream_failed(call, exc)
    agen = fw.upstream.stream(call.req).__aiter__()
    try:
        first = await agen.__anext__()
    except StopAsyncIteration:
        first = None
    except Exception as exc:
        return await fw.upstream_failed(call, exc)
    first_ms = (time.perf_counter() - call.t0) * 1000
    return StreamingResponse(_body(fw, call, agen, first, first_ms), media_type="text/event-stream",
                             headers={**fw.headers(call), "Cache-Control": "no-cache"})


async def _body(fw: Forwarder, call: Call, agen: AsyncIterator[Chunk], first: Chunk | None,
                first_ms: float) -> AsyncIterator[bytes]:
    got = _Received()
    got.ttft_ms = first_ms if first is not None and (first.text or first.token_ids) else None
    sent_any = False
    try:
        failure: BaseException | None = None
        try:
            chunk = first
            while chunk is not None:
                if chunk.text or chunk.token_ids:
                    got.add(chunk, call.t0)
                    yield chunk_bytes(call.shape, chunk.text, chunk.token_ids, chunk.logprobs, first=not sent_any)
                    sent_any = True
                if chunk.final is not None:
                    got.final = chunk.final
                chunk = await _next(agen)
        except Exception as exc:  # the upstream broke mid-stream
            failure = exc
        if failure is not None:
            yield await _record_failure(fw, call, got, failure)
            return
        yield await _record_done(fw, call, got, first=not sent_any)
    finally:
        if not got.recorded:  # the client went away: record without awaiting here
            got.recorded = True
            fw.spawn(_record_cancelled(fw, call, got, agen))


async def _next(agen: AsyncIterator[Chunk]) -> Chunk | None:
    try:
        return await agen.__anext__()
    except StopAsyncIteration:
        return None


def _events(fw: Forwarder, call: Call, got: _Received, reason: str) -> tuple[Envelope, Envelope, Generation]:
    gen = got.generation(fw.upstream.name)
    elapsed = time.perf_counter() - call.t0
    fw.metrics.observe(call.req.endpoint, 200, elapsed)
    req_ev = fw.request_event(call, gen if reason == "done" else None)
    resp_ev = response_event(call.req, gen, parent=req_ev.id, run_id=call.run_id, stream=True,
                             latency_ms=elapsed * 1000, ttft_ms=got.ttft_ms, reason=reason)
    return req_ev, resp_ev, gen


async def _record_done(fw: Forwarder, call: Call, got: _Received, first: bool) -> bytes:
    req_ev, resp_ev, gen = _events(fw, call, got, "done")
    got.recorded = True
    try:
        await fw.writer.submit([req_ev, resp_ev])
    except LogUnavailable as exc:
        resp = fw.log_failed(call, exc, req_ev)
        return b"data: " + bytes(resp.body) + b"\n\n"  # the same error body a non-streamed call gets
    fw.book.recorded(call.req.episode_id, recorded_turn(req_ev, gen, call.req, call.tools_id))
    return final_chunks(call.shape, gen, [], [], first, gen.prompt_token_ids)


async def _record_failure(fw: Forwarder, call: Call, got: _Received, exc: BaseException) -> bytes:
    status, kind, message = upstream_failure(exc)
    reason = "timeout" if isinstance(exc, UpstreamTimeout) else "upstream_error"
    fw.metrics.error(kind)
    fw.book.get(call.req.episode_id).errors += 1
    got.final = None
    req_ev, resp_ev, _ = _events(fw, call, got, reason)
    evs = [req_ev, resp_ev, *fw.failure_events(call, exc, req_ev)[1:]]
    got.recorded = True
    try:
        await fw.writer.submit(evs)
    except LogUnavailable:
        fw.book.mark_incomplete(call.req.episode_id, call.req.request_id)
        fw.metrics.error("log_unavailable")
    return b"data: " + error_body(status, message, kind) + b"\n\n"


async def _record_cancelled(fw: Forwarder, call: Call, got: _Received, agen: AsyncIterator[Chunk]) -> None:
    aclose = getattr(agen, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:
            pass
    fw.metrics.error("cancelled")
    got.final = None
    req_ev, resp_ev, _ = _events(fw, call, got, "cancelled")
    try:
        await fw.writer.submit([req_ev, resp_ev])
    except LogUnavailable:
        fw.book.mark_incomplete(call.req.episode_id, call.req.request_id)
        fw.metrics.error("log_unavailable")
