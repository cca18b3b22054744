"""`WorkIndex`: what the log says about distributed work, kept current by a `LogFollower`.

Folded from `runs` (each run's config snapshot, whether it finished), `work`
(scheduled items and their acknowledgements), `episodes` (attempts and how
they ended) and `evals` (which pairs have their result). Workers decide from
it what an item still needs; the coordinator follows its run's progress in it.
Events of one topic arrive in partition order, topics interleave freely, so
every fold is order-independent across topics.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from events.envelope import Envelope
from events.payloads import WorkDone

__all__ = ["Attempt", "Item", "PairWork", "RunWork", "WorkIndex", "WORK_TOPICS"]

WORK_TOPICS = ("runs", "work", "episodes", "evals")
"""The topics a `WorkIndex` folds."""


@dataclass
class Attempt:
    episode_id: str
    finished_id: str | None = None
    reason: str | None = None
    patch: str = ""

    @property
    def finished(self) -> bool:
        return self.finished_id is not None


@dataclass
class Item:
    """One `episode.scheduled` and, once acknowledged, its `work.done`."""

    event_id: str
    episode_id: str
    instance_id: str
    sample_idx: int
    attempt: int
    seed: int
    seq: int
    planned: int
    done: WorkDone | None = None

    @property
    def pair(self) -> tuple[str, int]:
        return (self.instance_id, self.sample_idx)


@dataclass
class PairWork:
    attempts: dict[int, Attempt] = field(default_factory=dict)
    evals: set[str] = field(default_factory=set)
    """Ids of the pair's `eval.result` events that judged it (more than one would be a bug to report)."""
    infra: dict[str, str] = field(default_factory=dict)
    """Its `eval.result` events with status `infra` (id -> episode id): no verdict, the pair runs again."""
    infra_episodes: set[str] = field(default_factory=set)
    """Attempts that ended on an infrastructure failure (`episode.finished.infra_cause`, or an infra
    result that judged nothing): the pair runs again in a new attempt rather than judging their patch."""
    resolved: bool = False
    items: list[str] = field(default_factory=list)
    """Episode ids of the pair's scheduled items, in the order they were seen."""

    @property
    def evaluated(self) -> int:
        return len(self.evals)

    def interrupted(self) -> int:
        return sum(1 for a in self.attempts.values() if a.reason == "interrupted")


@dataclass
class RunWork:
    config: dict[str, Any] | None = None
    manifest: dict[str, Any] | None = None
    finished: bool = False
    pairs: dict[tuple[str, int], PairWork] = field(default_factory=dict)
    items: dict[str, Item] = field(default_factory=dict)
    open_items: int = 0
    """Scheduled items without a `work.done` yet."""
    finished_episodes: dict[str, set[str]] = field(default_factory=dict)
    """episode id -> ids of its `episode.finished` events (more than one is a duplicate)."""

    def pair(self, key: tuple[str, int]) -> PairWork:
        return self.pairs.setdefault(key, PairWork())

    @property
    def distributed(self) -> bool:
        return ((self.config or {}).get("batch") or {}).get("mode") == "distributed"


class WorkIndex:
    """Thread-safe: a follower thread applies events while others read through `snapshot` helpers."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.runs: dict[str, RunWork] = {}
        self.version = 0
        """Bumped by every applied event that changed something (cheap change detection)."""
        self._changed = threading.Condition(self.lock)

    def run(self, run_id: str) -> RunWork:
        with self.lock:
            return self.runs.setdefault(run_id, RunWork())

    def wait_change(self, version: int, timeout_s: float) -> int:
        """Block until the index moves past `version` (or the timeout); returns the current version."""
        with self._changed:
            if self.version == version:
                self._changed.wait(timeout_s)
            return self.version

    # -- folding -------------------------------------------------------------------------
    def apply(self, ev: Envelope) -> None:
        fold = _FOLDS.get(ev.type)
        if fold is None:
            return
        with self._changed:
            fold(self.runs.setdefault(ev.run_id, RunWork()), ev)
            self.version += 1
            self._changed.notify_all()


def _run_started(run: RunWork, ev: Envelope) -> None:
    if run.config is None:
        run.config = ev.payload.config
        run.manifest = ev.payload.manifest.model_dump(mode="json")


def _run_finished(run: RunWork, ev: Envelope) -> None:
    run.finished = True


def _scheduled(run: RunWork, ev: Envelope) -> None:
    p = ev.payload
    if p.episode_id in run.items:
        return  # the same item appended twice (a producer retry): one item
    item = Item(ev.id, p.episode_id, p.instance_id, p.sample_idx, p.attempt, p.seed, p.seq, p.planned)
    run.items[p.episode_id] = item
    run.pair(item.pair).items.append(p.episode_id)
    run.open_items += 1


def _done(run: RunWork, ev: Envelope) -> None:
    p = ev.payload
    item = run.items.get(p.episode_id)
    if item is None:  # acknowledged before the follower saw the item (topics interleave)
        item = run.items[p.episode_id] = Item("", p.episode_id, p.instance_id, p.sample_idx, 0, 0, 0, 1)
        run.pair(item.pair).items.append(p.episode_id)
        run.open_items += 1
    if item.done is None:
        item.done = p
        run.open_items -= 1


def _started(run: RunWork, ev: Envelope) -> None:
    p = ev.payload
    run.pair((p.instance_id, p.sample_idx)).attempts.setdefault(p.attempt, Attempt(p.episode_id))


def _finished(run: RunWork, ev: Envelope) -> None:
    p = ev.payload
    run.finished_episodes.setdefault(p.episode_id, set()).add(ev.id)
    pair = run.pair((p.instance_id, p.sample_idx))
    attempt = pair.attempts.setdefault(p.attempt, Attempt(p.episode_id))
    if attempt.finished_id is None:
        attempt.finished_id, attempt.reason, attempt.patch = ev.id, p.reason, p.patch
    if p.infra_cause:
        pair.infra_episodes.add(p.episode_id)


def _evaluated(run: RunWork, ev: Envelope) -> None:
    p = ev.payload
    pair = run.pair((p.instance_id, p.sample_idx))
    if p.status == "infra":
        pair.infra[ev.id] = p.episode_id or ""
        if p.harness == "none" and p.episode_id:  # nothing was judged: the episode itself hit it
            pair.infra_episodes.add(p.episode_id)
        return
    pair.evals.add(ev.id)
    pair.resolved = pair.resolved or bool(p.resolved)
    for attempt in pair.attempts.values():  # an evaluated patch is no longer needed here
        attempt.patch = ""


_FOLDS = {
    "run.started": _run_started,
    "run.finished": _run_finished,
    "episode.scheduled": _scheduled,
    "work.done": _done,
    "episode.started": _started,
    "episode.finished": _finished,
    "eval.result": _evaluated,
}
