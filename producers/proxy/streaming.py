"""Streamed calls: forward first, record second, always one final event per choice with a reason.

Chunks go to the agent as the upstream produces them (tagged with their choice
when `n` > 1). The finish chunks and `[DONE]` are held back until the request
+ response events are committed, so an agent never sees a complete stream
whose events are not durable. Every stream ends with one `proxy.response` per
choice whose `reason` is `done`, `cancelled` (the client went away), `timeout`
or `upstream_error` (the last two also get a `proxy.error`). A failure before
the first chunk is answered like a non-streamed failure (502/504/409 with a
JSON error); one after it, and a log or size refusal at the end, as an SSE
`data: {"error": ...}` line in place of the finish chunks.
"""
from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import AsyncIterator

from fastapi.responses import Response, StreamingResponse

from events.envelope import Envelope
from events.log import LogUnavailable
from producers.inference.base import Chunk, Generation, UpstreamError, UpstreamTimeout, stream_of

from .forwarding import Call, Forwarder, upstream_failure
from .responses import Detail, Shape, chunk_bytes, error_body, final_chunks

__all__ = ["stream_call"]


class _Choice:
    """What the agent has been sent of one choice so far."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.ids: list[int] = []
        self.lps: list[float] = []
        self.tokens: list[str] = []
        self.tops: list = []
        self.saw_ids = False
        self.saw_lps = False
        self.saw_top = False
        self.final: Generation | None = None
        self.sent_any = False

    def add(self, chunk: Chunk, sent: Detail) -> None:
        self.texts.append(chunk.text)
        self.ids.extend(chunk.token_ids)
        self.lps.extend(chunk.logprobs)
        self.saw_ids = self.saw_ids or bool(chunk.token_ids)
        self.saw_lps = self.saw_lps or bool(chunk.logprobs)
        if sent.tokens is not None:
            self.tokens.extend(sent.tokens)
            self.tops.extend(sent.top if sent.top is not None else [[] for _ in sent.tokens])
            self.saw_top = self.saw_top or sent.top is not None

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

    def detail(self, shape: Shape, gen: Generation) -> Detail:
        """Token texts and alternatives as the agent received them in the chunks."""
        if not shape.want_logprobs or gen.logprobs is None or len(self.tokens) != len(gen.logprobs):
            return shape.detail(gen.completion_token_ids, gen.logprobs, gen.tokens, gen.top_logprobs)
        return Detail(self.tokens, self.tops if self.saw_top else None)


class _Received:
    def __init__(self, n: int) -> None:
        self.choices = [_Choice() for _ in range(n)]
        self.ttft_ms: float | None = None
        self.recorded = False

    def generations(self, upstream: str) -> list[Generation]:
        return [c.generation(upstream) for c in self.choices]


async def stream_call(fw: Forwarder, call: Call) -> Response:
    try:
        await fw.prepare(call)
    except Exception as exc:
        return await fw.upstream_failed(call, exc)
    agen = stream_of(fw.upstream, call.req, call.n).__aiter__()
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
    got = _Received(call.n)
    got.ttft_ms = first_ms if first is not None and (first.text or first.token_ids) else None
    try:
        failure: BaseException | None = None
        try:
            chunk = first
            while chunk is not None:
                out = _forward(call.shape, got, chunk)
                if out:
                    yield out
                chunk = await _next(agen)
        except Exception as exc:  # the upstream broke mid-stream
            failure = exc
        if failure is not None:
            yield await _record_failure(fw, call, got, failure)
            return
        await asyncio.sleep(0)  # a disconnect noticed meanwhile cancels us here, before recording done
        yield await _record_done(fw, call, got)
    finally:
        if not got.recorded:  # the client went away: record without awaiting here
            got.recorded = True
            fw.spawn(_record_cancelled(fw, call, got, agen))


def _forward(shape: Shape, got: _Received, chunk: Chunk) -> bytes:
    """The SSE bytes of one upstream chunk (none for a chunk without tokens)."""
    if not 0 <= chunk.index < len(got.choices):
        raise UpstreamError(f"upstream sent a chunk of choice {chunk.index}; {len(got.choices)} were asked for")
    choice = got.choices[chunk.index]
    out = b""
    if chunk.text or chunk.token_ids:
        sent = shape.detail(chunk.token_ids, chunk.logprobs, chunk.tokens or None, chunk.top_logprobs or None)
        choice.add(chunk, sent)
        out = chunk_bytes(shape, chunk.text, chunk.token_ids, chunk.logprobs, first=not choice.sent_any,
                          index=chunk.index, detail=sent)
        choice.sent_any = True
    if chunk.final is not None:
        choice.final = chunk.final
    return out


async def _next(agen: AsyncIterator[Chunk]) -> Chunk | None:
    try:
        return await agen.__anext__()
    except StopAsyncIteration:
        return None


def _events(fw: Forwarder, call: Call, got: _Received,
            reason: str) -> tuple[Envelope, list[Envelope], list[Generation], list[Detail]]:
    gens = got.generations(fw.upstream.name)
    details = [c.detail(call.shape, g) for c, g in zip(got.choices, gens)]
    elapsed = time.perf_counter() - call.t0
    fw.metrics.observe(call.req.endpoint, 200, elapsed)
    req_ev = fw.request_event(call, gens[0] if reason == "done" else None)
    resp_evs = fw.response_events(call, gens, details, req_ev, stream=True, latency_ms=elapsed * 1000,
                                  ttft_ms=got.ttft_ms, reason=reason)
    return req_ev, resp_evs, gens, details


async def _record_done(fw: Forwarder, call: Call, got: _Received) -> bytes:
    req_ev, resp_evs, gens, details = _events(fw, call, got, "done")
    got.recorded = True
    too_big = fw.oversize(call, [req_ev, *resp_evs], gens, details)
    if too_big is not None:
        return b"data: " + bytes(too_big.body) + b"\n\n"
    try:
        await fw.writer.submit([req_ev, *resp_evs])
    except LogUnavailable as exc:
        resp = fw.log_failed(call, exc, req_ev)
        return b"data: " + bytes(resp.body) + b"\n\n"  # the same error body a non-streamed call gets
    fw.recorded(call, req_ev, gens)
    return final_chunks(call.shape, gens, [not c.sent_any for c in got.choices], gens[0].prompt_token_ids)


async def _record_failure(fw: Forwarder, call: Call, got: _Received, exc: BaseException) -> bytes:
    status, kind, message = upstream_failure(exc, fw.upstream.name)
    reason = "timeout" if isinstance(exc, UpstreamTimeout) else "upstream_error"
    fw.metrics.error(kind)
    fw.book.get(call.req.episode_id).errors += 1
    for choice in got.choices:
        choice.final = None
    req_ev, resp_evs, _, _ = _events(fw, call, got, reason)
    evs = [req_ev, *resp_evs, *fw.failure_events(call, exc, req_ev)[1:]]
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
    for choice in got.choices:
        choice.final = None
    req_ev, resp_evs, _, _ = _events(fw, call, got, "cancelled")
    try:
        await fw.writer.submit([req_ev, *resp_evs])
    except LogUnavailable:
        fw.book.mark_incomplete(call.req.episode_id, call.req.request_id)
        fw.metrics.error("log_unavailable")
