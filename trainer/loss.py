"""One micro-batch's loss, as verl's `ppo_loss` computes it (verl.workers.utils.losses).

The policy loss comes from verl's registry with verl's `ActorConfig`; the entropy
bonus and the KL-to-reference term are aggregated with `agg_loss` over the same
mask. Normalisation is over the whole mini-batch (`global_batch_info`: its
response tokens and sequences), so summing the micro-batches' gradients gives
the mini-batch's gradient whatever the micro-batch size.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["MicroBatch", "micro_batch_loss", "PER_MICRO_MEAN"]

PER_MICRO_MEAN = {"geo_mean"}
"""verl losses that average over their own micro-batch (ignoring global_batch_info): scaled by the
micro-batch's share of the mini-batch's sequences so accumulation still gives the mini-batch mean."""


@dataclass
class MicroBatch:
    """Per-sample tensors of one forward/backward, trimmed to its longest sample.

    input_ids, attention_mask: (b, l); the rest (b, l-1) over response positions.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    response_mask: torch.Tensor
    old_log_prob: torch.Tensor
    """pi_old: the recomputed logprobs (decoupled) or the sampler's (bypass)."""
    advantages: torch.Tensor
    rollout_is_weights: torch.Tensor | None = None
    ref_log_prob: torch.Tensor | None = None


def micro_batch_loss(logprobs: Any, actor: Any, mb: MicroBatch, global_info: dict[str, Any],
                     sequences_share: float = 1.0) -> tuple[torch.Tensor, dict[str, float]]:
    """Forward `mb` through `logprobs` and return its loss (to backward) and metrics.

    logprobs: the trainer's token-logprob module (trainer.logprobs.TokenLogprobs, possibly wrapped by
    DDP/FSDP: it applies the sampling temperature); actor: verl ActorConfig; global_info: dp_size,
    batch_num_tokens, global_batch_size of the mini-batch;
    sequences_share: this micro-batch's sequences / the mini-batch's (for PER_MICRO_MEAN losses).
    """
    from verl.trainer.ppo.core_algos import agg_loss, get_policy_loss_fn, kl_penalty

    actor.global_batch_info.update(global_info, loss_scale_factor=actor.loss_scale_factor)
    log_prob, entropy = logprobs(mb.input_ids, mb.attention_mask, with_entropy=True)
    mode, mask = actor.loss_agg_mode, mb.response_mask
    pg_loss, pg = get_policy_loss_fn(actor.policy_loss.loss_mode)(
        old_log_prob=mb.old_log_prob, log_prob=log_prob, advantages=mb.advantages, response_mask=mask,
        loss_agg_mode=mode, config=actor, rollout_is_weights=mb.rollout_is_weights)
    if actor.policy_loss.loss_mode in PER_MICRO_MEAN:
        pg_loss = pg_loss * sequences_share
    ent = agg_loss(loss_mat=entropy.detach(), loss_mask=mask, loss_agg_mode=mode, **actor.global_batch_info)
    loss = pg_loss
    if actor.entropy_coeff:
        loss = loss - actor.entropy_coeff * agg_loss(loss_mat=entropy, loss_mask=mask, loss_agg_mode=mode,
                                                     **actor.global_batch_info)
    metrics = {"pg_loss": float(pg_loss.detach()), "entropy": float(ent),
               "clip_frac": float(pg.get("actor/pg_clipfrac", 0.0)),
               "clip_frac_lower": float(pg.get("actor/pg_clipfrac_lower", 0.0)),
               "ppo_kl": float(pg.get("actor/ppo_kl", 0.0))}
    if actor.use_kl_loss and mb.ref_log_prob is not None:
        kld = kl_penalty(logprob=log_prob, ref_logprob=mb.ref_log_prob, kl_penalty=actor.kl_loss_type)
        kl = agg_loss(loss_mat=kld, loss_mask=mask, loss_agg_mode=mode, **actor.global_batch_info)
        loss = loss + actor.kl_loss_coef * kl
        metrics["kl_loss"] = float(kl.detach())
    return loss, metrics
