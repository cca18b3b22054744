"""One PPO step on one batch: prepare (pi_old, reference, rollout correction, advantages), then
`ppo_epochs` passes of mini-batches, each accumulating micro-batch gradients before one update.

    prepare(batch)                      no grad, over micro-batches
    for epoch, for mini-batch:
        for micro-batch: micro_batch_loss(...).backward()      trainer/loss.py
        apply_optimizer()                                      clip, skip non-finite, AdamW

The structure keeps the pieces a distributed trainer swaps separately: the
micro-batch loss, the optimizer application and the model forward.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch

from .algorithms import advantages, kl_in_reward, rollout_correction
from .batch import Batch
from .config import TrainerConfig
from .logprobs import TokenLogprobs
from .loss import MicroBatch, micro_batch_loss
from .parallel import World, loss_info, parallelize, shard
from .verl_config import actor_config, algo_config, rollout_correction_config

__all__ = ["StepResult", "Learner", "Prepared"]

_SUMMED = ("pg_loss", "entropy", "kl_loss")
"""Micro-batch metrics normalised over the mini-batch: their sum is the mini-batch's value."""


@dataclass
class StepResult:
    loss: float
    clip_frac: float
    kl: float
    grad_norm: float
    reward_mean: float
    reward_std: float
    samples: int
    tokens: int
    seconds: float
    clip_frac_lower: float = 0.0
    pg_loss: float = 0.0
    entropy: float = 0.0
    optimizer_steps: int = 0
    micro_batches: int = 0
    rollout_corr: dict[str, float] = field(default_factory=dict)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Prepared:
    """The batch with what every update of the step reads (all (B, T) but `batch`)."""

    batch: Batch
    response_mask: torch.Tensor
    old_log_prob: torch.Tensor
    advantages: torch.Tensor
    rollout_is_weights: torch.Tensor | None
    ref_log_prob: torch.Tensor | None
    metrics: dict[str, float]


class Learner:
    """Owns the policy being trained, its optimizer and the frozen reference (if any).

    The model is called through `self.module`: trainer.logprobs.TokenLogprobs (chunked logprobs,
    the compute dtype, packing) wrapped for `world` (DDP or FSDP2 under torchrun, trainer.parallel).
    Every rank runs the same step on the same batch; each takes its rows of every mini-batch
    (`shard`) in the same number of micro-batches (an empty one runs a zero-weighted forward so the
    ranks' collectives stay in step), with the loss normalised over the whole mini-batch."""

    def __init__(self, model: Any, cfg: TrainerConfig, ref_model: Any | None = None, world: World | None = None):
        self.model = model
        self.cfg = cfg
        self.world = world or World("none")
        self.ref_model = ref_model
        self.actor = actor_config(cfg)
        self.algo = algo_config(cfg)
        self.corr = rollout_correction_config(cfg)
        dtype = torch.bfloat16 if cfg.dtype == "bf16" else torch.float32
        if cfg.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        autocast = dtype if dtype != torch.float32 and self.world.mode != "fsdp" else None
        self.module = parallelize(TokenLogprobs(model, chunk=cfg.chunk, temperature=cfg.temperature, pack=cfg.pack,
                                                autocast=autocast), self.world, dtype)
        self.ref_module = None if ref_model is None else TokenLogprobs(
            ref_model, chunk=cfg.chunk, temperature=cfg.temperature, pack=cfg.pack, autocast=autocast)
        self.params = [p for p in self.module.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=cfg.lr, weight_decay=cfg.weight_decay)

    # -- the step ------------------------------------------------------------------------
    def step(self, batch: Batch, correct: bool = False) -> StepResult:
        """`correct`: apply rollout correction (decoupled PPO) rather than trusting the sampler's
        logprobs as pi_old (bypass)."""
        start = time.perf_counter()
        p = self.prepare(batch.to(self.world.device if self.world.distributed else self.cfg.device), correct)
        self.module.train()
        sums: dict[str, list[float]] = {}
        grad_norms, losses, updates, micros = [], [], 0, 0
        for epoch in range(self.cfg.ppo_epochs):
            for rows in self.mini_batches(len(batch.rewards), epoch):
                loss, n = self.accumulate(p, rows, sums)
                losses.append(loss)
                micros += n
                grad_norms.append(self.apply_optimizer())
                updates += 1
        self.module.eval()
        return self._result(p, sums, grad_norms, losses, updates, micros, time.perf_counter() - start)

    def mini_batches(self, n: int, epoch: int) -> list[torch.Tensor]:
        """Row indices of each mini-batch of one epoch (shuffled with the torch RNG when asked; rank
        0's order on every rank)."""
        size = min(self.cfg.mini_batch_samples or n, n)
        order = torch.randperm(n) if self.cfg.shuffle and size < n else torch.arange(n)
        order = self.world.broadcast(order)
        return [order[i:i + size] for i in range(0, n, size)]

    def _micro_rows(self, rows: torch.Tensor) -> list[torch.Tensor]:
        """This rank's micro-batches of `rows`: as many on every rank (some maybe empty)."""
        mine = shard(rows, self.world)
        per_rank = -(-len(rows) // self.world.size)
        size = min(self.cfg.micro_batch_samples or per_rank, per_rank)
        return [mine[i * size:(i + 1) * size] for i in range(-(-per_rank // size))]

    def accumulate(self, p: Prepared, rows: torch.Tensor, sums: dict[str, list[float]]) -> tuple[float, int]:
        """Zero the gradients, backward every micro-batch of this rank's share of the mini-batch
        `rows`; (the mini-batch's loss, micro-batches)."""
        self.optimizer.zero_grad(set_to_none=True)
        info = loss_info(p.response_mask[rows], self.world)
        share = self.world.size / len(rows)
        total, count, mb_metrics = 0.0, 0, []
        for sub in self._micro_rows(rows):
            empty = len(sub) == 0
            mb = self.micro_batch(p, rows[:1] if empty else sub)
            loss, m = micro_batch_loss(self.module, self.actor, mb, info, sequences_share=len(sub) * share)
            if empty:
                loss = loss * 0.0
            loss.backward()
            count += 1
            if not empty:
                total += float(loss.detach())
                mb_metrics.append(m)
        keys = sorted({k for m in mb_metrics for k in m} | set(_SUMMED) | {"clip_frac", "clip_frac_lower", "ppo_kl"})
        keys = [k for k in keys if k != "kl_loss" or (self.actor.use_kl_loss and p.ref_log_prob is not None)]
        local = [total]
        for key in keys:
            vals = [m.get(key, 0.0) for m in mb_metrics]
            local += [sum(vals), float(len(vals))]
        reduced = self.world.sum_(torch.tensor(local, dtype=torch.float64)).tolist()
        for i, key in enumerate(keys):
            value, n = reduced[1 + 2 * i], reduced[2 + 2 * i]
            # summed metrics are normalised over the whole mini-batch (x dp_size): their mean over ranks
            sums.setdefault(key, []).append(value / self.world.size if key in _SUMMED else value / max(n, 1.0))
        return reduced[0] / self.world.size, count

    def apply_optimizer(self) -> float:
        """Clip the accumulated gradients and update; an update with a non-finite norm is skipped
        (as verl does). Returns the gradient norm before clipping."""
        norm = torch.nn.utils.clip_grad_norm_(self.params, self.cfg.max_grad_norm)
        if hasattr(norm, "full_tensor"):  # a DTensor under FSDP2
            norm = norm.full_tensor()
        if torch.isfinite(norm):
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(norm)

    # -- before the updates ------------------------------------------------------------------
    @torch.no_grad()
    def prepare(self, batch: Batch, correct: bool) -> Prepared:
        metrics: dict[str, float] = {}
        mask = batch.response_mask
        old = self._logprobs(self.module, batch) if correct else batch.rollout_log_prob
        ref = self._logprobs(self.ref_module, batch) if self.ref_module is not None else None
        rewards = batch.token_level_rewards
        if ref is not None and self.algo.use_kl_in_reward:
            rewards, metrics["reward_kl"] = kl_in_reward(rewards, old, ref, mask, self.cfg.kl_coef, self.cfg.kl_type)
        weights = None
        if correct:
            weights, mask, corr = rollout_correction(old, batch.rollout_log_prob, mask, self.corr)
            metrics.update(corr)
        adv = advantages(rewards, mask, batch.index, self.algo)
        return Prepared(batch, mask, old, adv, weights, ref, metrics)

    def _logprobs(self, module: Any, batch: Batch) -> torch.Tensor:
        """(B, T) logprobs under `module`, computed micro-batch by micro-batch, each rank its rows."""
        module.eval()
        out = torch.zeros_like(batch.rollout_log_prob)
        everything = torch.arange(len(batch.rewards))
        for rows in self._micro_rows(everything):
            ids, attn, width = _trim(batch.input_ids[rows if len(rows) else everything[:1]],
                                     batch.attention_mask[rows if len(rows) else everything[:1]])
            lp = module(ids, attn)[0]  # an empty share still runs: FSDP gathers weights on every rank
            if len(rows):
                out[rows, :width - 1] = lp
        return self.world.sum_(out) * batch.response_mask

    def micro_batch(self, p: Prepared, rows: torch.Tensor) -> MicroBatch:
        b = p.batch
        ids, attn, width = _trim(b.input_ids[rows], b.attention_mask[rows])
        t = width - 1

        def cut(x: torch.Tensor | None) -> torch.Tensor | None:
            return None if x is None else x[rows, :t]

        return MicroBatch(ids, attn, cut(p.response_mask), cut(p.old_log_prob), cut(p.advantages),
                          cut(p.rollout_is_weights), cut(p.ref_log_prob))

    # -- after -------------------------------------------------------------------------
    def _result(self, p: Prepared, sums: dict[str, list[float]], grad_norms: list[float], losses: list[float],
                updates: int, micros: int, seconds: float) -> StepResult:
        def mean(key: str) -> float:
            vals = sums.get(key, [])
            return sum(vals) / len(vals) if vals else 0.0

        r = p.batch.rewards
        kl = mean("kl_loss") if "kl_loss" in sums else p.metrics.get("reward_kl", mean("ppo_kl"))
        return StepResult(
            loss=sum(losses) / len(losses), clip_frac=mean("clip_frac"), kl=kl,
            grad_norm=sum(grad_norms) / len(grad_norms), reward_mean=float(r.mean()),
            reward_std=float(r.std()) if r.numel() > 1 else 0.0, samples=int(r.numel()), tokens=p.batch.tokens,
            seconds=seconds, clip_frac_lower=mean("clip_frac_lower"), pg_loss=mean("pg_loss"),
            entropy=sums["entropy"][0] if sums.get("entropy") else 0.0, optimizer_steps=updates,
            micro_batches=micros, rollout_corr={k: v for k, v in p.metrics.items() if k.startswith("rollout_corr/")})


def _trim(ids: torch.Tensor, attn: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Drop the padding columns every row of a micro-batch shares (right padding)."""
    width = max(int(attn.sum(-1).max()), 2)
    return ids[:, :width], attn[:, :width], width
