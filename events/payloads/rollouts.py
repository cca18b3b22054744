"""`rollouts` topic: GRPO groups of trainable samples built from proxy events."""
from __future__ import annotations

from pydantic import Field

from .base import Payload

__all__ = ["RolloutSample", "RolloutGroup"]


class RolloutSample(Payload):
    sample_id: str
    episode_id: str
    rollout_id: str
    """Same for every fork of one episode."""
    fork: int = Field(0, ge=0)
    token_ids: list[int]
    """Prompt + completion + observation tokens, exactly as sampled."""
    loss_mask: list[int]
    """1 on tokens the model sampled, 0 on prompt/observation tokens."""
    logprobs: list[float]
    """Behaviour logprobs aligned with token_ids (0.0 where loss_mask is 0)."""
    prompt_len: int = Field(0, ge=0)
    reward: float
    policy_version: int = 0


class RolloutGroup(Payload):
    group_id: str
    run_id: str
    prompt_id: str
    """The instance id the group's samples answer."""
    samples: list[RolloutSample]
    excluded: int = Field(0, ge=0)
    """Episodes of this prompt left out (incomplete or missing proxy events)."""
    excluded_reasons: dict[str, int] = {}
