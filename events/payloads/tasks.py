"""`tasks` topic: autonomous ephemeral coding tasks (phases, quality gates, outcome)."""
from __future__ import annotations

from typing import Literal

from .base import Payload

__all__ = ["Phase", "TaskPhase", "GateResult", "TaskFinished"]

Phase = Literal["PREPARE", "ANALYZE", "GENERATE", "VALIDATE", "COMMIT", "REBASE", "AGGREGATE", "PR", "EXIT"]
"""The autonomous-task design's phases (seed 003 §4.2), COMMIT/REBASE split in two."""


class TaskPhase(Payload):
    task_id: str
    phase: Phase
    status: Literal["started", "succeeded", "failed", "skipped"] = "started"
    message: str = ""


class GateResult(Payload):
    task_id: str
    gate: str
    passed: bool
    tests_passed: int = 0
    tests_failed: int = 0
    coverage_before: float | None = None
    coverage_after: float | None = None
    lint_errors: int = 0
    type_errors: int = 0
    diff_files: int = 0
    diff_lines: int = 0
    message: str = ""


class TaskFinished(Payload):
    task_id: str
    status: Literal["success", "failed", "partial", "aborted"]
    risk_labels: list[str] = []
    partial: bool = False
    exit_code: int = 0
    branch: str = ""
    pr_url: str = ""
