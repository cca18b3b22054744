"""Group commit: one thread owns the log's writes and batches appends from all requests.

A request hands its events to `GroupWriter.submit` and awaits the returned
future; the writer thread drains everything queued since its last commit,
appends it in ONE `append_many` (one SQLite transaction), then resolves every
future of the batch with one wake-up of the event loop. Concurrent requests
therefore share a commit, which is what keeps "respond only after the event is
durable" cheap.

Invariant: a future resolves successfully only after the append that holds its
events has returned, i.e. the events are committed. If that append fails, the
batch is retried item by item so one bad item cannot fail its neighbours; an
item whose append fails resolves with `LogUnavailable`.
"""
from __future__ import annotations

import asyncio
import queue
import threading
from collections import defaultdict
from typing import Sequence

from events.envelope import Envelope
from events.log import EventLog, LogUnavailable

__all__ = ["GroupWriter"]

_STOP = object()


class GroupWriter:
    """Appends events for many concurrent requests, one transaction per batch."""

    def __init__(self, log: EventLog, max_batch: int = 512):
        self.log = log
        self.max_batch = max_batch
        self.appended = 0
        """Events durably appended."""
        self.failed = 0
        """Events whose append failed."""
        self.batches = 0
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._pending: dict[asyncio.AbstractEventLoop, list] = {}
        self._thread = threading.Thread(target=self._run, name="proxy-group-writer", daemon=True)
        self._thread.start()

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    def submit(self, events: Sequence[Envelope]) -> asyncio.Future:
        """Queue events for appending; the future resolves once they are committed.

        Submissions made during one event-loop iteration are handed to the writer
        thread together (one queue put, one thread wake-up, per iteration).
        """
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        pending = self._pending.get(loop)
        if pending is None:
            pending = self._pending[loop] = []
            loop.call_soon(self._hand_over, loop)
        pending.append((list(events), fut, loop))
        return fut

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        self._queue.put(self._pending.pop(loop))

    async def write(self, events: Sequence[Envelope]) -> None:
        await self.submit(events)

    def close(self, timeout: float = 10.0) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout)

    # -- writer thread ---------------------------------------------------------------
    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            batch = list(item)
            stop = False
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                batch.extend(nxt)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list) -> None:
        results: list[BaseException | None]
        try:
            self._append([ev for events, _, _ in batch for ev in events])
            results = [None] * len(batch)
        except Exception:
            results = [self._append_one(events) for events, _, _ in batch]
        self.batches += 1
        for (events, _, _), err in zip(batch, results):
            if err is None:
                self.appended += len(events)
            else:
                self.failed += len(events)
        by_loop: dict = defaultdict(list)
        for (_, fut, loop), err in zip(batch, results):
            by_loop[loop].append((fut, err))
        for loop, items in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve, items)
            except RuntimeError:  # the loop is closed: nobody waits any more
                pass

    def _append(self, events: list[Envelope]) -> None:
        by_topic: dict[str, list[Envelope]] = defaultdict(list)
        for ev in events:
            by_topic[ev.topic].append(ev)
        self.log.append_many(by_topic)

    def _append_one(self, events: list[Envelope]) -> BaseException | None:
        try:
            self._append(events)
            return None
        except LogUnavailable as exc:
            return exc
        except Exception as exc:
            return LogUnavailable(f"append failed: {type(exc).__name__}: {exc}")


def _resolve(items: list) -> None:
    for fut, err in items:
        if fut.done():
            continue
        if err is None:
            fut.set_result(None)
        else:
            fut.set_exception(err)
