"""Validation, staleness and collation of rollout groups."""
from __future__ import annotations

import torch

from tests.trainer.synthetic import make_group
from trainer.batch import check_group, collate


def test_valid_group_passes():
    assert check_group(make_group("a"), 261) is None


def test_reasons_name_what_is_wrong():
    g = make_group("a")
    s = g.samples[1]
    cases = {
        "loss_mask has": s.model_copy(update={"loss_mask": s.loss_mask[:-1]}),
        "logprobs has": s.model_copy(update={"logprobs": s.logprobs + [0.0]}),
        "reward is nan": s.model_copy(update={"reward": float("nan")}),
        "out of range": s.model_copy(update={"token_ids": [999] + s.token_ids[1:]}),
        "no token has loss_mask 1": s.model_copy(update={"loss_mask": [0] * len(s.token_ids)}),
        "logprob at token": s.model_copy(update={"logprobs": [0.0] * (len(s.token_ids) - 1) + [float("inf")]}),
    }
    for expected, bad in cases.items():
        reason = check_group(g.model_copy(update={"samples": [g.samples[0], bad]}), 261)
        assert reason is not None and expected in reason and "sample 1" in reason, (expected, reason)
    assert "empty group" in check_group(g.model_copy(update={"samples": []}), 261)
    # A complete group whose episodes were all excluded upstream is well formed (the trainer drops and counts it).
    assert check_group(g.model_copy(update={"samples": [], "excluded": 4}), 261) is None


def test_collate_shifts_mask_and_puts_reward_on_last_sampled_token():
    g = make_group("a", n=2, reward=1.0)
    b = collate([g], pad_id=260)
    s0, s1 = g.samples
    assert b.input_ids.shape == (2, len(s0.token_ids))
    assert b.response_mask[0].tolist() == [float(m) for m in s0.loss_mask[1:]]
    assert b.response_mask[1, len(s1.token_ids) - 1:].sum() == 0  # padding is never trained on
    assert b.input_ids[1, -1] == 260 and b.attention_mask[1, -1] == 0
    last = len(s1.token_ids) - 2
    assert b.token_level_rewards[1, last] == 1.0 and b.token_level_rewards[1].sum() == 1.0
    assert torch.allclose(b.rollout_log_prob[0], torch.tensor(s0.logprobs[1:]))
