"""`evals` topic: the verdict of running an instance's tests on a patch."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..blob import Blob
from .base import Payload

__all__ = ["EvalResult", "TestStatus", "EvalStatus"]

TestStatus = Literal["PASSED", "FAILED", "ERROR", "SKIPPED", "MISSING"]
EvalStatus = Literal["ok", "patch_failed", "test_patch_failed", "timeout", "error", "empty_patch"]


class EvalResult(Payload):
    instance_id: str
    sample_idx: int = Field(0, ge=0)
    episode_id: str | None = None
    repo: str = ""
    resolved: bool
    status: EvalStatus = "ok"
    reason: str = ""
    fail_to_pass: dict[str, TestStatus] = {}
    pass_to_pass: dict[str, TestStatus] = {}
    harness: str = "pytest"
    harness_version: str = ""
    duration_s: float = Field(0.0, ge=0, allow_inf_nan=False)
    log: Blob | None = None
    patch_sha256: str = ""
    model: str = ""
