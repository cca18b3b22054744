"""Re-score N synthetic eval results (pass@k + avg@k, all scopes) from the embedded log.

Setup (not timed): a fresh SQLite log with one run.started and N eval.result
events (N/samples instances over 20 repos). Timed: `processors.rescore.rescore_scores`,
i.e. one pass over the evals topic, the normaliser, final scores at instance,
repo and run scope, and appending them. For comparison the raw floor is
measured in the same run: SELECT every evals row and orjson-parse it.
"""
from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n", type=int, default=1_000_000, help="eval results to re-score")
    p.add_argument("--samples", type=int, default=100, help="samples per instance")
    p.add_argument("--k", default="1,10", help="comma-separated k values")
    p.add_argument("--dir", default=None, help="where to put the log (default: a temp dir)")


def _write(log, run_id: str, n: int, samples: int) -> None:
    import orjson

    import events
    from events.payloads import DatasetManifest, EvalResult, RunStarted

    instances = max(1, n // samples)
    ids = [f"org{i % 20}__repo{i % 20}-{i}" for i in range(instances)]
    manifest = DatasetManifest(source="synthetic", sha256="0" * 64, count=instances, instance_ids=ids)
    log.append("runs", [events.new(RunStarted(config={"model": "bench"}, manifest=manifest,
                                              planned=instances * samples), producer="bench", run_id=run_id)])
    template = events.new(EvalResult(instance_id="x", resolved=False), producer="bench", run_id=run_id)
    base = orjson.loads(events.encode(template))
    rng = random.Random(0)
    skill = [rng.random() for _ in range(instances)]
    batch = []
    for i in range(n):
        inst = i % instances
        obj = {**base, "id": events.uuid7(), "key": f"{run_id}/{ids[inst]}",
               "payload": {**base["payload"], "instance_id": ids[inst], "sample_idx": i // instances,
                           "resolved": rng.random() < skill[inst]}}
        batch.append((obj["key"], orjson.dumps(obj)))
        if len(batch) >= 20_000:
            log.append_raw("evals", batch)
            batch = []
    if batch:
        log.append_raw("evals", batch)


def _raw_floor(path: Path) -> float:
    import sqlite3

    import orjson

    t0 = time.perf_counter()
    con = sqlite3.connect(path)
    count = 0
    for (value,) in con.execute("SELECT value FROM events WHERE topic = 'evals'"):
        orjson.loads(value)
        count += 1
    con.close()
    return time.perf_counter() - t0


def run(args: argparse.Namespace) -> dict:
    from events.log import open_log
    from processors.rescore import rescore_scores

    ks = tuple(int(k) for k in args.k.split(",") if k)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "bench.db"
        log = open_log(f"sqlite:///{path}")
        t0 = time.perf_counter()
        _write(log, "bench-run", args.n, args.samples)
        setup_s = time.perf_counter() - t0
        raw_s = _raw_floor(path)
        t0 = time.perf_counter()
        made, _, state = rescore_scores(log, "bench-run", 1, ks)
        seconds = time.perf_counter() - t0
        log.close()
    run_score = [s for s in state.board.all_scores("bench-run") if s.scope == "run"]
    return {"n": args.n, "seconds": round(seconds, 3), "events_per_s": round(args.n / seconds),
            "scores_written": made, "raw_select_orjson_s": round(raw_s, 3),
            "ratio_to_raw": round(seconds / raw_s, 2), "setup_s": round(setup_s, 1), "k": list(ks),
            "run_scores": {f"{s.metric}@{s.k}": round(s.value, 6) for s in run_score}}
