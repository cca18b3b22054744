"""Token fidelity: the trainer recomputes the logprobs the hf upstream recorded."""
from __future__ import annotations

import asyncio

import pytest
import torch

from events.payloads import BASE_POLICY, RolloutGroup, RolloutSample
from producers.inference.base import GenerateRequest
from producers.inference.hf import HfUpstream
from trainer.algorithms import token_logprobs
from trainer.batch import collate


def _sample(up: HfUpstream, i: int, temperature: float) -> RolloutSample:
    req = GenerateRequest(episode_id=f"e{i}", turn=0, messages=[{"role": "user", "content": f"x={i}"}],
                          sampling={"temperature": temperature, "max_tokens": 6 + 3 * i, "seed": i})
    gen = asyncio.run(up.generate(req))
    assert gen.trainable and gen.policy_version == BASE_POLICY
    ids = gen.prompt_token_ids + gen.completion_token_ids
    mask = [0] * len(gen.prompt_token_ids) + [1] * len(gen.completion_token_ids)
    lps = [0.0] * len(gen.prompt_token_ids) + gen.logprobs
    return RolloutSample(sample_id=str(i), episode_id=f"e{i}", rollout_id=f"e{i}", token_ids=ids,
                         loss_mask=mask, logprobs=lps, reward=0.0, prompt_len=len(gen.prompt_token_ids))


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_recomputed_logprobs_match_recorded(temperature):
    up = HfUpstream("tiny", seed=3)
    samples = [_sample(up, i, temperature) for i in range(4)]
    assert len({len(s.token_ids) for s in samples}) > 1  # padding is exercised
    batch = collate([RolloutGroup(group_id="g", run_id="r", prompt_id="p", samples=samples)], up.policy.pad_id)
    with torch.no_grad():
        recomputed = token_logprobs(up.policy.model, batch.input_ids, batch.attention_mask, temperature)
    diff = ((recomputed - batch.rollout_log_prob).abs() * batch.response_mask).max().item()
    assert diff < 1e-4, f"max |trainer - proxy| logprob difference {diff}"
    assert batch.response_mask.sum() == sum(sum(s.loss_mask) for s in samples)
    asyncio.run(up.aclose())
