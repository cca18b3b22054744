"""TaskSpec, RunContext and the resume plan (seed 002, R1-2; DESIGN.md §5.1).

A run is a set of planned (instance, sample) pairs. What still has to be done is
read back from the log, never from local files: a pair with an `eval.result` is
done; one with an `episode.finished` only needs evaluating; one whose episode
started and never finished follows the resume policy. Infrastructure errors do
not count as done: a pair whose episode ended on one runs again in a new
attempt, one whose evaluation hit one is evaluated again.
"""
from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Iterable, Literal

from events.log import EventLog

from .config import ResumePolicy

__all__ = ["TaskSpec", "RunContext", "PairState", "RunState", "Work", "ResumeError",
           "plan_specs", "episode_id_for", "read_state", "plan_work"]


class ResumeError(RuntimeError):
    """The resume policy forbids continuing (policy `fail` met an unfinished episode)."""


@dataclass(frozen=True)
class TaskSpec:
    """One planned (instance, sample) of a run."""

    run_id: str
    instance_id: str
    sample_idx: int
    seed: int

    @property
    def pair(self) -> tuple[str, int]:
        return (self.instance_id, self.sample_idx)


@dataclass(frozen=True)
class RunContext:
    """Per-attempt context handed to a worker: where things live and who it is."""

    spec: TaskSpec
    attempt: int
    episode_id: str
    log_url: str
    artifacts: str
    cache_dir: str


def _seed(run_id: str, instance_id: str, sample_idx: int) -> int:
    digest = hashlib.sha256(f"{run_id}/{instance_id}/{sample_idx}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def plan_specs(run_id: str, instance_ids: Iterable[str], n: int) -> list[TaskSpec]:
    return [TaskSpec(run_id, iid, s, _seed(run_id, iid, s)) for iid in instance_ids for s in range(n)]


def episode_id_for(spec: TaskSpec, attempt: int) -> str:
    """Deterministic and URL-safe (it appears in the proxy path /e/{episode_id}/v1)."""
    name = f"{spec.run_id}/{spec.instance_id}/{spec.sample_idx}/{attempt}"
    return "ep-" + uuid.uuid5(uuid.NAMESPACE_URL, name).hex[:20]


@dataclass
class PairState:
    started: dict[int, str] = field(default_factory=dict)
    """attempt -> episode id of every episode.started."""
    finished: dict[str, tuple[str, str]] = field(default_factory=dict)
    """episode id -> (episode.finished event id, its patch)."""
    evaluated: int = 0
    """eval.result events seen for this pair (more than one is a bug to report), not
    counting infrastructure errors (status `infra`), which judged nothing."""
    infra_episodes: set[str] = field(default_factory=set)
    """Episodes that ended on an infrastructure failure: their patch is not judged, and a
    resume runs the pair again in a new attempt."""

    @property
    def attempts(self) -> int:
        return max(self.started, default=0)

    def finished_episode(self) -> tuple[str, str, str] | None:
        """(episode id, finished event id, patch) of the latest finished attempt."""
        for attempt in sorted(self.started, reverse=True):
            ep = self.started[attempt]
            if ep in self.finished:
                return (ep, *self.finished[ep])
        return None


@dataclass
class RunState:
    run_started: bool = False
    run_finished: bool = False
    config: dict | None = None
    pairs: dict[tuple[str, int], PairState] = field(default_factory=dict)

    def pair(self, key: tuple[str, int]) -> PairState:
        return self.pairs.setdefault(key, PairState())


def read_state(log: EventLog, run_id: str) -> RunState:
    """Everything the log says about `run_id` (runs, episodes, evals)."""
    state = RunState()
    for rec in log.read("runs"):
        ev = rec.event
        if ev.run_id == run_id:
            if ev.type == "run.started" and not state.run_started:
                state.run_started, state.config = True, ev.payload.config
            elif ev.type == "run.finished":
                state.run_finished = True
    for rec in log.read("episodes"):
        ev = rec.event
        if ev.run_id != run_id:
            continue
        p = ev.payload
        pair = state.pair((p.instance_id, p.sample_idx))
        if ev.type == "episode.started":
            pair.started[p.attempt] = p.episode_id
        else:
            pair.started.setdefault(p.attempt, p.episode_id)
            pair.finished[p.episode_id] = (ev.id, p.patch)
            if p.infra_cause:
                pair.infra_episodes.add(p.episode_id)
    for rec in log.read("evals"):
        ev = rec.event
        if ev.run_id != run_id:
            continue
        pair = state.pair((ev.payload.instance_id, ev.payload.sample_idx))
        if ev.payload.status != "infra":
            pair.evaluated += 1
        elif ev.payload.harness == "none" and ev.payload.episode_id:
            pair.infra_episodes.add(ev.payload.episode_id)  # nothing judged: the episode hit it
    return state


@dataclass(frozen=True)
class Work:
    kind: Literal["episode", "evaluate", "given_up"]
    spec: TaskSpec
    attempt: int
    episode_id: str
    finished_event_id: str | None = None
    patch: str = ""


def plan_work(specs: list[TaskSpec], state: RunState, policy: ResumePolicy) -> tuple[list[Work], int]:
    """What is left to do, and how many pairs are already done."""
    todo: list[Work] = []
    done = 0
    for spec in specs:
        pair = state.pairs.get(spec.pair, PairState())
        if pair.evaluated:
            done += 1
            continue
        finished = pair.finished_episode()
        if finished and finished[0] in pair.infra_episodes and finished[0] == pair.started[pair.attempts]:
            attempt = pair.attempts + 1  # the infrastructure failed, not the agent: run it again
            todo.append(Work("episode", spec, attempt, episode_id_for(spec, attempt)))
            continue
        if finished:
            ep, fin_id, patch = finished
            attempt = next(a for a, e in pair.started.items() if e == ep)
            todo.append(Work("evaluate", spec, attempt, ep, fin_id, patch))
            continue
        todo.append(_next_attempt(spec, pair, policy))
    return todo, done


def _next_attempt(spec: TaskSpec, pair: PairState, policy: ResumePolicy) -> Work:
    attempt = pair.attempts
    if attempt == 0:
        return Work("episode", spec, 1, episode_id_for(spec, 1))
    unfinished = pair.started[attempt]
    if policy.on_unfinished == "fail":
        raise ResumeError(f"episode {unfinished} ({spec.instance_id} sample {spec.sample_idx}) started "
                          "and never finished, and resume_policy is fail")
    if policy.on_unfinished == "skip" or attempt >= policy.max_attempts:
        return Work("given_up", spec, attempt, unfinished)
    return Work("episode", spec, attempt + 1, episode_id_for(spec, attempt + 1))
