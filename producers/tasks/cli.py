"""`ledger task run TASK.yaml`: run one autonomous ephemeral task; exits 0 / 1 / 2 (seed 003 §5.8)."""
from __future__ import annotations

import argparse
import sys

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("task", help="autonomous ephemeral coding tasks (task.yaml)")
    tsub = p.add_subparsers(dest="task_command", required=True, metavar="ACTION")
    r = tsub.add_parser("run", help="run one task.yaml: branch, change, gates, rebase, push, PR body")
    r.add_argument("task", help="path to task.yaml")
    r.add_argument("--repo", help="override the task's repo (path or URL)")
    r.add_argument("--log", default=None, help="log URL (default: $LEDGER_LOG or the embedded log)")
    r.add_argument("--artifacts", default=".ledger/artifacts/tasks", help="where pr.md goes")
    r.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from events.cli import log_url
    from events.log import open_log

    from .runner import TaskRunner
    from .spec import TaskSpecError, load_task

    try:
        task = load_task(args.task)
    except TaskSpecError as exc:
        print(f"ledger task: {exc}", file=sys.stderr)
        return 1
    if args.repo:
        task = task.model_copy(update={"repo": args.repo})
    log = open_log(log_url(args.log))
    try:
        code = TaskRunner(task, log, Path(args.artifacts)).run()
    finally:
        log.close()
    print(f"task {task.id}: exit {code}", file=sys.stderr)
    return code
