"""`RunMember`: one worker's share of one run: its queue, proxy, buffered items and offsets.

Offsets are committed per partition up to the first item not yet acknowledged
(items of one partition may run in several slots at once and finish out of
order): `committable(p)` is the lowest outstanding offset, or the next offset
after the last record polled when nothing is outstanding.

Items from a partition the member has just been given wait until the worker's
`WorkIndex` has caught up with the log as it was at that moment (`ready_after`):
whatever the partition's previous holder wrote is then visible to `decide`.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from events.envelope import Envelope

from .setup import RunSetup

__all__ = ["Pending", "RunMember", "take_in_turn"]


@dataclass
class Pending:
    run_id: str
    partition: int
    offset: int
    event: Envelope
    """The `episode.scheduled` event."""


@dataclass
class RunMember:
    setup: RunSetup
    queue: Any = None
    held: set[int] = field(default_factory=set)
    outstanding: dict[int, set[int]] = field(default_factory=dict)
    high: dict[int, int] = field(default_factory=dict)
    ready_after: dict[int, Any] = field(default_factory=dict)
    """partition -> a future of the log's end offsets to catch up with before its items run (None: ready)."""
    unsynced: set[int] = field(default_factory=set)
    """Partitions assigned since the last look at the log's end offsets."""
    buffer: deque = field(default_factory=deque)
    inflight: int = 0
    dirty: set[int] = field(default_factory=set)
    """Partitions whose committable offset moved since the last commit."""
    idle_since: float | None = None

    @property
    def run_id(self) -> str:
        return self.setup.run_id

    # -- partitions ------------------------------------------------------------------------
    def assigned(self, parts: set[int]) -> None:
        for p in parts:
            self.held.add(p)
            self.outstanding.setdefault(p, set())
            self.ready_after[p] = None
            self.unsynced.add(p)

    def revoked(self, parts: set[int]) -> None:
        """Forget the partitions (their items go to the next holder); in-flight jobs are the worker's."""
        self.held -= parts
        self.unsynced -= parts
        self.dirty -= parts
        for p in parts:
            self.outstanding.pop(p, None)
            self.high.pop(p, None)
            self.ready_after.pop(p, None)
        self.buffer = deque(x for x in self.buffer if x.partition not in parts)

    # -- records ---------------------------------------------------------------------------
    def polled(self, partition: int, offset: int, item: Envelope | None) -> None:
        """A record of a held partition; `item` when it is an `episode.scheduled` of this run."""
        if partition not in self.held:
            return
        self.high[partition] = max(self.high.get(partition, 0), offset + 1)
        if item is None:
            self.dirty.add(partition)
            return
        self.outstanding[partition].add(offset)
        self.buffer.append(Pending(self.run_id, partition, offset, item))

    def settled(self, partition: int, offset: int) -> None:
        """The item at (partition, offset) is acknowledged (or was nothing to do)."""
        if partition in self.outstanding:
            self.outstanding[partition].discard(offset)
            self.dirty.add(partition)

    def committable(self) -> dict[int, int]:
        out = {}
        for p in self.dirty:
            if p in self.held and p in self.high:
                pending = self.outstanding.get(p)
                out[p] = min(pending) if pending else self.high[p]
        return out

    def ready(self, partition: int, caught_up) -> bool:
        ends = self.ready_after.get(partition)
        if ends is None:
            return partition not in self.unsynced
        if not ends.done():
            return False
        if ends.exception() is not None:  # the log did not answer in time: ask again
            self.ready_after[partition] = None
            self.unsynced.add(partition)
            return False
        if caught_up(ends.result()):
            self.ready_after[partition] = None
            return True
        return False

    def next_ready(self, caught_up) -> Pending | None:
        for i, pending in enumerate(self.buffer):
            if self.ready(pending.partition, caught_up):
                del self.buffer[i]
                return pending
        return None

    def describe(self) -> str:
        """One line of state, for `ledger worker --trace`."""
        ready = sorted(p for p in self.held if self.ready_after.get(p) is None and p not in self.unsynced)
        outstanding = {p: sorted(o) for p, o in self.outstanding.items() if o}
        return (f"run {self.run_id}: holds {sorted(self.held)}, ready {ready}, buffered "
                f"{[(x.partition, x.offset) for x in self.buffer]}, outstanding {outstanding}, "
                f"running {self.inflight}")

    @property
    def busy(self) -> bool:
        return bool(self.buffer) or self.inflight > 0


def take_in_turn(members: list[RunMember], turn: int, caught_up) -> tuple[int, RunMember, Pending] | None:
    """The next ready item, the runs taken in turn from `turn` (how a worker shares its slots
    between runs): (the turn after it, its member, the item), or None when no run has one."""
    n = len(members)
    for i in range(n):
        member = members[(turn + i) % n]
        pending = member.next_ready(caught_up)
        if pending is not None:
            return (turn + i + 1) % n, member, pending
    return None
