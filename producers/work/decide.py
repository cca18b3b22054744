"""What a scheduled item still needs, decided from the log alone.

A worker holds an item only while its group has given it the item's partition,
and the coordinator never has two open items for one pair; so when a worker
decides, no other live process works on that pair. Whatever the log shows as
started and not finished was left by a process that died (a SIGKILLed worker,
a slot aborted when its partition moved, an orchestrator killed mid-run): it
is closed as `interrupted` and not counted against `max_attempts`.

| the log shows                                   | decision                                      |
|-------------------------------------------------|-----------------------------------------------|
| the item already has its `work.done`            | `skip`: a repeated delivery, nothing to add    |
| the pair has an `eval.result`                   | `already_done`: acknowledge only              |
| an attempt finished (not interrupted)           | `evaluate` the latest such attempt's patch,   |
|                                                 | or `run` again if that one hit an infra error  |
| `max_interrupted` attempts died with a worker   | `fail`: reported, not run again               |
| otherwise                                       | `run` a new attempt (the item's own if unused) |
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from events.envelope import Envelope

from .index import Item, PairWork

__all__ = ["Decision", "decide", "interrupted_finish", "episode_id_of"]

Action = Literal["skip", "already_done", "evaluate", "run", "fail"]


@dataclass(frozen=True)
class Decision:
    action: Action
    attempt: int = 0
    episode_id: str = ""
    """The attempt to run or evaluate."""
    finished_id: str | None = None
    patch: str = ""
    interrupt: tuple[tuple[int, str], ...] = ()
    """(attempt, episode id) of every dead attempt to close as `interrupted` first."""
    error: str = ""


def episode_id_of(run_id: str, item: Item, attempt: int) -> str:
    """The deterministic episode id of `attempt` of the item's pair (the orchestrator's rule)."""
    from producers.orchestrator.plan import TaskSpec, episode_id_for

    return episode_id_for(TaskSpec(run_id, item.instance_id, item.sample_idx, item.seed), attempt)


def decide(run_id: str, item: Item, pair: PairWork, max_interrupted: int) -> Decision:
    if item.done is not None:
        return Decision("skip")
    if pair.evaluated:
        return Decision("already_done")
    dead = tuple(sorted((n, a.episode_id) for n, a in pair.attempts.items() if not a.finished))
    finished = [(n, a) for n, a in pair.attempts.items() if a.finished and a.reason != "interrupted"]
    if finished:
        n, a = max(finished, key=lambda na: na[0])
        if a.episode_id not in pair.infra_episodes:  # else the infrastructure failed, not the agent
            return Decision("evaluate", n, a.episode_id, a.finished_id, a.patch, interrupt=dead)
    if pair.interrupted() + len(dead) >= max_interrupted:
        return Decision("fail", interrupt=dead,
                        error=f"{pair.interrupted() + len(dead)} attempts died with their worker "
                              f"(batch.max_interrupted={max_interrupted}); not run again")
    attempt = max(max(pair.attempts, default=0) + 1, item.attempt)
    episode_id = item.episode_id if attempt == item.attempt else episode_id_of(run_id, item, attempt)
    return Decision("run", attempt, episode_id, interrupt=dead)


def interrupted_finish(run_id: str, instance_id: str, sample_idx: int, attempt: int, episode_id: str,
                       *, producer: str, why: str) -> Envelope:
    """The `episode.finished` (reason `interrupted`) closing a dead attempt: the orchestrator's own
    (`producers.orchestrator.plan.interrupted_finish`), whose id is a function of the episode id, so
    the same attempt closed by a worker and by a local resume is one event (SQLite) or a visible
    repeat (Kafka)."""
    from producers.orchestrator.plan import interrupted_finish as closing

    return closing(run_id, episode_id, instance_id, sample_idx, attempt, producer=producer, error=why)
