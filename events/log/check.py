"""`ledger check LOG`: is this log whole? Read-only, every record, one report.

What is checked, on every backend:
- every stored value decodes to an event of a known type, and agrees with its row:
  the event's id, topic and key are the ones it is stored under;
- event ids are unique (on Kafka an at-least-once repeat of the same event is
  counted in a note; another event under a known id is damage);
- offsets are dense per partition (0, 1, 2, ... with no hole and no repeat);
- every `parent` names an event in the log (a `proxy.error` of kind
  `log_unavailable` is exempt: it records that its request could not be stored).
On SQLite also: `PRAGMA integrity_check` (b-trees, indexes against the table), and
whether the file carries the immutability triggers (a note, not a problem: the next
writer to open it adds them).

The table is scanned in `seq` order with text columns read as bytes, so a damaged
key or topic is reported, not raised; a file too damaged to scan is reported as
such at the point the scan stopped.
"""
from __future__ import annotations

import hashlib
import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from ..codec import DecodeError, decode
from ..topics import CATALOG

__all__ = ["CheckReport", "check_log", "log_url_of"]

_SHOWN = 5
"""Examples listed per kind of problem."""


@dataclass
class CheckReport:
    url: str
    events: int = 0
    topics: dict[str, int] = field(default_factory=dict)
    problems: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    """kind -> one line per occurrence."""
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, kind: str, where: str) -> None:
        self.problems[kind].append(where)

    def lines(self) -> list[str]:
        out = [f"ledger check: {self.url}",
               f"  {self.events} events in {len(self.topics)} topics"
               + (f" ({', '.join(f'{t} {n}' for t, n in sorted(self.topics.items()))})" if self.topics else "")]
        out += [f"  note: {n}" for n in self.notes]
        for kind, where in sorted(self.problems.items()):
            more = f" (and {len(where) - _SHOWN} more)" if len(where) > _SHOWN else ""
            out.append(f"  PROBLEM {kind}: {len(where)}: {'; '.join(where[:_SHOWN])}{more}")
        out.append("  ok: the log is whole" if self.ok else
                   f"  damaged: {sum(map(len, self.problems.values()))} problem(s) in "
                   f"{len(self.problems)} kind(s)")
        return out

    def as_dict(self) -> dict:
        return {"url": self.url, "ok": self.ok, "events": self.events, "topics": dict(self.topics),
                "problems": {k: list(v) for k, v in self.problems.items()}, "notes": list(self.notes)}


def log_url_of(target: str) -> str:
    """`ledger check` takes a log URL or the path of a SQLite log file."""
    return target if "://" in target else f"sqlite:///{target}"


def check_log(url: str) -> CheckReport:
    from . import open_log

    report = CheckReport(url)
    log = open_log(url, read_only=True)
    try:
        if url.startswith("sqlite"):
            _sqlite_structure(log, report)
            rows = _sqlite_rows(log, report)
        else:
            rows = _kafka_rows(log, report)
        _scan(rows, report)
    finally:
        log.close()
    return report


# -- the scan ----------------------------------------------------------------------------
Row = tuple[str, int, int, str | None, str | None, bytes]
"""(topic, partition, offset, stored id, stored key, value)."""


def _scan(rows: Iterable[Row], report: CheckReport) -> None:
    ids: set[str] = set()
    copies: dict[str, bytes] = {}  # Kafka: id -> digest of its first value
    duplicates = 0
    parents: dict[str, str] = {}
    offsets: dict[tuple[str, int], list[int]] = defaultdict(list)
    for topic, part, off, row_id, row_key, value in rows:
        where = f"{topic}/{part}/{off}"
        report.events += 1
        report.topics[topic] = report.topics.get(topic, 0) + 1
        offsets[(topic, part)].append(off)
        if row_id is not None:
            if row_id in ids:
                report.problem("repeated id", f"{row_id} at {where}")
            ids.add(row_id)
        try:
            ev = decode(value)
        except DecodeError as exc:
            report.problem("undecodable", f"{where}: {exc.reason[:200]}")
            continue
        _agrees(ev, topic, row_id, row_key, where, report)
        if row_id is None:  # Kafka: at-least-once appends repeat an event; another value under its id is damage
            digest = hashlib.blake2b(value, digest_size=8).digest()
            first = copies.setdefault(ev.id, digest)
            if ev.id in ids:
                duplicates += 1
                if first != digest:
                    report.problem("id reused", f"{ev.id} at {where} holds another event than its first copy")
            ids.add(ev.id)
        if ev.parent and not (ev.type == "proxy.error" and ev.payload.kind == "log_unavailable"):
            parents.setdefault(ev.parent, where)
    if duplicates:
        report.notes.append(f"{duplicates} repeated appends of the same event (at-least-once; sinks drop them by id)")
    for (topic, part), offs in sorted(offsets.items()):
        _dense(topic, part, offs, report)
    for parent, where in parents.items():
        if parent not in ids:
            report.problem("missing parent", f"{where} names {parent}")


def _agrees(ev, topic: str, row_id: str | None, row_key: str | None, where: str, report: CheckReport) -> None:
    if ev.topic != topic:
        report.problem("wrong topic", f"{where} holds a {ev.type} (topic {ev.topic})")
    if row_id is not None and ev.id != row_id:
        report.problem("id mismatch", f"{where} is stored as {row_id} but is {ev.id}")
    if row_key is not None and ev.key != row_key:
        report.problem("key mismatch", f"{where} is stored under key {row_key!r} but has {ev.key!r}")


def _dense(topic: str, part: int, offs: list[int], report: CheckReport) -> None:
    offs.sort()
    expected = 0
    for off in offs:
        if off > expected:
            gap = f"{expected}" if off == expected + 1 else f"{expected}-{off - 1}"
            report.problem("missing offsets", f"{topic}/{part}/{gap}")
        elif off < expected:
            report.problem("repeated offset", f"{topic}/{part}/{off}")
        expected = max(expected, off + 1)


# -- SQLite --------------------------------------------------------------------------------
def _sqlite_structure(log, report: CheckReport) -> None:
    from .sqlite_schema import PROTECTION, SCHEMA_VERSION

    conn = log._conn
    try:
        findings = [r[0] for r in conn.execute("PRAGMA integrity_check(100)")]
    except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
        report.problem("integrity_check", f"could not run: {exc}")
        return
    if findings != ["ok"]:
        for line in findings:
            report.problem("integrity_check", line)
    try:
        present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
        report.problem("schema", f"cannot be read: {exc}")
        return
    missing = [t for t in PROTECTION if t not in present]
    if missing or version < SCHEMA_VERSION:
        report.notes.append(f"schema version {version}, triggers missing: {', '.join(missing) or 'none'}; "
                            "the next writer to open the log adds them")


def _sqlite_rows(log, report: CheckReport) -> Iterator[Row]:
    """Every row in `seq` order, text columns as bytes (a damaged one is reported, not raised)."""
    conn = log._conn
    sql = ("SELECT seq, CAST(topic AS BLOB), partition, offset, CAST(id AS BLOB), CAST(key AS BLOB), "
           "CAST(value AS BLOB) FROM events WHERE seq > ? ORDER BY seq LIMIT 5000")
    after = 0
    while True:
        try:
            chunk = conn.execute(sql, (after,)).fetchall()
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            report.problem("unreadable", f"the events table cannot be read after seq {after}: {exc}")
            return
        if not chunk:
            return
        for seq, topic, part, off, eid, key, value in chunk:
            if not (type(part) is int and type(off) is int and part >= 0 and off >= 0):
                report.problem("impossible position", f"seq {seq}: partition {part!r}, offset {off!r}")
                continue
            yield (_text(topic, f"seq {seq}", "topic", report), part, off, _text(eid, f"seq {seq}", "id", report),
                   None if key is None else _text(key, f"seq {seq}", "key", report), value or b"")
        after = chunk[-1][0]


def _text(raw: bytes | None, where: str, column: str, report: CheckReport) -> str:
    try:
        return (raw or b"").decode("utf-8")
    except UnicodeDecodeError:
        report.problem("undecodable text", f"{where}: {column} is not UTF-8")
        return raw.decode("utf-8", "replace")


# -- Kafka -----------------------------------------------------------------------------------
def _kafka_rows(log, report: CheckReport) -> Iterator[Row]:
    from .base import LogUnavailable

    for topic in CATALOG:
        try:
            log.partitions(topic)
        except LogUnavailable as exc:
            report.notes.append(f"{topic}: {exc}")
            continue
        for raw in log.read_raw(topic):
            yield (topic, raw.partition, raw.offset, None, raw.key, raw.value)
