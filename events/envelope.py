"""The event envelope shared by every event type (DESIGN.md §3)."""
from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from .payloads.base import Payload

__all__ = ["Envelope"]


class Envelope(BaseModel):
    """An immutable event: envelope fields plus a typed `payload`.

    Concrete event classes (one per `type`) are built in `events.registry`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    """UUIDv7 for producer events; uuid5 of (processor@version, input ids) for derived ones."""
    type: str
    """Event type, e.g. `proxy.response`."""
    v: int
    """Schema version of this type; older versions are upcast on read."""
    ts: datetime
    """UTC time the producer made the event."""
    run_id: str = ""
    key: str
    """Partition key (catalog rule)."""
    parent: str | None = None
    """Id of the event that caused this one."""
    producer: str
    """Who made it, e.g. `proxy` or `processor.pass_at_k@2`."""
    payload: Payload

    @property
    def topic(self) -> str:
        from .registry import SPECS

        return SPECS[self.type].topic
