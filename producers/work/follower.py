"""`LogFollower`: some topics of a log, read from offset 0 and then followed, in a thread.

Every decoded event is handed to `apply` in the order of its partition. The
follower only reads (no group, no commits, no dead letters: undecodable
records are counted and skipped). `sync()` is the freshness guarantee the
work protocol rests on: when it returns, every event appended to the followed
topics before the call has been applied.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Sequence

from events.envelope import Envelope
from events.log import EventLog, LogUnavailable, open_log
from events.log.base import RawRecord
from events.log.decoding import decode_chunk

__all__ = ["LogFollower", "FollowerStopped"]

Apply = Callable[[Envelope], None]


class FollowerStopped(RuntimeError):
    """The follower's thread ended (its log failed or it was stopped) before catching up."""


class LogFollower:
    """Follows `topics` of the log at `url` from the beginning; `apply` runs on the follower's thread."""

    def __init__(self, url: str, topics: Sequence[str], apply: Apply, *, idle_s: float = 0.02):
        self.url = url
        self.topics = list(topics)
        self.apply = apply
        self.idle_s = idle_s
        self.undecodable = 0
        self._positions: dict[tuple[str, int], int] = {}
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> "LogFollower":
        self._thread = threading.Thread(target=self._run, name=f"follow-{'+'.join(self.topics)}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def __enter__(self) -> "LogFollower":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- freshness -------------------------------------------------------------------------
    def positions(self) -> dict[tuple[str, int], int]:
        with self._cond:
            return dict(self._positions)

    def caught_up(self, ends: dict[tuple[str, int], int]) -> bool:
        with self._cond:
            return all(self._positions.get(tp, 0) >= end for tp, end in ends.items())

    def wait_for(self, ends: dict[tuple[str, int], int], timeout_s: float = 120.0) -> None:
        """Block until every partition in `ends` has been applied up to its offset."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not all(self._positions.get(tp, 0) >= end for tp, end in ends.items()):
                if self._error is not None or (self._thread is not None and not self._thread.is_alive()):
                    raise FollowerStopped(f"following {self.topics} of {self.url} stopped: {self._error!r}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"following {self.topics} of {self.url} did not catch up "
                                       f"within {timeout_s:g}s")
                self._cond.wait(min(left, 0.5))

    def check(self) -> None:
        """Raise FollowerStopped if the thread has died (a reader of a stale index must stop)."""
        if self._error is not None or (self._thread is not None and not self._thread.is_alive()
                                       and not self._stop.is_set()):
            raise FollowerStopped(f"following {self.topics} of {self.url} stopped: {self._error!r}")

    def sync(self, log: EventLog, timeout_s: float = 120.0) -> dict[tuple[str, int], int]:
        """Wait until everything appended so far is applied; returns the end offsets waited for."""
        ends = end_offsets(log, self.topics)
        self.wait_for(ends, timeout_s)
        return ends

    # -- the thread ------------------------------------------------------------------------
    def _run(self) -> None:
        log = open_log(self.url)
        fetcher = None
        try:
            kafka = hasattr(log, "make_consumer")
            fetcher = _KafkaFetcher(log, self.topics) if kafka else _SqliteFetcher(log, self.topics)
            while not self._stop.is_set():
                raws, positions = fetcher.fetch()
                dead: list[Envelope] = []
                for rec in decode_chunk(raws, dead, consumer="follower"):
                    self.apply(rec.event)
                self.undecodable += len(dead)
                with self._cond:
                    self._positions.update(positions)
                    self._cond.notify_all()
                if not raws:
                    self._stop.wait(self.idle_s)
        except BaseException as exc:  # surfaced by wait_for
            self._error = exc
        finally:
            with self._cond:
                self._cond.notify_all()
            if fetcher is not None:
                fetcher.close()
            log.close()


def end_offsets(log: EventLog, topics: Sequence[str]) -> dict[tuple[str, int], int]:
    return {(t, p): off for t in topics for p, off in log.end_offsets(t).items()}


class _SqliteFetcher:
    def __init__(self, log, topics: Sequence[str]):
        self.log = log
        self.positions = {(t, p): 0 for t in topics for p in range(log.partitions(t))}

    def fetch(self) -> tuple[list[RawRecord], dict[tuple[str, int], int]]:
        raws: list[RawRecord] = []
        for (topic, part), offset in self.positions.items():
            chunk = self.log.fetch(topic, part, offset, 2000)
            if chunk:
                raws.extend(chunk)
                self.positions[(topic, part)] = chunk[-1].offset + 1
        return raws, dict(self.positions)

    def close(self) -> None:
        pass


class _KafkaFetcher:
    """One group-less consumer assigned every partition of the topics, from offset 0."""

    def __init__(self, log, topics: Sequence[str]):
        from kafka import TopicPartition

        self.log = log
        self.tps = {TopicPartition(log.physical(t), p): (t, p) for t in topics for p in range(log.partitions(t))}
        self.positions = {tp: 0 for tp in self.tps.values()}
        self.consumer = log.make_consumer(max_partition_fetch_bytes=4 * 1024 * 1024, fetch_max_wait_ms=100)
        self.consumer.assign(list(self.tps))
        self.consumer.seek_to_beginning(*self.tps)

    def fetch(self) -> tuple[list[RawRecord], dict[tuple[str, int], int]]:
        from events.log.kafka import kafka_errors

        try:
            batch = self.consumer.poll(timeout_ms=100, max_records=5000)
        except kafka_errors() as exc:
            raise LogUnavailable(f"following {sorted(set(t for t, _ in self.positions))} on "
                                 f"{self.log.url} failed: {exc}") from exc
        raws: list[RawRecord] = []
        for tp, recs in batch.items():
            topic, part = self.tps[tp]
            raws.extend(RawRecord(topic, part, r.offset, r.key.decode("utf-8", "replace") if r.key else None,
                                  r.value) for r in recs)
            if recs:
                self.positions[(topic, part)] = recs[-1].offset + 1
        return raws, dict(self.positions)

    def close(self) -> None:
        self.consumer.close(autocommit=False)
