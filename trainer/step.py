"""One optimizer step on one batch: forward, verl loss, backward, clip, update."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

from .algorithms import Objective, advantages, forward, token_logprobs
from .batch import Batch
from .config import TrainerConfig

__all__ = ["StepResult", "Learner"]


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

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


class Learner:
    """Owns the policy being trained, its optimizer and the frozen reference (if any)."""

    def __init__(self, model: Any, cfg: TrainerConfig, ref_model: Any | None = None):
        self.model = model
        self.cfg = cfg
        self.ref_model = ref_model
        self.objective = Objective(cfg)
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    def step(self, batch: Batch) -> StepResult:
        start = time.perf_counter()
        batch = batch.to(self.cfg.device)
        self.model.train()
        ref = self._ref_logprobs(batch) if self.ref_model is not None else None
        log_prob, entropy = forward(self.model, batch.input_ids, batch.attention_mask, self.cfg.temperature,
                                    with_entropy=self.cfg.entropy_coeff > 0)
        adv = advantages(batch, self.cfg.adv)
        loss, m = self.objective(log_prob, batch, adv, ref, entropy)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.max_grad_norm)
        self.optimizer.step()
        self.model.eval()
        r = batch.rewards
        return StepResult(loss=float(loss.detach()), clip_frac=float(m["clip_frac"]), kl=float(m["kl"]),
                          grad_norm=float(grad_norm), reward_mean=float(r.mean()),
                          reward_std=float(r.std()) if r.numel() > 1 else 0.0, samples=int(r.numel()),
                          tokens=batch.tokens, seconds=time.perf_counter() - start)

    @torch.no_grad()
    def _ref_logprobs(self, batch: Batch) -> torch.Tensor:
        return token_logprobs(self.ref_model, batch.input_ids, batch.attention_mask, self.cfg.temperature)
