"""Task status: `status.json` per autonomous task and a `dashboard.md` over all of them.

Folded from the `tasks` topic in log order: `task.phase` sets the current
phase, `gate.result` carries the latest quality-gate figures (tests, coverage
before/after, lint, type errors, diff size), `task.finished` the outcome.
Files: `DIR/views/tasks/<task-id>/status.json` and `DIR/views/tasks/dashboard.md`.
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

__all__ = ["TaskStatus", "fold", "from_lake", "render_dashboard", "write_all", "tasks_dir"]


@dataclass
class TaskStatus:
    id: str
    phase: str = ""
    phase_status: str = ""
    status: str = "running"
    """running until `task.finished`, then success / failed / partial / aborted."""
    branch: str = ""
    tests_passed: int | None = None
    tests_failed: int | None = None
    coverage_before: float | None = None
    coverage_after: float | None = None
    lint_errors: int | None = None
    type_errors: int | None = None
    diff_files: int | None = None
    diff_lines: int | None = None
    gates: dict[str, bool] = field(default_factory=dict)
    """Gate name -> passed, latest result per gate."""
    risk_labels: list[str] = field(default_factory=list)
    partial: bool = False
    exit_code: int | None = None
    pr_url: str = ""
    started_at: str = ""
    updated_at: str = ""
    finished_at: str | None = None


_GATE_FIELDS = ("tests_passed", "tests_failed", "coverage_before", "coverage_after", "lint_errors",
                "type_errors", "diff_files", "diff_lines")


def _iso(ts: Any) -> str:
    return ts.isoformat().replace("+00:00", "Z") if isinstance(ts, datetime) else str(ts or "")


def _apply(task: TaskStatus, row: dict[str, Any]) -> None:
    ts = _iso(row.get("ts"))
    task.started_at = task.started_at or ts
    task.updated_at = ts
    kind = row["type"]
    if kind == "task.phase":
        task.phase, task.phase_status = row["phase"], row["status"]
    elif kind == "gate.result":
        task.gates[row["gate"]] = bool(row["passed"])
        for name in _GATE_FIELDS:
            if row.get(name) is not None:
                setattr(task, name, row[name])
    elif kind == "task.finished":
        task.status, task.partial, task.exit_code = row["status"], bool(row["partial"]), row["exit_code"]
        task.risk_labels = list(row.get("risk_labels") or [])
        task.branch, task.pr_url = row.get("branch") or task.branch, row.get("pr_url") or ""
        task.finished_at = ts


def fold(rows: Iterable[dict[str, Any]]) -> dict[str, TaskStatus]:
    """Task id -> status, from task events (lake rows or event fields) in log order."""
    tasks: dict[str, TaskStatus] = {}
    for row in rows:
        tid = row["task_id"]
        _apply(tasks.setdefault(tid, TaskStatus(tid)), row)
    return tasks


def from_lake(lake: str | Path) -> dict[str, TaskStatus]:
    frames = []
    for event_type in ("task.phase", "gate.result", "task.finished"):
        table = lk.table(lake, event_type)
        if table is not None:
            frames.append(table.drop("date").collect())
    if not frames:
        return {}
    rows = pl.concat(frames, how="diagonal_relaxed").sort(["log_partition", "log_offset"])
    return fold(rows.iter_rows(named=True))


def tasks_dir(lake: str | Path) -> Path:
    return Path(lake) / lk.VIEWS / "tasks"


def render_dashboard(tasks: dict[str, TaskStatus]) -> str:
    """Markdown: totals by status, then one row per task."""
    counts: dict[str, int] = {}
    for t in tasks.values():
        counts[t.status] = counts.get(t.status, 0) + 1
    lines = ["# Autonomous tasks", "",
             f"{len(tasks)} tasks: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"),
             "", "| task | status | phase | tests passed/failed | coverage | lint | type | risk | PR |",
             "|---|---|---|---|---|---|---|---|---|"]
    for t in sorted(tasks.values(), key=lambda t: t.id):
        lines.append(f"| {t.id} | {t.status}{' (partial)' if t.partial and t.status != 'partial' else ''} | {t.phase} | "
                     f"{_n(t.tests_passed)}/{_n(t.tests_failed)} | {_cov(t)} | {_n(t.lint_errors)} | "
                     f"{_n(t.type_errors)} | {', '.join(t.risk_labels) or '-'} | {t.pr_url or '-'} |")
    return "\n".join(lines) + "\n"


def _n(value: Any) -> str:
    return "-" if value is None else str(value)


def _cov(t: TaskStatus) -> str:
    if t.coverage_before is None or t.coverage_after is None:
        return "-"
    return f"{t.coverage_before:.1f} → {t.coverage_after:.1f}"


def write_all(lake: str | Path, tasks: dict[str, TaskStatus] | None = None) -> list[Path]:
    """Write every task's status.json and the dashboard.md; returns the paths written."""
    tasks = from_lake(lake) if tasks is None else tasks
    root = tasks_dir(lake)
    written = []
    for t in tasks.values():
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", t.id) or "_"
        path = root / slug / "status.json"
        lk.atomic_write_bytes(path, json.dumps(asdict(t), indent=2).encode())
        written.append(path)
    dash = root / "dashboard.md"
    lk.atomic_write_bytes(dash, render_dashboard(tasks).encode())
    return [*written, dash]
