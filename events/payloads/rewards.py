"""`rewards` topic."""
from __future__ import annotations

from pydantic import Field

from .base import Payload

__all__ = ["RewardAssigned"]


class RewardAssigned(Payload):
    episode_id: str | None
    instance_id: str
    sample_idx: int = Field(0, ge=0)
    eval_id: str
    reward: float = Field(allow_inf_nan=False)
    components: dict[str, float] = {}
    reward_fn: str
    reward_version: int = Field(ge=1)
