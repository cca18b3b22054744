"""From `rollout.group` payloads to padded training tensors.

Validation happens here, before anything reaches the model: a group that is
malformed is rejected whole with a reason (it goes to `deadletter`). Which
well-formed samples are trained on (lineage, staleness, zero advantage) is
trainer.selection's decision. Token ids are the recorded ones; nothing is
re-tokenized.

Tensor layout (B samples, L = longest sequence): the model predicts token t
from tokens < t, so per-token tensors are over positions 1..L-1 ("response"
axis, length L-1) as in verl: `response_mask[:, t-1]` is `loss_mask[t]`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from events.payloads import RolloutGroup, RolloutSample

__all__ = ["Batch", "check_group", "collate"]


def check_group(group: RolloutGroup, vocab_size: int) -> str | None:
    """Why this group cannot be trained on, or None when it is well formed."""
    if not group.samples and not group.excluded:
        return f"rollout group {group.group_id}: empty group (no samples and no excluded episodes)"
    for i, s in enumerate(group.samples):
        reason = _check_sample(s, vocab_size)
        if reason:
            return f"rollout group {group.group_id} sample {i} ({s.sample_id}): {reason}"
    return None


def _check_sample(s: RolloutSample, vocab_size: int) -> str | None:
    n = len(s.token_ids)
    if n < 2:
        return f"needs at least 2 tokens, got {n}"
    if len(s.loss_mask) != n:
        return f"loss_mask has {len(s.loss_mask)} entries for {n} token_ids"
    if len(s.logprobs) != n:
        return f"logprobs has {len(s.logprobs)} entries for {n} token_ids"
    if not math.isfinite(s.reward):
        return f"reward is {s.reward}"
    if any(m not in (0, 1) for m in s.loss_mask):
        return "loss_mask values must be 0 or 1"
    if s.loss_mask[0]:
        return "loss_mask[0] is 1, but the first token has no context to be sampled from"
    if not any(s.loss_mask):
        return "no token has loss_mask 1"
    if min(s.token_ids) < 0 or max(s.token_ids) >= vocab_size:
        return f"token id out of range [0, {vocab_size})"
    bad = next((t for t, (m, lp) in enumerate(zip(s.loss_mask, s.logprobs))
                if m and not (math.isfinite(lp) and lp <= 1e-4)), None)
    if bad is not None:
        return f"logprob at token {bad} is {s.logprobs[bad]} (must be finite and <= 0)"
    return None


@dataclass
class Batch:
    input_ids: torch.Tensor
    """(B, L) long, right-padded with `pad_id`."""
    attention_mask: torch.Tensor
    """(B, L) long."""
    response_mask: torch.Tensor
    """(B, L-1) float: loss_mask shifted by one (tokens the policy sampled)."""
    rollout_log_prob: torch.Tensor
    """(B, L-1) float: behaviour logprobs the sampler recorded (0 off the response mask)."""
    token_level_rewards: torch.Tensor
    """(B, L-1) float: the sample's reward on its last sampled token."""
    index: np.ndarray
    """(B,) group id of each sample (GRPO/RLOO baselines are per group)."""
    rewards: torch.Tensor
    """(B,) float."""

    @property
    def tokens(self) -> int:
        return int(self.attention_mask.sum())

    def to(self, device: str) -> "Batch":
        return Batch(*(t.to(device) if isinstance(t, torch.Tensor) else t for t in
                       (self.input_ids, self.attention_mask, self.response_mask, self.rollout_log_prob,
                        self.token_level_rewards, self.index, self.rewards)))


def collate(groups: list[RolloutGroup], pad_id: int) -> Batch:
    samples = [(g.group_id, s) for g in groups for s in g.samples]
    b, length = len(samples), max(len(s.token_ids) for _, s in samples)
    pads = [length - len(s.token_ids) for _, s in samples]
    ids = torch.tensor([s.token_ids + [pad_id] * k for (_, s), k in zip(samples, pads)], dtype=torch.long)
    attn = torch.tensor([[1] * len(s.token_ids) + [0] * k for (_, s), k in zip(samples, pads)], dtype=torch.long)
    mask = torch.tensor([s.loss_mask + [0] * k for (_, s), k in zip(samples, pads)], dtype=torch.float32)
    old = torch.tensor([s.logprobs + [0.0] * k for (_, s), k in zip(samples, pads)], dtype=torch.float32)
    rewards = torch.tensor([s.reward for _, s in samples], dtype=torch.float32)
    response_mask = mask[:, 1:]
    last = _last_index(response_mask)
    tlr = torch.zeros_like(response_mask)
    tlr[torch.arange(b), last] = rewards
    return Batch(ids, attn, response_mask, old[:, 1:] * response_mask, tlr,
                 np.array([gid for gid, _ in samples], dtype=object), rewards)


def _last_index(mask: torch.Tensor) -> torch.Tensor:
    positions = torch.arange(mask.shape[1]).expand_as(mask)
    return torch.where(mask > 0, positions, torch.full_like(positions, -1)).max(dim=1).values
