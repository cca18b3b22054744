"""Data-parallel training under torchrun on CPU (gloo, 2 ranks): FSDP2 trains the same steps as one
process, and a run whose rank 0 is SIGKILLed resumes from its sharded checkpoint to bitwise the same
weights as the uninterrupted run. The driver is tests/trainer/dist_train.py (tiny model, fixed batches)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from trainer.model import load_policy
from trainer.parallel import World, loss_info, shard

ROOT = Path(__file__).resolve().parents[2]
DRIVER = str(ROOT / "tests" / "trainer" / "dist_train.py")
STEPS = 3


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR",
                                                           "MASTER_PORT")}
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return env


def _launch(out: Path, mode: str, *extra: str) -> subprocess.CompletedProcess:
    if mode == "none":
        cmd = [sys.executable, DRIVER]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", DRIVER]
    return subprocess.run([*cmd, str(out), "--parallel", mode, "--steps", str(STEPS), *extra], env=_env(),
                          capture_output=True, text=True, timeout=600)


def _ok(run: subprocess.CompletedProcess) -> None:
    assert run.returncode == 0, run.stderr[-3000:]


@pytest.fixture(scope="module")
def fsdp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("fsdp")
    _ok(_launch(out, "fsdp"))
    return out


def test_fsdp_on_two_ranks_trains_the_same_steps_as_one_process(fsdp_run, tmp_path):
    _ok(_launch(tmp_path, "none"))
    one = json.loads((tmp_path / "losses.json").read_text())
    two = json.loads((fsdp_run / "losses.json").read_text())
    assert list(one) == list(two) == [str(s) for s in range(1, STEPS + 1)]
    for step in one:
        assert abs(one[step] - two[step]) <= 1e-5, (step, one[step], two[step])
    assert len({round(v, 6) for v in one.values()}) == STEPS  # the weights moved: every step's loss differs
    a, b = torch.load(tmp_path / "final.pt"), torch.load(fsdp_run / "final.pt")
    start = load_policy("tiny", seed=0).model.state_dict()
    assert a.keys() == b.keys() == start.keys()
    moved = max(float((a[k] - start[k]).abs().max()) for k in a)
    apart = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert moved > 1e-2 and apart < moved / 50, (moved, apart)  # AdamW amplifies float-order noise a little


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


def test_sigkill_of_rank_0_resumes_bitwise_from_the_sharded_checkpoint(fsdp_run, tmp_path):
    killed = _launch(tmp_path, "fsdp", "--kill-after", "2")
    assert killed.returncode != 0
    assert sorted(p.name for p in (tmp_path / "ck").iterdir() if not p.name.startswith(".")) == [
        "step-00000001", "step-00000002"]
    assert not (tmp_path / "final.pt").exists()
    _ok(_launch(tmp_path, "fsdp"))
    assert list(json.loads((tmp_path / "losses.json").read_text())) == ["3"]  # only step 3 was trained again
    resumed, whole = torch.load(tmp_path / "final.pt"), torch.load(fsdp_run / "final.pt")
    assert resumed.keys() == whole.keys()
    assert all(torch.equal(resumed[k], whole[k]) for k in whole)
    assert {p.name for p in (tmp_path / "ck" / "step-00000002").iterdir()} >= {"dcp", "rng-0.pt", "rng-1.pt",
                                                                               "state.json"}
