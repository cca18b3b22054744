"""The lake's layout on disk, its manifest, and atomic file writes.

    DIR/<topic>/<type>/date=YYYY-MM-DD/<topic>-<partition>-<first offset>.parquet
    DIR/_manifest.json        last offset written per topic-partition (the source of truth)
    DIR/views/                read models rebuilt from the tables (scores, memory, tasks)

Every file is written under a `.tmp` name, fsynced and renamed, so a reader
never sees half a file. A data file whose first offset lies past the
manifest's offset for its topic-partition was written by a batch that never
reached the manifest: `sweep` deletes it on start, and the batch is projected
again.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import polars as pl

__all__ = ["Manifest", "DataFile", "data_files", "table_dir", "file_name", "atomic_write_bytes",
           "write_parquet", "sweep", "scan", "MANIFEST", "VIEWS"]

MANIFEST = "_manifest.json"
VIEWS = "views"
_NAME = re.compile(r"^(?P<topic>[a-z_]+)-(?P<partition>\d+)-(?P<offset>\d{20})\.parquet$")


def table_dir(lake: Path, topic: str, event_type: str) -> Path:
    return Path(lake) / topic / event_type


def file_name(topic: str, partition: int, first_offset: int) -> str:
    """Zero-padded so that names sort by offset."""
    return f"{topic}-{partition}-{first_offset:020d}.parquet"


@dataclass(frozen=True)
class DataFile:
    path: Path
    topic: str
    event_type: str
    date: str
    partition: int
    first_offset: int


def data_files(lake: Path, topic: str | None = None, event_type: str | None = None) -> Iterator[DataFile]:
    """Every committed-looking data file of the lake (or of one topic / table), sorted."""
    lake = Path(lake)
    for path in sorted(lake.glob(f"{topic or '*'}/{event_type or '*'}/date=*/*.parquet")):
        m = _NAME.match(path.name)
        if m is None:
            continue
        yield DataFile(path, path.parent.parent.parent.name, path.parent.parent.name,
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


@dataclass
class Manifest:
    """Last offset written per topic-partition; input offsets are committed only after it."""

    offsets: dict[str, int] = field(default_factory=dict)
    """`topic/partition` -> last offset whose row (or skip) is in the lake."""
    rows: dict[str, int] = field(default_factory=dict)
    """`topic/type` -> rows written (dropped duplicates and rejects excluded)."""
    rejected: int = 0
    """Records skipped because they were not a decodable event of a known type."""
    duplicates: int = 0
    """Records skipped because their event id was already in the lake."""

    @staticmethod
    def load(lake: Path) -> "Manifest":
        path = Path(lake) / MANIFEST
        if not path.exists():
            return Manifest()
        data: dict[str, Any] = json.loads(path.read_text())
        return Manifest(dict(data.get("offsets", {})), dict(data.get("rows", {})),
                        int(data.get("rejected", 0)), int(data.get("duplicates", 0)))

    def save(self, lake: Path) -> None:
        body = {"version": 1, "offsets": dict(sorted(self.offsets.items())),
                "rows": dict(sorted(self.rows.items())), "rejected": self.rejected,
                "duplicates": self.duplicates}
        atomic_write_bytes(Path(lake) / MANIFEST, json.dumps(body, indent=1).encode())

    def next_offset(self, topic: str, partition: int) -> int:
        return self.offsets.get(f"{topic}/{partition}", -1) + 1


def sweep(lake: Path, manifest: Manifest) -> int:
    """Delete temp files and data files written after the manifest; returns how many."""
    lake = Path(lake)
    removed = 0
    for tmp in lake.glob("**/*.tmp"):
        tmp.unlink(missing_ok=True)
        removed += 1
    for f in data_files(lake):
        if f.first_offset >= manifest.next_offset(f.topic, f.partition):
            f.path.unlink(missing_ok=True)
            removed += 1
    return removed


def scan(lake: Path, topic: str, event_type: str) -> pl.LazyFrame | None:
    """The table of one event type as a LazyFrame with the hive `date` column, or None."""
    root = table_dir(Path(lake), topic, event_type)
    if not any(root.glob("date=*/*.parquet")):
        return None
    return pl.scan_parquet(root / "date=*" / "*.parquet", hive_partitioning=True,
                           hive_schema={"date": pl.Date()})
