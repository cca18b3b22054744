"""The GPU path: vLLM as an `openai:` upstream behind the proxy, trainer on CUDA.

Runs only where a GPU and vLLM are present. A local model directory (written
by the trainer's `--export-hf` format) is served by `vllm serve` with
`--logprobs-mode processed_logprobs`; chat calls go through the real proxy with
`return_token_ids`; the trainer recomputes the recorded logprobs on CUDA.
"""
from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time

import pytest
import torch

from events.log import open_log
from events.payloads import RolloutGroup, RolloutSample
from tests.trainer.local_model import save_local_model
from trainer.algorithms import token_logprobs
from trainer.batch import collate
from trainer.model import load_policy

pytestmark = [
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU"),
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm not installed (pip install -e .[gpu])"),
]
TEMPERATURE = 0.7


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(url: str, proc: subprocess.Popen, timeout_s: float = 600) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, "vllm serve exited"
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise AssertionError("vllm serve did not become ready")


def test_vllm_upstream_logprobs_match_trainer_on_gpu(tmp_path):
    from openai import OpenAI

    from producers.proxy.server import ProxyServer

    path = save_local_model(tmp_path / "model")
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(path),
                             "--port", str(port), "--dtype", "float32", "--logprobs-mode", "processed_logprobs",
                             "--max-model-len", "256", "--gpu-memory-utilization", "0.3", "--enforce-eager"],
                            env={**os.environ}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_ready(f"http://127.0.0.1:{port}", proc)
        url = f"sqlite:///{tmp_path}/log.db"
        with ProxyServer(url, f"openai:http://127.0.0.1:{port}/v1", run_id="gpu",
                         upstream_opts={"logprobs_mode": "processed"}) as proxy:
            for i in range(4):
                client = OpenAI(base_url=proxy.base_url(f"e{i}"), api_key=proxy.token)
                client.chat.completions.create(model=str(path), messages=[{"role": "user", "content": f"hi {i}"}],
                                               temperature=TEMPERATURE, max_tokens=8, seed=i)
        log = open_log(url)
        reqs = {r.event.payload.episode_id: r.event.payload for r in log.read("proxy")
                if r.event.type == "proxy.request"}
        resps = [r.event.payload for r in log.read("proxy") if r.event.type == "proxy.response"]
        assert len(resps) == 4 and all(r.trainable for r in resps)
        samples = []
        for r in resps:
            prompt = reqs[r.episode_id].prompt_token_ids
            ids = prompt + r.completion_token_ids
            samples.append(RolloutSample(sample_id=r.episode_id, episode_id=r.episode_id, rollout_id=r.episode_id,
                                         token_ids=ids, loss_mask=[0] * len(prompt) + [1] * len(r.logprobs),
                                         logprobs=[0.0] * len(prompt) + r.logprobs, reward=0.0))
        policy = load_policy(str(path), device="cuda")
        batch = collate([RolloutGroup(group_id="g", run_id="gpu", prompt_id="p", samples=samples)],
                        policy.pad_id).to("cuda")
        with torch.no_grad():
            lp = token_logprobs(policy.model, batch.input_ids, batch.attention_mask, TEMPERATURE)
        diff = ((lp - batch.rollout_log_prob).abs() * batch.response_mask).max().item()
        assert diff < 1e-3, f"vLLM vs trainer logprob difference {diff}"
    finally:
        proc.terminate()
        proc.wait(60)


def test_vllm_follows_the_trainer_through_collective_rpc_on_gpu(tmp_path):
    """vLLM in dev mode behind the proxy with --follow-policy: a trainer checkpoint (hf/ export) is
    pushed through /collective_rpc; responses after it are stamped T@1 and their logprobs are those
    of the trained weights."""
    from openai import OpenAI

    from events.payloads import PolicyVersion
    from producers.proxy.server import ProxyServer
    from tests.trainer.synthetic import make_group, write_groups
    from trainer.config import TrainerConfig
    from trainer.loop import Trainer

    path = save_local_model(tmp_path / "model")
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(path),
                             "--port", str(port), "--dtype", "float32", "--logprobs-mode", "processed_logprobs",
                             "--max-model-len", "256", "--gpu-memory-utilization", "0.3", "--enforce-eager"],
                            env={**os.environ, "VLLM_SERVER_DEV_MODE": "1"}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        _wait_ready(f"http://127.0.0.1:{port}", proc)
        url = f"sqlite:///{tmp_path}/log.db"
        policy = load_policy(str(path))
        vocab = int(policy.model.config.vocab_size)
        group = make_group("g", trainer="T", prompt_len=4, completion_len=4)
        group = group.model_copy(update={"samples": [s.model_copy(update={"token_ids": [i % vocab for i in s.token_ids]})
                                                     for s in group.samples]})
        write_groups(open_log(url), [group])
        trainer = Trainer(TrainerConfig(log=url, model=str(path), trainer_id="T", batch_groups=1, device="cuda",
                                        export_hf=True, lr=1e-2, checkpoint_dir=str(tmp_path / "ck"),
                                        temperature=TEMPERATURE, idle_exit_s=5.0))
        assert vocab > 0 and trainer.run(until_step=1) == 1
        trainer.close()
        opts = {"logprobs_mode": "processed", "log_url": url, "follow": "T"}
        with ProxyServer(url, f"openai:http://127.0.0.1:{port}/v1", run_id="gpu", upstream_opts=opts) as proxy:
            assert proxy.upstream.policy_version == PolicyVersion.of("T", 1)  # pushed before the first request
            client = OpenAI(base_url=proxy.base_url("after"), api_key=proxy.token)
            client.chat.completions.create(model=str(path), messages=[{"role": "user", "content": "hi"}],
                                           temperature=TEMPERATURE, max_tokens=8, seed=0)
        log = open_log(url)
        req = [r.event.payload for r in log.read("proxy") if r.event.type == "proxy.request"][0]
        resp = [r.event.payload for r in log.read("proxy") if r.event.type == "proxy.response"][0]
        assert resp.policy_version == PolicyVersion.of("T", 1)
        trained = load_policy(str(tmp_path / "ck" / "step-00000001" / "hf"), device="cuda")
        ids = torch.tensor([req.prompt_token_ids + resp.completion_token_ids], device="cuda")
        with torch.no_grad():
            lp = token_logprobs(trained.model, ids, torch.ones_like(ids), TEMPERATURE)[0, len(req.prompt_token_ids) - 1:]
        assert (lp.cpu() - torch.tensor(resp.logprobs)).abs().max() < 1e-3
    finally:
        proc.terminate()
        proc.wait(60)
