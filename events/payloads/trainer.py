"""`trainer` topic: training steps and new policies."""
from __future__ import annotations

from .base import Payload

__all__ = ["TrainerStep", "PolicyUpdated"]


class TrainerStep(Payload):
    trainer_id: str
    step: int
    loss: float
    clip_frac: float = 0.0
    kl: float = 0.0
    grad_norm: float = 0.0
    reward_mean: float = 0.0
    reward_std: float = 0.0
    samples: int = 0
    dropped_stale: int = 0
    skipped_untrainable: int = 0
    """Samples refused since the previous step because they are not trainable (scripted, replayed)."""
    staleness: dict[str, int] = {}
    """Histogram: staleness (policy versions behind) -> sample count."""
    tokens_per_s: float = 0.0
    lr: float = 0.0
    policy_version: int = 0


class PolicyUpdated(Payload):
    trainer_id: str
    version: int
    checkpoint: str
    step: int
