"""`rollouts` topic: GRPO groups of trainable samples built from proxy events."""
from __future__ import annotations

from .base import Payload
from .policy import UNKNOWN_POLICY, PolicyVersion

__all__ = ["RolloutSample", "RolloutGroup", "SampledSpan"]


class SampledSpan(Payload):
    """The tokens one model call sampled inside a sample, and under which policy."""

    turn: int
    request_id: str
    start: int
    """Index in `token_ids` of the first sampled token."""
    end: int
    """One past the last sampled token."""
    policy_version: PolicyVersion = UNKNOWN_POLICY
    """proxy.response's policy_version, carried unchanged."""


class RolloutSample(Payload):
    sample_id: str
    episode_id: str
    rollout_id: str
    """Same for every fork of one episode."""
    fork: int = 0
    token_ids: list[int]
    """The whole conversation of the fork: prompt, sampled, template and observation tokens,
    exactly as the model saw and sampled them."""
    loss_mask: list[int]
    """1 on tokens the model sampled, 0 on prompt/observation/template tokens."""
    logprobs: list[float]
    """Behaviour logprobs aligned with token_ids (0.0 where loss_mask is 0)."""
    prompt_len: int = 0
    """Length of the fork's first prompt."""
    reward: float
    policy_version: PolicyVersion = UNKNOWN_POLICY
    """The oldest weights any of the fork's turns was sampled under (`events.payloads.oldest` over
    `spans`: unknown if any turn's was, or their lineages differ)."""
    spans: list[SampledSpan] = []
    """One per model call of the fork, in order: where its sampled tokens are, its policy version."""
    fork_reason: str | None = None
    """Why this fork started (proxy.request's fork_reason); None for the episode's first."""
    trainable: bool = True
    """False for scripted or replayed traffic: kept for analysis, never trained on."""
    untrainable_reason: str | None = None
    """scripted or replayed, when `trainable` is False."""


class RolloutGroup(Payload):
    group_id: str
    run_id: str
    prompt_id: str
    """The instance id the group's samples answer."""
    samples: list[RolloutSample]
    excluded: int = 0
    """Episodes of this prompt left out (incomplete or missing proxy events)."""
    excluded_reasons: dict[str, int] = {}
    trainable: bool = True
    """False for a group of scripted or replayed episodes (the trainer skips and counts them)."""
    untrainable_reason: str | None = None
    """scripted or replayed, when `trainable` is False."""
