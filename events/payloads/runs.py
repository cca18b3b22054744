"""`runs` topic: a run's start (config snapshot + dataset manifest) and its end."""
from __future__ import annotations

from typing import Any, Literal

from .base import Payload

__all__ = ["DatasetManifest", "RunStarted", "RunFinished"]


class DatasetManifest(Payload):
    """Where a run's tasks came from, pinned by content hash."""

    source: str
    """Hub name (e.g. princeton-nlp/SWE-bench_Lite), local path, or `bundled`."""
    split: str = "test"
    revision: str = ""
    """Hub revision / commit, or a content hash for local files."""
    sha256: str
    """sha256 of the canonical JSON of the loaded instances."""
    count: int
    instance_ids: list[str] = []
    repos: dict[str, int] = {}
    """Instances per repository, by the dataset's own `repo` field (what repo scores are keyed by)."""


class RunStarted(Payload):
    config: dict[str, Any]
    """The full RunConfig snapshot, as validated."""
    manifest: DatasetManifest
    planned: int = 0
    """Number of (instance, sample) episodes planned."""
    mode: str = "eval"
    parent_run: str | None = None
    """For param_search sub-runs: the parent run id."""


class RunFinished(Payload):
    status: Literal["finished", "failed", "cancelled"] = "finished"
    episodes: int = 0
    evaluated: int = 0
    failed: int = 0
    duration_s: float = 0.0
    message: str = ""
    infra_errors: int = 0
    """Pairs whose result is an infrastructure error (eval.result status `infra`)."""
    infra_causes: dict[str, int] = {}
    """Those pairs by cause (`upstream unreachable`: 3, ...)."""
    not_run: int = 0
    """Planned pairs left undone because the run stopped early on infrastructure errors."""
