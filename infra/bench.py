"""`ledger bench NAME` / `python -m infra.bench NAME`: benchmarks that print JSON.

Each benchmark compares the project against the raw tool measured in the same
run and reports ratios; figures go in the README's performance section.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys

__all__ = ["register", "BENCHES", "main"]

BENCHES: dict[str, str] = {
    "rescore": "infra.benchmarks.rescore",
    "log": "infra.benchmarks.log",
    "evaluator": "infra.benchmarks.evaluator",
    "project": "infra.benchmarks.project",
    "train": "infra.benchmarks.train",
    "proxy": "infra.benchmarks.proxy",
    "sandbox": "infra.benchmarks.sandbox",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="run a benchmark and print its JSON figures")
    _add_benches(p)


def _add_benches(parser: argparse.ArgumentParser) -> None:
    benches = parser.add_subparsers(dest="bench", metavar="NAME", required=True)
    for name, module in BENCHES.items():
        mod = importlib.import_module(module)
        b = benches.add_parser(name, help=(mod.__doc__ or "").strip().splitlines()[0])
        b.add_argument("--json", dest="json_out", default=None, help="also write the figures to FILE")
        mod.add_arguments(b)
        b.set_defaults(func=_runner(mod))


def _runner(mod):
    def run(args: argparse.Namespace) -> int:
        result = mod.run(args)
        text = json.dumps(result, indent=2, sort_keys=True)
        print(text)
        if args.json_out:
            with open(args.json_out, "w") as fh:
                fh.write(text + "\n")
        return 0

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.bench")
    _add_benches(parser)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
