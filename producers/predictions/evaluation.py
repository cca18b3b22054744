"""Evaluate imported predictions right away: one `eval.result` per imported episode."""
from __future__ import annotations

from typing import Any, Callable

from events.log import EventLog
from events.payloads import EvalResult

from .importer import ImportedEpisode

__all__ = ["evaluate_imported"]


def evaluate_imported(log: EventLog, imported: list[ImportedEpisode], instances: dict[str, Any],
                      evaluator: Any, run_id: str,
                      on_result: Callable[[EvalResult], None] | None = None) -> list[EvalResult]:
    """Evaluate each imported patch whose instance is known; unknown ids are skipped
    (the caller reports them: `missing_instances`)."""
    from producers.evaluator import record_eval

    results = []
    for ep in imported:
        instance = instances.get(ep.prediction.instance_id)
        if instance is None:
            continue
        result = evaluator.evaluate(instance, ep.prediction.model_patch, sample_idx=ep.sample_idx,
                                    episode_id=ep.episode_id,
                                    model=ep.prediction.model_name_or_path)
        record_eval(log, result, run_id=run_id, parent=ep.finished_event_id)
        results.append(result)
        if on_result:
            on_result(result)
    return results


def missing_instances(imported: list[ImportedEpisode], instances: dict[str, Any]) -> list[str]:
    return sorted({ep.prediction.instance_id for ep in imported} - set(instances))


__all__ += ["missing_instances"]
