"""`HandoffUpstream`: the proxy generates nothing itself; each request is handed over.

Control inversion, as in the SWE Agent Recipe's ModelProxy: the agent talks to
the proxy as to any OpenAI server, the proxy records the call as usual, and the
request is handed to whoever serves the episode (verl's agent loop,
trainer/verl_agent_loop.py), which generates and hands the answer back:

    channel = upstream.open(episode_id)            # in the serving event loop
    while the agent runs:
        handoff = await channel.get_request()     # a GenerateRequest from the proxy
        channel.send_response(handoff, generation)   # or send_error(handoff, exc)
    upstream.close(episode_id)                     # pending requests fail with 503

The proxy and the server run different event loops (the proxy's in its own
thread): a handoff crosses with `call_soon_threadsafe` one way and a
`concurrent.futures.Future` the other. A request for an episode nobody serves
is answered 404 by the proxy (an `UpstreamError`), recorded as `proxy.error`.

With `chat_tokens` the proxy builds every prompt as token ids (token in, token
out): the server must sample from exactly `request.prompt_token_ids`.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from .base import Chunk, GenerateRequest, Generation, UpstreamError, whole_as_stream

__all__ = ["Channel", "Handoff", "HandoffUpstream", "NotServed"]


class NotServed(UpstreamError):
    """No one serves this episode (never opened, or already closed)."""

    status = 404


@dataclass(eq=False)
class Handoff:
    """One request waiting for its answer."""

    request: GenerateRequest
    reply: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)


class Channel:
    """One episode's requests, delivered into the event loop that opened it."""

    def __init__(self, episode_id: str, loop: asyncio.AbstractEventLoop):
        self.episode_id = episode_id
        self._loop = loop
        self._queue: asyncio.Queue[Handoff] = asyncio.Queue()
        self._closed = False
        self._pending: set[Handoff] = set()
        self._lock = threading.Lock()

    # -- the proxy's side (any thread) ------------------------------------------------
    async def hand(self, request: GenerateRequest) -> Generation:
        item = Handoff(request)
        with self._lock:
            if self._closed:
                raise NotServed(f"episode {self.episode_id!r} is no longer served")
            self._pending.add(item)
        self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        try:
            return await asyncio.wrap_future(item.reply)
        finally:
            with self._lock:
                self._pending.discard(item)

    # -- the server's side (the loop that opened it) ----------------------------------
    async def get_request(self) -> Handoff:
        return await self._queue.get()

    def send_response(self, handoff: Handoff, generation: Generation) -> None:
        if not handoff.reply.done():
            handoff.reply.set_result(generation)

    def send_error(self, handoff: Handoff, error: BaseException) -> None:
        if not handoff.reply.done():
            handoff.reply.set_exception(error)

    def close(self, reason: str) -> None:
        """Refuse new requests; fail the ones still waiting (503, `reason`)."""
        with self._lock:
            self._closed = True
            pending = list(self._pending)
        for item in pending:
            self.send_error(item, UpstreamError(reason, status=503))


class HandoffUpstream:
    """An `Upstream` whose generations come from the channel of each request's episode."""

    def __init__(self, name: str = "handoff", chat_tokens: Any | None = None):
        self.name = name
        if chat_tokens is not None:
            self.chat_tokens = chat_tokens
        self._channels: dict[str, Channel] = {}
        self._lock = threading.Lock()

    def open(self, episode_id: str, loop: asyncio.AbstractEventLoop | None = None) -> Channel:
        """Serve `episode_id` from `loop` (default: the running one)."""
        channel = Channel(episode_id, loop or asyncio.get_running_loop())
        with self._lock:
            if episode_id in self._channels:
                raise ValueError(f"episode {episode_id!r} is already served")
            self._channels[episode_id] = channel
        return channel

    def close(self, episode_id: str, reason: str = "the episode is over") -> None:
        with self._lock:
            channel = self._channels.pop(episode_id, None)
        if channel is not None:
            channel.close(f"episode {episode_id!r}: {reason}")

    @property
    def served(self) -> int:
        """Episodes being served now."""
        return len(self._channels)

    # -- the Upstream protocol ----------------------------------------------------------
    async def generate(self, request: GenerateRequest) -> Generation:
        channel = self._channels.get(request.episode_id)
        if channel is None:
            raise NotServed(f"no agent loop serves episode {request.episode_id!r}")
        return await channel.hand(request)

    def stream(self, request: GenerateRequest) -> AsyncIterator[Chunk]:
        return whole_as_stream(self, request)

    async def aclose(self) -> None:
        with self._lock:
            ids = list(self._channels)
        for episode_id in ids:
            self.close(episode_id, "the proxy is stopping")
