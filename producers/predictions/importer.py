"""Predictions made elsewhere, written into the ledger as finished episodes.

Each prediction becomes `episode.started` (agent `import`) and `episode.finished`
(reason `submitted`, the patch) under `run_id`. Ids are derived from
(run_id, instance_id, sample_idx), so importing the same file twice into the
same run appends nothing new.
"""
from __future__ import annotations

from dataclasses import dataclass

import events
from events.ids import derived_id
from events.log import EventLog
from events.payloads import EpisodeFinished, EpisodeStarted

from .format import Prediction

__all__ = ["ImportedEpisode", "import_predictions", "assign_samples"]

_PRODUCER = "import"


@dataclass(frozen=True)
class ImportedEpisode:
    prediction: Prediction
    sample_idx: int
    episode_id: str
    started_event_id: str
    finished_event_id: str


def assign_samples(preds: list[Prediction]) -> list[tuple[Prediction, int]]:
    """Sample index per prediction: its own, else the order it appears in for its instance."""
    seen: dict[str, int] = {}
    out = []
    for p in preds:
        idx = p.sample_idx if p.sample_idx is not None else seen.get(p.instance_id, 0)
        seen[p.instance_id] = max(seen.get(p.instance_id, 0), idx + 1)
        out.append((p, idx))
    pairs = [(p.instance_id, i) for p, i in out]
    dupes = sorted({pair for pair in pairs if pairs.count(pair) > 1})
    if dupes:
        raise ValueError(f"several predictions for the same (instance_id, sample_idx): {dupes[:5]}")
    return out


def import_predictions(log: EventLog, preds: list[Prediction], run_id: str,
                       parent: str | None = None) -> list[ImportedEpisode]:
    out = []
    started_events, finished_events = [], []
    for pred, idx in assign_samples(preds):
        key = [run_id, pred.instance_id, str(idx)]
        episode_id = derived_id(_PRODUCER, 1, [*key, "episode"])
        started = events.new(EpisodeStarted(
            episode_id=episode_id, instance_id=pred.instance_id, sample_idx=idx, agent="import",
            model=pred.model_name_or_path), producer=_PRODUCER, run_id=run_id, parent=parent,
            id=derived_id(_PRODUCER, 1, [*key, "started"]))
        finished = events.new(EpisodeFinished(
            episode_id=episode_id, instance_id=pred.instance_id, sample_idx=idx,
            patch=pred.model_patch, reason="submitted"), producer=_PRODUCER, run_id=run_id,
            parent=started.id, id=derived_id(_PRODUCER, 1, [*key, "finished"]))
        started_events.append(started)
        finished_events.append(finished)
        out.append(ImportedEpisode(pred, idx, episode_id, started.id, finished.id))
    # Started events first: a reader never sees a finish without its start.
    log.append("episodes", started_events)
    log.append("episodes", finished_events)
    return out
