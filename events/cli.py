"""`ledger events`: the kcat of this project (DESIGN.md §2).

    ledger events --log URL --topic T [--from OFFSET] [--partition P] [--follow]
    ledger events --log URL --append --topic T < events.jsonl
"""
from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from typing import Any, TextIO

__all__ = ["register", "parse_lines", "LineError"]


class LineError(ValueError):
    def __init__(self, line: int, reason: str):
        super().__init__(f"line {line}: {reason}")
        self.line = line


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
    log = open_log(log_url(args.log))
    try:
        if args.append:
            return _append(log, args.topic, sys.stdin)
        return _print(log, args)
    finally:
        log.close()


def _print(log, args: argparse.Namespace) -> int:
    from events.codec import encode

    out = sys.stdout.buffer
    try:
        for rec in log.read(args.topic, start=args.start, partition=args.partition, follow=args.follow):
            out.write(encode(rec.event) + b"\n")
            if args.follow:
                out.flush()
        out.flush()
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, like cat
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _append(log, topic: str, stream: TextIO) -> int:
    try:
        events = parse_lines(stream, topic)
    except LineError as exc:
        print(f"ledger events: {exc}; nothing appended", file=sys.stderr)
        return 2
    positions = log.append(topic, events)
    print(f"appended {len(positions)} events to {topic}", file=sys.stderr)
    return 0


def parse_lines(stream: TextIO, topic: str) -> list:
    """Validate every line first; the first bad one raises LineError and nothing is kept."""
    import json

    events = []
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise LineError(number, f"not JSON: {exc}") from None
        events.append(_event_from(obj, number, topic))
    return events


def _event_from(obj: Any, number: int, topic: str):
    """A full envelope, or a partial one: id, ts, v, producer and key are filled in."""
    from pydantic import ValidationError

    from events.codec import DecodeError, decode_obj
    from events.ids import uuid7
    from events.registry import SPECS

    if not isinstance(obj, dict):
        raise LineError(number, "expected a JSON object")
    spec = SPECS.get(obj.get("type"))  # type: ignore[arg-type]
    if spec is None:
        raise LineError(number, f"unknown event type {obj.get('type')!r}")
    if spec.topic != topic:
        raise LineError(number, f"{spec.type} belongs to topic {spec.topic!r}, not {topic!r}")
    obj = {"id": uuid7(), "v": spec.version, "ts": datetime.now(timezone.utc).isoformat(),
           "producer": "cli", "run_id": "", **obj}
    if "key" not in obj:
        try:
            payload = spec.payload.model_validate(obj.get("payload"))
        except ValidationError as exc:
            raise LineError(number, f"invalid {spec.type} payload: {_first(exc)}") from None
        obj["key"] = spec.key(obj["run_id"], payload)
    try:
        return decode_obj(obj)
    except DecodeError as exc:
        raise LineError(number, exc.reason) from None


def _first(exc) -> str:
    err = exc.errors()[0]
    return f"{'.'.join(str(x) for x in err['loc']) or '(payload)'}: {err['msg']}"
