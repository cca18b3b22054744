"""Task status: status.json per task and dashboard.md from the tasks topic."""
from __future__ import annotations

import json

from projections.status import tasks_dir


def test_status_json_per_task(demo_lake):
    ok = json.loads((tasks_dir(demo_lake) / "add-payment-tests" / "status.json").read_text())
    assert ok["status"] == "success" and ok["partial"] is False and ok["exit_code"] == 0
    assert (ok["tests_passed"], ok["tests_failed"], ok["coverage_before"], ok["coverage_after"]) == (128, 0, 72.1, 74.5)
    assert ok["branch"] == "auto/add-payment-tests" and ok["phase"] == "VALIDATE" and ok["gates"] == {"tests": True}
    assert ok["finished_at"].endswith("Z")
    bad = json.loads((tasks_dir(demo_lake) / "bump-deps" / "status.json").read_text())
    assert bad["status"] == "partial" and bad["partial"] is True and bad["risk_labels"] == ["tests-failed"]
    assert bad["exit_code"] == 2


def test_dashboard_md_aggregates_all_tasks(demo_lake):
    md = (tasks_dir(demo_lake) / "dashboard.md").read_text()
    assert "2 tasks: 1 partial, 1 success" in md
    assert "| add-payment-tests | success | VALIDATE | 128/0 | 72.1 → 74.5 |" in md
    assert "| bump-deps | partial | VALIDATE | 128/2 | 72.1 → 71.0 |" in md and "tests-failed" in md
