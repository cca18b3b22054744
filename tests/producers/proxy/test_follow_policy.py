"""Weights follow the trainer in every serving path, and responses carry the version actually served.

- `ledger proxy --upstream hf:tiny --follow-policy T` (a real subprocess) loads each policy.updated
  checkpoint of T between requests; responses after it are stamped T@step and their logprobs are
  those of the checkpoint's weights.
- An in-flight hf request finishes on the weights it started with and is stamped with their version.
- `openai:` upstreams (a vLLM server in dev mode; here the stub speaking vLLM's /collective_rpc)
  get each checkpoint's hf/ pushed, with in-flight requests drained first; a failed push stamps
  `unknown`.
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time

import httpx
import pytest
import torch
from openai import OpenAI

import events
from events.log import open_log
from events.payloads import UNKNOWN_POLICY, PolicyUpdated, PolicyVersion
from producers.inference.base import GenerateRequest
from producers.inference.hf import HfUpstream
from producers.proxy.server import ProxyServer
from tests.producers.proxy.conftest import ROOT, Stub, proxy_events
from tests.trainer.synthetic import make_group, write_groups
from trainer.algorithms import token_logprobs
from trainer.config import TrainerConfig
from trainer.loop import Trainer
from trainer.model import load_policy, load_weights

MESSAGES = [{"role": "user", "content": "x=1"}]


def _train_one_step(url: str, trainer_id: str, ck) -> str:
    """Trainer `trainer_id` takes one step on its own samples; returns the checkpoint it published."""
    write_groups(open_log(url), [make_group("g", trainer=trainer_id)])
    trainer = Trainer(TrainerConfig(log=url, trainer_id=trainer_id, group=f"g-{trainer_id}", batch_groups=1,
                                    checkpoint_dir=str(ck), lr=5e-2, threads=1, idle_exit_s=5.0))
    assert trainer.run(until_step=1) == 1
    trainer.close()
    (update,) = [r.event.payload for r in open_log(url).read("trainer") if r.event.type == "policy.updated"]
    return update.checkpoint


def _logprobs_under(checkpoint: str, prompt: list[int], completion: list[int]) -> torch.Tensor:
    policy = load_policy("tiny", seed=0)
    load_weights(policy.model, checkpoint)
    ids = torch.tensor([prompt + completion])
    with torch.no_grad():
        return token_logprobs(policy.model, ids, torch.ones_like(ids))[0, len(prompt) - 1:]


def test_ledger_proxy_follow_policy_reloads_hf_weights_and_stamps_the_new_version(tmp_path):
    url = f"sqlite:///{tmp_path}/log.db"
    open_log(url).close()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "main.py", "proxy", "--log", url, "--upstream", "hf:tiny",
                             "--follow-policy", "T", "--port", "0", "--run-id", "follow"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline() or proc.stderr.read())
        assert info["policy_version"] == "T@0"

        def ask(episode: str) -> None:
            client = OpenAI(base_url=info["base_url"].replace("{episode_id}", episode), api_key=info["token"],
                            max_retries=0)
            client.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=6, seed=5, temperature=1.0)

        ask("before")
        checkpoint = _train_one_step(url, "T", tmp_path / "ck")
        deadline = time.monotonic() + 120
        while True:  # the follower loads between requests; poll until a response says so
            ep = f"after-{time.monotonic()}"
            ask(ep)
            (resp,) = [e.payload for e in proxy_events(url, ep) if e.type == "proxy.response"]
            if resp.policy_version == PolicyVersion.of("T", 1) or time.monotonic() > deadline:
                break
    finally:
        proc.terminate()
        proc.wait(30)
    assert resp.policy_version == PolicyVersion.of("T", 1)
    before = [e.payload for e in proxy_events(url, "before") if e.type == "proxy.response"][0]
    assert before.policy_version == PolicyVersion.of("T", 0)
    req = [e.payload for e in proxy_events(url, resp.episode_id) if e.type == "proxy.request"][0]
    # The stamp is the truth: the response's logprobs are those of step 1's weights.
    served = _logprobs_under(checkpoint, req.prompt_token_ids, resp.completion_token_ids)
    assert torch.allclose(served, torch.tensor(resp.logprobs), atol=1e-4)


def test_an_in_flight_hf_request_finishes_on_the_old_weights_and_is_stamped_with_them(tmp_path):
    url = f"sqlite:///{tmp_path}/log.db"
    checkpoint = _train_one_step(url, "T", tmp_path / "ck")
    up = HfUpstream("tiny", seed=0)
    up.policy_version = PolicyVersion.of("T", 0)
    request = GenerateRequest(episode_id="e", turn=0, messages=MESSAGES,
                              sampling={"max_tokens": 40, "seed": 1, "temperature": 1.0})
    first_token = threading.Event()

    async def stream():
        final = None
        async for chunk in up.stream(request):
            first_token.set()
            final = chunk.final or final
        return final

    result = {}
    streaming = threading.Thread(target=lambda: result.update(gen=asyncio.run(stream())))
    streaming.start()
    assert first_token.wait(60)
    reloading = threading.Thread(target=up.reload, args=(checkpoint, PolicyVersion.of("T", 1)))
    reloading.start()
    streaming.join(120)
    reloading.join(120)
    gen = result["gen"]
    assert gen.policy_version == PolicyVersion.of("T", 0) and up.policy_version == PolicyVersion.of("T", 1)
    initial = load_policy("tiny", seed=0).model
    ids = torch.tensor([gen.prompt_token_ids + gen.completion_token_ids])
    with torch.no_grad():
        old = token_logprobs(initial, ids, torch.ones_like(ids))[0, len(gen.prompt_token_ids) - 1:]
    assert torch.allclose(old, torch.tensor(gen.logprobs), atol=1e-4)


def _publish(url: str, trainer_id: str, step: int, ck_root) -> str:
    """A trainer's checkpoint with an hf/ directory, announced by policy.updated."""
    ck = ck_root / f"step-{step:08d}"
    (ck / "hf").mkdir(parents=True)
    (ck / "hf" / "config.json").write_text("{}")
    ev = events.new(PolicyUpdated(trainer_id=trainer_id, version=step, checkpoint=str(ck), step=step),
                    producer="trainer")
    open_log(url).append("trainer", [ev])
    return str((ck / "hf").resolve())


def _weights(stub: Stub) -> dict:
    return httpx.get(f"http://127.0.0.1:{stub.port}/stub/weights").json()


@pytest.mark.parametrize("flavour", ["weights_path", "old_reload"])
def test_openai_follower_pushes_weights_into_a_vllm_server_between_requests(tmp_path, flavour):
    stub = Stub(*(["--old-reload"] if flavour == "old_reload" else []))
    url = f"sqlite:///{tmp_path}/log.db"
    opts = {"log_url": url, "follow": "T", "retries": 0, "timeout_s": 30}
    try:
        with ProxyServer(url, f"openai:{stub.url}", run_id="r", upstream_opts=opts) as proxy:
            client = OpenAI(base_url=proxy.base_url("slow"), api_key=proxy.token, max_retries=0)
            slow = threading.Thread(target=lambda: client.chat.completions.create(
                model="m", messages=MESSAGES, extra_body={"stub_delay_s": 1.5}))
            slow.start()
            time.sleep(0.5)  # the slow request is in flight when the checkpoint appears
            path = _publish(url, "T", 1, tmp_path / "ck")
            slow.join(30)
            deadline = time.monotonic() + 30
            while proxy.upstream.policy_version.step < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            fast = OpenAI(base_url=proxy.base_url("fast"), api_key=proxy.token, max_retries=0)
            fast.chat.completions.create(model="m", messages=MESSAGES)
    finally:
        stub_state = _weights(stub)
        stub.kill()
    stamps = {e.payload.episode_id: e.payload.policy_version for e in proxy_events(url) if e.type == "proxy.response"}
    assert stamps == {"slow": PolicyVersion.of("T", 0), "fast": PolicyVersion.of("T", 1)}
    # The in-flight request was answered before the reload; the next one by the new weights.
    assert stub_state["history"] == [["answered", None], ["reload", path], ["answered", path]]


def test_a_failed_push_stamps_unknown(tmp_path):
    stub = Stub("--no-dev-mode")
    url = f"sqlite:///{tmp_path}/log.db"
    try:
        with ProxyServer(url, f"openai:{stub.url}", run_id="r",
                         upstream_opts={"log_url": url, "follow": "T", "retries": 0}) as proxy:
            _publish(url, "T", 1, tmp_path / "ck")
            deadline = time.monotonic() + 30
            while proxy.upstream.follower.failures == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            OpenAI(base_url=proxy.base_url("e"), api_key=proxy.token, max_retries=0).chat.completions.create(
                model="m", messages=MESSAGES)
    finally:
        stub.kill()
    (resp,) = [e.payload for e in proxy_events(url, "e") if e.type == "proxy.response"]
    assert resp.policy_version == UNKNOWN_POLICY
