"""Workflow memory: fold, bound, prompt block and memory.json."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from projections.memory import WorkflowMemory, memory_path


def _induced(scope: str, name: str, i: int) -> dict:
    return {"type": "workflow.induced", "id": f"id-{name}", "scope": scope, "name": name,
            "description": f"about {name}", "steps": [f"{name} step a", f"{name} step b"],
            "source_episode_ids": [f"ep-{i}"], "ts": datetime(2026, 1, 1, 0, i, tzinfo=timezone.utc)}


def test_fold_replaces_reinduced_and_drops_evicted():
    rows = [_induced("s", "a", 1), _induced("s", "b", 2), _induced("t", "x", 3), _induced("s", "a", 4),
            {"type": "workflow.evicted", "scope": "s", "name": "b"}]
    mem = WorkflowMemory.from_rows(rows)
    assert [w.name for w in mem.workflows("s")] == ["a"]
    assert mem.workflows("s")[0].induced_at == "2026-01-01T00:04:00+00:00"
    assert [w.name for w in mem.workflows("t")] == ["x"]
    assert mem.render("unknown") == ""


def test_render_is_bounded_by_max_workflows_newest_kept():
    mem = WorkflowMemory.from_rows([_induced("s", f"w{i}", i) for i in range(5)], max_workflows=3)
    block = mem.render("s")
    assert block.startswith("## Workflows learned from past successes (s)")
    assert "### Workflow 1: w2" in block and "### Workflow 3: w4" in block and "w1 step" not in block
    assert "1. w4 step a\n2. w4 step b" in block


def test_memory_json_and_lake_views(tmp_path, demo_lake):
    mem = WorkflowMemory.from_lake(demo_lake)
    path = mem.write_memory_json(tmp_path / "memory.json", "django/django")
    body = json.loads(path.read_text())
    assert body["scope"] == "django/django" and body["max_workflows"] == 50
    assert [w["name"] for w in body["workflows"]] == ["wf-1", "wf-2"]
    on_disk = json.loads(memory_path(demo_lake, "django/django").read_text())
    assert on_disk == body
