"""The `runs` events of an evaluated import: `run.started` (mode `import`, the dataset
manifest, the predictions file's sha256) and `run.finished`. The start id is derived from
the run id, so importing into the same run twice starts it once."""
from __future__ import annotations

import hashlib
import time
from pathlib import Path

import events
from events.ids import derived_id
from events.log import EventLog
from events.payloads import DatasetManifest, RunFinished, RunStarted

__all__ = ["start_import_run", "start_report_run", "finish_import_run"]


def start_import_run(log: EventLog, run_id: str, manifest: DatasetManifest, predictions: str,
                     planned: int) -> str:
    digest = hashlib.sha256(Path(predictions).read_bytes()).hexdigest()
    payload = RunStarted(config={"source": "import-predictions", "predictions": str(predictions),
                                 "predictions_sha256": digest}, manifest=manifest, planned=planned,
                         mode="import")
    event = events.new(payload, producer="import", run_id=run_id,
                       id=derived_id("import", 1, [run_id, "run.started"]))
    log.append("runs", [event])
    return event.id


def start_report_run(log: EventLog, run_id: str, report: str | Path, instance_ids: list[str]) -> str:
    """`run.started` of an imported official report: its instances are the manifest, so the
    imported scores have their coverage."""
    ids = sorted(set(instance_ids))
    digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()
    manifest = DatasetManifest(source=f"swebench-report:{Path(report).name}", revision=f"sha256:{digest}",
                               sha256=digest, count=len(ids), instance_ids=ids)
    payload = RunStarted(config={"source": "import-report", "report": str(report)}, manifest=manifest,
                         planned=len(ids), mode="import")
    event = events.new(payload, producer="import", run_id=run_id,
                       id=derived_id("import", 1, [run_id, "run.started"]))
    log.append("runs", [event])
    return event.id


def finish_import_run(log: EventLog, run_id: str, started_id: str, *, episodes: int,
                      evaluated: int, started_at: float | None = None) -> str:
    payload = RunFinished(status="finished", episodes=episodes, evaluated=evaluated,
                          duration_s=round(time.monotonic() - started_at, 3) if started_at else 0.0)
    event = events.new(payload, producer="import", run_id=run_id, parent=started_id)
    log.append("runs", [event])
    return event.id
