"""`scores` topic: pass@k / avg@1 at run, repo and instance scope."""
from __future__ import annotations

from typing import Literal

from .base import Payload

__all__ = ["ScoreUpdated"]


class ScoreUpdated(Payload):
    scope: Literal["run", "repo", "instance"]
    scope_key: str
    """The run id, repo name or instance id the value is about."""
    metric: Literal["pass@k", "avg@k"]
    """`avg@k` is reported at k=1 only: the expected share of resolved samples is the same for
    every k (avg@k = avg@1 by definition)."""
    k: int
    value: float
    n: int
    """Instances scored (1 at instance scope; at wider scopes those with at least k samples)."""
    samples: int
    """Samples per instance: an instance's own count; at wider scopes the fewest any scored instance has."""
    c: int | None = None
    """Resolved samples, at instance scope only (None at repo and run scope)."""
    coverage: float = 1.0
    """Instances scored / instances planned (per the dataset's own repo names at repo scope)."""
    scorer_version: int = 1
    model: str = ""
    dataset: str = ""
    split: str = ""
    dropped_duplicates: int = 0
    dropped_malformed: int = 0
