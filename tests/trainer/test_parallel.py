"""`torchrun --nproc-per-node 2 -m trainer.consume --parallel fsdp` on CPU (gloo): the two ranks train
the same steps as one process on the same batches (losses within 1e-5, fp32), and a run whose rank 1
is SIGKILLed resumes from its sharded checkpoint to the same steps and bitwise the same weights as the
uninterrupted two-rank run."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from events.log import open_log
from tests.trainer.synthetic import make_group, trainer_steps, write_groups
from trainer.checkpoint import latest_checkpoint
from trainer.model import load_policy
from trainer.parallel import World, loss_info, shard

ROOT = Path(__file__).resolve().parents[2]
WAVE1 = [make_group(f"w1-{i}", n=4, completion_len=10) for i in range(7)]  # 3 batches + 1 group waiting
WAVE2 = [make_group(f"w2-{i}", n=4, completion_len=10) for i in range(5)]
STEPS = 6
FLAGS = ["--steps", str(STEPS), "--batch-groups", "2", "--checkpoint-every", "2", "--max-staleness", "100",
         "--lr", "1e-2", "--seed", "7", "--threads", "1", "--ppo-epochs", "2", "--mini-batch-samples", "4",
         "--micro-batch-samples", "1", "--logprob-chunk", "4", "--stall-timeout", "600"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR",
                                                           "MASTER_PORT")}
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return env


def _cmd(url: str, ck: Path, mode: str, *extra: str) -> list[str]:
    launcher = [sys.executable, "-m", "trainer.consume"] if mode == "none" else [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m",
        "trainer.consume", "--parallel", mode]
    return [*launcher, "--log-url", url, "--checkpoint-dir", str(ck), *FLAGS, *extra]


def _train(tmp: Path, name: str, mode: str, *extra: str) -> tuple[str, Path]:
    url, ck = f"sqlite:///{tmp}/{name}.db", tmp / f"{name}-ck"
    log = open_log(url)
    write_groups(log, WAVE1 + WAVE2)
    log.close()
    run = subprocess.run(_cmd(url, ck, mode, *extra), cwd=ROOT, env=_env(), capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return url, ck


def _weights(ck: Path) -> dict[str, torch.Tensor]:
    return torch.load(latest_checkpoint(ck) / "model.pt", weights_only=True)


@pytest.fixture(scope="module")
def fsdp_run(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("fsdp"), "fsdp", "fsdp")


@pytest.fixture(scope="module")
def one_run(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("one"), "one", "none")


@pytest.mark.parametrize("mode", ["fsdp", "ddp"])
def test_two_ranks_train_the_same_steps_as_one_process(mode, one_run, fsdp_run, tmp_path):
    (one_url, one_ck), (two_url, two_ck) = one_run, fsdp_run if mode == "fsdp" else _train(tmp_path, mode, mode)
    one, two = trainer_steps(one_url), trainer_steps(two_url)
    assert [s["step"] for s in one] == [s["step"] for s in two] == list(range(1, STEPS + 1))
    for a, b in zip(one, two):
        assert a["group_ids"] == b["group_ids"] and a["samples"] == b["samples"] == 8
        assert a["optimizer_steps"] == b["optimizer_steps"] == 4
        assert abs(a["loss"] - b["loss"]) <= 1e-5 and abs(a["pg_loss"] - b["pg_loss"]) <= 1e-5, (a, b)
        assert abs(a["entropy"] - b["entropy"]) <= 1e-5 and abs(a["grad_norm"] - b["grad_norm"]) <= 1e-4
    assert len({round(s["loss"], 6) for s in one}) == STEPS  # the weights moved: every step's loss differs
    a, b = _weights(one_ck), _weights(two_ck)
    start = load_policy("tiny", seed=7).model.state_dict()
    assert a.keys() == b.keys() == start.keys()  # model.pt: the whole model, gathered from the shards
    moved = max(float((a[k] - start[k]).abs().max()) for k in a)
    apart = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert moved > 1e-2 and apart < moved / 50, (moved, apart)  # AdamW amplifies float-order noise a little


def test_lora_adapters_replicated_by_ddp_train_as_one_process(tmp_path):
    lora = ("--lora-rank", "4")
    (one_url, one_ck), (two_url, two_ck) = _train(tmp_path, "one", "none", *lora), _train(tmp_path, "two", "ddp", *lora)
    one, two = trainer_steps(one_url), trainer_steps(two_url)
    assert [s["step"] for s in one] == [s["step"] for s in two] == list(range(1, STEPS + 1))
    for a, b in zip(one, two):
        assert abs(a["loss"] - b["loss"]) <= 1e-5 and abs(a["entropy"] - b["entropy"]) <= 1e-5, (a, b)
    assert (latest_checkpoint(two_ck) / "adapter.pt").exists()
    a, b = _weights(one_ck), _weights(two_ck)  # the merged weights, under the base model's names
    start = load_policy("tiny", seed=7).model.state_dict()
    assert a.keys() == b.keys() == start.keys()
    moved = max(float((a[k] - start[k]).abs().max()) for k in a)
    apart = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert moved > 1e-3 and apart < moved / 50, (moved, apart)


def _rank_pid(launcher: subprocess.Popen, rank: int) -> int:
    for _ in range(600):
        for child in Path("/proc").glob("[0-9]*"):
            try:
                env = (child / "environ").read_bytes().split(b"\0")
                parent = int((child / "stat").read_text().split(") ")[1].split()[1])
                if parent == launcher.pid and f"RANK={rank}".encode() in env:
                    return int(child.name)
            except (OSError, ValueError, IndexError):
                continue
        time.sleep(0.1)
    raise AssertionError(f"no rank {rank} under torchrun {launcher.pid}")


def test_sigkill_of_a_rank_resumes_bitwise_from_the_sharded_checkpoint(fsdp_run, tmp_path):
    url, ck = f"sqlite:///{tmp_path}/crash.db", tmp_path / "crash-ck"
    log = open_log(url)
    write_groups(log, WAVE1)
    proc = subprocess.Popen(_cmd(url, ck, "fsdp"), cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        rank1 = _rank_pid(proc, 1)
        while len(trainer_steps(url)) < 3:
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
            time.sleep(0.05)
        # Step 3 is trained but not checkpointed; one polled group waits in rank 0's memory.
        assert latest_checkpoint(ck).name == "step-00000002"
        os.kill(rank1, signal.SIGKILL)
        assert proc.wait(timeout=120) != 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert {p.name for p in latest_checkpoint(ck).iterdir()} >= {"dcp", "rng-0.pt", "rng-1.pt", "state.json",
                                                                 "model.pt"}
    write_groups(log, WAVE2)
    log.close()
    resumed = subprocess.run(_cmd(url, ck, "fsdp"), cwd=ROOT, env=_env(), capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert trainer_steps(url) == trainer_steps(fsdp_run[0])
    assert latest_checkpoint(ck).name == f"step-{STEPS:08d}"
    whole, again = _weights(fsdp_run[1]), _weights(ck)
    assert whole.keys() == again.keys() and all(torch.equal(whole[k], again[k]) for k in whole)


def test_parallel_without_a_launcher_and_none_under_one_are_refused(tmp_path):
    url = f"sqlite:///{tmp_path}/x.db"
    alone = subprocess.run([sys.executable, "-m", "trainer.consume", "--log", url, "--parallel", "fsdp"], cwd=ROOT,
                           env=_env(), capture_output=True, text=True, timeout=120)
    assert alone.returncode == 2 and "runs under torchrun" in alone.stderr
    under = subprocess.run([sys.executable, "-m", "trainer.consume", "--log", url], cwd=ROOT,
                           env={**_env(), "WORLD_SIZE": "2", "RANK": "0"}, capture_output=True, text=True, timeout=120)
    assert under.returncode == 2 and "--parallel none under a launcher with WORLD_SIZE=2" in under.stderr


@pytest.mark.parametrize("mode", ["token-mean", "token-sum", "seq-mean-token-sum", "seq-mean-token-mean"])
def test_loss_info_makes_verls_agg_loss_of_the_shards_average_to_the_whole(mode):
    from verl.trainer.ppo.core_algos import agg_loss

    g = torch.Generator().manual_seed(0)
    loss_mat = torch.randn(7, 9, generator=g, requires_grad=True)
    mask = (torch.rand(7, 9, generator=g) > 0.3).float()
    mask[3] = 0  # a row without response tokens
    whole = agg_loss(loss_mat=loss_mat, loss_mask=mask, loss_agg_mode=mode, **loss_info(mask, World("none")))
    (grad_whole,) = torch.autograd.grad(whole, loss_mat)
    parts, grad_parts = [], torch.zeros_like(loss_mat)
    for rank in range(3):
        world = World("ddp", rank, 3)
        rows = shard(torch.arange(7), world)
        part = agg_loss(loss_mat=loss_mat[rows], loss_mask=mask[rows], loss_agg_mode=mode, **loss_info(mask, world))
        parts.append(float(part.detach()))
        grad_parts += torch.autograd.grad(part, loss_mat)[0] / world.size  # what DDP/FSDP's averaging does
    assert sum(parts) / 3 == pytest.approx(float(whole.detach()), abs=1e-6)
    assert torch.allclose(grad_parts, grad_whole, atol=1e-7)
