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
    "train-memory": "infra.benchmarks.train_memory",
    "proxy": "infra.benchmarks.proxy",
    "sandbox": "infra.benchmarks.sandbox",
    "fidelity": "infra.benchmarks.fidelity",
    "workers": "infra.benchmarks.workers",
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
    a = benches.add_parser("all", help="every benchmark above with its default sizes, one JSON object")
    a.add_argument("--json", dest="json_out", default=None, help="also write the figures to FILE")
    a.set_defaults(func=_run_all)


def _emit(result: dict, json_out: str | None) -> int:
    text = json.dumps(result, indent=2, sort_keys=True)
    print(text)
    if json_out:
        with open(json_out, "w") as fh:
            fh.write(text + "\n")
    return 0


def _runner(mod):
    def run(args: argparse.Namespace) -> int:
        return _emit(mod.run(args), args.json_out)

    return run


def _run_all(args: argparse.Namespace) -> int:
    results = {}
    for name, module in BENCHES.items():
        mod = importlib.import_module(module)
        parser = argparse.ArgumentParser(prog=f"ledger bench {name}")
        mod.add_arguments(parser)
        print(f"running bench {name} ...", file=sys.stderr, flush=True)
        results[name] = mod.run(parser.parse_args([]))
    return _emit(results, args.json_out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.bench")
    _add_benches(parser)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
