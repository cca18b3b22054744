"""What the dashboard shows, read from the lake on each request (plain JSON-able values)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from .. import lake as lk
from .. import scores, status
from ..memory import WorkflowMemory

__all__ = ["rows_of", "runs", "pass_at_k", "trainer_steps", "active_alerts", "memory_blocks", "tasks"]


def _iso(value: Any) -> Any:
    return value.isoformat().replace("+00:00", "Z") if hasattr(value, "isoformat") else value


def rows_of(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return [{k: _iso(v) for k, v in r.items()} for r in frame.iter_rows(named=True)]


def _table(lake: Path, topic: str, event_type: str, columns: list[str]) -> pl.DataFrame | None:
    table = lk.scan(lake, topic, event_type)
    return None if table is None else table.select(columns).collect()


def runs(lake: Path) -> list[dict[str, Any]]:
    """One row per run: config summary, status and run-scope pass@1."""
    started = _table(lake, "runs", "run.started", ["run_id", "ts", "mode", "planned", "manifest"])
    if started is None:
        return []
    frame = started.with_columns(dataset=pl.col("manifest").struct.field("source")).drop("manifest")
    frame = frame.rename({"ts": "started_at"}).unique("run_id", keep="last", maintain_order=True)
    finished = _table(lake, "runs", "run.finished", ["run_id", "ts", "status", "episodes", "evaluated"])
    if finished is not None:
        finished = finished.rename({"ts": "finished_at"}).unique("run_id", keep="last")
        frame = frame.join(finished, on="run_id", how="left")
    else:
        frame = frame.with_columns(finished_at=pl.lit(None), status=pl.lit(None, pl.String),
                                   episodes=pl.lit(None, pl.Int64), evaluated=pl.lit(None, pl.Int64))
    frame = frame.with_columns(pl.col("status").fill_null("running"))
    p1 = (scores.load(lake).filter((pl.col("scope") == "run") & (pl.col("metric") == "pass@k")
                                   & (pl.col("k") == 1))
          .sort("scorer_version").unique("run_id", keep="last").select("run_id", pass_at_1="value").collect())
    return rows_of(frame.join(p1, on="run_id", how="left").sort("started_at"))


def pass_at_k(lake: Path) -> dict[str, list[tuple[int, float]]]:
    """Run id -> [(k, pass@k)] at run scope (latest scorer version)."""
    frame = (scores.load(lake).filter((pl.col("scope") == "run") & (pl.col("metric") == "pass@k"))
             .filter(pl.col("scorer_version") == pl.col("scorer_version").max().over("run_id"))
             .sort(["run_id", "k"]).collect())
    out: dict[str, list[tuple[int, float]]] = {}
    for r in frame.iter_rows(named=True):
        out.setdefault(r["run_id"], []).append((r["k"], r["value"]))
    return out


def trainer_steps(lake: Path) -> list[dict[str, Any]]:
    frame = _table(lake, "trainer", "trainer.step",
                   ["trainer_id", "step", "loss", "kl", "reward_mean", "reward_std", "samples",
                    "dropped_stale", "log_offset"])
    if frame is None:
        return []
    return rows_of(frame.sort("log_offset").unique(["trainer_id", "step"], keep="last", maintain_order=True)
                 .sort(["trainer_id", "step"]).drop("log_offset"))


def active_alerts(lake: Path) -> list[dict[str, Any]]:
    """Rules whose latest alert event is `alert.raised`."""
    cols = ["type", "ts", "rule", "value", "threshold", "window_s", "log_offset"]
    frames = [f for f in (_table(lake, "alerts", "alert.raised", cols + ["severity", "message"]),
                          _table(lake, "alerts", "alert.resolved", cols)) if f is not None]
    if not frames:
        return []
    latest = (pl.concat(frames, how="diagonal").sort("log_offset")
              .unique("rule", keep="last", maintain_order=True))
    return rows_of(latest.filter(pl.col("type") == "alert.raised").drop("type", "log_offset"))


def memory_blocks(lake: Path) -> dict[str, dict[str, Any]]:
    mem = WorkflowMemory.from_lake(lake)
    return {scope: {"workflows": mem.to_json(scope)["workflows"], "prompt": mem.render(scope)}
            for scope in sorted(mem.scopes)}


def tasks(lake: Path) -> list[dict[str, Any]]:
    from dataclasses import asdict

    return [asdict(t) for t in sorted(status.from_lake(lake).values(), key=lambda t: t.id)]
