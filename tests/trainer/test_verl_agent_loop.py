"""verl's agent loop on the log: `SWEAgentLoop` driven by verl's own `AgentLoopWorker`.

The worker is built from verl's `ppo_trainer` config (hydra compose, as `main_ppo` does),
loads our agent loop from `configs/verl/agent_loop.yaml`'s shape, and generates a batch of 4
bundled tasks; its server manager is a real model (SmolLM2-135M through the `hf:` sampler)
behind verl's `generate` signature. Each padded row verl would train on must equal the
episode's trajectory in the log — assembled independently by the rollouts processor, and
checked against the raw `proxy.response` events — and its reward the `reward.assigned`.
"""
from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
import torch
import yaml

from events.log import open_log
from events.payloads import PolicyVersion

ROOT = Path(__file__).resolve().parents[2]
TASKS = 4


def _run_config(d: Path) -> Path:
    cfg = yaml.safe_load((ROOT / "configs" / "verl-swe.yaml").read_text())
    cfg["dataset"].update(cache_dir=str(d / "cache"), limit=TASKS)
    cfg["agent"].update(max_steps=2, max_turns=2)
    cfg["sampling"]["max_tokens"] = 12
    cfg.update(log=f"sqlite:///{d / 'ledger.db'}", lake=str(d / "lake"), artifacts=str(d / "artifacts"))
    (d / "run.yaml").write_text(yaml.safe_dump(cfg))
    entries = yaml.safe_load((ROOT / "configs" / "verl" / "agent_loop.yaml").read_text())
    entries[0].update(ledger_config=str(d / "run.yaml"), max_parallel_episodes=2)
    (d / "agent_loop.yaml").write_text(yaml.safe_dump(entries))
    return d / "agent_loop.yaml"


def _verl_config(model_path: str, agent_loops: Path):
    import verl.trainer.config as verl_config
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=os.path.dirname(verl_config.__file__), version_base=None):
        return compose(config_name="ppo_trainer", overrides=[
            f"actor_rollout_ref.model.path={model_path}",
            "actor_rollout_ref.rollout.name=vllm",
            "actor_rollout_ref.rollout.prompt_length=1024",
            "actor_rollout_ref.rollout.response_length=512",
            "actor_rollout_ref.rollout.temperature=1.0",
            "actor_rollout_ref.rollout.calculate_log_probs=True",
            f"actor_rollout_ref.rollout.agent.agent_loop_config_path={agent_loops}",
            "data.max_prompt_length=1024",
        ])


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    from verl.experimental.agent_loop.agent_loop import AgentLoopWorker
    from verl.protocol import DataProto
    from verl.utils.dataset.rl_dataset import RLHFDataset, collate_fn

    from producers.inference.hf import HfUpstream
    from trainer.model import model_dir
    from trainer.verl_data import write_dataset
    from trainer.verl_server import LocalServerManager

    d = tmp_path_factory.mktemp("verl")
    agent_loops = _run_config(d)
    assert write_dataset(str(d / "run.yaml"), d / "train.parquet") == TASKS
    cfg = _verl_config(str(model_dir("smollm2-135m", None)), agent_loops)
    server = LocalServerManager(HfUpstream("smollm2-135m", threads=1), global_steps=3)
    worker = AgentLoopWorker(cfg, llm_client=server)
    rows = RLHFDataset(data_files=[str(d / "train.parquet")], tokenizer=worker.tokenizer, config=cfg.data)
    batch = DataProto.from_single_dict(collate_fn([rows[i] for i in range(len(rows))]))
    out = asyncio.run(worker.generate_sequences(batch))
    return cfg, out, yaml.safe_load((d / "run.yaml").read_text())["log"]


def test_verl_registry_resolves_swe_agent():
    import hydra
    from verl.experimental.agent_loop.agent_loop import _agent_loop_registry

    from trainer.verl_agent_loop import SWEAgentLoop

    assert hydra.utils.get_class(_agent_loop_registry["swe_agent"]["_target_"]) is SWEAgentLoop


def _unpadded(out, i: int, prompt_length: int) -> dict:
    b = out.batch
    attn = b["attention_mask"][i]
    n = int(attn[prompt_length:].sum())
    return {"prompt": b["prompts"][i][attn[:prompt_length].bool()].tolist(),
            "response": b["responses"][i][:n].tolist(), "mask": b["response_mask"][i][:n].tolist(),
            "logprobs": b["rollout_log_probs"][i][:n], "reward": float(b["rm_scores"][i].sum()),
            "reward_at": int(b["rm_scores"][i].nonzero().flatten()[-1]) if b["rm_scores"][i].any() else n - 1,
            "n": n}


def _log_trajectories(url: str) -> dict[str, object]:
    """The rollouts processor's samples (one group per episode), keyed by episode id."""
    from processors.reducers.rollouts import Rollouts
    from processors.runtime import Runtime

    log = open_log(url)
    try:
        Runtime(log, [Rollouts(group_size=1)], snapshot_dir=os.devnull).run(follow=False)
        return {s.episode_id: s for r in log.read("rollouts") for s in r.event.payload.samples}
    finally:
        log.close()


def _events(url: str, topic: str, type_: str) -> list:
    log = open_log(url)
    try:
        return [r.event.payload for r in log.read(topic) if r.event.type == type_]
    finally:
        log.close()


def test_every_row_verl_trains_on_is_the_trajectory_in_the_log(generated):
    cfg, out, url = generated
    plen = cfg.actor_rollout_ref.rollout.prompt_length
    episodes = list(out.non_tensor_batch["episode_id"])
    assert len(set(episodes)) == TASKS and list(out.non_tensor_batch["excluded"]) == [None] * TASKS
    assert len(set(out.non_tensor_batch["instance_id"])) == TASKS
    trajectories = _log_trajectories(url)
    rewards = {r.episode_id: r.reward for r in _events(url, "rewards", "reward.assigned")}
    evals = {e.episode_id for e in _events(url, "evals", "eval.result")}
    for i, episode_id in enumerate(episodes):
        row, sample = _unpadded(out, i, plen), trajectories[episode_id]
        p = sample.prompt_len
        assert row["prompt"] == sample.token_ids[:p]
        assert row["response"] == sample.token_ids[p:]
        assert row["mask"] == sample.loss_mask[p:]
        assert torch.equal(row["logprobs"], torch.tensor(sample.logprobs[p:], dtype=torch.float32))
        assert episode_id in evals and row["reward"] == rewards[episode_id] == sample.reward
        assert row["reward_at"] == row["n"] - 1
        assert out.non_tensor_batch["__num_turns__"][i] == 2 * len(sample.spans)


def test_sampled_tokens_are_the_proxy_responses_in_order(generated):
    cfg, out, url = generated
    plen = cfg.actor_rollout_ref.rollout.prompt_length
    responses: dict[str, list] = {}
    for r in sorted(_events(url, "proxy", "proxy.response"), key=lambda r: r.turn):
        responses.setdefault(r.episode_id, []).append(r)
    for i, episode_id in enumerate(out.non_tensor_batch["episode_id"]):
        row, turns = _unpadded(out, i, plen), responses[episode_id]
        sampled = [t for t, m in zip(row["response"], row["mask"]) if m == 1]
        assert sampled == [t for r in turns for t in r.completion_token_ids]
        lps = row["logprobs"][torch.tensor(row["mask"]).bool()]
        assert torch.equal(lps, torch.tensor([x for r in turns for x in r.logprobs], dtype=torch.float32))
        assert all(r.upstream == "verl" and r.trainable and r.policy_version == PolicyVersion.of("verl", 3) for r in turns)
    requests = _events(url, "proxy", "proxy.request")
    assert requests and all(r.sampling.get("temperature") == cfg.actor_rollout_ref.rollout.temperature
                            for r in requests)
