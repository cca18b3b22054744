"""Workers: episodes/s of `ledger worker` processes against the local pool with as many processes.

For each workload and each worker count N, the same job (same run id, so the
same scripted verdicts) runs twice on the same broker, back to back: once on
the local pool with `batch.workers: N`, once distributed to N `ledger worker`
processes of one slot each. Throughput is measured from the log, between the
run's first `episode.started` and its last `eval.result` (start-up and the final
projection excluded on both sides), so both sides are timed by the same clock
on the same events.

- `demo`: the demo dataset with the scripted upstream (CPU-bound on a small
  machine: sandboxes, git and pytest).
- `sleep`: the same episodes with every command sleeping first
  (`infra/benchmarks/sleepy.py`): waiting, not computing, so more workers
  should mean more throughput even on two cores.

Coordination overhead per episode = (distributed window − local window) × N /
episodes: the process-time each episode costs more when its work goes through
the `work` topic, a worker's group and `work.done` than through the local pool.
`worker_side_ms` is measured inside the workers: each item's time from being
taken to its acknowledgement, minus the episode's and the evaluation's own
durations.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

__all__ = ["add_arguments", "run"]

_ROOT = Path(__file__).resolve().parents[2]
_SLEEPY = "callable:infra.benchmarks.sleepy:SleepyDemoUpstream"
_GROUP_OPTS = "session_timeout_ms=6000&heartbeat_interval_ms=500"
_RUN_ID = "bench-workers"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", default="1,2,4", help="worker counts to measure (default 1,2,4)")
    p.add_argument("--workloads", default="demo,sleep", help="demo and/or sleep (default both)")
    p.add_argument("--tasks", type=int, default=13, help="bundled tasks (default 13, the whole demo dataset)")
    p.add_argument("--samples", type=int, default=2, help="samples per task (default 2)")
    p.add_argument("--sleep", type=float, default=1.0, help="seconds each command sleeps in `sleep` (default 1)")
    p.add_argument("--rounds", type=int, default=1, help="local/distributed pairs per point (default 1)")
    p.add_argument("--protocol-items", type=int, default=200,
                   help="items through the work protocol alone, per-item cost (default 200)")
    p.add_argument("--kafka", default=None, help="bootstrap HOST:PORT of a broker (default: start the dev broker)")


def _config(tmp: Path, url: str, mode: str, n: int, args, upstream: str, cache: Path) -> Path:
    cfg = yaml.safe_load((_ROOT / "configs" / "demo.yaml").read_text())
    cfg["run"]["id"] = _RUN_ID
    cfg["model"]["upstream"] = upstream
    cfg["dataset"].update(limit=args.tasks, cache_dir=str(cache))
    cfg["sampling"].update(n=args.samples, k=[1])
    cfg["batch"] = {"mode": mode, "workers": n, "max_scheduled": 4 * n + 4}
    cfg["awm"] = {"enabled": False}
    cfg["log"], cfg["lake"], cfg["artifacts"] = url, str(tmp / "lake"), str(tmp / "artifacts")
    path = tmp / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _env(sleep_s: float) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "LEDGER_SLEEPY_S": str(sleep_s)}


def _start_workers(url: str, n: int, tmp: Path, env: dict) -> list[subprocess.Popen]:
    procs = []
    for i in range(n):
        err = open(tmp / f"worker{i}.log", "w")
        procs.append(subprocess.Popen([sys.executable, "-m", "main", "worker", "--log", url, "--run", _RUN_ID,
                                       "--name", f"bench{i}"], cwd=tmp, env=env, stdout=subprocess.DEVNULL,
                                      stderr=err))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # every worker following the log before the run starts
        if all("slot(s) on" in (tmp / f"worker{i}.log").read_text() for i in range(n)):
            return procs
        time.sleep(0.2)
    raise RuntimeError(f"workers did not start: {(tmp / 'worker0.log').read_text()[-2000:]}")


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(120)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _window(url: str) -> dict:
    from events.log import open_log

    log = open_log(url)
    try:
        started = [r.event.ts for r in log.read("episodes") if r.event.type == "episode.started"]
        durations = {r.event.payload.episode_id: r.event.payload.duration_s for r in log.read("episodes")
                     if r.event.type == "episode.finished" and r.event.payload.reason != "interrupted"}
        evals = {(r.event.payload.instance_id, r.event.payload.sample_idx): r.event for r in log.read("evals")}
        done = [r.event.payload for r in log.read("work") if r.event.type == "work.done"]
    finally:
        log.close()
    eval_s = {e.payload.episode_id: e.payload.duration_s for e in evals.values()}
    window = (max(e.ts for e in evals.values()) - min(started)).total_seconds()
    # with one process: from each result to the start of the next episode (the hand-off)
    starts = sorted(started)
    handoff = [min((s for s in starts if s > e.ts), default=None) for e in evals.values()]
    handoff_s = [(h - e.ts).total_seconds() for h, e in zip(handoff, evals.values()) if h is not None]
    worker_side = [d.duration_s - durations.get(d.ran, 0.0) - eval_s.get(d.ran, 0.0)
                   for d in done if d.outcome == "ran"]
    return {"window_s": window, "episodes": len(evals), "started": len(started),
            "handoff_s": statistics.median(handoff_s) if handoff_s else None,
            "verdicts": {f"{k[0]}/{k[1]}": e.payload.resolved for k, e in evals.items()},
            "worker_side_ms": 1000 * statistics.median(worker_side) if worker_side else None}


def _measure(bootstrap: str, mode: str, n: int, args, upstream: str, cache: Path) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-workers-{mode}-"))
    url = f"kafka://{bootstrap}?prefix=bw{uuid.uuid4().hex[:12]}.&{_GROUP_OPTS}"
    env = _env(args.sleep)
    workers: list[subprocess.Popen] = []
    try:
        config = _config(tmp, url, mode, n, args, upstream, cache)
        if mode == "distributed":
            workers = _start_workers(url, n, tmp, env)
        proc = subprocess.run([sys.executable, "-m", "main", "run", str(config)], cwd=tmp, env=env,
                              capture_output=True, text=True, timeout=3600)
        if proc.returncode != 0:
            raise RuntimeError(f"{mode} run with {n} failed: {proc.stderr[-2000:]}")
        _stop(workers)
        return _window(url)
    finally:
        _stop(workers)
        shutil.rmtree(tmp, ignore_errors=True)


def _point(bootstrap: str, n: int, args, upstream: str, cache: Path) -> dict:
    rounds = []
    for r in range(args.rounds):  # the two sides alternate which goes first, so drift hits both alike
        first, second = ("local", "distributed") if r % 2 == 0 else ("distributed", "local")
        a = _measure(bootstrap, first, n, args, upstream, cache)
        b = _measure(bootstrap, second, n, args, upstream, cache)
        local, dist = (a, b) if first == "local" else (b, a)
        rounds.append((local, dist))
        print(f"bench workers: {upstream} x{n}: local {local['window_s']:.1f} s, distributed "
              f"{dist['window_s']:.1f} s for {dist['episodes']} episodes (load {os.getloadavg()[0]:.1f})",
              file=sys.stderr, flush=True)
    local_w = statistics.median(r[0]["window_s"] for r in rounds)
    dist_w = statistics.median(r[1]["window_s"] for r in rounds)
    episodes = rounds[0][0]["episodes"]
    return {"processes": n, "episodes": episodes,
            "local_eps": round(episodes / local_w, 3), "distributed_eps": round(episodes / dist_w, 3),
            "distributed_vs_local": round(local_w / dist_w, 3),
            "overhead_ms_per_episode": round(1000 * (dist_w - local_w) * n / episodes, 1),
            "worker_side_ms_median": _round(statistics.median(
                r[1]["worker_side_ms"] for r in rounds if r[1]["worker_side_ms"] is not None)),
            "interrupted_or_repeated": sum(r[1]["started"] - r[1]["episodes"] for r in rounds),
            **_handoff(rounds, n),
            "verdicts_identical": all(r[0]["verdicts"] == r[1]["verdicts"] for r in rounds)}


def _protocol(bootstrap: str, cache: Path, items: int) -> dict:
    """The work protocol alone, per item: one worker takes `items` scheduled items whose pairs
    already have their result (decode, decide from the index, append `work.done`, commit)."""
    import events
    from events.log import open_log
    from events.payloads import EpisodeScheduled, EvalResult, RunStarted
    from producers.orchestrator.components import load_instances
    from producers.orchestrator.config import RunConfig

    tmp = Path(tempfile.mkdtemp(prefix="bench-workers-protocol-"))
    url = f"kafka://{bootstrap}?prefix=bw{uuid.uuid4().hex[:12]}.&{_GROUP_OPTS}"
    cfg = RunConfig.model_validate({"run": {"id": _RUN_ID}, "dataset": {"cache_dir": str(cache)}, "log": url,
                                    "batch": {"mode": "distributed"}, "awm": {"enabled": False}})
    dataset = load_instances(cfg)
    ids = [i.instance_id for i in dataset.instances]
    pairs = [(ids[k % len(ids)], k // len(ids)) for k in range(items)]
    log = open_log(url)
    workers: list[subprocess.Popen] = []
    try:
        log.append("runs", [events.new(RunStarted(config=cfg.model_dump(mode="json"), manifest=dataset.manifest,
                                                  planned=items, mode="eval"), producer="bench", run_id=_RUN_ID)])
        log.append("evals", [events.new(EvalResult(instance_id=i, sample_idx=s, resolved=False), producer="bench",
                                        run_id=_RUN_ID) for i, s in pairs])
        workers = _start_workers(url, 1, tmp, _env(0))
        _wait_for(lambda: "holds partitions" in (tmp / "worker0.log").read_text(), "the worker to join")
        batch = [events.new(EpisodeScheduled(episode_id=f"ep-bench-{k}", instance_id=i, sample_idx=s, seed=0,
                                             seq=k, planned=items), producer="bench", run_id=_RUN_ID)
                 for k, (i, s) in enumerate(pairs)]
        t0 = time.time()
        log.append("work", batch)
        done = _wait_for(lambda: _done_times(log, items), "every item's work.done")
        return {"items": items, "protocol_ms_per_item": round(1000 * (max(done) - t0) / items, 1)}
    finally:
        _stop(workers)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _done_times(log, items: int) -> list[float] | None:
    times = [r.event.ts.timestamp() for r in log.read("work") if r.event.type == "work.done"]
    return times if len(times) >= items else None


def _wait_for(predicate, what: str, timeout_s: float = 600):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise RuntimeError(f"timed out waiting for {what}")


def _handoff(rounds: list, n: int) -> dict:
    """With one process the hand-off between two episodes is exact on both sides: its difference
    is the coordination each episode waits for."""
    if n != 1:
        return {}
    local = statistics.median(r[0]["handoff_s"] for r in rounds)
    dist = statistics.median(r[1]["handoff_s"] for r in rounds)
    return {"handoff_ms_local": round(1000 * local, 1), "handoff_ms_distributed": round(1000 * dist, 1),
            "handoff_overhead_ms": round(1000 * (dist - local), 1)}


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


def run(args: argparse.Namespace) -> dict:
    from infra.broker import Broker
    from producers.datasets.bundled import ensure_bundled_tasks

    counts = [int(x) for x in args.workers.split(",") if x.strip()]
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = set(workloads) - {"demo", "sleep"}
    if unknown or not counts or min(counts) < 1:
        raise SystemExit(f"ledger bench workers: bad --workers {args.workers!r} or --workloads {args.workloads!r}")
    cache = Path(tempfile.mkdtemp(prefix="bench-workers-cache-"))
    broker = None if args.kafka else Broker().start()
    bootstrap = args.kafka or broker.bootstrap
    t0 = time.monotonic()
    out: dict = {"load_avg_start": os.getloadavg()[0], "tasks": args.tasks, "samples": args.samples,
                 "sleep_s": args.sleep}
    try:
        ensure_bundled_tasks(cache)
        out["protocol"] = _protocol(bootstrap, cache, args.protocol_items)
        for workload in workloads:
            upstream = "demo" if workload == "demo" else _SLEEPY
            points = [_point(bootstrap, n, args, upstream, cache) for n in counts]
            out[workload] = points
            by_n = {p["processes"]: p["distributed_eps"] for p in points}
            if 1 in by_n and 2 in by_n:
                out[f"{workload}_speedup_2_vs_1"] = round(by_n[2] / by_n[1], 3)
    finally:
        if broker is not None:
            broker.stop()
        shutil.rmtree(cache, ignore_errors=True)
    out["load_avg_end"] = os.getloadavg()[0]
    out["wall_s"] = round(time.monotonic() - t0, 1)
    return out
