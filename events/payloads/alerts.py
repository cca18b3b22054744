"""`alerts` topic."""
from __future__ import annotations

from typing import Literal

from .base import Payload

__all__ = ["AlertRaised", "AlertResolved"]


class AlertRaised(Payload):
    rule: str
    severity: Literal["info", "warning", "critical"] = "warning"
    value: float
    threshold: float
    window_s: float
    message: str = ""


class AlertResolved(Payload):
    rule: str
    value: float
    threshold: float
    window_s: float
