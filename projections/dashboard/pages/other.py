"""The Training page, and Alerts, Workflow memory and Tasks."""
from __future__ import annotations

from typing import Any

from ..charts import line_chart
from ..html import Column, badge, details, episode_link, esc, num, run_link, section, table, when

__all__ = ["training_body", "alerts_body", "memory_body", "tasks_body", "curve"]

_TITLES = {"reward_mean": "reward (mean)", "reward_std": "reward (std)", "loss": "loss", "kl": "KL",
           "entropy": "entropy", "clip_frac": "clip fraction", "grad_norm": "grad norm",
           "staleness_mean": "staleness (mean)", "dropped_stale": "dropped samples (stale)",
           "samples": "samples trained on", "tokens_per_s": "tokens / s", "lr": "learning rate"}
_FIRST = ["reward_mean", "loss", "kl", "entropy", "clip_frac", "staleness_mean", "dropped_stale"]


def curve(steps: list[dict[str, Any]], field: str, element_id: str | None = None) -> str:
    series: dict[str, list[tuple[float, float]]] = {}
    for r in steps:
        if isinstance(r.get(field), (int, float)):
            series.setdefault(r["trainer_id"], []).append((float(r["step"]), float(r[field])))
    title = _TITLES.get(field, field.replace("_", " "))
    return line_chart(series, title=f"{title} per trainer step", x_label="trainer step", y_label=title,
                      element_id=element_id or f"{field}-chart", integer_x=True, width=420, height=250)


def training_body(steps: list[dict[str, Any]], fields: list[str], updates: list[dict[str, Any]],
                  served: list[dict[str, Any]]) -> str:
    ordered = [f for f in _FIRST if f in fields] + [f for f in fields if f not in _FIRST]
    trainers = sorted({r["trainer_id"] for r in steps})
    head = (f"<h1>Training</h1><p class=\"sub\">{len(trainers)} trainer(s) · {len(steps)} steps · "
            f"every numeric field of trainer.step, per step</p>")
    charts = ('<div class="charts" id="training-charts">' + "".join(curve(steps, f) for f in ordered) + "</div>"
              if steps else '<p class="muted" id="training-charts">no trainer steps in this lake</p>')
    upd = table(updates, _UPDATE_COLUMNS, "policy-updates", "no policy published")
    srv = table(served, _SERVED_COLUMNS, "versions-served", "no model calls recorded")
    return head + charts + section("Policies published", upd) + section("Policy versions served", srv)


_UPDATE_COLUMNS = [Column("trainer", lambda r: esc(r["trainer_id"])),
                   Column("version", lambda r: num(r["version"]), True),
                   Column("step", lambda r: num(r["step"]), True), Column("checkpoint", lambda r: esc(r["checkpoint"])),
                   Column("at", lambda r: when(r["ts"]))]
_SERVED_COLUMNS = [Column("run", lambda r: run_link(r["run_id"]) if r.get("run_id") else "–"),
                   Column("policy version", lambda r: esc(r["policy"])),
                   Column("model calls", lambda r: num(r["calls"]), True),
                   Column("trainable", lambda r: num(r["trainable"]), True),
                   Column("first", lambda r: when(r["first"])), Column("last", lambda r: when(r["last"]))]


def _severity(r: dict[str, Any]) -> str:
    return badge(r.get("severity") or "-", "bad" if r.get("severity") == "critical" else "warn")


_ALERT_COLUMNS = [Column("rule", lambda r: esc(r["rule"])), Column("severity", _severity),
                  Column("value", lambda r: num(r.get("value")), True),
                  Column("threshold", lambda r: num(r.get("threshold")), True),
                  Column("window", lambda r: f"{num(r.get('window_s'), 0)} s", True),
                  Column("message", lambda r: esc(r.get("message")), wrap=True),
                  Column("since", lambda r: when(r.get("ts")))]


def alerts_body(alerts: list[dict[str, Any]]) -> str:
    return "<h1>Active alerts</h1>" + table(alerts, _ALERT_COLUMNS, "alerts-table", "no active alert")


def memory_body(memory: dict[str, dict[str, Any]]) -> str:
    if not memory:
        return '<h1>Workflow memory</h1><p id="memory" class="muted">no workflows induced</p>'
    parts = ["<h1>Workflow memory</h1><div id=\"memory\">"]
    for scope, m in memory.items():
        rows = [{**w, "sources": w.get("source_episode_ids") or []} for w in m["workflows"]]
        cols = [Column("workflow", lambda r: f"<b>{esc(r['name'])}</b><br><span class=\"muted\">"
                       f"{esc(r.get('description'))}</span>", wrap=True),
                Column("steps", lambda r: "<ol>" + "".join(f"<li>{esc(s)}</li>" for s in r.get("steps") or [])
                       + "</ol>", wrap=True),
                Column("from episodes", lambda r: '<span class="chips">'
                       + "".join(episode_link(e) for e in r["sources"][:12]) + "</span>", wrap=True)]
        prompt = details("the prompt block the agent sees", f"<pre>{esc(m['prompt'])}</pre>")
        parts.append(f"<h2>{esc(scope)}</h2>" + table(rows, cols, f"memory-{scope}") + prompt)
    return "".join(parts) + "</div>"


def _task_status(r: dict[str, Any]) -> str:
    return badge(r.get("status") or "-", "ok" if r.get("status") == "success" else None)


def tasks_body(tasks: list[dict[str, Any]]) -> str:
    cols = [Column("task", lambda r: esc(r["id"])), Column("status", _task_status),
            Column("phase", lambda r: esc(r.get("phase"))),
            Column("tests passed", lambda r: num(r.get("tests_passed")), True),
            Column("tests failed", lambda r: num(r.get("tests_failed")), True),
            Column("coverage before", lambda r: num(r.get("coverage_before"), 1), True),
            Column("coverage after", lambda r: num(r.get("coverage_after"), 1), True),
            Column("risk labels", lambda r: " ".join(badge(x, "warn") for x in r.get("risk_labels") or [])),
            Column("PR", lambda r: esc(r.get("pr_url") or "–"))]
    return "<h1>Autonomous tasks</h1>" + table(tasks, cols, "tasks-table", "no tasks")
