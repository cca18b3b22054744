"""The lake's layout on disk, its manifest, and atomic file writes.

    DIR/events/<topic>/<type>/day=YYYY-MM-DD/<log>.<topic>-<partition>-<first offset>.parquet
    DIR/views/                read models rebuilt from the events (scores, memory, tasks)
    DIR/_manifest.json        per log followed: its identity and the last offset written
                              per topic-partition (the source of truth); the schema fingerprint

Every event file has the same columns (`schema.event_schema()`), so
`DIR/events/**/*.parquet` reads as one table in DuckDB, Polars and pyarrow.
`date` is a column of every file; the `day=` directories repeat it so that a
filter on `day` skips whole directories.

A lake can follow several logs (the eval log and an RL demo's log, say): each
gets a name (`ledger`, `demo-rl`: the file's stem, or `kafka-<prefix>`), its own
offsets in the manifest, its name in the data files' names and in the rows'
`log_name` column. A log is recognised by its identity — for SQLite the id of its
first event (a copy of the file is the same log), for Kafka the cluster id and
topic prefix — never by its URL, so two logs are never mixed up under one set
of offsets.

Every file is written under a `.tmp` name, fsynced and renamed, so a reader
never sees half a file. A data file whose first offset lies past the
manifest's offset for its log and topic-partition was written by a batch that
never reached the manifest: `sweep` deletes it, and the batch is projected
again.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import polars as pl

__all__ = ["Manifest", "LogEntry", "DataFile", "LakeError", "data_files", "table_dir", "file_name",
           "atomic_write_bytes", "write_parquet", "sweep", "scan", "table", "flatten", "events_glob", "locked",
           "remove_legacy", "default_name",
           "MANIFEST", "VIEWS", "EVENTS", "VERSION"]

MANIFEST = "_manifest.json"
VIEWS = "views"
EVENTS = "events"
VERSION = 2
_LOCK = ".lock"
_NAME = re.compile(r"^(?P<log>[a-z0-9][a-z0-9_-]*)\.(?P<topic>[a-z_]+)-(?P<partition>\d+)-(?P<offset>\d{20})\.parquet$")


class LakeError(Exception):
    """The lake cannot be written as asked; the message says why and what to do."""


def default_name(url: str) -> str:
    """The name a lake gives a log it starts to follow, from its URL: the SQLite file's stem, or
    `kafka` (`kafka-<prefix>` with a topic prefix)."""
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(url)
    if parts.scheme == "kafka":
        prefix = parse_qs(parts.query).get("prefix", [""])[0].strip(".-_")
        return _slug(f"kafka-{prefix}" if prefix else "kafka")
    return _slug(Path(parts.path).stem)


def table_dir(lake: Path, topic: str, event_type: str) -> Path:
    return Path(lake) / EVENTS / topic / event_type


def events_glob(lake: str | Path) -> str:
    """The glob of every event file of a lake."""
    return str(Path(lake) / EVENTS / "**" / "*.parquet")


def file_name(log: str, topic: str, partition: int, first_offset: int) -> str:
    """Zero-padded so that names sort by offset."""
    return f"{log}.{topic}-{partition}-{first_offset:020d}.parquet"


@dataclass(frozen=True)
class DataFile:
    path: Path
    log: str
    topic: str
    event_type: str
    date: str
    partition: int
    first_offset: int


def data_files(lake: Path, topic: str | None = None, event_type: str | None = None) -> Iterator[DataFile]:
    """Every committed-looking data file of the lake (or of one topic / table), sorted."""
    root = Path(lake) / EVENTS
    for path in sorted(root.glob(f"{topic or '*'}/{event_type or '*'}/day=*/*.parquet")):
        m = _NAME.match(path.name)
        if m is None:
            continue
        yield DataFile(path, m["log"], path.parent.parent.parent.name, path.parent.parent.name,
                       path.parent.name.split("=", 1)[1], int(m["partition"]), int(m["offset"]))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def write_parquet(path: Path, frame: pl.DataFrame) -> None:
    """Write a frame to `path` atomically (temp name, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    frame.write_parquet(tmp, compression="zstd", compression_level=1, statistics=True)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def locked(lake: Path, timeout_s: float = 600.0) -> Iterator[None]:
    """Hold the lake's write lock (one projector round or compaction at a time, across processes)."""
    Path(lake).mkdir(parents=True, exist_ok=True)
    with open(Path(lake) / _LOCK, "a+") as fh:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LakeError(f"the lake {lake} stayed locked by another writer for {timeout_s:g}s") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


@dataclass
class LogEntry:
    """What the lake knows of one log it follows."""

    identity: dict[str, Any]
    """How the log is recognised: {"kind": "sqlite", "first_event": ID} or
    {"kind": "kafka", "cluster_id": ..., "prefix": ...}."""
    url: str = ""
    """The URL it was last projected from (for people; the identity decides)."""
    offsets: dict[str, int] = field(default_factory=dict)
    """`topic/partition` -> last offset whose row (or skip) is in the lake."""
    rows: dict[str, int] = field(default_factory=dict)
    """`topic/type` -> rows written (dropped duplicates and rejects excluded)."""
    rejected: int = 0
    """Records skipped because they were not a decodable event of a known type."""
    duplicates: int = 0
    """Records skipped because their event id was already in the lake."""

    def next_offset(self, topic: str, partition: int) -> int:
        return self.offsets.get(f"{topic}/{partition}", -1) + 1


@dataclass
class Manifest:
    """Per log followed, the last offset written per topic-partition; input offsets are
    committed only after it. `schema`: the fingerprint of the files' schema."""

    logs: dict[str, LogEntry] = field(default_factory=dict)
    schema: str = ""
    version: int = VERSION

    @staticmethod
    def load(lake: Path) -> "Manifest":
        path = Path(lake) / MANIFEST
        if not path.exists():
            return Manifest()
        data: dict[str, Any] = json.loads(path.read_text())
        if int(data.get("version", 1)) < VERSION:
            return Manifest(version=int(data.get("version", 1)))
        logs = {name: LogEntry(dict(e["identity"]), e.get("url", ""), dict(e.get("offsets", {})),
                               dict(e.get("rows", {})), int(e.get("rejected", 0)), int(e.get("duplicates", 0)))
                for name, e in data.get("logs", {}).items()}
        return Manifest(logs, str(data.get("schema", "")))

    def save(self, lake: Path) -> None:
        body = {"version": VERSION, "schema": self.schema,
                "logs": {name: {"identity": e.identity, "url": e.url, "offsets": dict(sorted(e.offsets.items())),
                                "rows": dict(sorted(e.rows.items())), "rejected": e.rejected,
                                "duplicates": e.duplicates}
                         for name, e in sorted(self.logs.items())}}
        atomic_write_bytes(Path(lake) / MANIFEST, json.dumps(body, indent=1).encode())

    def name_of(self, identity: dict[str, Any]) -> str | None:
        """The name under which this lake follows the log of `identity`, if it does."""
        return next((name for name, e in self.logs.items() if e.identity == identity), None)

    def register(self, identity: dict[str, Any], url: str, wanted: str) -> str:
        """Follow a new log under `wanted` (or `wanted-2`, ... when taken); returns its name."""
        base = _slug(wanted)
        name, i = base, 1
        while name in self.logs:
            i += 1
            name = f"{base}-{i}"
        self.logs[name] = LogEntry(dict(identity), url)
        return name

    def next_offset(self, log: str, topic: str, partition: int) -> int:
        entry = self.logs.get(log)
        return entry.next_offset(topic, partition) if entry else 0

    def total_rows(self) -> int:
        return sum(sum(e.rows.values()) for e in self.logs.values())


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-_") or "log"


def sweep(lake: Path, manifest: Manifest) -> int:
    """Delete temp files and data files written after the manifest; returns how many."""
    lake = Path(lake)
    removed = 0
    for tmp in (lake / EVENTS).glob("**/*.tmp"):
        tmp.unlink(missing_ok=True)
        removed += 1
    for f in data_files(lake):
        if f.first_offset >= manifest.next_offset(f.log, f.topic, f.partition):
            f.path.unlink(missing_ok=True)
            removed += 1
    return removed


def remove_legacy(lake: Path) -> bool:
    """Delete a lake of the first layout (tables at the top, no log identity); True if there was one.
    Everything in a lake is derived from the log, so it is projected again from scratch."""
    from events.topics import TOPICS

    lake = Path(lake)
    manifest = lake / MANIFEST
    old = manifest.exists() and int(json.loads(manifest.read_text()).get("version", 1)) < VERSION
    old = old or any((lake / topic).is_dir() for topic in TOPICS)
    if not old:
        return False
    for topic in TOPICS:
        shutil.rmtree(lake / topic, ignore_errors=True)
    shutil.rmtree(lake / VIEWS, ignore_errors=True)
    manifest.unlink(missing_ok=True)
    return True


def scan(lake: Path, topic: str, event_type: str) -> pl.LazyFrame | None:
    """The rows of one event type, as stored (the event schema), or None when there are none."""
    root = table_dir(Path(lake), topic, event_type)
    if not any(root.glob("day=*/*.parquet")):
        return None
    return pl.scan_parquet(root / "day=*" / "*.parquet", hive_partitioning=False)


def table(lake: str | Path, event_type: str) -> pl.LazyFrame | None:
    """One event type as a flat table (`flatten`), or None when the lake has no row of it."""
    from events.registry import SPECS

    rows = scan(Path(lake), SPECS[event_type].topic, event_type)
    return None if rows is None else flatten(rows, event_type)


def flatten(rows: pl.LazyFrame | pl.DataFrame, event_type: str) -> Any:
    """Rows of one event type with the payload's fields as columns: the envelope, `date`, the
    position, then each field (`payload_<name>` where a field shares a column's name)."""
    from .schema import ENVELOPE_COLUMNS, POSITION_COLUMNS, column_of, flat_columns

    col = column_of(event_type)
    return rows.select(*ENVELOPE_COLUMNS, *POSITION_COLUMNS,
                       *(pl.col(col).struct.field(f).alias(c) for f, c in flat_columns(event_type).items()))
