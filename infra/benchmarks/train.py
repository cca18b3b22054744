"""Trainer: tokens/s of one PPO step (epochs x mini-batches x micro-batches), ledger vs verl.

Both sides start from the same tiny model and the same rollout groups and run
the same schedule: `--epochs` passes, `--mini` samples per optimizer update,
`--micro` samples per forward/backward with gradients accumulated. The ledger
side is the trainer's whole step from `rollout.group` payloads (collate, verl
advantage, verl ActorConfig + policy-loss registry per micro-batch, entropy
bonus, clip, AdamW: trainer.step.Learner); the verl side is the same step
written by hand with verl's functions (`compute_grpo_outcome_advantage`,
`compute_policy_loss_vanilla` with `global_batch_info`, `agg_loss`) on
pre-built tensors. Reps alternate between the two so machine load hits both
alike; the median step time of each is reported.
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
    p.add_argument("--epochs", type=int, default=2, help="PPO epochs per step")
    p.add_argument("--mini", type=int, default=32, help="samples per optimizer update")
    p.add_argument("--micro", type=int, default=8, help="samples per forward/backward")
    p.add_argument("--reps", type=int, default=10, help="timed steps per side")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--device", default="cpu")


def _groups(args: argparse.Namespace):
    import random

    from events.payloads import PolicyVersion, RolloutGroup, RolloutSample

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
                logprobs=[-rng.uniform(5, 6) if m else 0.0 for m in mask], reward=float(i % 2),
                policy_version=PolicyVersion.of("trainer", 0)))
        out.append(RolloutGroup(group_id=f"g{g}", run_id="bench", prompt_id=f"p{g}", samples=samples))
    return out


class _VerlStep:
    """The same schedule, written directly against verl's functions."""

    def __init__(self, model, cfg, actor):
        import torch

        self.model, self.cfg, self.actor = model, cfg, actor
        self.opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    def __call__(self, b) -> None:
        import torch
        from verl.trainer.ppo.core_algos import agg_loss, compute_grpo_outcome_advantage, compute_policy_loss_vanilla
        from verl.utils.torch_functional import entropy_from_logits, logprobs_from_logits

        adv, _ = compute_grpo_outcome_advantage(b.token_level_rewards, b.response_mask, b.index)
        n, cfg = len(b.rewards), self.cfg
        self.model.train()
        for _ in range(cfg.ppo_epochs):
            for lo in range(0, n, cfg.mini_batch_samples):
                rows = torch.arange(lo, min(lo + cfg.mini_batch_samples, n))
                mask = b.response_mask[rows]
                self.actor.global_batch_info.update(dp_size=1, batch_num_tokens=mask.sum(),
                                                    global_batch_size=(mask.sum(-1) > 0).sum())
                self.opt.zero_grad(set_to_none=True)
                for i in range(0, len(rows), cfg.micro_batch_samples):
                    r = rows[i:i + cfg.micro_batch_samples]
                    width = int(b.attention_mask[r].sum(-1).max())
                    ids, attn, t = b.input_ids[r, :width], b.attention_mask[r, :width], width - 1
                    logits = self.model(input_ids=ids, attention_mask=attn, use_cache=False).logits[:, :-1].float()
                    log_prob = logprobs_from_logits(logits, ids[:, 1:])
                    m = b.response_mask[r, :t]
                    loss, _ = compute_policy_loss_vanilla(b.rollout_log_prob[r, :t], log_prob, adv[r, :t], m,
                                                          "token-mean", self.actor)
                    ent = agg_loss(entropy_from_logits(logits), m, "token-mean", **self.actor.global_batch_info)
                    (loss - cfg.entropy_coeff * ent).backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.max_grad_norm)
                self.opt.step()
        self.model.eval()


def run(args: argparse.Namespace) -> dict:
    import torch

    from trainer.batch import collate
    from trainer.config import TrainerConfig
    from trainer.model import load_policy
    from trainer.step import Learner
    from trainer.verl_config import actor_config

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = TrainerConfig(log="sqlite:///unused.db", device=args.device, ppo_epochs=args.epochs,
                        mini_batch_samples=args.mini, micro_batch_samples=args.micro, entropy_coeff=0.01,
                        shuffle=False)
    policy = load_policy("tiny", device=args.device, seed=0)
    learner = Learner(policy.model, cfg)
    verl_step = _VerlStep(copy.deepcopy(policy.model), cfg, actor_config(cfg))
    groups = _groups(args)
    batch = collate(groups, policy.pad_id).to(args.device)
    tokens = batch.tokens
    ledger_s, verl_s = [], []
    sides = [(lambda: learner.step(collate(groups, policy.pad_id)), ledger_s), (lambda: verl_step(batch), verl_s)]
    for rep in range(args.warmup + args.reps):
        for fn, times in (sides if rep % 2 == 0 else sides[::-1]):  # alternate who goes first
            t0 = time.perf_counter()
            fn()
            if args.device == "cuda":
                torch.cuda.synchronize()
            if rep >= args.warmup:
                times.append(time.perf_counter() - t0)
    ledger = tokens / statistics.median(ledger_s)
    verl = tokens / statistics.median(verl_s)
    n = args.groups * args.samples
    updates = args.epochs * -(-n // args.mini)
    return {"ledger_tokens_per_s": round(ledger, 1), "verl_tokens_per_s": round(verl, 1),
            "ratio": round(ledger / verl, 3), "tokens_per_step": tokens, "reps": args.reps,
            "samples_per_step": n, "ppo_epochs": args.epochs, "optimizer_updates_per_step": updates,
            "micro_batches_per_step": args.epochs * -(-n // args.micro), "device": args.device,
            "torch_threads": torch.get_num_threads()}
