"""`rewards` topic."""
from __future__ import annotations

from .base import Payload

__all__ = ["RewardAssigned"]


class RewardAssigned(Payload):
    episode_id: str | None
    instance_id: str
    sample_idx: int = 0
    eval_id: str
    reward: float
    components: dict[str, float] = {}
    reward_fn: str
    reward_version: int
