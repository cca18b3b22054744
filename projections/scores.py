"""The score index: the latest value per score key, rebuilt from `score.updated`.

    import projections.scores
    lf = projections.scores.load(".ledger/lake")      # polars.LazyFrame, read-only
    lf.filter(pl.col("run_id") == "r1").collect()

The index lives at `DIR/views/scores.parquet`; the projector rebuilds it after
every round that wrote `score.updated` rows. A key is (run_id, scope,
scope_key, metric, k, scorer_version); the latest update (by event time, then
log position) wins.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import polars as pl

from . import lake as lk

__all__ = ["load", "build", "from_updates", "from_log", "summary", "KEY", "COLUMNS", "index_path"]

KEY = ["run_id", "scope", "scope_key", "metric", "k", "scorer_version"]
COLUMNS = ["run_id", "model", "dataset", "split", "scope", "scope_key", "metric", "k", "value", "n",
           "c", "coverage", "scorer_version", "updated_at"]
_SCHEMA = {"run_id": pl.String, "model": pl.String, "dataset": pl.String, "split": pl.String,
           "scope": pl.String, "scope_key": pl.String, "metric": pl.String, "k": pl.Int64,
           "value": pl.Float64, "n": pl.Int64, "c": pl.Int64, "coverage": pl.Float64,
           "scorer_version": pl.Int64, "updated_at": pl.Datetime("us", "UTC")}


def index_path(lake: str | Path) -> Path:
    return Path(lake) / lk.VIEWS / "scores.parquet"


def from_updates(updates: pl.LazyFrame) -> pl.LazyFrame:
    """Score rows (latest per key) from `score.updated` rows (lake columns)."""
    return (updates.sort(["ts", "log_partition", "log_offset"])
            .unique(subset=KEY, keep="last", maintain_order=True)
            .rename({"ts": "updated_at"})
            .select(COLUMNS)
            .sort(["run_id", "scope", "scope_key", "metric", "k", "scorer_version"]))


def _empty() -> pl.LazyFrame:
    return pl.DataFrame(schema=_SCHEMA).lazy()


def build(lake: str | Path) -> Path:
    """Rebuild `views/scores.parquet` from the lake's `score.updated` table."""
    updates = lk.scan(Path(lake), "scores", "score.updated")
    frame = (_empty() if updates is None else from_updates(updates)).collect()
    path = index_path(lake)
    lk.write_parquet(path, frame)
    return path


def load(lake: str | Path) -> pl.LazyFrame:
    """The score index as a LazyFrame (computed from the table if not yet materialised)."""
    path = index_path(lake)
    if path.exists():
        return pl.scan_parquet(path)
    updates = lk.scan(Path(lake), "scores", "score.updated")
    return _empty() if updates is None else from_updates(updates)


def from_log(log_url: str, on_undecodable=None) -> pl.LazyFrame:
    """The score index computed straight from the log's `scores` topic (no lake), read-only;
    records that do not decode go to `on_undecodable` (default: a line on stderr)."""
    from events.log import open_log

    log = open_log(log_url, read_only=True)
    try:
        rows = [_row(rec.event, rec.partition, rec.offset)
                for rec in log.read("scores", on_undecodable=on_undecodable)
                if rec.event.type == "score.updated"]
    finally:
        log.close()
    if not rows:
        return _empty()
    frame = pl.DataFrame(rows, schema={**{k: v for k, v in _SCHEMA.items() if k != "updated_at"},
                                       "ts": pl.Datetime("us", "UTC"), "log_partition": pl.Int64,
                                       "log_offset": pl.Int64})
    return from_updates(frame.lazy())


def _row(event: Any, partition: int, offset: int) -> dict[str, Any]:
    p = event.payload
    return {"run_id": event.run_id, "model": p.model, "dataset": p.dataset, "split": p.split,
            "scope": p.scope, "scope_key": p.scope_key, "metric": p.metric, "k": p.k,
            "value": p.value, "n": p.n, "c": p.c, "coverage": p.coverage,
            "scorer_version": p.scorer_version, "ts": event.ts, "log_partition": partition,
            "log_offset": offset}


def summary(scores: pl.DataFrame, run: str | None = None) -> list[dict[str, Any]]:
    """One line per run and per repo: pass@1, pass@k and avg@k at the largest k."""
    frame = scores.filter(pl.col("scope").is_in(["run", "repo"]))
    if run is not None:
        frame = frame.filter(pl.col("run_id") == run)
    frame = frame.filter(pl.col("scorer_version") == pl.col("scorer_version").max()
                         .over(["run_id", "scope", "scope_key", "metric"]))
    out = []
    for (run_id, scope, key), rows in frame.sort(["run_id", "scope", "scope_key"]).group_by(
            ["run_id", "scope", "scope_key"], maintain_order=True):
        out.append(_line(run_id, scope, key, rows))
    return sorted(out, key=lambda r: (r["run_id"], r["scope"] != "run", r["scope_key"]))


def _line(run_id: str, scope: str, key: str, rows: pl.DataFrame) -> dict[str, Any]:
    def pick(metric: str, k: int | None) -> tuple[int | None, float | None]:
        sel = rows.filter(pl.col("metric") == metric)
        if k is not None:
            sel = sel.filter(pl.col("k") == k)
        if sel.height == 0:
            return None, None
        best = sel.sort("k").row(-1, named=True)
        return best["k"], best["value"]

    _, p1 = pick("pass@k", 1)
    kp, pk = pick("pass@k", None)
    ka, ak = pick("avg@k", None)
    n = rows["n"].max()
    return {"run_id": run_id, "scope": scope, "scope_key": key, "n": n, "pass@1": p1,
            "k": kp, "pass@k": pk, "avg_k": ka, "avg@k": ak}


def format_table(lines: Iterable[dict[str, Any]]) -> str:
    """A plain-text table of `summary` lines."""
    header = ["run", "scope", "key", "n", "pass@1", "pass@k", "avg@k"]
    body = [[r["run_id"], r["scope"], r["scope_key"], str(r["n"] if r["n"] is not None else "-"),
             _pct(r["pass@1"]), _at(r["pass@k"], r["k"]), _at(r["avg@k"], r["avg_k"])]
            for r in lines]
    widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h)
              for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), fmt.format(*("-" * w for w in widths)),
                      *(fmt.format(*row) for row in body)])


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _at(value: float | None, k: int | None) -> str:
    return "-" if value is None else f"{value:.3f} (k={k})"
