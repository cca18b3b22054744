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

__all__ = ["WorkerJob", "init_worker", "run_job", "prepare"]

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
                      sandboxes=make_sandbox_factory(cfg), eval_sandboxes=make_sandbox_factory(cfg, evaluation=True))
    return _cache["cfg"], _cache["log"], _cache["instances"], _cache["sandboxes"], _cache["eval_sandboxes"]


def _proxy_saw_no_answer(job: WorkerJob, outcome: Any) -> str:
    """Any runner: an episode that ended in error while every model call it made failed at
    the proxy (the model never answered once) hit the upstream, not the agent's limits."""
    if outcome.reason != "error":
        return ""
    import httpx

    from producers.failures import UPSTREAM

    url = job.proxy_url.rsplit("/v1", 1)[0] + "/status"
    try:
        status = httpx.get(url, headers={"Authorization": f"Bearer {job.proxy_token}"}, timeout=10).json()
    except (httpx.HTTPError, ValueError):
        return ""
    return UPSTREAM if status.get("errors", 0) > 0 and status.get("recorded", 0) == 0 else ""


def _label(factories, episode_id: str) -> None:
    """Name this job's sandbox directories for its episode (producers/sandbox/leftovers.py)."""
    for factory in factories:
        inner = getattr(factory, "factory", factory)  # under an EnvironmentSandboxes wrapper
        if hasattr(inner, "label"):
            inner.label = episode_id


def prepare(config: dict[str, Any]) -> None:
    """Load what the jobs of this config need (log, instances, sandboxes) before the first one comes."""
    _setup(config)


def run_job(job: WorkerJob) -> dict[str, Any]:
    """Returns {"pair", "resolved", "status", "infra_cause", "kind"} for the orchestrator."""
    from .components import evaluate_and_record, run_episode

    cfg, log, instances, sandboxes, eval_sandboxes = _setup(job.config)
    _label((sandboxes, eval_sandboxes), job.episode_id)
    instance = instances[job.instance_id]
    patch, finished_id, infra = job.patch, job.finished_event_id, None
    if job.kind == "episode":
        outcome = run_episode(cfg, log, instance, sandboxes, job)
        patch, finished_id = outcome.patch, outcome.finished_event_id
        cause = outcome.infra_cause or _proxy_saw_no_answer(job, outcome)
        if cause:
            infra = (cause, f"the episode ended on an infrastructure failure: {outcome.error}")
    result = evaluate_and_record(cfg, log, instance, eval_sandboxes, job, patch, finished_id, infra)
    return {"pair": (job.instance_id, job.sample_idx), "resolved": result.resolved,
            "status": result.status, "infra_cause": result.infra_cause, "kind": job.kind}
