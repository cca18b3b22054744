"""A local model directory works on both sides: the hf upstream samples, the trainer recomputes and trains."""
from __future__ import annotations

import asyncio

import torch

from events.log import open_log
from events.payloads import PolicyVersion, RolloutGroup, RolloutSample
from producers.inference.base import GenerateRequest
from producers.inference.factory import make_upstream
from tests.trainer.local_model import save_local_model
from tests.trainer.synthetic import write_groups
from trainer.algorithms import token_logprobs
from trainer.batch import collate
from trainer.config import TrainerConfig
from trainer.loop import Trainer
from trainer.model import load_policy


def test_local_model_directory_samples_recomputes_and_trains(tmp_path):
    path = save_local_model(tmp_path / "model")
    up = make_upstream(f"hf:{path}", seed=1)
    samples = []
    for i in range(4):
        gen = asyncio.run(up.generate(GenerateRequest(
            episode_id=f"e{i}", turn=0, messages=[{"role": "user", "content": f"hi {i}"}],
            sampling={"temperature": 1.0, "max_tokens": 5 + i, "seed": i})))
        p = gen.prompt_token_ids
        assert p[0] == up.policy.tokenizer.convert_tokens_to_ids("<|im_start|>")  # the model's chat template
        samples.append(RolloutSample(
            sample_id=str(i), episode_id=f"e{i}", rollout_id=f"e{i}", token_ids=p + gen.completion_token_ids,
            loss_mask=[0] * len(p) + [1] * len(gen.completion_token_ids), logprobs=[0.0] * len(p) + gen.logprobs,
            prompt_len=len(p), reward=float(i % 2), policy_version=PolicyVersion.of("trainer", 0)))
    group = RolloutGroup(group_id="g", run_id="r", prompt_id="p", samples=samples)
    batch = collate([group], up.policy.pad_id)
    with torch.no_grad():
        lp = token_logprobs(up.policy.model, batch.input_ids, batch.attention_mask)
    assert ((lp - batch.rollout_log_prob).abs() * batch.response_mask).max() < 1e-4

    url = f"sqlite:///{tmp_path}/log.db"
    write_groups(open_log(url), [group])
    trainer = Trainer(TrainerConfig(log=url, model=str(path), batch_groups=1, idle_exit_s=1.0,
                                    checkpoint_dir=str(tmp_path / "ck"), export_hf=True))
    assert trainer.run(until_step=1) == 1
    trainer.close()
    # The exported hf/ directory is a loadable model with the trained weights (what vLLM would load).
    exported = load_policy(str(tmp_path / "ck" / "step-00000001" / "hf"))
    trained = torch.load(tmp_path / "ck" / "step-00000001" / "model.pt", weights_only=True)
    assert all(torch.equal(v, trained[k]) for k, v in exported.model.state_dict().items())
    initial = up.policy.model.state_dict()
    assert any(not torch.equal(v, initial[k]) for k, v in trained.items())  # the step changed the weights
    up.reload(str(tmp_path / "ck" / "step-00000001"), PolicyVersion.of("trainer", 1))
    gen = asyncio.run(up.generate(GenerateRequest(episode_id="x", turn=1, messages=[{"role": "user", "content": "a"}],
                                                  sampling={"max_tokens": 2, "seed": 0})))
    assert gen.policy_version == PolicyVersion.of("trainer", 1)
    asyncio.run(up.aclose())
