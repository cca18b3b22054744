"""Trainer: tokens/s of one training step, ledger vs verl's functions called directly.

Both sides start from the same tiny model and the same rollout groups. The
ledger side is the whole trainer step from `rollout.group` payloads (collate,
forward, verl advantage + PPO loss, backward, clip, AdamW); the verl side is
the same step written by hand with verl's functions on pre-built tensors.
Reps alternate between the two so machine load hits both alike; the median
step time of each is reported.
"""
from __future__ import annotations

import argparse
import copy
import statistics
import time

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--groups", type=int, default=8, help="rollout groups per step")
    p.add_argument("--samples", type=int, default=8, help="samples per group")
    p.add_argument("--prompt-len", type=int, default=32)
    p.add_argument("--completion-len", type=int, default=96)
    p.add_argument("--reps", type=int, default=20, help="timed steps per side")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--device", default="cpu")


def _groups(args: argparse.Namespace):
    import random

    from events.payloads import RolloutGroup, RolloutSample

    rng = random.Random(0)
    out = []
    for g in range(args.groups):
        samples = []
        for i in range(args.samples):
            n = args.prompt_len + args.completion_len - rng.randrange(args.completion_len // 2)
            ids = [rng.randrange(256) for _ in range(n)]
            mask = [0] * args.prompt_len + [1] * (n - args.prompt_len)
            samples.append(RolloutSample(
                sample_id=f"{g}/{i}", episode_id=f"{g}/{i}", rollout_id=f"{g}/{i}", token_ids=ids, loss_mask=mask,
                logprobs=[-rng.uniform(5, 6) if m else 0.0 for m in mask], reward=float(rng.random() < 0.5)))
        out.append(RolloutGroup(group_id=f"g{g}", run_id="bench", prompt_id=f"p{g}", samples=samples))
    return out


class _VerlStep:
    """The same step, written directly against verl's functions."""

    def __init__(self, model, cfg):
        import torch
        from omegaconf import OmegaConf

        self.model = model
        self.cfg = cfg
        self.opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.loss_cfg = OmegaConf.create({"clip_ratio": cfg.clip, "clip_ratio_low": cfg.clip,
                                          "clip_ratio_high": cfg.clip, "clip_ratio_c": 3.0, "global_batch_info": {}})

    def __call__(self, b) -> None:
        import torch
        from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage, compute_policy_loss_vanilla
        from verl.utils.torch_functional import logprobs_from_logits

        self.model.train()
        logits = self.model(input_ids=b.input_ids, attention_mask=b.attention_mask, use_cache=False).logits[:, :-1]
        log_prob = logprobs_from_logits(logits, b.input_ids[:, 1:])
        adv, _ = compute_grpo_outcome_advantage(b.token_level_rewards, b.response_mask, b.index)
        loss, _ = compute_policy_loss_vanilla(b.rollout_log_prob, log_prob, adv, b.response_mask, "token-mean",
                                              self.loss_cfg)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.max_grad_norm)
        self.opt.step()


def run(args: argparse.Namespace) -> dict:
    import torch

    from trainer.batch import collate
    from trainer.config import TrainerConfig
    from trainer.model import load_policy
    from trainer.step import Learner

    cfg = TrainerConfig(log="sqlite:///unused.db", device=args.device)
    policy = load_policy("tiny", device=args.device, seed=0)
    learner = Learner(policy.model, cfg)
    verl_step = _VerlStep(copy.deepcopy(policy.model), cfg)
    groups = _groups(args)
    batch = collate(groups, policy.pad_id).to(args.device)
    tokens = batch.tokens
    ledger_s, verl_s = [], []
    sides = [("ledger", lambda: learner.step(collate(groups, policy.pad_id)), ledger_s),
             ("verl", lambda: verl_step(batch), verl_s)]
    for rep in range(args.warmup + args.reps):
        for _, fn, times in (sides if rep % 2 == 0 else sides[::-1]):  # alternate who goes first
            t0 = time.perf_counter()
            fn()
            if args.device == "cuda":
                torch.cuda.synchronize()
            if rep >= args.warmup:
                times.append(time.perf_counter() - t0)
    ledger = tokens / statistics.median(ledger_s)
    verl = tokens / statistics.median(verl_s)
    return {"ledger_tokens_per_s": round(ledger, 1), "verl_tokens_per_s": round(verl, 1),
            "ratio": round(ledger / verl, 3), "tokens_per_step": tokens, "reps": args.reps,
            "samples_per_step": args.groups * args.samples, "device": args.device,
            "torch_threads": torch.get_num_threads()}
