"""`ledger tasks synth CONFIG`: synthesize SWE-bench-format tasks from real projects.

Exit codes: 0 the dataset was written; 1 a project or candidate failed (nothing
written; rerunning resumes); 2 an invalid config, or the id exists with another one.
"""
from __future__ import annotations

import argparse
import sys

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tasks", help="the task factory: synthesize tasks from real projects")
    tsub = p.add_subparsers(dest="tasks_command", required=True, metavar="ACTION")
    s = tsub.add_parser("synth", help="sdists -> repos -> environments -> SWE-smith bugs -> validated tasks")
    s.add_argument("config", help="synthesis config (configs/tasks/real.yaml)")
    s.add_argument("--log", default=None, help="log URL (default: $LEDGER_LOG or the embedded log)")
    s.add_argument("--id", default=None, help="synthesis id (default: the config's)")
    s.add_argument("--max-per-project", type=int, default=None, help="tasks kept per project")
    s.add_argument("--max-candidates", type=int, default=None, dest="max_candidates_per_project",
                   help="candidates validated per project at most")
    s.add_argument("--modifiers", default=None,
                   help="comma-separated SWE-smith modifier names (default: the config's, else all)")
    s.add_argument("--seed", type=int, default=None)
    s.add_argument("--workers", type=int, default=None)
    s.add_argument("--statements", choices=["template", "model"], default=None)
    s.add_argument("--output", default=None, help="output directory (the dataset is <output>/<id>)")
    s.add_argument("--cache-dir", default=None, help="sdists, repositories and environments")
    s.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from events.cli import log_url
    from events.log import open_log

    from .config import SynthConfigError, load_synth_config
    from .run import Synthesis, SynthesisBusy, SynthesisMismatch

    console = Console(stderr=True)
    overrides = {"id": args.id, "max_per_project": args.max_per_project, "seed": args.seed,
                 "max_candidates_per_project": args.max_candidates_per_project,
                 "workers": args.workers, "statements": args.statements, "output": args.output,
                 "cache_dir": args.cache_dir,
                 "modifiers": args.modifiers.split(",") if args.modifiers else None}
    try:
        config = load_synth_config(args.config, overrides)
        url = log_url(args.log)
        log = open_log(url)
    except (SynthConfigError, ValueError) as exc:
        print(f"ledger tasks synth: {exc}", file=sys.stderr)
        return 2
    try:
        result = Synthesis(config, log, url, console).run()
    except (SynthesisMismatch, SynthesisBusy, ValueError) as exc:
        print(f"ledger tasks synth: {exc}", file=sys.stderr)
        return 2
    finally:
        log.close()
    _report(console, result)
    return 1 if result.errors else 0


def _report(console, result) -> None:
    rejected = ", ".join(f"{reason} {n}" for reason, n in result.rejected.items()) or "none"
    if result.errors:
        console.print(f"[red]synthesis {result.synth_id}: {len(result.errors)} error(s), no dataset "
                      "written; rerun the same command to resume:[/]")
        for error in result.errors:
            console.print(f"  {error}")
        return
    console.print(f"synthesis [bold]{result.synth_id}[/]: {result.count} tasks from "
                  f"{len(result.per_project)} projects, {result.candidates} candidates decided "
                  f"({result.duration_s:.0f}s)")
    console.print("  per project: " + ", ".join(f"{p} {n}" for p, n in sorted(result.per_project.items())))
    console.print("  per modifier: " + ", ".join(f"{m} {n}" for m, n in result.per_modifier.items()))
    console.print(f"  rejected: {rejected}")
    console.print(f"  dataset: {result.out_dir}/dataset.jsonl (sha256 {result.manifest_sha256[:16]}...)")
    print(result.out_dir)
