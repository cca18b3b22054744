"""The orchestrator as a coordinator (`batch.mode: distributed`): plan, schedule, follow.

    plan (from the log) ─▶ episode.scheduled ─▶ work topic ─▶ `ledger worker`s (any machine)
                                                              episode.* · eval.result · work.done
    progress and the end of the run ◀── followed from the log ◀──────────────┘

- Nothing comes back from a worker except through the log: a pair is done when
  its `eval.result` is read back, failed when its item's `work.done` says so.
- Back-pressure: at most `batch.max_scheduled` items of the run are scheduled
  and not yet done at any time; the next ones follow in plan order as results
  arrive.
- Restart: killed at any point and started again, the coordinator reads the
  work topic and the evals: pairs with a result are done, pairs with an open
  item are left to the workers, only the rest is scheduled. A pair never has
  two open items.
"""
from __future__ import annotations

import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import events
from events.payloads import EpisodeScheduled
from producers.work.follower import LogFollower
from producers.work.index import PairWork, RunWork, WorkIndex

from .plan import RunState, TaskSpec, episode_id_for
from .progress import RunProgress

if TYPE_CHECKING:
    from .run import Orchestrator, RunSummary

__all__ = ["Coordinator"]

_SCHEDULED_NS = uuid.UUID("3e4c1b0a-9d7f-4f52-b1e8-6a2d0c5f7e19")
_NO_WORKER_HINT_S = 20.0


@dataclass
class _Open:
    spec: TaskSpec
    episode_id: str
    """The pair's latest scheduled item."""


class Coordinator:
    def __init__(self, orch: "Orchestrator"):
        self.orch = orch
        self.config = orch.config
        self.run_id = orch.run_id
        self.console = orch.console
        self.index = WorkIndex()

    def run(self, state: RunState, specs: list[TaskSpec], summary: "RunSummary",
            unjudgeable: dict[str, str] | None = None) -> None:
        """Schedule what the log says is left and follow it until every pair has its result.
        Pairs of `unjudgeable` instances (dataset.validation) are recorded as infrastructure
        errors here, as the local pool does, and never scheduled."""
        with LogFollower(self.config.log, ("work", "evals"), self.index.apply) as follower:
            self.follower = follower
            follower.sync(self.orch.log)
            run = self.index.run(self.run_id)
            todo, in_flight = self._plan(specs, state, run, summary)
            todo = self._record_unjudgeable(todo, unjudgeable or {})
            self.console.print(f"distributed: {len(todo)} to schedule, {len(in_flight)} already with workers, "
                               f"{summary.skipped} done; start workers with: ledger worker --log {self.config.log}")
            progress = RunProgress(self.console, total=summary.planned, already=summary.skipped)
            session = {o.episode_id for o in in_flight.values()} | {episode_id_for(spec, a) for _, spec, a in todo}
            with progress:
                for _ in in_flight:
                    progress.started()
                self._drive(todo, in_flight, run, len(specs), summary, progress)
            follower.sync(self.orch.log)  # the last acknowledgements
            with self.index.lock:
                summary.ran = sum(1 for e in session if e in run.items and run.items[e].done is not None
                                  and run.items[e].done.outcome == "ran")

    # -- plan ----------------------------------------------------------------------------------
    def _plan(self, specs: list[TaskSpec], state: RunState, run: RunWork,
              summary: "RunSummary") -> tuple[deque, dict[tuple[str, int], _Open]]:
        todo: deque = deque()
        in_flight: dict[tuple[str, int], _Open] = {}
        for seq, spec in enumerate(specs):
            pair = run.pairs.get(spec.pair, PairWork())
            if pair.evaluated or state.pairs.get(spec.pair, None) and state.pairs[spec.pair].evaluated:
                summary.skipped += 1
                continue
            open_items = [e for e in pair.items if run.items[e].done is None]
            if open_items:
                in_flight[spec.pair] = _Open(spec, open_items[-1])
                continue
            todo.append((seq, spec, self._next_attempt(spec, state, pair, run)))
        return todo, in_flight

    def _record_unjudgeable(self, todo: deque, unjudgeable: dict[str, str]) -> deque:
        from .plan import Work

        if not unjudgeable:
            return todo
        works = [Work("episode", spec, attempt, "") for _, spec, attempt in todo]
        kept = {w.spec.pair for w in self.orch._record_unjudgeable(works, unjudgeable)}
        return deque(t for t in todo if t[1].pair in kept)

    def _next_attempt(self, spec: TaskSpec, state: RunState, pair: PairWork, run: RunWork) -> int:
        started = state.pairs[spec.pair].attempts if spec.pair in state.pairs else 0
        scheduled = max((run.items[e].attempt for e in pair.items), default=0)
        return max(started, scheduled) + 1

    # -- schedule and follow -----------------------------------------------------------------
    def _drive(self, todo: deque, in_flight: dict, run: RunWork, planned: int, summary: "RunSummary",
               progress: RunProgress) -> None:
        cap = self.config.batch.max_scheduled
        version, last_change = -1, time.monotonic()
        hinted = False
        while todo or in_flight:
            self.follower.check()
            if todo and summary.stopped_after:  # too many infrastructure errors in a row
                summary.not_run = len(todo)
                todo.clear()
                continue
            if todo and len(in_flight) < cap:
                self._schedule(todo, in_flight, cap, planned, progress)
            new = self.index.wait_change(version, 0.5)
            if new != version:
                version, last_change = new, time.monotonic()
                with self.index.lock:
                    self._observe(in_flight, run, summary, progress)
            elif not hinted and time.monotonic() - last_change > _NO_WORKER_HINT_S:
                hinted = True
                self.console.print(f"[yellow]no progress for {_NO_WORKER_HINT_S:g}s:[/] is a worker running? "
                                   f"ledger worker --log {self.config.log}")

    def _schedule(self, todo: deque, in_flight: dict, cap: int, planned: int, progress: RunProgress) -> None:
        batch = []
        while todo and len(in_flight) + len(batch) < cap:
            seq, spec, attempt = todo.popleft()
            episode_id = episode_id_for(spec, attempt)
            payload = EpisodeScheduled(episode_id=episode_id, instance_id=spec.instance_id,
                                       sample_idx=spec.sample_idx, attempt=attempt, seed=spec.seed,
                                       seq=seq, planned=planned)
            batch.append(events.new(payload, producer="orchestrator", run_id=self.run_id,
                                    id=str(uuid.uuid5(_SCHEDULED_NS, f"{self.run_id}/{episode_id}"))))
            in_flight[spec.pair] = _Open(spec, episode_id)
        self.orch.log.append("work", batch)
        for ev in batch:
            self.index.apply(ev)
            progress.started()

    def _observe(self, in_flight: dict, run: RunWork, summary: "RunSummary", progress: RunProgress) -> None:
        for key, open_ in list(in_flight.items()):
            pair = run.pairs.get(key)
            if pair is None:
                continue
            item = run.items.get(open_.episode_id)
            done = item.done if item is not None else None
            if pair.evaluated:
                del in_flight[key]
                summary.evaluated += 1
                summary.resolved += pair.resolved
                summary.consecutive_infra = 0
                progress.done(pair.resolved)
            elif done is not None and done.outcome == "failed":
                del in_flight[key]
                summary.failed += 1
                progress.failed()
                self.console.print(f"[red]{key[0]} sample {key[1]} failed on worker {done.worker}:[/] "
                                   f"{done.error.strip().splitlines()[0] if done.error else ''}")
            elif done is not None and done.ran and done.ran in pair.infra.values():
                del in_flight[key]
                self._infra(key, summary, progress)

    def _infra(self, key: tuple[str, int], summary: "RunSummary", progress: RunProgress) -> None:
        """A pair whose result is an infrastructure error: counted (exit 3), run again on resume;
        `batch.max_consecutive_infra_errors` in a row stop the scheduling."""
        summary.consecutive_infra += 1
        progress.failed()
        self.console.print(f"[yellow]{key[0]} sample {key[1]}: infrastructure error[/]")
        limit = self.config.batch.max_consecutive_infra_errors
        if limit and summary.consecutive_infra >= limit and not summary.stopped_after:
            summary.stopped_after = summary.consecutive_infra
            self.console.print(f"[red]stopping: {summary.stopped_after} consecutive pairs hit infrastructure "
                               "errors; the items already scheduled finish[/]")
