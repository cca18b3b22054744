"""The PPO step: every verl policy loss, epochs engage the clip, micro-batches accumulate exactly."""
from __future__ import annotations

import pytest
import torch

from tests.trainer.synthetic import make_group
from trainer.batch import collate
from trainer.config import TrainerConfig
from trainer.model import load_policy
from trainer.step import Learner
from trainer.verl_config import policy_loss_names

GROUPS = [make_group(f"g{i}", n=4, completion_len=6) for i in range(3)]
torch.set_num_threads(1)


def _learner(**kw) -> tuple[Learner, object]:
    policy = load_policy("tiny", seed=0)
    cfg = TrainerConfig(**({"log": "sqlite:///unused.db", "lr": 1e-2} | kw))
    ref = load_policy("tiny", seed=0).model if cfg.kl_coef > 0 else None
    return Learner(policy.model, cfg, ref), collate(GROUPS, policy.pad_id)


def test_verl_registry_has_the_losses_the_issue_names():
    assert {"vanilla", "gspo", "cispo", "clip_cov", "kl_cov", "geo_mean"} <= set(policy_loss_names())


@pytest.mark.parametrize("loss", policy_loss_names())
def test_every_verl_policy_loss_runs_one_step(loss):
    learner, batch = _learner(policy_loss=loss, ppo_epochs=2, mini_batch_samples=6, micro_batch_samples=3,
                              entropy_coeff=0.01, kl_coef=0.05, clip_high=0.28)
    before = {k: v.clone() for k, v in learner.model.state_dict().items()}
    r = learner.step(batch, correct=True)
    assert all(x == x and abs(x) != float("inf") for x in (r.loss, r.grad_norm, r.entropy, r.kl))
    assert r.optimizer_steps == 2 * 2 and r.micro_batches == 2 * 4
    assert r.rollout_corr["rollout_corr/kl"] == r.rollout_corr["rollout_corr/kl"]  # correction metrics present
    assert any(not torch.equal(v, before[k]) for k, v in learner.model.state_dict().items())


def test_clip_engages_only_with_more_than_one_ppo_epoch():
    # Decoupled: pi_old is recomputed, so the first update's ratio is exactly 1 and nothing clips.
    one, batch = _learner(ppo_epochs=1, rollout_correction="on", lr=5e-2)
    assert one.step(batch, correct=True).clip_frac == 0.0
    many, batch = _learner(ppo_epochs=4, mini_batch_samples=6, rollout_correction="on", lr=5e-2)
    r = many.step(batch, correct=True)
    assert r.optimizer_steps == 8 and r.clip_frac > 0


@pytest.mark.parametrize("agg", ["token-mean", "seq-mean-token-mean"])
def test_micro_batches_accumulate_to_the_whole_mini_batch_gradient(agg):
    grads = []
    for micro in (None, 5):
        learner, batch = _learner(loss_agg_mode=agg, micro_batch_samples=micro, entropy_coeff=0.01)
        p = learner.prepare(batch, correct=False)
        learner.model.train()
        learner.accumulate(p, torch.arange(len(batch.rewards)), {})
        grads.append([q.grad.clone() for q in learner.model.parameters()])
    assert all(torch.allclose(a, b, atol=1e-6, rtol=1e-4) for a, b in zip(*grads))
