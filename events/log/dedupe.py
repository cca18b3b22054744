"""Consumer-side duplicate detection by event id.

On Kafka a producer retry, or a processor re-run after a crash between
"append outputs" and "commit offsets", appends an event again with the same
id (UUIDv7 for producer events, deterministic uuid5 for derived ones). A sink
that must apply each event once drops repeats with `SeenIds`; it counts what
it dropped, so duplicates are never silent.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Iterable

from .base import Record

__all__ = ["SeenIds"]


class SeenIds:
    """The last `capacity` event ids seen, oldest forgotten first.

    Duplicates on a log come from retries and re-runs, so they arrive close to
    the original; a window of a million ids (~100 MB) covers any realistic gap.
    """

    def __init__(self, capacity: int = 1_000_000):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self.duplicates = 0
        """How many repeats `first_time` / `fresh` have reported so far."""
        self._ids: OrderedDict[str, None] = OrderedDict()

    def first_time(self, event_id: str) -> bool:
        """True the first time an id is seen (within the window), False for a repeat."""
        if event_id in self._ids:
            self._ids.move_to_end(event_id)
            self.duplicates += 1
            return False
        self._ids[event_id] = None
        if len(self._ids) > self.capacity:
            self._ids.popitem(last=False)
        return True

    def fresh(self, records: Iterable[Record]) -> list[Record]:
        """The records whose event ids were not seen before, in order."""
        return [r for r in records if self.first_time(r.event.id)]

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)
