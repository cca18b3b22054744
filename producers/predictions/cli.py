"""`ledger export-predictions` / `ledger import-predictions`: SWE-bench predictions files.

    ledger export-predictions RUN_ID --out preds.jsonl [--sample N | --all-samples]
    ledger import-predictions preds.jsonl [--run-id ID] [--evaluate --dataset SOURCE]
"""
from __future__ import annotations

import argparse
import sys
import uuid

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    ex = sub.add_parser("export-predictions", help="write a run's patches as SWE-bench predictions",
                        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ex.add_argument("run_id", metavar="RUN_ID")
    ex.add_argument("--out", required=True, help="predictions file to write (JSON lines)")
    ex.add_argument("--log", default=None, help="log URL (default: $LEDGER_LOG or sqlite:///.ledger/ledger.db)")
    group = ex.add_mutually_exclusive_group()
    group.add_argument("--sample", type=int, default=0, help="which sample per instance (default 0)")
    group.add_argument("--all-samples", action="store_true", help="one line per (instance, sample)")
    ex.add_argument("--model-name", default=None, help="model_name_or_path to write (default: the episode's model)")
    ex.set_defaults(func=run_export)

    im = sub.add_parser("import-predictions", help="import SWE-bench predictions as finished episodes",
                        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    im.add_argument("path", metavar="PREDICTIONS", help=".jsonl (or .json list) of predictions")
    im.add_argument("--log", default=None, help="log URL (default: $LEDGER_LOG or sqlite:///.ledger/ledger.db)")
    im.add_argument("--run-id", default=None, help="run to import into (default: a new import-<hex> id)")
    im.add_argument("--evaluate", action="store_true", help="evaluate every imported patch now")
    im.add_argument("--dataset", default=None, help="dataset source the instances come from "
                    "(needed by --evaluate): bundled, a .json/.jsonl/.parquet file, or a hub name")
    im.add_argument("--split", default="test", help="dataset split (default test)")
    im.add_argument("--cache-dir", default=None, help="dataset cache (default: $LEDGER_CACHE_DIR "
                    "or ~/.cache/swe-ledger)")
    im.add_argument("--timeout", type=float, default=1800.0, help="seconds per test run (default 1800)")
    im.set_defaults(func=run_import)


def _log_url(arg: str | None) -> str:
    from events.cli import log_url

    return log_url(arg)


def run_export(args: argparse.Namespace) -> int:
    from events.log import open_log

    from .export import export_predictions
    from .format import write_predictions

    log = open_log(_log_url(args.log), read_only=True)
    try:
        rows = export_predictions(log, args.run_id, sample_idx=None if args.all_samples else args.sample,
                                  model_name=args.model_name)
    finally:
        log.close()
    if not rows:
        print(f"ledger export-predictions: run {args.run_id!r} has no finished episodes"
              + ("" if args.all_samples else f" with sample {args.sample}"), file=sys.stderr)
        return 1
    n = write_predictions(args.out, rows)
    print(f"wrote {n} predictions to {args.out}", file=sys.stderr)
    return 0


def run_import(args: argparse.Namespace) -> int:
    from events.log import open_log

    from .format import PredictionsError, read_predictions
    from .importer import import_predictions

    if args.evaluate and not args.dataset:
        return _fail("--evaluate needs --dataset SOURCE")
    try:
        preds = read_predictions(args.path)
    except PredictionsError as exc:
        return _fail(f"{args.path}: {exc}; nothing imported")
    dataset = None
    if args.evaluate:
        dataset = _dataset(args)
        if dataset is None:
            return 2
    run_id = args.run_id or f"import-{uuid.uuid4().hex[:12]}"
    log = open_log(_log_url(args.log))
    try:
        try:
            imported = import_predictions(log, preds, run_id)
        except ValueError as exc:
            return _fail(f"{exc}; nothing imported")
        print(f"imported {len(imported)} predictions into run {run_id}", file=sys.stderr)
        if dataset is not None:
            _evaluate(args, log, imported, run_id, dataset)
    finally:
        log.close()
    print(run_id)
    return 0


def _fail(message: str) -> int:
    print(f"ledger import-predictions: {message}", file=sys.stderr)
    return 2


def _dataset(args: argparse.Namespace):
    """The dataset, loaded before anything is imported (a bad source imports nothing)."""
    from producers.datasets import DatasetError

    from .sources import load_instances

    try:
        return load_instances(args.dataset, args.split, args.cache_dir)
    except DatasetError as exc:
        _fail(f"dataset {args.dataset}: {exc}; nothing imported")
        return None


def _evaluate(args: argparse.Namespace, log, imported, run_id: str, dataset) -> None:
    import time

    from producers.evaluator import Evaluator

    from .evaluation import evaluate_imported, missing_instances
    from .runs import finish_import_run, start_import_run
    from .sources import make_sandbox_factory

    t0 = time.monotonic()
    instances = {i.instance_id: i for i in dataset.instances}
    missing = missing_instances(imported, instances)
    if missing:
        print(f"ledger import-predictions: not in dataset {args.dataset}: {', '.join(missing[:10])}"
              f"{' ...' if len(missing) > 10 else ''} (not evaluated)", file=sys.stderr)
    started = start_import_run(log, run_id, dataset.manifest, args.path, planned=len(imported))
    evaluator = Evaluator(make_sandbox_factory(), timeout_s=args.timeout)
    results = evaluate_imported(log, imported, instances, evaluator, run_id, on_result=lambda r: print(
        f"{r.instance_id} sample {r.sample_idx}: {'resolved' if r.resolved else 'not resolved'}"
        f" ({r.status}{': ' + r.reason if r.status != 'ok' else ''})", file=sys.stderr))
    finish_import_run(log, run_id, started, episodes=len(imported), evaluated=len(results),
                      started_at=t0)
    resolved = sum(r.resolved for r in results)
    print(f"resolved {resolved}/{len(results)} in run {run_id}", file=sys.stderr)
