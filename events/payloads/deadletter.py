"""`deadletter` topic: records no consumer could decode, kept with the reason."""
from __future__ import annotations

from pydantic import Field

from .base import Payload

__all__ = ["DeadLetter"]


class DeadLetter(Payload):
    source_topic: str
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)
    reason: str
    raw_b64: str
    """The record's bytes, base64."""
    key: str | None = None
    consumer: str = ""
