"""What a worker prepares before it joins a run: the run's config, its dataset, a proxy."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["RunSetup", "RunRefused", "prepare_run"]


class RunRefused(RuntimeError):
    """This worker cannot run the run's episodes (its dataset differs, its config does not load...)."""


@dataclass
class RunSetup:
    run_id: str
    config: dict[str, Any]
    """The run's config snapshot, with `log` set to the worker's own log URL."""
    proxy: Any
    """The worker's proxy in front of the run's upstream (a started `ProxyServer`)."""
    repos: dict[str, str]
    """instance id -> repo (the workflow-memory scope)."""


def prepare_run(config: dict[str, Any], manifest: dict[str, Any], run_id: str, log_url: str) -> RunSetup:
    """Validate the run's config snapshot here, load its dataset (it must hash to the run's
    manifest) and start a loopback proxy in front of the run's upstream."""
    from pydantic import ValidationError

    from producers.orchestrator.components import load_instances
    from producers.orchestrator.config import RunConfig
    from producers.proxy.server import ProxyServer

    try:
        cfg = RunConfig.model_validate({**config, "log": log_url})
    except ValidationError as exc:
        raise RunRefused(f"its config does not load here: {exc.errors()[0]['msg']}") from None
    try:
        dataset = load_instances(cfg)
    except Exception as exc:
        raise RunRefused(f"its dataset ({cfg.dataset.source}) does not load here: {exc}") from exc
    want = manifest.get("sha256")
    if dataset.manifest.sha256 != want:
        raise RunRefused(f"the dataset loaded here ({cfg.dataset.source}, sha256 {dataset.manifest.sha256[:12]}) "
                         f"differs from the run's ({want and want[:12]})")
    try:
        proxy = ProxyServer(log_url, cfg.model.upstream, run_id=run_id).start()
    except Exception as exc:
        raise RunRefused(f"its upstream {cfg.model.upstream!r} does not start here: {exc}") from exc
    return RunSetup(run_id, cfg.model_dump(mode="json"), proxy, {i.instance_id: i.repo for i in dataset.instances})
