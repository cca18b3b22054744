"""`trainer` topic: training steps, new policies, and what the trainer did not train on."""
from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from .base import Payload
from .policy import PolicyVersion

__all__ = ["TrainerStep", "PolicyUpdated", "TrainerDropped", "TrainerStalled", "DropReason"]

DropReason = Literal["stale", "lineage", "unknown_version", "untrainable", "zero_advantage", "excluded"]
"""Why consumed samples were not trained on:
- `stale`: sampled more than `max_staleness` steps behind the trainer (same lineage);
- `lineage`: sampled by another trainer's weights (or base weights no trainer produced);
- `unknown_version`: the sampler could not know its weights;
- `untrainable`: the sample says it is not exactly trainable (scripted, replayed, text-only);
- `zero_advantage`: every sample of the group has the same reward (dynamic sampling drops the group);
- `excluded`: a complete group whose episodes were all excluded upstream (no samples at all)."""


class TrainerStep(Payload):
    trainer_id: str
    step: int
    loss: float
    clip_frac: float = 0.0
    """Fraction of tokens whose PPO ratio was clipped (verl `actor/pg_clipfrac`, mean over updates)."""
    clip_frac_lower: float = 0.0
    """Dual-clip lower fraction (verl `actor/pg_clipfrac_lower`)."""
    kl: float = 0.0
    """KL to the reference when a KL term is on, else verl's `actor/ppo_kl` (behaviour vs current)."""
    pg_loss: float = 0.0
    entropy: float = 0.0
    """Mean token entropy of the policy on the trained tokens (first update of the step)."""
    grad_norm: float = 0.0
    reward_mean: float = 0.0
    """Mean reward of the trained samples (dynamic sampling leaves out equal-reward groups)."""
    reward_std: float = 0.0
    reward_mean_sampled: float = 0.0
    """Mean reward of the trained samples and of the zero-advantage samples dropped since the previous
    step: the fresh samples' reward, without dynamic sampling's bias (what a reward curve should show)."""
    samples: int = 0
    groups: int = 0
    group_ids: list[str] = []
    """The rollout groups this step trained on, oldest first."""
    dropped_stale: int = 0
    """Samples dropped as stale since the previous step (also in `dropped['stale']`)."""
    dropped: dict[str, int] = {}
    """Samples not trained on since the previous step, by DropReason (each also a trainer.dropped event)."""
    filtered_groups: int = 0
    """Zero-advantage groups removed by dynamic sampling since the previous step."""
    excluded_episodes: int = 0
    """Episodes the trained groups counted as finished but excluded upstream (group.excluded)."""
    skipped_untrainable: int = 0
    """Samples refused since the previous step because they are not trainable (scripted, replayed):
    the same count as `dropped['untrainable']`."""
    staleness: dict[str, int] = {}
    """Histogram: staleness (policy versions behind) -> sample count."""
    optimizer_steps: int = 0
    """Optimizer updates this step made (ppo_epochs x mini-batches)."""
    micro_batches: int = 0
    """Forward/backward passes (gradient accumulation) this step made."""
    rollout_corr: dict[str, float] = {}
    """verl rollout-correction metrics (IS weights, off-policy KL, ...) when correction ran."""
    tokens_per_s: float = 0.0
    lr: float = 0.0
    policy_version: PolicyVersion | None = None
    """The policy this step produced; always (trainer_id, step), filled in when not given
    (v2; v1 stored a bare int)."""

    @model_validator(mode="after")
    def _version_is_the_step(self) -> "TrainerStep":
        if self.policy_version is None:
            object.__setattr__(self, "policy_version", PolicyVersion.of(self.trainer_id, self.step))
        return self


class PolicyUpdated(Payload):
    """A checkpoint of trainer `trainer_id` after `step` steps; `version` equals `step` (the lineage
    is `trainer_id`): samplers that follow the trainer stamp `{trainer_id, step}` after loading it."""

    trainer_id: str
    version: int
    checkpoint: str
    step: int


class TrainerDropped(Payload):
    """Samples the trainer consumed and did not train on, with the reason."""

    trainer_id: str
    step: int
    """The trainer's step when it dropped them (they were candidates for step + 1)."""
    reason: DropReason
    samples: int
    groups: int = 0
    """Groups removed whole."""
    group_ids: list[str] = []
    versions: dict[str, int] = {}
    """Policy versions of the dropped samples (str(PolicyVersion) -> count)."""
    detail: str = ""


class TrainerStalled(Payload):
    """No trainable input for `waited_s` seconds (also printed on stderr)."""

    trainer_id: str
    step: int
    waited_s: float
    records: int = 0
    """Rollout records consumed since the last step."""
    dropped: dict[str, int] = {}
    """Samples dropped since the last step, by reason."""
    message: str = ""
