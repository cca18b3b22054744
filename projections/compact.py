"""`ledger compact --lake DIR`: merge a partition's small files into one, rows unchanged.

Files of one day directory (`day=...`) that come from the same log and
topic-partition are merged in offset order into the file of the smallest first
offset, so the name still says log.topic-partition-first offset. Only files the
manifest covers are touched, under the lake's lock (never a batch still being
written). The merge is crash-safe:

1. a journal (`_compaction.json`) names the target, the temp file and the files replaced;
2. the merged rows are written to the temp file and fsynced;
3. the temp file is renamed over the target (atomic);
4. the other files are deleted, then the journal.

On start, a leftover journal is finished: if the temp file still exists the
rename never happened (drop the temp file), otherwise finish step 4.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from . import lake as lk

__all__ = ["compact", "repair", "CompactReport", "JOURNAL"]

JOURNAL = "_compaction.json"
_SUFFIX = ".compacting"


@dataclass
class CompactReport:
    groups: int = 0
    """Groups of files merged."""
    files_before: int = 0
    files_after: int = 0
    rows: int = 0


def repair(lake: str | Path) -> bool:
    """Finish or roll back an interrupted compaction; True if there was one."""
    journal = Path(lake) / JOURNAL
    if not journal.exists():
        return False
    plan = json.loads(journal.read_text())
    tmp, target = Path(plan["tmp"]), Path(plan["target"])
    if tmp.exists():
        tmp.unlink()
    else:
        for name in plan["replaces"]:
            if Path(name) != target:
                Path(name).unlink(missing_ok=True)
    journal.unlink()
    return True


def compact(lake: str | Path, *, min_files: int = 2) -> CompactReport:
    """Merge every group of at least `min_files` files; returns what was done."""
    lake = Path(lake)
    with lk.locked(lake):
        return _compact(lake, min_files)


def _compact(lake: Path, min_files: int) -> CompactReport:
    repair(lake)
    manifest = lk.Manifest.load(lake)
    groups: dict[tuple[Path, str, str, int], list[lk.DataFile]] = {}
    for f in lk.data_files(lake):
        if f.first_offset < manifest.next_offset(f.log, f.topic, f.partition):
            groups.setdefault((f.path.parent, f.log, f.topic, f.partition), []).append(f)
    report = CompactReport()
    for files in groups.values():
        report.files_before += len(files)
        if len(files) < min_files:
            report.files_after += len(files)
            continue
        report.rows += _merge(lake, sorted(files, key=lambda f: f.first_offset))
        report.groups += 1
        report.files_after += 1
    return report


def _merge(lake: Path, files: list[lk.DataFile]) -> int:
    target = files[0].path
    tmp = target.with_name(target.name + _SUFFIX)
    plan = {"target": str(target), "tmp": str(tmp), "replaces": [str(f.path) for f in files]}
    lk.atomic_write_bytes(lake / JOURNAL, json.dumps(plan).encode())
    merged = pl.concat([pl.read_parquet(f.path, hive_partitioning=False) for f in files])
    merged.write_parquet(tmp, compression="zstd", statistics=True)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, target)
    for f in files[1:]:
        f.path.unlink()
    (lake / JOURNAL).unlink()
    return merged.height
