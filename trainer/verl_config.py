"""verl's own config dataclasses built from a TrainerConfig.

verl's policy losses read their knobs from an `ActorConfig` (clip ratios,
`policy_loss.*`, `global_batch_info`, ...); some (gspo, cispo, clip_cov, kl_cov,
bypass_mode) fail on a hand-made dict. Building the real dataclasses makes every
registered loss run, with verl's own validation and defaults.
"""
from __future__ import annotations

from typing import Any

from .config import ADVANTAGES, TrainerConfig

__all__ = ["actor_config", "algo_config", "rollout_correction_config", "policy_loss_names"]


def policy_loss_names() -> list[str]:
    """Every name in verl's policy-loss registry."""
    from verl.trainer.ppo.core_algos import POLICY_LOSS_REGISTRY

    return sorted(POLICY_LOSS_REGISTRY)


def rollout_correction_config(cfg: TrainerConfig) -> Any:
    from verl.trainer.config import RolloutCorrectionConfig

    return RolloutCorrectionConfig(
        rollout_is=None if cfg.rollout_is == "none" else cfg.rollout_is,
        rollout_is_threshold=cfg.rollout_is_threshold, rollout_is_batch_normalize=cfg.rollout_is_batch_normalize,
        rollout_rs=cfg.rollout_rs, rollout_rs_threshold=cfg.rollout_rs_threshold,
        bypass_mode=cfg.policy_loss == "bypass_mode")


def actor_config(cfg: TrainerConfig, rollout_n: int = 1) -> Any:
    """verl `ActorConfig` for the loss functions (strategy/batch sizes are recorded, not used by them)."""
    from verl.workers.config import ActorConfig, PolicyLossConfig

    if cfg.policy_loss not in policy_loss_names():
        raise ValueError(f"unknown policy loss {cfg.policy_loss!r}; verl's registry has {policy_loss_names()}")
    loss = PolicyLossConfig(
        loss_mode=cfg.policy_loss, clip_cov_ratio=cfg.clip_cov_ratio, clip_cov_lb=cfg.clip_cov_lb,
        clip_cov_ub=cfg.clip_cov_ub, kl_cov_ratio=cfg.kl_cov_ratio, ppo_kl_coef=cfg.ppo_kl_coef,
        dro_beta=cfg.dro_beta, rollout_correction=rollout_correction_config(cfg))
    return ActorConfig(
        strategy="fsdp", rollout_n=rollout_n, ppo_epochs=cfg.ppo_epochs, shuffle=cfg.shuffle,
        ppo_mini_batch_size=cfg.mini_batch_samples or cfg.batch_groups * max(rollout_n, 1),
        ppo_micro_batch_size_per_gpu=cfg.micro_batch_samples or cfg.mini_batch_samples or 1,
        clip_ratio=cfg.clip, clip_ratio_low=cfg.clip,
        clip_ratio_high=cfg.clip if cfg.clip_high is None else cfg.clip_high, clip_ratio_c=cfg.clip_c,
        policy_loss=loss, loss_agg_mode=cfg.loss_agg_mode, loss_scale_factor=cfg.loss_scale_factor,
        entropy_coeff=cfg.entropy_coeff, calculate_entropy=True, tau_pos=cfg.tau_pos, tau_neg=cfg.tau_neg,
        use_kl_loss=cfg.kl_coef > 0 and cfg.kl_mode == "loss", kl_loss_coef=cfg.kl_coef,
        kl_loss_type=cfg.kl_type, use_torch_compile=False, data_loader_seed=cfg.seed)


def algo_config(cfg: TrainerConfig) -> Any:
    """verl `AlgoConfig` for the advantage estimator."""
    from verl.trainer.config import AlgoConfig

    return AlgoConfig(gamma=1.0, lam=1.0, adv_estimator=ADVANTAGES[cfg.adv],
                      norm_adv_by_std_in_grpo=cfg.adv_std_norm,
                      use_kl_in_reward=cfg.kl_coef > 0 and cfg.kl_mode == "reward", kl_penalty=cfg.kl_type)
