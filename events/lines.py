"""JSON-lines events as `ledger events --append` reads them: validated whole before anything
is appended, and compared with what the log already holds.

- A line is a full envelope or a partial one (type + payload at least); `id`, `ts`, `v`,
  `producer`, `run_id` and `key` are filled in where missing.
- An `id` must be a UUID in canonical form (8-4-4-4-12 lowercase hex): every id the
  project makes is one, and a log that mixes forms cannot be deduplicated.
- Payloads are validated with their ranges (e.g. `sample_idx >= 0`).
- The same id on two lines must be the same event (else a conflict); an id already in
  the log must match the stored event in every field the line states (the fields it
  leaves out are taken from the stored event), else a conflict: nothing is appended.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TextIO

from pydantic import ValidationError

from .codec import DecodeError, decode, decode_obj
from .envelope import Envelope
from .ids import uuid7
from .registry import SPECS

__all__ = ["LineError", "Conflict", "Line", "parse_lines", "check_against"]

UUID_FORM = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_ENVELOPE = ("id", "type", "v", "ts", "run_id", "key", "parent", "producer", "payload")


class LineError(ValueError):
    def __init__(self, line: int, reason: str):
        super().__init__(f"line {line}: {reason}")
        self.line = line


class Conflict(ValueError):
    """Lines whose ids name other events (in the input or in the log)."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class Line:
    number: int
    event: Envelope
    given: frozenset[str]
    """Envelope fields the line stated (the others were filled in)."""
    repeats: int | None = None
    """The earlier line with the same event, if any."""
    stored: bool = False
    """True when the log already holds this event."""
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


def parse_lines(stream: TextIO, topic: str) -> list[Line]:
    """Validate every line; the first bad one raises LineError (so nothing is appended)."""
    lines: list[Line] = []
    first: dict[str, Line] = {}
    problems: list[str] = []
    for number, text in enumerate(stream, start=1):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except ValueError as exc:
            raise LineError(number, f"not JSON: {exc}") from None
        line = _line(obj, number, topic)
        earlier = first.setdefault(line.event.id, line)
        if earlier is not line:
            if earlier.raw != line.raw and earlier.event != line.event:
                problems.append(f"line {number}: id {line.event.id} is already used by line {earlier.number} "
                                "for a different event")
            line.repeats = earlier.number
        lines.append(line)
    if problems:
        raise Conflict(problems)
    return lines


def _line(obj: Any, number: int, topic: str) -> Line:
    if not isinstance(obj, dict):
        raise LineError(number, "expected a JSON object")
    spec = SPECS.get(obj.get("type"))  # type: ignore[arg-type]
    if spec is None:
        raise LineError(number, f"unknown event type {obj.get('type')!r}")
    if spec.topic != topic:
        raise LineError(number, f"{spec.type} belongs to topic {spec.topic!r}, not {topic!r}")
    if "id" in obj and not (isinstance(obj["id"], str) and UUID_FORM.match(obj["id"])):
        raise LineError(number, f"id must be a UUID (8-4-4-4-12 lowercase hex), got {obj['id']!r}")
    given = frozenset(k for k in obj if k in _ENVELOPE)
    return Line(number, _event(obj, number, spec), given, raw=obj)


def _event(obj: dict, number: int, spec) -> Envelope:
    full = {"id": uuid7(), "v": spec.version, "ts": datetime.now(timezone.utc).isoformat(),
            "producer": "cli", "run_id": "", **obj}
    if "key" not in full:
        try:
            payload = spec.payload.model_validate(full.get("payload"))
        except ValidationError as exc:
            raise LineError(number, f"invalid {spec.type} payload: {_first(exc)}") from None
        full["key"] = spec.key(full["run_id"], payload)
    try:
        return decode_obj(full)
    except DecodeError as exc:
        raise LineError(number, exc.reason) from None


def _first(exc: ValidationError) -> str:
    err = exc.errors()[0]
    return f"{'.'.join(str(x) for x in err['loc']) or '(payload)'}: {err['msg']}"


def check_against(lines: list[Line], stored: dict[str, bytes]) -> None:
    """Mark the lines the log already holds; raise Conflict for ids it holds with other content."""
    problems = []
    for line in lines:
        value = stored.get(line.event.id)
        if value is None:
            continue
        try:
            held = decode(value)
        except DecodeError as exc:
            problems.append(f"line {line.number}: id {line.event.id} is stored as an undecodable record "
                            f"({exc.reason})")
            continue
        differs = [f for f in sorted(line.given) if getattr(line.event, f) != getattr(held, f)]
        if differs:
            problems.append(f"line {line.number}: id {line.event.id} is already stored as a different event "
                            f"(differs in {', '.join(differs)})")
        line.stored = True
    if problems:
        raise Conflict(problems)
