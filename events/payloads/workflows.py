"""`workflows` topic: Agent Workflow Memory induction and eviction."""
from __future__ import annotations

from pydantic import Field

from .base import Payload

__all__ = ["WorkflowInductionRequested", "WorkflowInduced", "WorkflowEvicted"]


class WorkflowInductionRequested(Payload):
    scope: str
    experience_ids: list[str]
    successes: int = Field(ge=1)
    """Successes seen in this scope so far (the trigger counts every N)."""


class WorkflowInduced(Payload):
    scope: str
    name: str
    description: str
    steps: list[str]
    source_episode_ids: list[str] = []
    request_id: str | None = None


class WorkflowEvicted(Payload):
    scope: str
    name: str
    reason: str = "capacity"
