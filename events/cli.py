"""`ledger events`: the kcat of this project (DESIGN.md §2); `ledger check`: is a log whole.

    ledger events --log URL --topic T [--from OFFSET] [--partition P] [--follow]
    ledger events --log URL --append --topic T < events.jsonl
    ledger check LOG [--json]          LOG: a log URL or the path of a SQLite log file

Printing opens the log read-only; a record that cannot be decoded (or is missing
from a partition's dense offsets) is reported on stderr with its position, the
rest is printed, and the exit status is 1. Appending validates every line first
(events.lines): a bad line, or an id that names another event, appends nothing
(exit 2); the counts printed are what the log stored.
"""
from __future__ import annotations

import argparse
import sys

from .lines import Conflict, LineError, parse_lines

__all__ = ["register", "parse_lines", "LineError", "log_url", "check"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("events", help="print a topic as JSON lines, or append JSON-lines events",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--log", default=None, help="log URL (default: $LEDGER_LOG or sqlite:///.ledger/ledger.db)")
    p.add_argument("--topic", required=True, help="logical topic name, e.g. evals")
    p.add_argument("--from", dest="start", type=int, default=0, help="first offset (per partition)")
    p.add_argument("--partition", type=int, default=None, help="only this partition")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new events")
    p.add_argument("--append", action="store_true", help="append JSON-lines events read from stdin")
    p.set_defaults(func=run)

    c = sub.add_parser("check", help="check that a log is whole (integrity, offsets, ids, decoding, parents)",
                       description="Read every record of a log (read-only) and report what is damaged: "
                       "SQLite integrity_check, dense offsets per partition, unique ids, every value "
                       "decodes and agrees with where it is stored, every parent exists. Exit 0 when the "
                       "log is whole, 1 when anything is damaged.")
    c.add_argument("log", metavar="LOG", help="log URL, or the path of a SQLite log file")
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    c.set_defaults(func=check)


def check(args: argparse.Namespace) -> int:
    import json

    from events.log import LogDamaged
    from events.log.check import check_log, log_url_of

    try:
        report = check_log(log_url_of(args.log))
    except LogDamaged as exc:  # too damaged to open: that is the finding
        print(f"ledger check: {args.log}: damaged beyond reading: {exc.detail or exc}")
        return 1
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print("\n".join(report.lines()))
    return 0 if report.ok else 1


def log_url(arg: str | None) -> str:
    import os

    from events.log import DEFAULT_URL

    return arg or os.environ.get("LEDGER_LOG") or DEFAULT_URL


def run(args: argparse.Namespace) -> int:
    from events.log import open_log
    from events.topics import CATALOG

    if args.topic not in CATALOG:
        print(f"ledger events: unknown topic {args.topic!r}; known: {', '.join(CATALOG)}", file=sys.stderr)
        return 2
    if args.append:
        try:
            lines = parse_lines(sys.stdin, args.topic)
        except (LineError, Conflict) as exc:
            print(f"ledger events: {exc}; nothing appended", file=sys.stderr)
            return 2
        log = open_log(log_url(args.log))
        try:
            return _append(log, args.topic, lines)
        finally:
            log.close()
    log = open_log(log_url(args.log), read_only=True)
    try:
        return _print(log, args)
    finally:
        log.close()


def _print(log, args: argparse.Namespace) -> int:
    from events.codec import encode

    skipped = []

    def report(pos, reason: str) -> None:
        skipped.append(pos)
        print(f"ledger events: cannot decode {pos.topic}/{pos.partition}/{pos.offset}: {reason}",
              file=sys.stderr, flush=True)

    out = sys.stdout.buffer
    try:
        for rec in log.read(args.topic, start=args.start, partition=args.partition, follow=args.follow,
                            on_undecodable=report):
            out.write(encode(rec.event) + b"\n")
            if args.follow:
                out.flush()
        out.flush()
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, like cat
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if skipped:
        print(f"ledger events: {len(skipped)} record(s) of {args.topic} could not be decoded; "
              f"run ledger check {log.where}", file=sys.stderr)
        return 1
    return 0


def _append(log, topic: str, lines) -> int:
    from .lines import check_against

    fresh_lines = [line for line in lines if line.repeats is None]
    try:
        stored = log.append_counted(topic, [line.event for line in fresh_lines],
                                    check=lambda held: check_against(fresh_lines, held))
    except Conflict as exc:
        print(f"ledger events: {exc}; nothing appended", file=sys.stderr)
        return 2
    present = sum(line.stored for line in fresh_lines)
    repeated = len(lines) - len(fresh_lines)
    notes = [f"{present} already present (identical)"] if present else []
    if repeated:
        notes.append(f"{repeated} repeated line(s) appended once")
    print(f"appended {stored.fresh} events to {topic}" + (f"; {'; '.join(notes)}" if notes else ""),
          file=sys.stderr)
    return 0
