"""`ledger project`: the log -> the Parquet lake, exactly once.

One round reads up to `batch` records from each topic-partition, starting
after the manifest's offset, and then, in this order:

1. writes each (type, date, topic-partition) group as one Parquet file
   (temp name, fsync, rename), rows deduplicated by event id;
2. saves the manifest with the last offset of every partition read;
3. commits the input offsets of the consumer group.

The manifest is the source of truth: a crash before (2) leaves files past the
manifest, which `lake.sweep` deletes on restart before the batch is projected
again; a crash between (2) and (3) only leaves the group's offsets behind,
and the projector reads from the manifest, not the group. Records are read
raw (bytes), so the group offsets are progress for operators (lag), not the
resume point.
"""
from __future__ import annotations

import itertools
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable

import polars as pl

from events.log.base import EventLog, RawRecord
from events.registry import SPECS
from events.topics import TOPICS

from . import lake as lk
from .compact import repair
from .frames import Batch, current_line, header, to_frame

__all__ = ["Projector", "project"]

GROUP = "projections.lake"


class Projector:
    """Projects the given topics of `log` into the lake at `lake_dir`."""

    def __init__(self, log: EventLog, lake_dir: str | Path, *, topics: tuple[str, ...] = TOPICS,
                 batch: int = 50_000, group: str = GROUP,
                 on_round: Callable[[set[str]], None] | None = None):
        self.log = log
        self.lake = Path(lake_dir)
        self.lake.mkdir(parents=True, exist_ok=True)
        self.topics = topics
        self.batch = batch
        self.group = group
        self.on_round = on_round
        repair(self.lake)
        self.manifest = lk.Manifest.load(self.lake)
        lk.sweep(self.lake, self.manifest)
        self._seen: dict[str, set[str]] = {}

    # -- one round ---------------------------------------------------------------------
    def step(self) -> int:
        """Project one round; returns the number of records read."""
        read, touched = 0, set()
        progressed: dict[tuple[str, int], int] = {}
        for topic in self.topics:
            for part in range(self.log.partitions(topic)):
                start = self.manifest.next_offset(topic, part)
                raws = _fetch(self.log, topic, part, start, self.batch)
                if not raws:
                    continue
                touched |= self._project_partition(topic, part, raws)
                progressed[(topic, part)] = raws[-1].offset
                read += len(raws)
        if progressed:
            for (topic, part), last in progressed.items():
                self.manifest.offsets[f"{topic}/{part}"] = last
            self.manifest.save(self.lake)
            self._commit_group({tp: last + 1 for tp, last in progressed.items()})
            if self.on_round and touched:
                self.on_round(touched)
        return read

    def run(self, *, follow: bool = False, poll_s: float = 0.2,
            should_stop: Callable[[], bool] = lambda: False) -> int:
        """Project until caught up (or forever with `follow`); returns records read."""
        total = 0
        while not should_stop():
            n = self.step()
            total += n
            if n == 0:
                if not follow:
                    return total
                time.sleep(poll_s)
        return total

    # -- internals ---------------------------------------------------------------------
    def _project_partition(self, topic: str, part: int, raws: list[RawRecord]) -> set[str]:
        batches: dict[str, Batch] = {}
        for raw in raws:
            line, event_type = _line(raw, topic)
            if line is None:
                self.manifest.rejected += 1
                continue
            b = batches.get(event_type)
            if b is None:
                b = batches[event_type] = Batch(event_type, part, [], [])
            b.lines.append(line)
            b.offsets.append(raw.offset)
        for event_type, b in batches.items():
            frame, rejected = to_frame(b)
            self.manifest.rejected += rejected
            frame = self._dedupe(topic, event_type, frame)
            self._write(topic, event_type, part, frame)
        return set(batches)

    def _dedupe(self, topic: str, event_type: str, frame: pl.DataFrame) -> pl.DataFrame:
        seen = self._seen_ids(topic, event_type)
        keep = []
        for eid in frame["id"].to_list():
            if eid in seen:
                keep.append(False)
            else:
                seen.add(eid)
                keep.append(True)
        return frame if all(keep) else frame.filter(pl.Series(keep))

    def _seen_ids(self, topic: str, event_type: str) -> set[str]:
        seen = self._seen.get(event_type)
        if seen is None:
            table = lk.scan(self.lake, topic, event_type)
            ids = [] if table is None else table.select("id").collect()["id"].to_list()
            seen = self._seen[event_type] = set(ids)
        return seen

    def _write(self, topic: str, event_type: str, part: int, frame: pl.DataFrame) -> None:
        if frame.height == 0:
            return
        key = f"{topic}/{event_type}"
        self.manifest.rows[key] = self.manifest.rows.get(key, 0) + frame.height
        root = lk.table_dir(self.lake, topic, event_type)
        for (day,), rows in frame.partition_by("date", as_dict=True, maintain_order=True).items():
            first = int(rows["log_offset"][0])
            path = root / f"date={day.isoformat()}" / lk.file_name(topic, part, first)
            lk.write_parquet(path, rows.drop("date"))

    def _commit_group(self, offsets: dict[tuple[str, int], int]) -> None:
        commit = getattr(self.log, "commit_offsets", None)
        if commit is not None:
            commit(self.group, offsets)


def _line(raw: RawRecord, topic: str) -> tuple[bytes | None, str]:
    head = header(raw.value)
    if head is None:
        return None, ""
    event_type, v = head
    spec = SPECS.get(event_type)
    if spec is None or spec.topic != topic or v > spec.version:
        return None, event_type
    return current_line(raw.value, event_type, v), event_type


def _fetch(log: EventLog, topic: str, part: int, start: int, limit: int) -> list[RawRecord]:
    fetch = getattr(log, "fetch", None)
    if fetch is not None:
        return fetch(topic, part, start, limit)
    return list(itertools.islice(log.read_raw(topic, start, part), limit))


def project(log_url: str, lake_dir: str | Path, *, follow: bool = False, batch: int = 50_000,
            views: bool = True) -> int:
    """Open the log and project it into the lake; returns records read."""
    from events.log import open_log

    from .views import refresh

    log = open_log(log_url)
    try:
        on_round = (lambda touched: refresh(lake_dir, touched)) if views else None
        return Projector(log, lake_dir, batch=batch, on_round=on_round).run(follow=follow)
    finally:
        log.close()
