"""The dashboard: server-rendered pages over a read-only lake, each also available as JSON.

    GET /                      Runs: every run (eval, param_search, rl), status, pass@k, failures, trend
    GET /runs/{run}[?repo=R]   Run: per-repo table, pass@k curve, failures by reason, slowest and
                               most expensive episodes, the episodes (of one repo); for a
                               param_search id, its sub-runs side by side
    GET /episodes/{episode}    Episode: transcript turn by turn, patch, evaluation, reward, tokens
    GET /compare?a=A&b=B       two runs side by side, per repo, instances that moved
    GET /training              every trainer.step curve, policies published and served
    GET /alerts  /memory  /tasks
    GET /api/runs  /api/runs/{run}  /api/episodes/{episode}  /api/compare  /api/trainer
        /api/scores  /api/passk  /api/alerts  /api/memory  /api/tasks  /api/version
    GET /charts/passk.svg  /charts/reward.svg  /charts/loss.svg

Every request reads the lake; nothing is written. Pages about something that may still change
(runs, a run, training) reload themselves when the lake's manifest changes (`/api/version`),
so they follow a run while it goes (the run projects the lake every few seconds).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse, Response

from .. import scores
from . import data, training
from .charts import line_chart
from .episodes import episode
from .html import page
from .pages.episode import episode_body
from .pages.other import alerts_body, curve, memory_body, tasks_body, training_body
from .pages.run import run_body, run_data
from .pages.runs import compare_body, compare_data, runs_body, search_body

__all__ = ["create_app"]


def _not_found(what: str) -> HTMLResponse:
    return HTMLResponse(page("not found", f'<h1>Not found</h1><p class="muted">{what}</p>'), status_code=404)


def create_app(lake: str | Path) -> FastAPI:
    lake = Path(lake)
    app = FastAPI(title="swe-ledger dashboard", docs_url=None, redoc_url=None)

    def render(title: str, body: str, active: str = "", live: bool = False) -> str:
        return page(title, body, active=active, lake=str(lake), version=data.lake_version(lake), live=live)

    @app.get("/", response_class=HTMLResponse)
    def runs_page() -> str:
        return render("Runs", runs_body(lake, data.runs(lake)), "Runs", live=True)

    @app.get("/runs/{run_id:path}", response_class=HTMLResponse)
    def run_page(run_id: str, repo: str | None = None) -> Any:
        d = run_data(lake, run_id)
        if d is not None:
            return render(run_id, run_body(d, repo), "Runs", live=True)
        subs = [r for r in data.runs(lake) if r.get("parent_run") == run_id]
        if subs:  # a param_search: the runs of its grid points
            return render(run_id, search_body(run_id, subs), "Runs", live=True)
        return _not_found(f"no run {run_id!r} in this lake")

    @app.get("/episodes/{episode_id:path}", response_class=HTMLResponse)
    def episode_page(episode_id: str) -> Any:
        d = episode(lake, episode_id)
        if d is None:
            return _not_found(f"no episode {episode_id!r} in this lake")
        running = d["finished"] is None
        return render(episode_id, episode_body(d), "Runs", live=running)

    @app.get("/compare", response_class=HTMLResponse)
    def compare_page(a: str, b: str) -> str:
        return render(f"{a} vs {b}", compare_body(compare_data(lake, a, b)), "Runs")

    @app.get("/training", response_class=HTMLResponse)
    def training_page() -> str:
        body = training_body(training.trainer_steps(lake), training.curve_fields(), training.policy_updates(lake),
                             training.versions_served(lake))
        return render("Training", body, "Training", live=True)

    @app.get("/alerts", response_class=HTMLResponse)
    def alerts_page() -> str:
        return render("Alerts", alerts_body(data.active_alerts(lake)), "Alerts", live=True)

    @app.get("/memory", response_class=HTMLResponse)
    def memory_page() -> str:
        return render("Workflow memory", memory_body(data.memory_blocks(lake)), "Memory")

    @app.get("/tasks", response_class=HTMLResponse)
    def tasks_page() -> str:
        return render("Tasks", tasks_body(data.tasks(lake)), "Tasks")

    _api(app, lake)
    _charts(app, lake)
    return app


def _api(app: FastAPI, lake: Path) -> None:
    @app.get("/api/version")
    def api_version() -> dict[str, str]:
        return {"version": data.lake_version(lake)}

    @app.get("/api/runs")
    def api_runs() -> list[dict[str, Any]]:
        return data.runs(lake)

    @app.get("/api/runs/{run_id:path}")
    def api_run(run_id: str) -> Any:
        d = run_data(lake, run_id)
        return d if d is not None else JSONResponse({"detail": f"no run {run_id!r}"}, status_code=404)

    @app.get("/api/episodes/{episode_id:path}")
    def api_episode(episode_id: str) -> Any:
        d = episode(lake, episode_id)
        return d if d is not None else JSONResponse({"detail": f"no episode {episode_id!r}"}, status_code=404)

    @app.get("/api/compare")
    def api_compare(a: str, b: str) -> dict[str, Any]:
        return compare_data(lake, a, b)

    @app.get("/api/scores")
    def api_scores(run: str | None = None) -> list[dict[str, Any]]:
        rows = data.rows_of(scores.load(lake).collect())
        return [r for r in rows if run is None or r["run_id"] == run]

    @app.get("/api/passk")
    def api_passk() -> dict[str, list[tuple[int, float]]]:
        return data.pass_at_k(lake)

    @app.get("/api/trainer")
    def api_trainer() -> list[dict[str, Any]]:
        return training.trainer_steps(lake)

    @app.get("/api/alerts")
    def api_alerts() -> list[dict[str, Any]]:
        return data.active_alerts(lake)

    @app.get("/api/memory")
    def api_memory() -> dict[str, dict[str, Any]]:
        return data.memory_blocks(lake)

    @app.get("/api/tasks")
    def api_tasks() -> list[dict[str, Any]]:
        return data.tasks(lake)


def _charts(app: FastAPI, lake: Path) -> None:
    def passk() -> str:
        series = {run: [(float(k), v) for k, v in pts] for run, pts in data.pass_at_k(lake).items()}
        return line_chart(series, title="pass@k by run", x_label="k", y_label="pass@k", element_id="passk-chart",
                          y_range=(0.0, 1.0), integer_x=True)

    charts = {"passk": passk,
              "reward": lambda: curve(training.trainer_steps(lake), "reward_mean", "reward-chart"),
              "loss": lambda: curve(training.trainer_steps(lake), "loss", "loss-chart")}

    @app.get("/charts/{name}.svg")
    def chart(name: str) -> Response:
        if name not in charts:
            return Response(f"unknown chart {name!r}; charts: {', '.join(charts)}", status_code=404)
        return Response(charts[name](), media_type="image/svg+xml")
