"""TaskSpec, RunContext and the resume plan (seed 002, R1-2; DESIGN.md §5.1).

A run is a set of planned (instance, sample) pairs. What still has to be done is
read back from the log, never from local files: a pair with an `eval.result` is
done; one with an `episode.finished` written by its agent only needs evaluating.
Infrastructure errors do not count as done: a pair whose episode ended on one
runs again in a new attempt (not counted against max_attempts), one whose
evaluation hit one is evaluated again.

Attempts. Each try at a pair is an attempt with its own episode id. An attempt
ends one of three ways, all recorded as `episode.finished`:
- its agent finished it (any reason): that is the pair's result, evaluated;
- its worker failed while the orchestrator watched (the orchestrator closes it,
  reason `error`, producer `orchestrator`): a failed attempt, which counts
  against `resume_policy.max_attempts`; once they are used up the pair is given
  up and its last attempt is evaluated as an empty patch;
- the orchestrator itself died: the attempt is found open on resume and closed
  with reason `interrupted` (`close_interrupted`). It does not count: killing
  `ledger run` any number of times never changes a pair's outcome. Whoever
  closes such an attempt (this orchestrator on resume, a distributed worker)
  writes `interrupted_finish(...)`: one id per episode, so the same attempt
  closed by both is one event, and a finish with reason `interrupted` is read as
  closed whatever its producer.
"""
from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Iterable, Literal

import events
from events.log import EventLog, LogDamaged
from events.payloads import EpisodeFinished

from .config import ResumePolicy

__all__ = ["TaskSpec", "RunContext", "PairState", "RunState", "Work", "ResumeError", "Finish",
           "plan_specs", "episode_id_for", "read_state", "plan_work", "open_attempts", "ORCHESTRATOR",
           "INTERRUPTED", "interrupted_finish"]

ORCHESTRATOR = "orchestrator"
"""The producer of the `episode.finished` events the orchestrator writes for attempts it closes."""
INTERRUPTED = "interrupted"
"""The finish reason of an attempt whose process died (never counted against max_attempts)."""


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


@dataclass(frozen=True)
class Finish:
    event_id: str
    patch: str
    reason: str
    closed: bool
    """True when the orchestrator closed the attempt (failed or interrupted), not its agent."""

    @property
    def failed(self) -> bool:
        """An attempt that failed on its own (counts against max_attempts)."""
        return self.closed and self.reason != "interrupted"


@dataclass
class PairState:
    started: dict[int, str] = field(default_factory=dict)
    """attempt -> episode id of every episode.started."""
    finished: dict[str, Finish] = field(default_factory=dict)
    """episode id -> how it ended (its agent's finish wins over one the orchestrator wrote)."""
    evaluated: int = 0
    """eval.result events seen for this pair (more than one is a bug to report), not
    counting infrastructure errors (status `infra`), which judged nothing."""
    evaluated_episode: str | None = None
    infra_episodes: set[str] = field(default_factory=set)
    """Episodes that ended on an infrastructure failure: their patch is not judged, and a
    resume runs the pair again in a new attempt."""

    @property
    def attempts(self) -> int:
        return max(self.started, default=0)

    def open_attempts(self) -> list[tuple[int, str]]:
        """(attempt, episode id) of attempts that started and never finished."""
        return [(a, ep) for a, ep in sorted(self.started.items()) if ep not in self.finished]

    def failed_attempts(self) -> list[tuple[int, str]]:
        return [(a, ep) for a, ep in sorted(self.started.items())
                if ep in self.finished and self.finished[ep].failed]

    def result(self) -> tuple[int, str, Finish] | None:
        """(attempt, episode id, finish) of the latest attempt its agent finished."""
        for attempt in sorted(self.started, reverse=True):
            ep = self.started[attempt]
            fin = self.finished.get(ep)
            if fin is not None and not fin.closed:
                return attempt, ep, fin
        return None

    @property
    def given_up(self) -> bool:
        """Evaluated from a failed attempt: its attempts ran out."""
        fin = self.finished.get(self.evaluated_episode or "")
        return bool(self.evaluated) and fin is not None and fin.failed


@dataclass
class RunState:
    run_started: bool = False
    run_finished: bool = False
    config: dict | None = None
    pairs: dict[tuple[str, int], PairState] = field(default_factory=dict)

    def pair(self, key: tuple[str, int]) -> PairState:
        return self.pairs.setdefault(key, PairState())


def _refuse(log: EventLog):
    """A record of runs/episodes/evals that cannot be decoded could be this run's: planning
    around it could run or judge a pair twice, so the run stops and says where."""
    def damaged(pos, reason: str) -> None:
        raise LogDamaged.at(getattr(log, "where", log.url),
                            f"record {pos.topic}/{pos.partition}/{pos.offset} cannot be read ({reason})")
    return damaged


def read_state(log: EventLog, run_id: str) -> RunState:
    """Everything the log says about `run_id` (runs, episodes, evals)."""
    state = RunState()
    refuse = _refuse(log)
    for rec in log.read("runs", on_undecodable=refuse):
        ev = rec.event
        if ev.run_id == run_id:
            if ev.type == "run.started" and not state.run_started:
                state.run_started, state.config = True, ev.payload.config
            elif ev.type == "run.finished":
                state.run_finished = True
    for rec in log.read("episodes", on_undecodable=refuse):
        ev = rec.event
        if ev.run_id != run_id:
            continue
        p = ev.payload
        pair = state.pair((p.instance_id, p.sample_idx))
        if ev.type == "episode.started":
            pair.started[p.attempt] = p.episode_id
            continue
        pair.started.setdefault(p.attempt, p.episode_id)
        fin = Finish(ev.id, p.patch, p.reason, closed=ev.producer == ORCHESTRATOR or p.reason == INTERRUPTED)
        if p.episode_id not in pair.finished or pair.finished[p.episode_id].closed:
            pair.finished[p.episode_id] = fin
        if p.infra_cause:
            pair.infra_episodes.add(p.episode_id)
    for rec in log.read("evals", on_undecodable=refuse):
        ev = rec.event
        if ev.run_id != run_id:
            continue
        pair = state.pair((ev.payload.instance_id, ev.payload.sample_idx))
        if ev.payload.status != "infra":
            pair.evaluated += 1
            pair.evaluated_episode = pair.evaluated_episode or ev.payload.episode_id
        elif ev.payload.harness == "none" and ev.payload.episode_id:
            pair.infra_episodes.add(ev.payload.episode_id)  # nothing judged: the episode hit it
    return state


def interrupted_finish(run_id: str, episode_id: str, instance_id: str, sample_idx: int, attempt: int, *,
                       producer: str = ORCHESTRATOR, error: str = "") -> events.Envelope:
    """The `episode.finished` that closes an attempt whose process died: reason `interrupted`,
    incomplete, its id derived from the episode alone (whoever writes it, one event)."""
    payload = EpisodeFinished(episode_id=episode_id, instance_id=instance_id, sample_idx=sample_idx,
                              attempt=attempt, reason=INTERRUPTED, incomplete=True,
                              error=error or "the process running this attempt stopped")
    return events.new(payload, producer=producer, run_id=run_id,
                      id=events.derived_id(ORCHESTRATOR, 1, [episode_id, INTERRUPTED]))


@dataclass(frozen=True)
class Work:
    kind: Literal["episode", "evaluate", "given_up"]
    spec: TaskSpec
    attempt: int
    episode_id: str
    finished_event_id: str | None = None
    patch: str = ""


def plan_work(specs: list[TaskSpec], state: RunState, policy: ResumePolicy) -> tuple[list[Work], int]:
    """What is left to do, and how many pairs are already done. Open attempts must have
    been closed first (`close_interrupted`): here they count as interrupted."""
    todo: list[Work] = []
    done = 0
    for spec in specs:
        pair = state.pairs.get(spec.pair, PairState())
        if pair.evaluated:
            done += 1
            continue
        result = pair.result()
        if result and result[1] in pair.infra_episodes:
            attempt = pair.attempts + 1  # the infrastructure failed, not the agent: run it again
            todo.append(Work("episode", spec, attempt, episode_id_for(spec, attempt)))
            continue
        if result:
            attempt, ep, fin = result
            todo.append(Work("evaluate", spec, attempt, ep, fin.event_id, fin.patch))
            continue
        todo.append(_next_attempt(spec, pair, policy))
    return todo, done


def _next_attempt(spec: TaskSpec, pair: PairState, policy: ResumePolicy) -> Work:
    failed = pair.failed_attempts()
    if len(failed) >= policy.max_attempts:  # given up: the last failed attempt is its result
        attempt, ep = failed[-1]
        return Work("given_up", spec, attempt, ep, pair.finished[ep].event_id, "")
    interrupted = pair.attempts and pair.finished.get(pair.started[pair.attempts])
    if interrupted and interrupted.reason == "interrupted" and policy.on_unfinished == "skip":
        return Work("given_up", spec, pair.attempts, pair.started[pair.attempts])
    attempt = pair.attempts + 1
    return Work("episode", spec, attempt, episode_id_for(spec, attempt))


def open_attempts(specs: list[TaskSpec], state: RunState, policy: ResumePolicy) -> list[tuple[TaskSpec, int, str]]:
    """(spec, attempt, episode id) of every attempt left open by a dead orchestrator, for pairs
    not yet evaluated; resume_policy `fail` refuses to go on when there is one."""
    out = []
    for spec in specs:
        pair = state.pairs.get(spec.pair)
        if pair is None or pair.evaluated:
            continue
        for attempt, ep in pair.open_attempts():
            if policy.on_unfinished == "fail":
                raise ResumeError(f"episode {ep} ({spec.instance_id} sample {spec.sample_idx}) started "
                                  "and never finished, and resume_policy is fail")
            out.append((spec, attempt, ep))
    return out
