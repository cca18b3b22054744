"""Projection: events -> Parquet rate, and a Polars query over 10M score rows.

Two figures, each beside the raw tool measured in the same run:
- `project_eps`: events projected per second by the real `Projector` (the
  embedded SQLite log -> the lake: typed frames in the one event schema, maps
  and open shapes decoded into their types, dedupe by id, day directories,
  atomic files, manifest, group commit) vs `raw_eps`: the same bytes read
  with `sqlite3` and written with `polars.read_ndjson` + `write_parquet` only
  (the reader's plain fields only, no ids, no manifest) -- the floor.
  `*_cpu_s` is the user+sys CPU time of the process (all its threads) and
  its children, and `*_eps_cpu` events per CPU-second: on a shared machine
  wall time mostly measures the neighbours (`load_avg` says how busy it was),
  and on a quiet one wall time is at most the CPU time.
- `query_s`: filter one run and aggregate pass@k by repo over `--rows` score rows
  in the score index's columns, in `day=` directories, `scan_parquet` with predicate
  pushdown, median of 3; `duckdb_query_s` is the same query in DuckDB.
"""
from __future__ import annotations

import argparse
import io
import os
import resource
import shutil
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n", type=int, default=1_000_000, help="events to project")
    p.add_argument("--rows", type=int, default=10_000_000, help="score rows for the query")
    p.add_argument("--runs", type=int, default=1000, help="runs the score rows belong to")
    p.add_argument("--dir", default=None, help="work directory (default: a temp dir, removed after)")
    p.add_argument("--batch", type=int, default=250_000, help="records per topic-partition per projector round")
    p.add_argument("--workers", type=int, default=2, help="topic-partitions the projector decodes side by side")


def run(args: argparse.Namespace) -> dict:
    work = Path(args.dir or tempfile.mkdtemp(prefix="bench-project-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        figures = {"n": args.n, "rows": args.rows}
        figures.update(_projection(work, args.n, args.batch, args.workers))
        figures.update(_query(work, args.rows, args.runs))
        return figures
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)


# -- events -> Parquet ---------------------------------------------------------------------
def _events(n: int):
    """Encoded events of four types (score, eval, reward, action), as producers write them."""
    import orjson

    from events.ids import uuid7

    t0 = datetime(2026, 5, 1, tzinfo=timezone.utc)
    for i in range(n):
        ts = (t0 + timedelta(milliseconds=170 * i)).isoformat().replace("+00:00", "Z")
        run, kind = f"run-{i // 5000}", i % 4
        inst = f"org__repo{i % 37}-{i % 997}"
        if kind == 0:
            t, topic, key = "score.updated", "scores", run
            payload = {"scope": "instance", "scope_key": inst, "metric": "pass@k", "k": 1 + i % 5,
                       "value": (i % 11) / 10, "n": 1, "samples": 5, "c": i % 6, "coverage": 1.0,
                       "scorer_version": 1, "model": "m", "dataset": "d", "split": "test",
                       "dropped_duplicates": 0, "dropped_malformed": 0}
        elif kind == 1:
            t, topic, key = "eval.result", "evals", f"{run}/{inst}"
            payload = {"instance_id": inst, "sample_idx": i % 5, "episode_id": f"ep-{i}", "repo": "org/repo",
                       "resolved": i % 3 == 0, "status": "ok", "reason": "", "fail_to_pass": {"t1": "PASSED"},
                       "pass_to_pass": {}, "harness": "pytest", "harness_version": "8", "duration_s": 1.5,
                       "log": None, "patch_sha256": "", "model": "m"}
        elif kind == 2:
            t, topic, key = "reward.assigned", "rewards", f"ep-{i}"
            payload = {"episode_id": f"ep-{i}", "instance_id": inst, "sample_idx": i % 5, "eval_id": f"ev-{i}",
                       "reward": float(i % 2), "components": {"resolved": float(i % 2)},
                       "reward_fn": "swe", "reward_version": 1}
        else:
            t, topic, key = "agent.action", "actions", f"ep-{i // 8}"
            payload = {"episode_id": f"ep-{i // 8}", "step": i % 8, "tool": "bash", "command": "ls -la",
                       "exit_code": 0, "observation": {"text": "a\nb\n", "sha256": "0" * 64, "size": 4,
                                                       "complete": True},
                       "duration_s": 0.01, "timed_out": False, "output_capped": False}
        v = 2 if t in ("agent.action", "score.updated") else 1
        yield topic, key, orjson.dumps({"id": uuid7(), "type": t, "v": v, "ts": ts, "run_id": run, "key": key,
                                        "parent": None, "producer": "bench", "payload": payload})


def _fill_log(url: str, n: int) -> None:
    from events.codec import decode
    from events.log import open_log

    log = open_log(url)
    pending: dict[str, list] = {}
    for i, (topic, key, value) in enumerate(_events(n)):
        if i < 8:
            decode(value)  # the synthetic bytes are valid events
        pending.setdefault(topic, []).append((key, value))
        if len(pending[topic]) >= 20_000:
            log.append_raw(topic, pending.pop(topic))
    for topic, recs in pending.items():
        log.append_raw(topic, recs)
    log.close()


def _cpu_s() -> float:
    """User+sys CPU seconds of this process (every thread) and its waited-for children."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _timed(fn):
    t, c = time.perf_counter(), _cpu_s()
    out = fn()
    return out, time.perf_counter() - t, _cpu_s() - c


def _projection(work: Path, n: int, batch: int, workers: int) -> dict:
    from events.log import open_log
    from projections.projector import Projector

    url = f"sqlite:///{work}/log.db"
    _fill_log(url, n)
    log = open_log(url)
    load = os.getloadavg()[0]

    def project() -> int:
        projector = Projector(log, work / "lake", batch=batch, workers=workers)
        try:
            return projector.run()
        finally:
            projector.close()

    read, project_s, project_cpu = _timed(project)
    raw_rows, raw_s, raw_cpu = _timed(lambda: _raw_projection(log.path, work / "raw", batch))
    log.close()
    assert read == n and raw_rows == n, (read, raw_rows, n)
    return {"project_eps": round(n / project_s), "project_s": round(project_s, 2),
            "project_cpu_s": round(project_cpu, 2), "project_eps_cpu": round(n / project_cpu),
            "raw_eps": round(n / raw_s), "raw_s": round(raw_s, 2),
            "raw_cpu_s": round(raw_cpu, 2), "raw_eps_cpu": round(n / raw_cpu),
            "project_vs_raw": round(raw_s / project_s, 3),
            "project_vs_raw_cpu": round(raw_cpu / project_cpu, 3),
            "batch": batch, "workers": workers, "load_avg": round(load, 2)}


def _raw_projection(db: Path, out: Path, batch: int) -> int:
    """The floor: values from SQLite -> read_ndjson with the schema -> one Parquet file per chunk."""
    import sqlite3

    import polars as pl

    from projections.frames import header
    from projections.schema import read_schema

    out.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(db)
    rows = 0
    for topic in ("scores", "evals", "rewards", "actions"):
        parts = conn.execute("SELECT partitions FROM topics WHERE name = ?", (topic,)).fetchone()[0]
        for part in range(parts):
            offset = 0
            while True:
                values = [v for (v,) in conn.execute(
                    "SELECT value FROM events WHERE topic = ? AND partition = ? AND offset >= ? AND offset < ? "
                    "ORDER BY offset", (topic, part, offset, offset + batch))]
                if not values:
                    break
                frame = pl.read_ndjson(io.BytesIO(b"\n".join(values)), schema=read_schema(header(values[0])[0]))
                frame.write_parquet(out / f"{topic}-{part}-{offset}.parquet", compression="zstd", compression_level=1)
                rows += frame.height
                offset += len(values)
    conn.close()
    return rows


# -- the score-row query ---------------------------------------------------------------------
def _write_scores(root: Path, rows: int, runs: int) -> None:
    """Score rows in the lake layout; each run's rows are contiguous in time, as runs are."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(0)
    days = 10
    per_day = rows // days
    t0 = datetime(2026, 5, 1, tzinfo=timezone.utc)
    for d in range(days):
        idx = np.arange(d * per_day, (d + 1) * per_day)
        run = idx * runs // rows
        frame = pl.DataFrame({
            "run_id": pl.Series(run).cast(pl.String).str.pad_start(5, "0").str.replace(r"^", "run-"),
            "scope": np.where(idx % 10 == 0, "repo", "instance"),
            "scope_key": pl.Series(idx % 37).cast(pl.String).str.replace(r"^", "org/repo"),
            "metric": np.where(idx % 2 == 0, "pass@k", "avg@k"),
            "k": (idx % 5 + 1).astype(np.int64),
            "value": rng.random(per_day),
            "n": np.full(per_day, 1, dtype=np.int64),
            "samples": np.full(per_day, 5, dtype=np.int64),
            "c": (idx % 6).astype(np.int64),
            "scorer_version": np.ones(per_day, dtype=np.int64),
        }).with_columns(ts=pl.lit(t0 + timedelta(days=d)).dt.replace_time_zone("UTC"))
        path = root / f"day={(t0 + timedelta(days=d)).date().isoformat()}" / f"scores-0-{d * per_day:020d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.write_parquet(path, compression="zstd", row_group_size=100_000, statistics=True)


def _query(work: Path, rows: int, runs: int) -> dict:
    import duckdb
    import polars as pl

    root = work / "scores_lake" / "scores" / "score.updated"
    _write_scores(root, rows, runs)
    run_id = f"run-{runs // 2:05d}"

    def polars_query() -> pl.DataFrame:
        return (pl.scan_parquet(root, hive_partitioning=True)
                .filter((pl.col("run_id") == run_id) & (pl.col("scope") == "repo") & (pl.col("metric") == "pass@k"))
                .group_by(["scope_key", "k"]).agg(pass_at_k=pl.col("value").mean(), rows=pl.len())
                .sort(["scope_key", "k"]).collect())

    def duckdb_query() -> list:
        return duckdb.sql(f"""
            SELECT scope_key, k, avg(value) AS pass_at_k, count(*) AS rows
            FROM read_parquet('{root}/*/*.parquet', hive_partitioning = true)
            WHERE run_id = '{run_id}' AND scope = 'repo' AND metric = 'pass@k'
            GROUP BY scope_key, k ORDER BY scope_key, k""").fetchall()

    times, result = [], None
    for _ in range(3):
        t = time.perf_counter()
        result = polars_query()
        times.append(time.perf_counter() - t)
    dtimes = []
    for _ in range(3):
        t = time.perf_counter()
        dres = duckdb_query()
        dtimes.append(time.perf_counter() - t)
    assert len(dres) == result.height
    total = pl.scan_parquet(root, hive_partitioning=True).select(pl.len()).collect().item()
    return {"query_s": round(statistics.median(times), 4), "query_rows": int(result["rows"].sum()),
            "query_groups": result.height, "score_rows": total,
            "duckdb_query_s": round(statistics.median(dtimes), 4)}
