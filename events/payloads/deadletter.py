"""`deadletter` topic: records no consumer could decode, kept with the reason."""
from __future__ import annotations

from .base import Payload

__all__ = ["DeadLetter"]


class DeadLetter(Payload):
    source_topic: str
    partition: int
    offset: int
    reason: str
    raw_b64: str
    """The record's bytes, base64."""
    key: str | None = None
    consumer: str = ""
