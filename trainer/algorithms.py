"""The RL math that is not the per-micro-batch loss, delegated to verl: advantages, KL-in-reward,
rollout correction; and `token_logprobs`, the full-logits path for callers outside the trainer.

Shapes follow verl: B samples, T = L-1 response positions (see trainer.batch).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["token_logprobs", "advantages", "kl_in_reward", "rollout_correction"]


def token_logprobs(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                   temperature: float = 1.0) -> torch.Tensor:
    """(B, L-1) logprob of token t given tokens < t, under softmax(logits / temperature): the full-logits
    path of trainer.logprobs.TokenLogprobs (verl's `logprobs_from_logits`)."""
    from .logprobs import TokenLogprobs

    return TokenLogprobs(model, chunk=None, temperature=temperature)(input_ids, attention_mask)[0]


def advantages(token_level_rewards: torch.Tensor, response_mask: torch.Tensor, index: np.ndarray,
               algo: Any) -> torch.Tensor:
    """(B, T) advantages from verl's estimator registry, called as verl's `compute_advantage` does.

    token_level_rewards, response_mask: (B, T); index: (B,) group id per sample; algo: verl AlgoConfig.
    """
    from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage, get_adv_estimator_fn

    if algo.adv_estimator == "grpo":
        adv, _ = compute_grpo_outcome_advantage(token_level_rewards=token_level_rewards, response_mask=response_mask,
                                                index=index, norm_adv_by_std_in_grpo=algo.norm_adv_by_std_in_grpo)
        return adv
    adv, _ = get_adv_estimator_fn(algo.adv_estimator)(token_level_rewards=token_level_rewards,
                                                        response_mask=response_mask, index=index, config=algo)
    return adv


def kl_in_reward(token_level_scores: torch.Tensor, old_log_prob: torch.Tensor, ref_log_prob: torch.Tensor,
                 response_mask: torch.Tensor, coef: float, kl_type: str) -> tuple[torch.Tensor, float]:
    """verl's KL-in-reward with a fixed coefficient: scores - coef * kl_penalty(old, ref) on response
    tokens; returns the (B, T) rewards and the mean per-sequence KL."""
    from verl.trainer.ppo.core_algos import kl_penalty
    from verl.utils.torch_functional import masked_mean

    kld = kl_penalty(old_log_prob, ref_log_prob, kl_penalty=kl_type) * response_mask
    mean_kl = float(masked_mean(kld, mask=response_mask, axis=-1).mean())
    return token_level_scores - coef * kld, mean_kl


def rollout_correction(old_log_prob: torch.Tensor, rollout_log_prob: torch.Tensor, response_mask: torch.Tensor,
                       corr: Any) -> tuple[torch.Tensor | None, torch.Tensor, dict[str, float]]:
    """verl's truncated/masked importance sampling between the recomputed (pi_old) and the sampler's
    logprobs: (B, T) IS weights or None, the (B, T) response mask after rejection, and the metrics."""
    from verl.trainer.ppo.rollout_corr_helper import compute_rollout_correction_and_rejection_mask

    weights, mask, metrics = compute_rollout_correction_and_rejection_mask(
        old_log_prob=old_log_prob, rollout_log_prob=rollout_log_prob, response_mask=response_mask,
        rollout_is=corr.rollout_is, rollout_is_threshold=corr.rollout_is_threshold,
        rollout_is_batch_normalize=corr.rollout_is_batch_normalize, rollout_rs=corr.rollout_rs,
        rollout_rs_threshold=corr.rollout_rs_threshold)
    w = weights.batch["rollout_is_weights"] if weights is not None else None
    return w, mask.to(response_mask.dtype), {k: float(v) for k, v in metrics.items()}
