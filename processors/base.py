"""The `Reducer` seam: processors are pure `(state, record) -> (state, [events])`.

The runtime owns I/O, offsets, snapshots and retries; a reducer only computes.
Output events must have deterministic ids (`events.derive`) so re-running a
reducer over the same input yields the same events (exactly-once effect on
Kafka through deduping sinks, and chaos tests that compare runs).
"""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from events.envelope import Envelope
from events.log.base import Record

__all__ = ["Reducer"]


@runtime_checkable
class Reducer(Protocol):
    name: str
    """Stable name; also the consumer group and the `processor.NAME@V` producer."""
    version: int
    """Bump when outputs change; a new version writes new, side-by-side outputs."""
    inputs: tuple[str, ...]
    """Logical topics it consumes."""

    def initial_state(self) -> Any:
        """A fresh state; must be JSON-serialisable (or picklable) for snapshots."""

    def apply(self, state: Any, record: Record) -> tuple[Any, list[Envelope]]:
        """Fold one record into the state; return the new state and the events to append."""
