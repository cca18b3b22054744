"""Workflow memory: the current workflows per memory scope (Agent Workflow Memory).

State is a fold of `workflow.induced` (add, or replace a workflow of the same
name) and `workflow.evicted` (remove) in log order. The evictor
(`processors/evictor.py`) keeps each scope within `max_workflows` by writing
`workflow.evicted`; this projection also shows at most the newest
`max_workflows`, so the prompt stays bounded even before the evictor has run.

`render(scope)` is the block the agent runner injects into the system prompt;
`write_memory_json(path, scope)` writes the AWM loop's `memory.json`.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

import polars as pl

from . import lake as lk

__all__ = ["Workflow", "WorkflowMemory", "memory_path", "DEFAULT_MAX_WORKFLOWS"]

DEFAULT_MAX_WORKFLOWS = 50


@dataclass
class Workflow:
    name: str
    description: str
    steps: list[str]
    source_episode_ids: list[str] = field(default_factory=list)
    induced_at: str = ""
    """ISO time of the `workflow.induced` event."""
    event_id: str = ""


@dataclass
class WorkflowMemory:
    max_workflows: int = DEFAULT_MAX_WORKFLOWS
    """Most workflows shown per scope (the newest ones)."""
    scopes: dict[str, dict[str, Workflow]] = field(default_factory=dict)

    # -- folding ------------------------------------------------------------------------
    def apply(self, row: dict[str, Any]) -> None:
        """Fold one workflow event, given as a lake row or as an event's fields."""
        scope = self.scopes.setdefault(row["scope"], {})
        if row["type"] == "workflow.induced":
            scope.pop(row["name"], None)  # re-induced: refreshed and moved to the newest
            ts = row.get("ts")
            scope[row["name"]] = Workflow(
                row["name"], row.get("description") or "", list(row.get("steps") or []),
                list(row.get("source_episode_ids") or []),
                ts.isoformat() if isinstance(ts, datetime) else str(ts or ""), row.get("id", ""))
        elif row["type"] == "workflow.evicted":
            scope.pop(row["name"], None)

    def apply_event(self, event: Any) -> None:
        self.apply({"type": event.type, "id": event.id, "ts": event.ts, **event.payload.model_dump()})

    @classmethod
    def from_rows(cls, rows: Iterable[dict[str, Any]], max_workflows: int = DEFAULT_MAX_WORKFLOWS):
        memory = cls(max_workflows)
        for row in rows:
            memory.apply(row)
        return memory

    @classmethod
    def from_lake(cls, lake: str | Path, max_workflows: int = DEFAULT_MAX_WORKFLOWS) -> "WorkflowMemory":
        frames = []
        for event_type in ("workflow.induced", "workflow.evicted"):
            table = lk.table(lake, event_type)
            if table is not None:
                frames.append(table.select(_COLUMNS[event_type]).collect())
        if not frames:
            return cls(max_workflows)
        rows = pl.concat(frames, how="diagonal").sort(["log_partition", "log_offset"])
        return cls.from_rows(rows.iter_rows(named=True), max_workflows)

    # -- reading ------------------------------------------------------------------------
    def workflows(self, scope: str) -> list[Workflow]:
        """Current workflows of a scope, oldest first, at most `max_workflows`."""
        current = list(self.scopes.get(scope, {}).values())
        return current[-self.max_workflows:] if self.max_workflows > 0 else []

    def render(self, scope: str) -> str:
        """The prompt block injected into the agent's system prompt ('' when empty)."""
        flows = self.workflows(scope)
        if not flows:
            return ""
        lines = [f"## Workflows learned from past successes ({scope})", "",
                 "Follow a workflow when the task matches its description.", ""]
        for i, wf in enumerate(flows, start=1):
            lines.append(f"### Workflow {i}: {wf.name}")
            if wf.description:
                lines.append(wf.description)
            lines += [f"{j}. {step}" for j, step in enumerate(wf.steps, start=1)]
            lines.append("")
        return "\n".join(lines).rstrip() + "\n"

    def to_json(self, scope: str) -> dict[str, Any]:
        return {"scope": scope, "max_workflows": self.max_workflows,
                "workflows": [asdict(wf) for wf in self.workflows(scope)]}

    def write_memory_json(self, path: str | Path, scope: str) -> Path:
        path = Path(path)
        body = json.dumps(self.to_json(scope), indent=2, ensure_ascii=False).encode()
        lk.atomic_write_bytes(path, body)
        return path

    def write_all(self, lake: str | Path) -> list[Path]:
        """`views/memory/<scope>/memory.json` for every scope."""
        return [self.write_memory_json(memory_path(lake, scope), scope) for scope in sorted(self.scopes)]


_COLUMNS = {
    "workflow.induced": ["id", "type", "ts", "scope", "name", "description", "steps",
                         "source_episode_ids", "log_partition", "log_offset"],
    "workflow.evicted": ["id", "type", "ts", "scope", "name", "log_partition", "log_offset"],
}


def memory_path(lake: str | Path, scope: str) -> Path:
    """Scopes such as `django/django` become one directory name (`django__django`)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "__", scope) or "_"
    return Path(lake) / lk.VIEWS / "memory" / slug / "memory.json"
