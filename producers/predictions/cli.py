"""SWE-bench predictions and reports in and out of the ledger.

    ledger export-predictions RUN_ID --out preds.jsonl [--sample N | --all-samples]
                              [--report report.json] [--instance-reports DIR]
    ledger import-predictions preds.jsonl [--run-id ID] [--evaluate --dataset SOURCE]
    ledger import-report REPORT --run-id ID [--predictions preds.jsonl]

`--report` writes the official harness's run report (`make_run_report`'s shape) and
`--instance-reports` its per-instance `report.json` layout; `import-report` reads
either back (a `logs/run_evaluation/<run_id>` directory or a `<model>.<run_id>.json`)
as `eval.result` events judged by `swebench-official`.
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
    ex.add_argument("--report", default=None, help="also write the run's report in the harness's shape (JSON)")
    ex.add_argument("--instance-reports", default=None, metavar="DIR",
                    help="also write DIR/<run_id>/<model>/<instance_id>/report.json as the harness does")
    ex.set_defaults(func=run_export)

    ir = sub.add_parser("import-report", help="import the official SWE-bench harness's report as eval results",
                        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ir.add_argument("path", metavar="REPORT", help="logs/run_evaluation/<run_id> directory or <model>.<run_id>.json")
    ir.add_argument("--run-id", required=True, help="run to import into")
    ir.add_argument("--predictions", default=None, help="the predictions that were evaluated (imported as episodes)")
    ir.add_argument("--log", default=None, help="log URL (default: $LEDGER_LOG or sqlite:///.ledger/ledger.db)")
    ir.set_defaults(func=run_import_report)

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
    if args.report or args.instance_reports:
        _export_reports(args, rows)
    return 0


def _export_reports(args: argparse.Namespace, rows: list[dict]) -> None:
    import json
    from pathlib import Path

    from events.log import open_log

    from .report import latest_results, run_report, write_instance_reports

    log = open_log(_log_url(args.log), read_only=True)
    try:
        results = latest_results(log, args.run_id, 0 if args.all_samples else args.sample)
        dataset = next((r.event.payload.manifest.instance_ids for r in log.read("runs")
                        if r.event.run_id == args.run_id and r.event.type == "run.started"), None)
    finally:
        log.close()
    submitted = sorted({r["instance_id"] for r in rows})
    results = {iid: r for iid, r in results.items() if iid in submitted}
    if args.report:
        report = run_report(results, dataset or submitted, submitted)
        Path(args.report).write_text(json.dumps(report, indent=4) + "\n")
        print(f"wrote the run report ({report['resolved_instances']} resolved of {report['total_instances']}) "
              f"to {args.report}", file=sys.stderr)
    if args.instance_reports:
        model = rows[0]["model_name_or_path"]
        written = write_instance_reports(Path(args.instance_reports), args.run_id, model, results)
        print(f"wrote {len(written)} instance reports under {args.instance_reports}", file=sys.stderr)


def run_import_report(args: argparse.Namespace) -> int:
    from events.log import open_log

    from .format import PredictionsError, read_predictions
    from .importer import import_predictions
    from .official import OfficialReportError, import_official, read_official
    from .runs import finish_import_run, start_report_run

    try:
        results = read_official(args.path)
        preds = read_predictions(args.predictions) if args.predictions else []
    except (OfficialReportError, PredictionsError) as exc:
        print(f"ledger import-report: {exc}; nothing imported", file=sys.stderr)
        return 2
    log = open_log(_log_url(args.log))
    try:
        started = start_report_run(log, args.run_id, args.path, [r.instance_id for r in results])
        episodes = {e.prediction.instance_id: (e.episode_id, e.finished_event_id)
                    for e in import_predictions(log, preds, args.run_id, parent=started)}
        imported = import_official(log, results, args.run_id, episodes)
        finish_import_run(log, args.run_id, started, episodes=len(episodes), evaluated=len(imported))
    finally:
        log.close()
    resolved = sum(r.resolved for r in imported)
    infra = sum(r.status == "infra" for r in imported)
    print(f"imported {len(imported)} results of the official harness into run {args.run_id}: {resolved} resolved"
          + (f", {infra} infrastructure failures" if infra else ""), file=sys.stderr)
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
