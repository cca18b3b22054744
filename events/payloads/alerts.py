"""`alerts` topic."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Payload

__all__ = ["AlertRaised", "AlertResolved"]


class AlertRaised(Payload):
    rule: str
    severity: Literal["info", "warning", "critical"] = "warning"
    value: float
    threshold: float
    window_s: float = Field(gt=0, allow_inf_nan=False)
    message: str = ""


class AlertResolved(Payload):
    rule: str
    value: float
    threshold: float
    window_s: float = Field(gt=0, allow_inf_nan=False)
