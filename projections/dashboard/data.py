"""What the dashboard shows about runs, read from the lake on each request (plain JSON-able values).

A run is every run id with a `run.started`, and every run id that only has episodes or trainer
steps (the RL loop records no `run.started`): those show with mode `rl` when the run trained,
and as `unfinished` without a `run.finished` (or `running` while its events are recent).
A param_search sub-run (id `<id>.<field>=<value>...`, eval mode in its events) shows with mode
`param_search` and its search as `parent_run`.

Failures are counted the way DESIGN.md §4 and `eval.result.status` classify them: `infra` — a
result with status `infra` (upstream unreachable, sandbox, repository, image, environment or
harness missing: nothing was judged; its `infra_cause` says which); `model` — an evaluated sample
that is not resolved for any other reason (its patch does not apply, is empty, times out, errors
or fails tests).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime, timezone
from functools import wraps
from pathlib import Path
from typing import Any, Callable, TypeVar

import polars as pl

from .. import lake as lk
from .. import scores, status
from ..memory import WorkflowMemory

__all__ = ["per_version", "rows_of", "runs", "pass_at_k", "run_scores", "repo_table", "active_alerts", "memory_blocks",
           "tasks", "flat", "INFRA_STATUSES", "lake_version", "policy_label"]

INFRA_STATUSES = ("infra",)
"""eval.result statuses that say nothing about the model's patch."""


def _iso(value: Any) -> Any:
    return value.isoformat().replace("+00:00", "Z") if hasattr(value, "isoformat") else value


def rows_of(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return [{k: _iso(v) for k, v in r.items()} for r in frame.iter_rows(named=True)]


def flat(lake: Path, event_type: str, columns: list[str] | None = None) -> pl.LazyFrame | None:
    """One event type as a flat LazyFrame (optionally only `columns`), or None when absent."""
    table = lk.table(lake, event_type)
    if table is None:
        return None
    return table if columns is None else table.select(columns)


def lake_version(lake: Path) -> str:
    """Changes whenever the projector writes (the live pages poll it)."""
    path = Path(lake) / lk.MANIFEST
    return str(path.stat().st_mtime_ns) if path.exists() else "0"


F = TypeVar("F", bound=Callable[..., Any])
_MEMO: OrderedDict = OrderedDict()
_MEMO_LOCK = threading.Lock()


def per_version(fn: F) -> F:
    """Remember `fn(lake, *args)` until the lake changes (its manifest is rewritten by every
    projector round), for the 64 most recent calls: the pages of one lake state share them."""
    @wraps(fn)
    def wrapper(lake: Path, *args: Any) -> Any:
        key = (fn.__qualname__, str(lake), lake_version(lake), args)
        with _MEMO_LOCK:
            if key in _MEMO:
                _MEMO.move_to_end(key)
                return _MEMO[key]
        value = fn(lake, *args)
        with _MEMO_LOCK:
            _MEMO[key] = value
            while len(_MEMO) > 64:
                _MEMO.popitem(last=False)
        return value

    return wrapper  # type: ignore[return-value]


def policy_label(value: Any) -> str:
    """A policy version for people: `T@N`, `base`, `unknown`, or the number it used to be."""
    if isinstance(value, dict):
        if value.get("unknown"):
            return "unknown"
        trainer = value.get("trainer_id") or ""
        return f"{trainer}@{value.get('step', 0)}" if trainer else "base"
    return "-" if value is None else str(value)


# -- runs ------------------------------------------------------------------------------------------
@per_version
def runs(lake: Path) -> list[dict[str, Any]]:
    """One row per run, oldest first: mode, model, dataset, status, times, counts, pass@k per k."""
    frame = _started(lake)
    frame = frame.join(_finished(lake), on="run_id", how="left")
    frame = frame.join(_activity(lake), on="run_id", how="left")
    frame = frame.join(_eval_counts(lake), on="run_id", how="left")
    frame = frame.with_columns(
        started_at=pl.coalesce("started_at", "first_at"),
        status=pl.coalesce("status", pl.when(pl.col("last_at") > _now() - pl.duration(minutes=15))
                           .then(pl.lit("running")).otherwise(pl.lit("unfinished"))),
        mode=pl.coalesce("mode", pl.when(pl.col("trained")).then(pl.lit("rl")).otherwise(pl.lit("-"))))
    frame = frame.with_columns(duration_s=pl.coalesce(
        "duration_s", (pl.col("last_at") - pl.col("started_at")).dt.total_milliseconds() / 1000))
    out = rows_of(frame.sort("started_at", nulls_last=True).drop("first_at", "last_at", "trained"))
    passk = run_scores(lake)
    for row in out:
        row["pass_at"] = passk.get(row["run_id"], {})
        for key in ("episodes", "evaluated", "resolved", "infra_failures", "model_failures"):
            row[key] = row.get(key) or 0
    return out


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _started(lake: Path) -> pl.DataFrame:
    cols = ["run_id", "ts", "mode", "planned", "parent_run", "manifest", "config", "log_name"]
    started = flat(lake, "run.started", cols)
    ids = [f.select("run_id") for t in ("episode.started", "trainer.step")
           if (f := flat(lake, t)) is not None]
    known = pl.concat(ids).unique().collect() if ids else pl.DataFrame(schema={"run_id": pl.String})
    known = known.filter(pl.col("run_id").is_not_null() & (pl.col("run_id") != ""))
    if started is None:
        base = pl.DataFrame(schema={"run_id": pl.String, "started_at": pl.Datetime("us", "UTC"), "mode": pl.String,
                                    "planned": pl.Int64, "parent_run": pl.String, "dataset": pl.String,
                                    "model": pl.String, "log_name": pl.String})
    else:
        base = (started.collect().sort("ts").unique("run_id", keep="last", maintain_order=True)
                .with_columns(dataset=pl.col("manifest").struct.field("source"),
                              model=pl.col("config").list.eval(pl.element().filter(
                                  pl.element().struct.field("key").is_in(["model.name", "model"]))
                                  .struct.field("value")).list.first())
                .drop("manifest", "config").rename({"ts": "started_at"}))
    extra = known.join(base.select("run_id"), on="run_id", how="anti")
    frame = pl.concat([base, extra], how="diagonal_relaxed")
    # a param_search sub-run (ids `<id>.<field>=<value>...`) runs in eval mode; show whose it is
    grid = pl.col("run_id").str.extract(r"^(.+?)\.(?:temperature|top_p|max_tokens)=", 1)
    return frame.with_columns(parent_run=pl.coalesce("parent_run", grid),
                              mode=pl.when(grid.is_not_null() & (pl.col("mode") == "eval"))
                              .then(pl.lit("param_search")).otherwise("mode"))


def _finished(lake: Path) -> pl.DataFrame:
    fin = flat(lake, "run.finished", ["run_id", "ts", "status", "episodes", "evaluated", "duration_s"])
    if fin is None:
        return pl.DataFrame(schema={"run_id": pl.String, "finished_at": pl.Datetime("us", "UTC"), "status": pl.String,
                                    "episodes_finished": pl.Int64, "duration_s": pl.Float64})
    return (fin.collect().sort("ts").unique("run_id", keep="last")
            .rename({"ts": "finished_at", "episodes": "episodes_finished"}).drop("evaluated"))


def _activity(lake: Path) -> pl.DataFrame:
    """Per run: first and last event time, episodes started, whether it trained."""
    parts = []
    for event_type in ("episode.started", "episode.finished", "eval.result", "trainer.step"):
        f = flat(lake, event_type, ["run_id", "ts"])
        if f is not None:
            parts.append(f.with_columns(kind=pl.lit(event_type)))
    if not parts:
        return pl.DataFrame(schema={"run_id": pl.String, "first_at": pl.Datetime("us", "UTC"),
                                    "last_at": pl.Datetime("us", "UTC"), "episodes": pl.UInt32, "trained": pl.Boolean})
    return (pl.concat(parts).group_by("run_id")
            .agg(first_at=pl.col("ts").min(), last_at=pl.col("ts").max(),
                 episodes=(pl.col("kind") == "episode.started").sum(),
                 trained=(pl.col("kind") == "trainer.step").any()).collect())


def _eval_counts(lake: Path) -> pl.DataFrame:
    evals = flat(lake, "eval.result", ["run_id", "resolved", "status"])
    if evals is None:
        return pl.DataFrame(schema={"run_id": pl.String, "evaluated": pl.UInt32, "resolved": pl.UInt32,
                                    "infra_failures": pl.UInt32, "model_failures": pl.UInt32})
    infra = pl.col("status").is_in(INFRA_STATUSES)
    return evals.group_by("run_id").agg(
        evaluated=(~infra).sum(), resolved=pl.col("resolved").sum(), infra_failures=infra.sum(),
        model_failures=(~pl.col("resolved") & ~infra).sum()).collect()


# -- scores --------------------------------------------------------------------------------------
def _latest(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame.filter(pl.col("scorer_version") == pl.col("scorer_version").max()
                        .over(["run_id", "scope", "scope_key", "metric"]))


@per_version
def run_scores(lake: Path) -> dict[str, dict[int, float]]:
    """Run id -> {k: pass@k} at run scope (latest scorer version)."""
    frame = _latest(scores.load(lake).filter((pl.col("scope") == "run") & (pl.col("metric") == "pass@k"))).collect()
    out: dict[str, dict[int, float]] = {}
    for r in frame.sort(["run_id", "k"]).iter_rows(named=True):
        out.setdefault(r["run_id"], {})[r["k"]] = r["value"]
    return out


def pass_at_k(lake: Path) -> dict[str, list[tuple[int, float]]]:
    """Run id -> [(k, pass@k)] at run scope (latest scorer version)."""
    return {run: sorted(ks.items()) for run, ks in run_scores(lake).items()}


@per_version
def repo_table(lake: Path, run_id: str) -> list[dict[str, Any]]:
    """Per repo of a run: n, samples, coverage, pass@k per k, avg@1, and evaluated/resolved counts."""
    frame = _latest(scores.load(lake).filter((pl.col("run_id") == run_id) & (pl.col("scope") == "repo"))).collect()
    out: dict[str, dict[str, Any]] = {}
    for r in frame.sort(["scope_key", "metric", "k"]).iter_rows(named=True):
        row = out.setdefault(r["scope_key"], {"repo": r["scope_key"], "pass_at": {}})
        if r["metric"] == "pass@k":
            row["pass_at"][r["k"]] = r["value"]
        else:
            row.update(avg_at_1=r["value"], n=r["n"], samples=r["samples"], coverage=r["coverage"])
    evals = flat(lake, "eval.result", ["run_id", "repo", "resolved", "status"])
    if evals is not None:
        counts = (evals.filter(pl.col("run_id") == run_id).group_by("repo")
                  .agg(evaluated=pl.len(), resolved=pl.col("resolved").sum(),
                       infra=pl.col("status").is_in(INFRA_STATUSES).sum()).collect())
        for r in counts.iter_rows(named=True):
            out.setdefault(r["repo"], {"repo": r["repo"], "pass_at": {}}).update(
                evaluated=r["evaluated"], resolved=r["resolved"], infra=r["infra"])
    return [out[k] for k in sorted(out)]


# -- alerts, memory, tasks ---------------------------------------------------------------------------
def active_alerts(lake: Path) -> list[dict[str, Any]]:
    """Rules whose latest alert event is `alert.raised`."""
    cols = ["type", "ts", "rule", "value", "threshold", "window_s", "log_name", "log_offset"]
    frames = [f.collect() for f in (flat(lake, "alert.raised", cols + ["severity", "message"]),
                                    flat(lake, "alert.resolved", cols)) if f is not None]
    if not frames:
        return []
    latest = (pl.concat(frames, how="diagonal").sort(["log_name", "log_offset"])
              .unique(["log_name", "rule"], keep="last", maintain_order=True))
    return rows_of(latest.filter(pl.col("type") == "alert.raised").drop("type", "log_offset"))


def memory_blocks(lake: Path) -> dict[str, dict[str, Any]]:
    mem = WorkflowMemory.from_lake(lake)
    return {scope: {"workflows": mem.to_json(scope)["workflows"], "prompt": mem.render(scope)}
            for scope in sorted(mem.scopes)}


def tasks(lake: Path) -> list[dict[str, Any]]:
    from dataclasses import asdict

    return [asdict(t) for t in sorted(status.from_lake(lake).values(), key=lambda t: t.id)]
