"""The RL math, delegated to verl's `core_algos`: advantages, PPO-clip loss, KL.

Shapes follow verl: B samples, T = L-1 response positions (see trainer.batch).
"""
from __future__ import annotations

from typing import Any

import torch

from .batch import Batch
from .config import ADVANTAGES, TrainerConfig

__all__ = ["token_logprobs", "forward", "advantages", "Objective"]


def token_logprobs(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                   temperature: float = 1.0) -> torch.Tensor:
    """(B, L-1) logprob of token t given tokens < t, under softmax(logits / temperature)."""
    return forward(model, input_ids, attention_mask, temperature)[0]


def forward(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, temperature: float = 1.0,
            with_entropy: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(B, L-1) token logprobs and, if asked, (B, L-1) entropy of each next-token distribution."""
    from verl.utils.torch_functional import entropy_from_logits, logprobs_from_logits

    logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits[:, :-1]
    if temperature != 1.0:
        logits = logits / temperature
    logits = logits.float()
    entropy = entropy_from_logits(logits) if with_entropy else None
    return logprobs_from_logits(logits, input_ids[:, 1:]), entropy


def advantages(batch: Batch, name: str) -> torch.Tensor:
    """(B, T) advantages from verl's estimator registry (grpo, rloo, reinforce++)."""
    from verl.trainer.config import AlgoConfig
    from verl.trainer.ppo.core_algos import get_adv_estimator_fn

    try:
        verl_name = ADVANTAGES[name]
    except KeyError:
        raise ValueError(f"unknown advantage estimator {name!r}; choose from {sorted(ADVANTAGES)}") from None
    fn = get_adv_estimator_fn(verl_name)
    adv, _ = fn(token_level_rewards=batch.token_level_rewards, response_mask=batch.response_mask,
                index=batch.index, config=AlgoConfig(gamma=1.0, lam=1.0, adv_estimator=verl_name))
    return adv


class Objective:
    """PPO-clip policy loss against the behaviour logprobs (+ optional KL to a reference)."""

    def __init__(self, cfg: TrainerConfig):
        from omegaconf import OmegaConf
        from verl.trainer.ppo.core_algos import get_policy_loss_fn

        self.cfg = cfg
        self.loss_fn = get_policy_loss_fn(cfg.policy_loss)
        self.loss_config = OmegaConf.create({
            "clip_ratio": cfg.clip, "clip_ratio_low": cfg.clip, "clip_ratio_high": cfg.clip,
            "clip_ratio_c": 3.0, "loss_agg_mode": cfg.loss_agg_mode, "global_batch_info": {}})

    def __call__(self, log_prob: torch.Tensor, batch: Batch, adv: torch.Tensor,
                 ref_log_prob: torch.Tensor | None,
                 entropy: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        from verl.trainer.ppo.core_algos import agg_loss, kl_penalty

        mode = self.cfg.loss_agg_mode
        loss, pg = self.loss_fn(batch.old_log_prob, log_prob, adv, batch.response_mask, mode, self.loss_config)
        metrics = {"pg_loss": float(loss.detach()), "clip_frac": pg["actor/pg_clipfrac"], "kl": pg["actor/ppo_kl"]}
        if entropy is not None:
            ent = agg_loss(loss_mat=entropy, loss_mask=batch.response_mask, loss_agg_mode=mode)
            loss = loss - self.cfg.entropy_coeff * ent
        if ref_log_prob is not None:
            kl_mat = kl_penalty(log_prob, ref_log_prob, self.cfg.kl_type)
            kl = agg_loss(loss_mat=kl_mat, loss_mask=batch.response_mask, loss_agg_mode=mode)
            metrics["kl"] = float(kl.detach())
            loss = loss + self.cfg.kl_coef * kl
        return loss, metrics
