"""`ledger worker --log URL [--run RUN_ID] [--slots N]`: run distributed episodes on this machine."""
from __future__ import annotations

import argparse
import sys

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("worker", help="run the episodes of distributed runs (batch.mode: distributed)",
                       description="Join the work queue of every run in batch.mode: distributed (or of "
                       "--run only), run its episodes with the run's agent, sandbox and evaluator, append the "
                       "results and acknowledge each item. Start as many as you like, on any machine that "
                       "reaches the log and the run's model upstream (docs/distributed.md).")
    p.add_argument("--log", required=True, help="the log URL (kafka://HOST:PORT[,...] or sqlite:///PATH)")
    p.add_argument("--run", dest="run_id", help="serve only this run, and exit once it has finished")
    p.add_argument("--slots", type=int, default=1, help="episodes run at once by this worker (default 1)")
    p.add_argument("--name", default="", help="name recorded in work.done (default: host-pid)")
    p.add_argument("--max-idle", type=float, default=None, metavar="S",
                   help="exit after S seconds with nothing to do (default: run until stopped)")
    p.add_argument("--trace", action="store_true",
                   help="print each run's partitions, buffered and running items every 5 s")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from events.log import LogUnavailable

    from .follower import FollowerStopped
    from .worker import Worker, WorkerOptions

    if not 1 <= args.slots <= 256:
        print(f"ledger worker: --slots must be between 1 and 256, got {args.slots}", file=sys.stderr)
        return 2
    try:
        worker = Worker(WorkerOptions(args.log, run_id=args.run_id, slots=args.slots, name=args.name,
                                      max_idle_s=args.max_idle, trace=args.trace))
    except (ValueError, LogUnavailable) as exc:
        print(f"ledger worker: {exc}", file=sys.stderr)
        return 2
    try:
        return worker.run()
    except (LogUnavailable, FollowerStopped) as exc:
        print(f"ledger worker: {exc}", file=sys.stderr)
        return 1
