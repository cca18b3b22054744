"""`runs` topic: a run's start (config snapshot + dataset manifest) and its end."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

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
    count: int = Field(ge=0)
    instance_ids: list[str] = []
    repos: dict[str, int] = {}
    """Instances per repository, by the dataset's own `repo` field (what repo scores are keyed by)."""


class RunStarted(Payload):
    config: dict[str, Any]
    """The full RunConfig snapshot, as validated."""
    manifest: DatasetManifest
    planned: int = Field(0, ge=0)
    """Number of (instance, sample) episodes planned."""
    mode: str = "eval"
    parent_run: str | None = None
    """For param_search sub-runs: the parent run id."""


class RunFinished(Payload):
    status: Literal["finished", "failed", "cancelled"] = "finished"
    episodes: int = Field(0, ge=0)
    evaluated: int = Field(0, ge=0)
    failed: int = Field(0, ge=0)
    duration_s: float = Field(0.0, ge=0, allow_inf_nan=False)
    message: str = ""
    infra_errors: int = Field(0, ge=0)
    """Pairs whose result is an infrastructure error (eval.result status `infra`)."""
    infra_causes: dict[str, int] = {}
    """Those pairs by cause (`upstream unreachable`: 3, ...)."""
    not_run: int = Field(0, ge=0)
    """Planned pairs left undone because the run stopped early on infrastructure errors."""
    given_up: int = Field(0, ge=0)
    """Pairs whose attempts ran out (each failed on its own); evaluated as empty patches."""
    given_up_pairs: list[str] = []
    """`instance_id#sample_idx` of each given-up pair."""
