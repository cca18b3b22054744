"""`ledger project`, `ledger compact`, `ledger scores`, `ledger serve`.

    ledger project --log URL --lake DIR [--follow]
    ledger compact --lake DIR
    ledger scores [--run ID] [--lake DIR | --log URL] [--json]
    ledger serve --lake DIR [--port 8787]
"""
from __future__ import annotations

import argparse
import json
import sys

__all__ = ["register", "DEFAULT_LAKE"]

DEFAULT_LAKE = ".ledger/lake"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("project", help="project the log into the Parquet lake (exactly once)")
    p.add_argument("--log", default=None, help="log URL (default: $LEDGER_LOG or sqlite:///.ledger/ledger.db)")
    p.add_argument("--lake", default=DEFAULT_LAKE, help=f"lake directory (default {DEFAULT_LAKE})")
    p.add_argument("--follow", "-f", action="store_true", help="keep projecting new events")
    p.add_argument("--batch", type=int, default=50_000, help="records per topic-partition per round")
    p.add_argument("--workers", type=int, default=2, help="partitions decoded side by side")
    p.add_argument("--max-workflows", type=int, default=50, help="workflows shown per memory scope")
    p.set_defaults(func=_project)

    c = sub.add_parser("compact", help="merge a lake partition's small files into one")
    c.add_argument("--lake", default=DEFAULT_LAKE)
    c.set_defaults(func=_compact)

    s = sub.add_parser("scores", help="print pass@1 / pass@k / avg@k per run and per repo")
    s.add_argument("--run", default=None, help="only this run id")
    src = s.add_mutually_exclusive_group()
    src.add_argument("--lake", default=None, help=f"read the score index of a lake (default {DEFAULT_LAKE})")
    src.add_argument("--log", default=None, help="compute the scores straight from a log URL")
    s.add_argument("--json", action="store_true", help="print the index rows as a JSON list")
    s.set_defaults(func=_scores)

    v = sub.add_parser("serve", help="serve the read-only dashboard over a lake")
    v.add_argument("--lake", default=DEFAULT_LAKE)
    v.add_argument("--host", default="127.0.0.1")
    v.add_argument("--port", type=int, default=8787)
    v.set_defaults(func=_serve)


def _project(args: argparse.Namespace) -> int:
    from events.cli import log_url
    from events.log import open_log

    from .lake import LakeError
    from .projector import Projector
    from .views import refresh

    url = log_url(args.log)
    log = open_log(url)
    try:
        projector = Projector(log, args.lake, batch=args.batch, workers=args.workers,
                              on_round=lambda touched: refresh(args.lake, touched,
                                                               max_workflows=args.max_workflows))
    except LakeError as exc:
        log.close()
        print(f"ledger project: {exc}", file=sys.stderr)
        return 2
    if projector.rebuilt:
        print(f"ledger project: {args.lake} had the first lake layout; projecting it again from the log",
              file=sys.stderr)
    try:
        projector.run(follow=args.follow)
    except KeyboardInterrupt:
        pass
    finally:
        projector.close()
        log.close()
    entry, name = projector.entry, projector.name or "-"
    others = len(projector.manifest.logs) - (name in projector.manifest.logs)
    print(f"projected {projector.records_read} records of {url} into {args.lake} as log {name!r} "
          f"({sum(entry.rows.values())} rows from it in the lake, {entry.rejected} rejected, "
          f"{entry.duplicates} duplicates; the lake follows {others} other log(s))", file=sys.stderr)
    return 0


def _compact(args: argparse.Namespace) -> int:
    from .compact import compact

    r = compact(args.lake)
    print(f"compacted {r.groups} groups: {r.files_before} files -> {r.files_after} ({r.rows} rows moved)",
          file=sys.stderr)
    return 0


def _scores(args: argparse.Namespace) -> int:
    import polars as pl

    from . import scores

    lf = scores.from_log(args.log) if args.log else scores.load(args.lake or DEFAULT_LAKE)
    if args.run:
        lf = lf.filter(pl.col("run_id") == args.run)
    frame = lf.collect()
    if args.json:
        rows = [{**r, "updated_at": r["updated_at"].isoformat().replace("+00:00", "Z")}
                for r in frame.iter_rows(named=True)]
        print(json.dumps(rows, indent=2))
    else:
        print(scores.format_table(scores.summary(frame)))
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .dashboard.app import create_app

    uvicorn.run(create_app(args.lake), host=args.host, port=args.port, log_level="warning")
    return 0
