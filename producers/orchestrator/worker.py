"""One unit of work in a worker process: run an episode and/or evaluate its patch.

Workers are separate processes (spawned, so no thread state is inherited from
the parent, which runs the proxy). Each opens the log itself; the log is the
single writer's contract (idempotent ids, atomic batches), so no result passes
through the parent. A worker dies with its parent (PR_SET_PDEATHSIG): a killed
orchestrator never leaves episodes running behind its back.
"""
from __future__ import annotations

import ctypes
import signal
from dataclasses import dataclass
from typing import Any

__all__ = ["WorkerJob", "init_worker", "run_job"]

_PR_SET_PDEATHSIG = 1
_cache: dict[str, Any] = {}


@dataclass(frozen=True)
class WorkerJob:
    config: dict[str, Any]
    """RunConfig as a plain dict (picklable, validated again in the worker)."""
    kind: str
    instance_id: str
    sample_idx: int
    seed: int
    attempt: int
    episode_id: str
    finished_event_id: str | None
    patch: str
    proxy_url: str
    """Proxy base URL for this episode (http://host:port/e/{episode_id}/v1)."""
    proxy_token: str
    memory: str = ""


def init_worker() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _setup(config_dict: dict[str, Any]):
    key = repr(sorted(config_dict.items()))
    if _cache.get("key") != key:
        from events.log import open_log

        from .components import make_sandbox_factory, load_instances
        from .config import RunConfig

        cfg = RunConfig.model_validate(config_dict)
        _cache.update(key=key, cfg=cfg, log=open_log(cfg.log),
                      instances={i.instance_id: i for i in load_instances(cfg).instances},
                      sandboxes=make_sandbox_factory(cfg))
    return _cache["cfg"], _cache["log"], _cache["instances"], _cache["sandboxes"]


def run_job(job: WorkerJob) -> dict[str, Any]:
    """Returns {"pair", "resolved", "reason", "status"} for the progress display."""
    from .components import evaluate_and_record, run_episode

    cfg, log, instances, sandboxes = _setup(job.config)
    if hasattr(sandboxes, "label"):  # names this job's sandbox directories for its episode (leftovers.py)
        sandboxes.label = job.episode_id
    instance = instances[job.instance_id]
    patch, finished_id = job.patch, job.finished_event_id
    if job.kind == "episode":
        outcome = run_episode(cfg, log, instance, sandboxes, job)
        patch, finished_id = outcome.patch, outcome.finished_event_id
    result = evaluate_and_record(cfg, log, instance, sandboxes, job, patch, finished_id)
    return {"pair": (job.instance_id, job.sample_idx), "resolved": result.resolved,
            "status": result.status, "kind": job.kind}
