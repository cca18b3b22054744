"""`ledger run CONFIG`: run (or resume) a whole job from one config file."""
from __future__ import annotations

import argparse
import sys

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run or resume a job from a RunConfig YAML file",
                       description="Run a job from one config file. Re-running the same run id "
                       "resumes it from the log: finished work is skipped.")
    p.add_argument("config", help="RunConfig YAML (see configs/demo.yaml)")
    p.add_argument("--log", help="override the config's log URL")
    p.add_argument("--lake", help="override the config's lake directory")
    p.add_argument("--artifacts", help="override the config's artifacts directory")
    p.add_argument("--run-id", help="override run.id")
    p.add_argument("--workers", type=int, help="override batch.workers")
    p.set_defaults(func=run)


def _overrides(args: argparse.Namespace) -> dict:
    pairs = {"log": args.log, "lake": args.lake, "artifacts": args.artifacts,
             "run.id": args.run_id, "batch.workers": args.workers}
    return {k: v for k, v in pairs.items() if v is not None}


def run(args: argparse.Namespace) -> int:
    from .config import ConfigError, load_config

    try:
        config = load_config(args.config, _overrides(args))
    except ConfigError as exc:
        print(f"ledger run: {exc}", file=sys.stderr)
        return 2
    if config.run.mode == "rl":
        from .components import run_rl
        from .rl import load_config as load_rl_config

        try:
            load_rl_config(config)
        except ValueError as exc:
            print(f"ledger run: {exc}", file=sys.stderr)
            return 2
        return run_rl(config)
    return _run_eval(config)


def _run_eval(config) -> int:
    """Exit 0 when every pair was judged, 3 when some hit infrastructure errors (with a
    one-line summary), 1 when a worker crashed or the plan is empty, 2 on config mismatch."""
    from rich.console import Console

    from .infra import EXIT_INFRA
    from .plan import ResumeError
    from .report import print_summary
    from .run import ConfigMismatch, EmptyPlan, NotJudgeable, run_config

    console = Console(width=max(Console().width, 120))
    try:
        summaries = run_config(config, Console(stderr=True), on_summary=lambda s: print_summary(console, s, config))
    except (ConfigMismatch, ResumeError) as exc:
        print(f"ledger run: {exc}", file=sys.stderr)
        return 2
    except EmptyPlan as exc:
        print(f"ledger run: {exc}", file=sys.stderr)
        return 1
    except NotJudgeable as exc:
        print(f"ledger run: {exc}", file=sys.stderr)
        return EXIT_INFRA
    lines = [s.infra_summary() for s in summaries if s.infra_summary()]
    for line in lines:
        print(f"ledger run: {line}", file=sys.stderr)
    if lines:
        return EXIT_INFRA
    return 1 if any(s.failed for s in summaries) else 0
