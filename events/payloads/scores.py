"""`scores` topic: pass@k / avg@k at run, repo and instance scope."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Payload

__all__ = ["ScoreUpdated"]


class ScoreUpdated(Payload):
    scope: Literal["run", "repo", "instance"]
    scope_key: str
    """The run id, repo name or instance id the value is about."""
    metric: Literal["pass@k", "avg@k"]
    k: int = Field(ge=1)
    value: float = Field(allow_inf_nan=False)
    n: int = Field(ge=0)
    """Samples considered (per instance, min over instances at wider scopes)."""
    c: int = Field(ge=0)
    """Correct samples (summed at wider scopes)."""
    coverage: float = 1.0
    """Instances scored / instances planned."""
    instances: int = 1
    scorer_version: int = 1
    model: str = ""
    dataset: str = ""
    split: str = ""
    dropped_duplicates: int = Field(0, ge=0)
    dropped_malformed: int = Field(0, ge=0)
