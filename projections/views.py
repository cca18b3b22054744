"""Read models under `DIR/views/`, rebuilt from the lake's tables.

The projector calls `refresh` after each round with the event types it wrote,
so only the views those types feed are rebuilt. Deleting `views/` and calling
`refresh_all` gives the same files back.
"""
from __future__ import annotations

from pathlib import Path

from . import memory, scores, status

__all__ = ["refresh", "refresh_all", "FEEDS"]

FEEDS = {
    "scores": {"score.updated"},
    "memory": {"workflow.induced", "workflow.evicted"},
    "tasks": {"task.phase", "gate.result", "task.finished"},
}


def refresh(lake: str | Path, touched: set[str], *,
            max_workflows: int = memory.DEFAULT_MAX_WORKFLOWS) -> list[str]:
    """Rebuild the views fed by the `touched` event types; returns their names."""
    rebuilt = []
    if touched & FEEDS["scores"]:
        scores.build(lake)
        rebuilt.append("scores")
    if touched & FEEDS["memory"]:
        memory.WorkflowMemory.from_lake(lake, max_workflows).write_all(lake)
        rebuilt.append("memory")
    if touched & FEEDS["tasks"]:
        status.write_all(lake)
        rebuilt.append("tasks")
    return rebuilt


def refresh_all(lake: str | Path, *, max_workflows: int = memory.DEFAULT_MAX_WORKFLOWS) -> list[str]:
    return refresh(lake, set().union(*FEEDS.values()), max_workflows=max_workflows)
