"""`ledger datasets validate DATASET`: which instances can be judged, before any model call.

    ledger datasets validate rows.jsonl --repos mirrors/ [--environments envs.yaml]
        [--split test] [--filter REGEX] [--limit N] [--workers 2] [--json report.json]

Each instance runs at base and with its gold patch in its environment (see
producers/datasets/validation.py). Exit 0 when every instance can be judged, 3 when
some cannot (they would be infrastructure errors in a run), 2 on a bad dataset.
"""
from __future__ import annotations

import argparse
import json
import sys

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("datasets", help="dataset tools (validate)", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    tools = p.add_subparsers(dest="tool", metavar="TOOL", required=True)
    v = tools.add_parser("validate", help="check every instance can be judged: tests fail at base, pass with gold",
                         description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    v.add_argument("source", metavar="DATASET", help="bundled, swebench-mini, a .json/.jsonl/.parquet file, "
                   "a local dataset directory or a hub name")
    v.add_argument("--split", default="test")
    v.add_argument("--revision", default=None)
    v.add_argument("--filter", dest="instance_filter", default=None, help="regex an instance id must match")
    v.add_argument("--limit", type=int, default=None)
    v.add_argument("--repos", default=None, help="mirrors directory or URL template (dataset.repos)")
    v.add_argument("--environments", default=None, help="environment table (dataset.environments)")
    v.add_argument("--cache-dir", default=None, help="dataset and environment cache (default: $LEDGER_CACHE_DIR "
                   "or ~/.cache/swe-ledger)")
    v.add_argument("--workers", type=int, default=2)
    v.add_argument("--timeout", type=float, default=1800.0, help="seconds per test run")
    v.add_argument("--json", dest="json_out", default=None, help="also write the results as JSON to FILE")
    v.set_defaults(func=run_validate)


def run_validate(args: argparse.Namespace) -> int:
    from producers.environments import SpecError

    from .loader import DatasetError, load_dataset

    try:
        dataset = load_dataset(args.source, split=args.split, revision=args.revision,
                               instance_filter=args.instance_filter, limit=args.limit, cache_dir=args.cache_dir,
                               repos=args.repos)
        evaluator = _evaluator(args)
    except (DatasetError, SpecError) as exc:
        print(f"ledger datasets validate: {exc}", file=sys.stderr)
        return 2
    for err in dataset.errors:
        print(f"row skipped: {err}", file=sys.stderr)
    if not dataset.instances:
        print("ledger datasets validate: no instance to validate", file=sys.stderr)
        return 2
    from .validation import validate_instances

    results = validate_instances(evaluator, dataset.instances, args.workers, on_result=_show)
    bad = [r for r in results if not r.judgeable]
    print(f"{len(results) - len(bad)} of {len(results)} instances can be judged"
          + (f"; {len(bad)} cannot (infrastructure: environment): {', '.join(r.instance_id for r in bad)}"
             if bad else ""))
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump([{"instance_id": r.instance_id, "judgeable": r.judgeable, "reason": r.reason,
                        "spec_digest": r.spec_digest} for r in results], fh, indent=1)
    return 3 if bad else 0


def _evaluator(args: argparse.Namespace):
    from producers.evaluator import Evaluator
    from producers.sandbox.local import LocalSandboxFactory
    from producers.sandbox.with_environment import EnvironmentSandboxes

    from .environments import EnvironmentResolver

    resolver = EnvironmentResolver(args.environments, args.cache_dir)
    return Evaluator(EnvironmentSandboxes(LocalSandboxFactory(), resolver.environment_for), timeout_s=args.timeout)


def _show(result) -> None:
    digest = f" (environment {result.spec_digest[:12]})" if result.spec_digest else ""
    if result.judgeable:
        print(f"ok   {result.instance_id}{digest}", flush=True)
    else:
        print(f"FAIL {result.instance_id}{digest}: {result.reason}", flush=True)
