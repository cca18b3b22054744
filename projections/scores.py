"""The score index: the latest value per score key, rebuilt from `score.updated`.

    import projections.scores
    lf = projections.scores.load(".ledger/lake")      # polars.LazyFrame, read-only
    lf.filter(pl.col("run_id") == "r1").collect()

The index lives at `DIR/views/scores.parquet`; the projector rebuilds it after
every round that wrote `score.updated` rows. A key is (log_name, run_id, scope,
scope_key, metric, k, scorer_version); the latest update (by event time, then
log position) wins. `n` is the instances scored, `samples` the samples per
instance, `c` the resolved samples (instance rows only); see
processors/scoreboard.py.

Join key to the evaluations a score was computed from: (log_name, run_id) and, by
scope, `eval.result`'s `instance_id` (instance rows) or `repo` (repo rows);
each `eval.result` names its `episode_id`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import polars as pl

from . import lake as lk

__all__ = ["load", "build", "from_updates", "from_log", "summary", "format_table", "KEY", "COLUMNS", "index_path"]

KEY = ["log_name", "run_id", "scope", "scope_key", "metric", "k", "scorer_version"]
COLUMNS = ["log_name", "run_id", "model", "dataset", "split", "scope", "scope_key", "metric", "k", "value", "n",
           "samples", "c", "coverage", "scorer_version", "updated_at"]
_SCHEMA = {"log_name": pl.String, "run_id": pl.String, "model": pl.String, "dataset": pl.String, "split": pl.String,
           "scope": pl.String, "scope_key": pl.String, "metric": pl.String, "k": pl.Int64,
           "value": pl.Float64, "n": pl.Int64, "samples": pl.Int64, "c": pl.Int64, "coverage": pl.Float64,
           "scorer_version": pl.Int64, "updated_at": pl.Datetime("us", "UTC")}


def index_path(lake: str | Path) -> Path:
    return Path(lake) / lk.VIEWS / "scores.parquet"


def from_updates(updates: pl.LazyFrame) -> pl.LazyFrame:
    """Score rows (latest per key) from `score.updated` rows (lake columns)."""
    return (updates.sort(["ts", "log_partition", "log_offset"])
            .unique(subset=KEY, keep="last", maintain_order=True)
            .rename({"ts": "updated_at"})
            .select(COLUMNS)
            .sort(["log_name", "run_id", "scope", "scope_key", "metric", "k", "scorer_version"]))


def _empty() -> pl.LazyFrame:
    return pl.DataFrame(schema=_SCHEMA).lazy()


def build(lake: str | Path) -> Path:
    """Rebuild `views/scores.parquet` from the lake's `score.updated` table."""
    updates = lk.table(lake, "score.updated")
    frame = (_empty() if updates is None else from_updates(updates)).collect()
    path = index_path(lake)
    lk.write_parquet(path, frame)
    return path


def load(lake: str | Path) -> pl.LazyFrame:
    """The score index as a LazyFrame (computed from the table if not yet materialised)."""
    path = index_path(lake)
    if path.exists():
        return pl.scan_parquet(path)
    updates = lk.table(lake, "score.updated")
    return _empty() if updates is None else from_updates(updates)


def from_log(log_url: str) -> pl.LazyFrame:
    """The score index computed straight from the log's `scores` topic (no lake)."""
    from events.log import open_log

    name = lk.default_name(log_url)
    log = open_log(log_url)
    try:
        rows = [_row(name, rec.event, rec.partition, rec.offset) for rec in log.read("scores")
                if rec.event.type == "score.updated"]
    finally:
        log.close()
    if not rows:
        return _empty()
    frame = pl.DataFrame(rows, schema={**{k: v for k, v in _SCHEMA.items() if k != "updated_at"},
                                       "ts": pl.Datetime("us", "UTC"), "log_partition": pl.Int64,
                                       "log_offset": pl.Int64})
    return from_updates(frame.lazy())


def _row(log: str, event: Any, partition: int, offset: int) -> dict[str, Any]:
    p = event.payload
    return {"log_name": log, "run_id": event.run_id, "model": p.model, "dataset": p.dataset, "split": p.split,
            "scope": p.scope, "scope_key": p.scope_key, "metric": p.metric, "k": p.k,
            "value": p.value, "n": p.n, "samples": p.samples, "c": p.c, "coverage": p.coverage,
            "scorer_version": p.scorer_version, "ts": event.ts, "log_partition": partition,
            "log_offset": offset}


def summary(scores: pl.DataFrame, run: str | None = None) -> list[dict[str, Any]]:
    """One line per run and per repo (latest scorer version): n, samples, coverage, pass@k at
    every k scored, avg@1. pass@k values are under "pass@K" keys."""
    frame = scores.filter(pl.col("scope").is_in(["run", "repo"]))
    if run is not None:
        frame = frame.filter(pl.col("run_id") == run)
    frame = frame.filter(pl.col("scorer_version") == pl.col("scorer_version").max()
                         .over(["log_name", "run_id", "scope", "scope_key", "metric"]))
    out = []
    for (log, run_id, scope, key), rows in frame.sort(["log_name", "run_id", "scope", "scope_key"]).group_by(
            ["log_name", "run_id", "scope", "scope_key"], maintain_order=True):
        out.append(_line(log, run_id, scope, key, rows))
    return sorted(out, key=lambda r: (r["log_name"], r["run_id"], r["scope"] != "run", r["scope_key"]))


def _line(log: str, run_id: str, scope: str, key: str, rows: pl.DataFrame) -> dict[str, Any]:
    passes = rows.filter(pl.col("metric") == "pass@k").sort("k")
    avg = rows.filter((pl.col("metric") == "avg@k") & (pl.col("k") == 1))
    first = (avg if avg.height else rows).row(0, named=True)
    line = {"log_name": log, "run_id": run_id, "scope": scope, "scope_key": key, "n": first["n"],
            "samples": first["samples"], "coverage": first["coverage"],
            "avg@1": avg["value"][0] if avg.height else None}
    line.update({f"pass@{k}": v for k, v in passes.select("k", "value").iter_rows()})
    return line


def format_table(lines: Iterable[dict[str, Any]]) -> str:
    """A plain-text table of `summary` lines: a pass@k column for every k any line has."""
    lines = list(lines)
    ks = sorted({int(name[5:]) for r in lines for name in r if name.startswith("pass@")})
    logs = {r["log_name"] for r in lines}
    header = (["log"] if len(logs) > 1 else []) + ["run", "scope", "key", "n", "samples", "coverage",
                                                   *(f"pass@{k}" for k in ks), "avg@1"]
    body = [([r["log_name"]] if len(logs) > 1 else []) +
            [r["run_id"], r["scope"], r["scope_key"], _int(r["n"]), _int(r["samples"]), _num(r["coverage"]),
             *(_num(r.get(f"pass@{k}")) for k in ks), _num(r["avg@1"])] for r in lines]
    widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h)
              for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), fmt.format(*("-" * w for w in widths)),
                      *(fmt.format(*row) for row in body)])


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _int(value: int | None) -> str:
    return "-" if value is None else str(value)
