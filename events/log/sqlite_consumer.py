"""A consumer-group member on the embedded log."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Sequence

from ..envelope import Envelope
from .base import Outputs, Position, Record

if TYPE_CHECKING:
    from .sqlite import SqliteLog

__all__ = ["SqliteConsumer"]


class SqliteConsumer:
    """A group consumer on the embedded log; one member per group.

    Its position starts at the group's committed offsets (0 for a new group).
    """

    def __init__(self, log: "SqliteLog", group: str, topics: Sequence[str]):
        self.log = log
        self.group = group
        self.topics = list(topics)
        self._assignment = [(t, p) for t in self.topics for p in range(log.partitions(t))]
        committed = log.load_offsets(group)
        self._position = {tp: committed.get(tp, 0) for tp in self._assignment}
        self._next = 0  # round-robin start, so no partition starves

    def poll(self, max_records: int = 1000, timeout_s: float = 0.5) -> list[Record]:
        deadline = time.monotonic() + timeout_s
        while True:
            records = self._poll_once(max_records)
            if records or time.monotonic() >= deadline:
                return records
            version = self.log.data_version()
            while time.monotonic() < deadline and self.log.data_version() == version:
                time.sleep(0.005)

    def _poll_once(self, max_records: int) -> list[Record]:
        out: list[Record] = []
        dead: list[Envelope] = []
        n = len(self._assignment)
        for i in range(n):
            if len(out) >= max_records:
                break
            tp = self._assignment[(self._next + i) % n]
            records, self._position[tp] = self.log.fetch_records(
                tp[0], tp[1], self._position[tp], max_records - len(out), dead, self.group)
            out.extend(records)
        if dead:
            self.log.append("deadletter", dead)
        self._next = (self._next + 1) % max(n, 1)
        return out

    def position(self) -> dict[tuple[str, int], int]:
        return dict(self._position)

    def commit(self) -> None:
        self.log.commit_offsets(self.group, self._position)

    def transact(self, outputs: Outputs) -> list[Position]:
        return self.log.commit_offsets(self.group, self._position, outputs)

    def committed(self) -> dict[tuple[str, int], int]:
        stored = self.log.load_offsets(self.group)
        return {tp: stored.get(tp, 0) for tp in self._assignment}

    def caught_up(self) -> bool:
        ends: dict[str, dict[int, int]] = {}
        for (topic, part), pos in self._position.items():
            if topic not in ends:
                ends[topic] = self.log.end_offsets(topic)
            if pos < ends[topic].get(part, 0):
                return False
        return True

    def seek_to_beginning(self) -> None:
        self._position = {tp: 0 for tp in self._assignment}

    def close(self) -> None:
        pass
