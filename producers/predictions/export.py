"""A run's patches as SWE-bench predictions, read from its `episode.finished` events."""
from __future__ import annotations

from typing import Any

from events.log import EventLog

__all__ = ["export_predictions"]


def _latest_finished(log: EventLog, run_id: str) -> dict[tuple[str, int], Any]:
    """(instance, sample) -> its last episode.finished (the highest attempt wins)."""
    best: dict[tuple[str, int], Any] = {}
    for rec in log.read("episodes"):
        ev = rec.event
        if ev.run_id != run_id or ev.type != "episode.finished":
            continue
        key = (ev.payload.instance_id, ev.payload.sample_idx)
        old = best.get(key)
        if old is None or (ev.payload.attempt, ev.ts) >= (old.payload.attempt, old.ts):
            best[key] = ev
    return best


def _models(log: EventLog, run_id: str) -> dict[str, str]:
    return {rec.event.payload.episode_id: rec.event.payload.model for rec in log.read("episodes")
            if rec.event.run_id == run_id and rec.event.type == "episode.started"}


def export_predictions(log: EventLog, run_id: str, *, sample_idx: int | None = 0,
                       model_name: str | None = None) -> list[dict[str, Any]]:
    """One prediction per (instance, sample) of `run_id`, sorted by instance and sample.

    `sample_idx=None` exports every sample (SWE-bench itself keeps one per instance).
    `model_name_or_path` is `model_name`, else the episode's model, else the run id.
    Rows also carry `run_id`, `episode_id` and `sample_idx` (SWE-bench ignores them).
    """
    finished = _latest_finished(log, run_id)
    models = _models(log, run_id)
    rows = []
    for (instance_id, idx), ev in sorted(finished.items()):
        if sample_idx is not None and idx != sample_idx:
            continue
        p = ev.payload
        rows.append({"instance_id": instance_id,
                     "model_name_or_path": model_name or models.get(p.episode_id) or run_id,
                     "model_patch": p.patch, "run_id": run_id, "episode_id": p.episode_id,
                     "sample_idx": idx})
    return rows
