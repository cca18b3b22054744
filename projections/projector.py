"""`ledger project`: the log -> the Parquet lake, exactly once.

One round reads up to `batch` records from each topic-partition, starting
after the manifest's offset, and then, in this order:

1. writes each (type, date, topic-partition) group as one Parquet file
   (temp name, fsync, rename), rows deduplicated by event id across the lake;
2. saves the manifest with the last offset of every partition read (under the
   name the lake follows this log by; see `lake`);
3. commits the input offsets of the consumer group.

A round holds the lake's lock from reading the manifest to saving it.

The manifest is the source of truth: a crash before (2) leaves files past the
manifest, which `lake.sweep` deletes on restart before the batch is projected
again; a crash between (2) and (3) only leaves the group's offsets behind,
and the projector reads from the manifest, not the group. Records are read
raw (bytes), so the group offsets are progress for operators (lag), not the
resume point.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator

import polars as pl

from events.log.base import EventLog
from events.topics import TOPICS

from . import lake as lk
from .compact import repair
from .frames import Prepared, prepare
from .migrate import migrate
from .schema import fingerprint
from .sources import TP, Chunk, source_for

__all__ = ["Projector", "project"]

GROUP = "projections.lake"


class Projector:
    """Projects the given topics of `log` into the lake at `lake_dir`.

    `batch`: records read per topic-partition per round (one file per type and day);
    `workers`: partitions decoded side by side; `on_round(types)`: called after each
    round's manifest with the event types it wrote (the views hook).

    Each round holds the lake's lock and starts from the manifest on disk, so several
    projectors (of one log or of several) can share a lake.
    """

    def __init__(self, log: EventLog, lake_dir: str | Path, *, topics: tuple[str, ...] = TOPICS,
                 batch: int = 50_000, group: str = GROUP, workers: int = 2,
                 on_round: Callable[[set[str]], None] | None = None):
        self.log = log
        self.lake = Path(lake_dir)
        if self.lake.exists() and not self.lake.is_dir():
            raise lk.LakeError(f"the lake path {self.lake} is a file, not a directory")
        self.lake.mkdir(parents=True, exist_ok=True)
        self.topics = topics
        self.batch = batch
        self.group = group
        self.on_round = on_round
        self.rebuilt = False
        """True when a lake of the first layout was found and removed (it is projected again)."""
        self.migrated = 0
        """Files rewritten into the current schema when this projector opened the lake."""
        with lk.locked(self.lake):
            repair(self.lake)
            self.rebuilt = lk.remove_legacy(self.lake)
            self.manifest = lk.Manifest.load(self.lake)
            lk.sweep(self.lake, self.manifest)
            self.migrated = migrate(self.lake, self.manifest)
            if self.migrated or not self.manifest.schema:
                self.manifest.schema = fingerprint()
                self.manifest.save(self.lake)
        self._seen: dict[str, set[str]] = {}
        self._rows_known = self.manifest.total_rows()
        self.source = source_for(log, group)
        self.name: str | None = None
        """The name the lake follows this log under (known once the log has an event)."""
        self._identity: dict | None = None
        self._wanted = "log"
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="project")
        self.records_read = 0
        """Records read by this projector so far (rejected ones included)."""

    def close(self) -> None:
        self.source.close()
        self._pool.shutdown()

    @property
    def entry(self) -> lk.LogEntry:
        """This log's entry in the manifest (empty before the first round that read something)."""
        return self.manifest.logs.get(self.name or "") or lk.LogEntry({})

    # -- one round ---------------------------------------------------------------------
    def step(self) -> int:
        """Project one round; returns the number of records read.

        If the round fails, in-memory state is rebuilt from the lake (as after a
        restart) before the error propagates, so a caller may simply retry."""
        with lk.locked(self.lake):
            try:
                return self._step()
            except BaseException:
                self.manifest = lk.Manifest.load(self.lake)
                lk.sweep(self.lake, self.manifest)
                self._seen.clear()
                raise

    def _follow_which(self) -> bool:
        """Load the manifest and find (or register) this log's name; False while the log is empty."""
        self.manifest = lk.Manifest.load(self.lake)
        if self.manifest.total_rows() != self._rows_known:
            self._seen.clear()  # another projector wrote since: our id sets are stale
        if self._identity is None:
            self._identity, self._wanted = self.source.identity()
            if self._identity is None:
                return False
        name = self.manifest.name_of(self._identity)
        if name is None:
            name = self.manifest.register(self._identity, str(getattr(self.log, "url", "")), self._wanted)
        self.name = name
        return True

    def _step(self) -> int:
        if not self._follow_which():
            return 0
        read, touched = 0, set()
        progressed: dict[tuple[str, int], int] = {}
        for (topic, part), chunk, prep in self._prepared():
            touched |= self._write_prepared(topic, part, prep)
            progressed[(topic, part)] = chunk.last
            read += len(chunk)
        self.records_read += read
        if progressed:
            entry = self.entry
            for (topic, part), last in progressed.items():
                entry.offsets[f"{topic}/{part}"] = last
            entry.url = str(getattr(self.log, "url", "")) or entry.url
            self.manifest.save(self.lake)
            self._rows_known = self.manifest.total_rows()
            self.source.commit({tp: last + 1 for tp, last in progressed.items()})
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
    def _prepared(self) -> Iterator[tuple[TP, Chunk, Prepared]]:
        """Every topic-partition with records past the manifest: its chunk and typed frames,
        in topic-partition order (dedupe and writes follow that order).

        Decoding is GIL-free (Polars), so partitions are prepared side by side; a source
        that reads partitions independently also fetches inside the workers, so one
        partition's read overlaps another's decoding."""
        entry, name = self.entry, self.name or ""
        starts = [((topic, p), entry.next_offset(topic, p))
                  for topic in self.topics for p in range(self.log.partitions(topic))]
        if getattr(self.source, "by_partition", False):
            def one(tp_start: tuple[TP, int]) -> tuple[TP, Chunk, Prepared | None]:
                tp, start = tp_start
                chunk = self.source.fetch({tp: start}, self.batch)[tp]
                return tp, chunk, (prepare(tp[0], tp[1], chunk, name) if len(chunk) else None)

            yield from ((tp, c, p) for tp, c, p in self._pool.map(one, starts) if p is not None)
            return
        for topic in self.topics:
            fetched = [(tp, c) for tp, c in self.source.fetch({tp: s for tp, s in starts if tp[0] == topic},
                                                              self.batch).items() if len(c)]
            prepared = self._pool.map(lambda tc: prepare(tc[0][0], tc[0][1], tc[1], name), fetched)
            yield from ((tp, c, p) for (tp, c), p in zip(fetched, prepared))

    def _write_prepared(self, topic: str, part: int, prepared: Prepared) -> set[str]:
        self.entry.rejected += prepared.rejected
        for event_type, frame in prepared.frames.items():
            self._write(topic, event_type, part, self._dedupe(topic, event_type, frame))
        return set(prepared.frames)

    def _dedupe(self, topic: str, event_type: str, frame: pl.DataFrame) -> pl.DataFrame:
        seen = self._seen_ids(topic, event_type)
        ids = frame["id"].to_list()
        fresh = set(ids)
        if len(fresh) == len(ids) and seen.isdisjoint(fresh):  # the usual case, without a per-row loop
            seen |= fresh
            return frame
        keep = [eid not in seen for eid in ids]
        if len(fresh) < len(ids):  # a repeat inside the batch: keep its first copy
            first: set[str] = set()
            keep = [k and not (eid in first or first.add(eid)) for k, eid in zip(keep, ids)]
        seen.update(ids)
        if all(keep):
            return frame
        self.entry.duplicates += len(keep) - sum(keep)
        return frame.filter(pl.Series(keep))

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
        entry = self.entry
        entry.rows[key] = entry.rows.get(key, 0) + frame.height
        root = lk.table_dir(self.lake, topic, event_type)
        for (day,), rows in frame.partition_by("date", as_dict=True, maintain_order=True).items():
            first = int(rows["log_offset"][0])
            path = root / f"day={day.isoformat()}" / lk.file_name(self.name or "", topic, part, first)
            lk.write_parquet(path, rows)


def project(log_url: str, lake_dir: str | Path, *, follow: bool = False, batch: int = 50_000,
            views: bool = True) -> int:
    """Open the log and project it into the lake; returns records read."""
    from events.log import open_log

    from .views import refresh

    log = open_log(log_url)
    try:
        on_round = (lambda touched: refresh(lake_dir, touched)) if views else None
        projector = Projector(log, lake_dir, batch=batch, on_round=on_round)
        try:
            return projector.run(follow=follow)
        finally:
            projector.close()
    finally:
        log.close()
