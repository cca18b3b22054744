"""Base class of every event payload."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["Payload"]


class Payload(BaseModel):
    """Frozen, strict about unknown fields: a typo is an error, not a silent drop."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)
