"""The runtime: runs any set of reducers over any log backend (DESIGN.md §1, §4).

Per reducer it keeps one consumer group (`Reducer.name@version` plus an optional
suffix), its state, and a checkpoint. One step = read a batch, fold it through
`apply`, then append the outputs and commit the progress together.

Embedded SQLite (exactly-once). Input topics are read merged in the log's
global append order (`seq`), so the order a reducer sees is a property of the
log, not of batch sizes or restarts: outputs are a pure function of the input.
Outputs, group offsets, the processed `seq` and (every `snapshot_every`
batches) a pickled state snapshot are written in ONE transaction. On restart
the state is loaded from the snapshot and the records between the snapshot and
the committed `seq` are re-folded with their outputs discarded (already written).

Kafka (at-least-once). Records come from processors.kafka_reader, which merges
the input partitions deterministically (record timestamp, topic, partition,
offset). Outputs are appended every batch; every `snapshot_every` batches the
state is written atomically to a local snapshot file WITH the offsets of the
records it folded. A restart seeks to the snapshot's offsets (offset 0 without
one) and re-folds from there: outputs re-made after a crash carry the same
deterministic ids and values, and every sink dedupes by id
(events.log.dedupe). Group offsets are not used for this member's position.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import time
import traceback
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from events.envelope import Envelope
from events.log.base import LogUnavailable, RawRecord, Record, dead_letter_for, decode_or_deadletter
from events.payloads import DeadLetter
from events.registry import derive

from .base import Reducer

__all__ = ["Runtime", "TaskStats", "group_name", "failure_deadletter"]

_DEAD_CONSUMER = "processors"
"""Every reducer that meets an undecodable record routes the same dead letter
(same id, same value), so it is kept once however many processors read it."""


def group_name(reducer: Reducer, suffix: str = "") -> str:
    return f"processor.{reducer.name}@{reducer.version}{suffix}"


def failure_deadletter(raw: RawRecord, reducer: Reducer, exc: BaseException) -> Envelope:
    """A record the reducer raised on: kept in `deadletter` with the reason; its id
    is a function of (reducer, position), so re-processing routes it once."""
    reason = f"{reducer.name}@{reducer.version} failed: {type(exc).__name__}: {exc}"
    dl = dead_letter_for(raw, reason, consumer=reducer.name)
    payload = DeadLetter(**{**dl.payload.model_dump(), "reason": reason})
    return derive(payload, processor=f"deadletter.{reducer.name}", version=reducer.version,
                  inputs=f"{raw.topic}/{raw.partition}/{raw.offset}")


@dataclass
class TaskStats:
    records: int = 0
    outputs: int = 0
    deadletters: int = 0
    batches: int = 0
    refolded: int = 0
    """Records re-folded after a restart to rebuild the state from its snapshot."""


@dataclass
class _Task:
    reducer: Reducer
    group: str
    state: Any
    stats: TaskStats = field(default_factory=TaskStats)
    seq: int = 0
    replay_until: int = 0
    offsets: dict = field(default_factory=dict)
    consumer: Any = None
    since_snapshot: int = 0


class Runtime:
    """Run `reducers` over `log`.

    `snapshot_every`: batches between state snapshots. `batch`: records per step.
    `group_suffix`: appended to each group name (a fresh suffix = a fresh group,
    e.g. for `ledger replay`). `snapshot_dir`: where non-SQLite backends keep
    snapshot files. `on_output`: called with each batch of outputs once durable.
    """

    settle_s = 120.0
    """Longest wait for a Kafka fetch to answer before an idle run counts as caught up."""

    def __init__(self, log, reducers: Sequence[Reducer], *, batch: int = 1000,
                 snapshot_every: int = 20, group_suffix: str = "",
                 snapshot_dir: str | os.PathLike = ".ledger/snapshots",
                 on_output: Callable[[list[Envelope]], None] | None = None):
        self.log = log
        self.batch = batch
        self.snapshot_every = max(1, snapshot_every)
        self.snapshot_dir = Path(snapshot_dir)
        self.on_output = on_output
        self.embedded = hasattr(log, "fetch_merged")
        self.tasks = [self._open(r, group_name(r, group_suffix)) for r in reducers]

    # -- start-up ----------------------------------------------------------------------
    def _open(self, reducer: Reducer, group: str) -> _Task:
        task = _Task(reducer, group, reducer.initial_state())
        if self.embedded:
            seq, snap_seq, snap = self.log.load_checkpoint(group)
            if snap is not None:
                task.state = pickle.loads(snap)
            task.seq, task.replay_until = snap_seq if snap is not None else 0, seq
            task.offsets = {}
        else:
            self._open_consumer(task)
        return task

    def _snapshot_path(self, group: str) -> Path:
        """One file per (log URL, group): two logs never share a snapshot."""
        tag = hashlib.sha256(self.log.url.encode()).hexdigest()[:12]
        return self.snapshot_dir / f"{tag}-{group}.pickle"

    def _open_consumer(self, task: _Task) -> None:
        from .kafka_reader import KafkaMergedReader

        task.consumer = KafkaMergedReader(self.log, list(task.reducer.inputs))
        path = self._snapshot_path(task.group)
        if path.exists():
            saved = pickle.loads(path.read_bytes())
            task.state, task.offsets = saved["state"], dict(saved["offsets"])
        task.consumer.seek(task.offsets)

    # -- the loop ------------------------------------------------------------------------
    def run(self, *, follow: bool = False, idle_s: float = 0.2,
            should_stop: Callable[[], bool] = lambda: False) -> dict[str, TaskStats]:
        """Process until every task is caught up (or forever with `follow`). On Kafka an empty
        poll ends the run only once every reader has heard the end of each of its partitions
        (within `settle_s`: a broker that never answers is an error, not an empty log)."""
        unsettled_since = None
        while not should_stop():
            progressed = False
            for task in self.tasks:
                progressed |= self.step(task)
            if progressed:
                unsettled_since = None
                continue
            if not follow:
                if all(self._settled(t) for t in self.tasks):
                    break
                unsettled_since = unsettled_since or time.monotonic()
                if time.monotonic() - unsettled_since > self.settle_s:
                    raise LogUnavailable(f"{self.log.url}: no fetch answered for some input partitions "
                                         f"within {self.settle_s:g} s")
            time.sleep(idle_s if follow else 0.05)
        self.close()
        return {t.group: t.stats for t in self.tasks}

    @staticmethod
    def _settled(task: _Task) -> bool:
        return task.consumer is None or task.consumer.caught_up()

    def step(self, task: _Task) -> bool:
        return self._step_embedded(task) if self.embedded else self._step_consumer(task)

    def _fold(self, task: _Task, raw: RawRecord, rec: Record | None, outs: dict[str, list[Envelope]],
              dead: list[Envelope]) -> None:
        task.stats.records += 1
        if rec is None:
            return
        try:
            task.state, events = task.reducer.apply(task.state, rec)
        except Exception as exc:  # a bad record must not stop the processor
            dead.append(failure_deadletter(raw, task.reducer, exc))
            traceback.print_exc(limit=2)
            return
        for ev in events:
            outs[ev.topic].append(ev)

    def _step_embedded(self, task: _Task) -> bool:
        rows = self.log.fetch_merged(task.reducer.inputs, task.seq, self.batch)
        if not rows:
            return False
        if task.seq < task.replay_until:  # a batch never straddles the re-fold boundary
            rows = [r for r in rows if r[0] <= task.replay_until] or rows
        outs: dict[str, list[Envelope]] = defaultdict(list)
        dead: list[Envelope] = []
        for _seq, raw in rows:
            rec = decode_or_deadletter(raw, dead, consumer=_DEAD_CONSUMER)
            self._fold(task, raw, rec, outs, dead)
            task.offsets[(raw.topic, raw.partition)] = raw.offset + 1
        task.seq = rows[-1][0]
        if dead:
            outs["deadletter"].extend(dead)
        if task.seq <= task.replay_until:
            task.stats.records -= len(rows)
            task.stats.refolded += len(rows)
            return True  # re-folding what a previous process already wrote
        task.since_snapshot += 1
        snapshot = None
        if task.since_snapshot >= self.snapshot_every:
            snapshot, task.since_snapshot = pickle.dumps(task.state, protocol=5), 0
        self.log.commit_checkpoint(task.group, task.offsets, dict(outs), task.seq, snapshot)
        self._account(task, outs, dead)
        return True

    def _step_consumer(self, task: _Task) -> bool:
        raws = task.consumer.poll(max_records=self.batch, timeout_s=0.5)
        if not raws:
            return False
        outs: dict[str, list[Envelope]] = defaultdict(list)
        dead: list[Envelope] = []
        for raw in raws:
            rec = decode_or_deadletter(raw, dead, consumer=_DEAD_CONSUMER)
            self._fold(task, raw, rec, outs, dead)
            task.offsets[(raw.topic, raw.partition)] = raw.offset + 1
        if dead:
            outs["deadletter"].extend(dead)
        if outs:
            self.log.append_many(dict(outs))  # acknowledged before the snapshot may cover them
        task.since_snapshot += 1
        if task.since_snapshot >= self.snapshot_every:
            self._snapshot_file(task)
        self._account(task, outs, dead)
        return True

    def _snapshot_file(self, task: _Task) -> None:
        """State + the offsets of the records it folded, replaced atomically."""
        path = self._snapshot_path(task.group)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            pickle.dump({"state": task.state, "offsets": task.offsets}, fh, protocol=5)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        task.since_snapshot = 0

    def _account(self, task: _Task, outs: dict[str, list[Envelope]], dead: list[Envelope]) -> None:
        task.stats.batches += 1
        made = [ev for evs in outs.values() for ev in evs]
        task.stats.outputs += len(made)
        task.stats.deadletters += len(dead)
        if self.on_output and made:
            self.on_output(made)

    def close(self) -> None:
        for task in self.tasks:
            if task.consumer is not None:
                if task.since_snapshot:
                    self._snapshot_file(task)
                task.consumer.close()
                task.consumer = None
