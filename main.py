"""`ledger`: the single entry point of swe-ledger.

Each subcommand lives in the module of the part it belongs to and registers
itself through a `register(subparsers)` function; importing a command module
must stay cheap (heavy imports go inside the handlers).

Every command that prints stops quietly when its reader goes away
(`ledger scores --json | head -2`): the BrokenPipeError is caught here, once
for all of them, and stdout is pointed at /dev/null so that the interpreter's
final flush does not raise again.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

__all__ = ["main", "build_parser", "COMMAND_MODULES"]

COMMAND_MODULES = [
    "events.cli",
    "producers.orchestrator.cli",
    "producers.tasks.cli",
    "producers.predictions.cli",
    "producers.datasets.cli",
    "infra.bench",
    "processors.cli",
    "producers.reevaluate",
    "projections.cli",
    "producers.proxy.cli",
    "trainer.consume",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ledger", description="swe-ledger: an event-sourced backbone for evaluating and "
        "training software-engineering agents.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, like cat
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
