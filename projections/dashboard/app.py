"""The dashboard: one HTML page with server-drawn SVG charts, and the JSON API behind it.

    GET /              runs, pass@k curves, reward and loss curves, alerts, workflow memory, tasks
    GET /api/runs  /api/scores  /api/passk  /api/trainer  /api/alerts  /api/memory  /api/tasks
    GET /charts/passk.svg  /charts/reward.svg  /charts/loss.svg

Read-only: every request reads the lake; nothing is written.
"""
from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response

from .. import scores
from . import data
from .charts import line_chart

__all__ = ["create_app"]

_CSS = """
body { font-family: sans-serif; margin: 24px; color: #222; }
h1 { margin: 0 0 4px 0; } h2 { margin-top: 28px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 14px; } td, th { border: 1px solid #ddd; padding: 4px 8px; }
th { background: #f3f3f3; text-align: left; } .charts { display: flex; flex-wrap: wrap; gap: 16px; }
.tick, .legend { font-size: 11px; fill: #444; } .axis { font-size: 12px; fill: #222; }
.chart-title { font-size: 13px; font-weight: bold; } .empty { fill: #999; font-size: 13px; }
pre { background: #f6f6f6; padding: 8px; max-height: 260px; overflow: auto; }
.muted { color: #777; }
"""


def _passk_svg(lake: Path) -> str:
    return line_chart({run: [(float(k), v) for k, v in pts] for run, pts in data.pass_at_k(lake).items()},
                      title="pass@k by run", x_label="k", y_label="pass@k", element_id="passk-chart",
                      y_range=(0.0, 1.0), integer_x=True)


def _trainer_svg(lake: Path, field: str, label: str, element_id: str) -> str:
    series: dict[str, list[tuple[float, float]]] = {}
    for r in data.trainer_steps(lake):
        series.setdefault(r["trainer_id"], []).append((float(r["step"]), float(r[field])))
    return line_chart(series, title=f"{label} by trainer step", x_label="step", y_label=label,
                      element_id=element_id, integer_x=True)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, list):
        return escape(", ".join(map(str, value))) or "-"
    return escape(str(value))


def _html_table(rows: list[dict[str, Any]], columns: list[str], table_id: str) -> str:
    if not rows:
        return f'<p id="{table_id}" class="muted">none</p>'
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(r.get(c))}</td>" for c in columns) + "</tr>" for r in rows)
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _page(lake: Path) -> str:
    runs = data.runs(lake)
    alerts = data.active_alerts(lake)
    memory = data.memory_blocks(lake)
    tasks = data.tasks(lake)
    mem_html = "".join(f"<h3>{escape(scope)}</h3><pre>{escape(m['prompt'])}</pre>"
                       for scope, m in memory.items()) or '<p class="muted">none</p>'
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>swe-ledger dashboard</title><style>{_CSS}</style></head>
<body>
<h1>swe-ledger</h1><p class="muted">lake: {escape(str(lake))} (read-only)</p>
<h2>Runs</h2>
{_html_table(runs, ["run_id", "mode", "dataset", "planned", "status", "evaluated", "pass_at_1",
                    "started_at", "finished_at"], "runs-table")}
<h2>Scores</h2>
<div class="charts">{_passk_svg(lake)}
{_trainer_svg(lake, "reward_mean", "reward", "reward-chart")}
{_trainer_svg(lake, "loss", "loss", "loss-chart")}</div>
<h2>Active alerts</h2>
{_html_table(alerts, ["rule", "severity", "value", "threshold", "window_s", "message", "ts"], "alerts-table")}
<h2>Workflow memory</h2>
<div id="memory">{mem_html}</div>
<h2>Tasks</h2>
{_html_table(tasks, ["id", "status", "phase", "tests_passed", "tests_failed", "coverage_before",
                     "coverage_after", "risk_labels", "pr_url"], "tasks-table")}
</body></html>"""


def create_app(lake: str | Path) -> FastAPI:
    lake = Path(lake)
    app = FastAPI(title="swe-ledger dashboard", docs_url=None, redoc_url=None)

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return _page(lake)

    @app.get("/api/runs")
    def api_runs() -> list[dict[str, Any]]:
        return data.runs(lake)

    @app.get("/api/scores")
    def api_scores(run: str | None = None) -> list[dict[str, Any]]:
        frame = scores.load(lake).collect()
        rows = data.rows_of(frame)
        return [r for r in rows if run is None or r["run_id"] == run]

    @app.get("/api/passk")
    def api_passk() -> dict[str, list[tuple[int, float]]]:
        return data.pass_at_k(lake)

    @app.get("/api/trainer")
    def api_trainer() -> list[dict[str, Any]]:
        return data.trainer_steps(lake)

    @app.get("/api/alerts")
    def api_alerts() -> list[dict[str, Any]]:
        return data.active_alerts(lake)

    @app.get("/api/memory")
    def api_memory() -> dict[str, dict[str, Any]]:
        return data.memory_blocks(lake)

    @app.get("/api/tasks")
    def api_tasks() -> list[dict[str, Any]]:
        return data.tasks(lake)

    @app.get("/charts/{name}.svg")
    def chart(name: str) -> Response:
        charts = {"passk": lambda: _passk_svg(lake),
                  "reward": lambda: _trainer_svg(lake, "reward_mean", "reward", "reward-chart"),
                  "loss": lambda: _trainer_svg(lake, "loss", "loss", "loss-chart")}
        if name not in charts:
            return Response(f"unknown chart {name!r}; charts: {', '.join(charts)}", status_code=404)
        return Response(charts[name](), media_type="image/svg+xml")

    return app
