"""`work` topic: episodes handed to workers through a consumer group (docs/distributed.md).

The coordinator appends one `episode.scheduled` per (instance, sample, attempt)
of a run in `batch.mode: distributed`; a worker that has run (or found) the
item's result appends `work.done` and then commits the item's offset. Both are
keyed by the scheduled episode id, so an item and its acknowledgement share a
partition.
"""
from __future__ import annotations

from typing import Literal

from .base import Payload

__all__ = ["EpisodeScheduled", "WorkDone", "WorkOutcome"]

WorkOutcome = Literal["ran", "evaluated", "already_done", "failed"]


class EpisodeScheduled(Payload):
    """One item of a run's plan, handed to whichever worker owns its partition."""

    episode_id: str
    """The attempt to run (`ep-…`, deterministic in run, instance, sample and attempt)."""
    instance_id: str
    sample_idx: int = 0
    attempt: int = 1
    seed: int
    """The pair's sampling seed (the same for every attempt of the pair)."""
    seq: int
    """Position of the pair in the run's plan (the order the coordinator schedules in)."""
    planned: int
    """Pairs in the run's plan."""


class WorkDone(Payload):
    """A worker's acknowledgement of one `episode.scheduled`, appended before its offset is committed."""

    episode_id: str
    """The scheduled item's episode id (its key)."""
    instance_id: str
    sample_idx: int = 0
    outcome: WorkOutcome
    """`ran`: an episode ran and was evaluated; `evaluated`: a finished episode was only evaluated;
    `already_done`: the pair had its result already (a repeated delivery); `failed`: no result."""
    ran: str = ""
    """Episode id of the attempt that produced the result (a later attempt than the item's when an
    earlier one was interrupted); empty for `already_done` and `failed`."""
    attempt: int = 0
    """Attempt number of `ran` (0 when nothing ran)."""
    interrupted: list[str] = []
    """Attempts of this pair this worker closed as `interrupted` before running (their worker died)."""
    worker: str = ""
    """Name of the worker (`ledger worker --name`, default host-pid)."""
    duration_s: float = 0.0
    """Seconds from the worker taking the item to its result."""
    error: str = ""
