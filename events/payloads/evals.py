"""`evals` topic: the verdict of running an instance's tests on a patch."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..blob import Blob
from .base import Payload

__all__ = ["EvalResult", "TestStatus", "EvalStatus", "Resolution", "INFRA"]

TestStatus = Literal["PASSED", "FAILED", "ERROR", "SKIPPED", "MISSING"]
EvalStatus = Literal["ok", "patch_failed", "test_patch_failed", "timeout", "error", "empty_patch", "infra"]
Resolution = Literal["", "full", "partial", "no"]

INFRA: EvalStatus = "infra"
"""The status of a result that judges nothing: infrastructure failed (see `infra_cause`)."""


class EvalResult(Payload):
    instance_id: str
    sample_idx: int = Field(0, ge=0)
    episode_id: str | None = None
    repo: str = ""
    resolved: bool
    status: EvalStatus = "ok"
    """`ok` when the tests ran; a model failure otherwise (patch_failed, test_patch_failed,
    timeout, error, empty_patch) — except `infra`: the infrastructure failed (upstream
    unreachable, sandbox/repository/image/environment missing, harness crash), nothing was
    judged, and the sample is left out of pass@k / avg@k (coverage shows it missing)."""
    reason: str = ""
    infra_cause: str = ""
    """For status `infra`: its short cause (`upstream unreachable`, `repository missing`,
    `sandbox`, `image`, `environment`, `harness`), the same words across events."""
    resolution: Resolution = ""
    """SWE-bench's resolution: full (resolved), partial (some FAIL_TO_PASS pass, every
    PASS_TO_PASS holds) or no; empty when nothing decided it (infra, a patch that did not
    apply, a timeout)."""
    fail_to_pass: dict[str, TestStatus] = {}
    pass_to_pass: dict[str, TestStatus] = {}
    harness: str = "pytest"
    """Who judged: `pytest` (our pytest/JUnit harness), `swebench` (the official harness's
    eval script and log parser, run here), `swebench-official` (imported from a report of
    the official harness run elsewhere)."""
    harness_version: str = ""
    spec_digest: str = ""
    """sha256 of the environment spec the tests ran in (empty: the host's interpreter)."""
    duration_s: float = Field(0.0, ge=0, allow_inf_nan=False)
    log: Blob | None = None
    patch_sha256: str = ""
    model: str = ""
