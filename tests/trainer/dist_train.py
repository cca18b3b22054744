"""A PPO-style training run over fixed batches, under torchrun or alone (test driver).

    torchrun --nproc-per-node 2 tests/trainer/dist_train.py OUT --parallel fsdp --steps 4
    python tests/trainer/dist_train.py OUT --parallel none --steps 4

Every step takes the same mini-batch on any world size (seeded by the step), each rank
its rows (`trainer.parallel.shard`), the loss normalised over the whole mini-batch
(`loss_info`, verl's `agg_loss`), and checkpoints sharded (`save_sharded`) after
every step; a run resumes from the newest one. `--kill-after N`: rank 0 SIGKILLs
itself right after the step-N checkpoint. Rank 0 writes OUT/losses.json (the
mini-batch loss per step, this process's steps only) and OUT/final.pt (the whole
model's weights at the end).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from trainer.logprobs import TokenLogprobs  # noqa: E402
from trainer.model import load_policy  # noqa: E402
from trainer.parallel import (  # noqa: E402
    full_state,
    init_world,
    latest_sharded,
    load_sharded,
    loss_info,
    parallelize,
    save_sharded,
    shard,
)

ROWS, LENGTH, PROMPT = 8, 24, 8


def batch(step: int, vocab: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1000 + step)
    ids = torch.randint(0, vocab, (ROWS, LENGTH), generator=g)
    lengths = LENGTH - torch.randint(0, 8, (ROWS,), generator=g)
    attn = (torch.arange(LENGTH).unsqueeze(0) < lengths.unsqueeze(1)).long()
    mask = attn[:, 1:].clone()
    mask[:, :PROMPT - 1] = 0
    old = -torch.rand(ROWS, LENGTH - 1, generator=g) * 2 - 4.5
    adv = torch.randn(ROWS, 1, generator=g).expand(ROWS, LENGTH - 1) * mask
    return {"ids": ids * attn, "attn": attn, "mask": mask, "old": old * mask, "adv": adv}


def step_loss(module, b: dict[str, torch.Tensor], world) -> torch.Tensor:
    """PPO's clipped objective (clip 0.2), token-mean over the whole mini-batch as verl's `agg_loss`
    computes it from `loss_info` (masked sum / the mini-batch's tokens * dp_size; verl itself is not
    imported here to keep each rank's start-up short: test_parallel checks `loss_info` against it)."""
    rows = shard(torch.arange(ROWS), world)
    info = loss_info(b["mask"], world)
    lp, _ = module(b["ids"][rows], b["attn"][rows])
    ratio = torch.exp(lp - b["old"][rows])
    adv, mask = b["adv"][rows], b["mask"][rows]
    per_token = torch.maximum(-adv * ratio, -adv * ratio.clamp(0.8, 1.2))
    return (per_token * mask).sum() / info["batch_num_tokens"] * info["dp_size"]


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--parallel", default="none")
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--kill-after", type=int, default=None)
    args = p.parse_args()
    out = Path(args.out)
    torch.set_num_threads(1)
    world = init_world(args.parallel)
    policy = load_policy("tiny", seed=0)
    module = parallelize(TokenLogprobs(policy.model, chunk=8), world)
    opt = torch.optim.AdamW(module.parameters(), lr=1e-2)
    start, ck = 0, latest_sharded(out / "ck")
    if ck is not None:
        start = load_sharded(ck, module, opt, world)["step"]
    losses = {}
    for step in range(start, args.steps):
        loss = step_loss(module, batch(step, policy.model.config.vocab_size), world)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses[step + 1] = world.mean(float(loss.detach()))
        save_sharded(out / "ck" / f"step-{step + 1:08d}", module, opt, world, {"step": step + 1})
        if args.kill_after == step + 1 and world.main:
            os.kill(os.getpid(), signal.SIGKILL)
    weights = full_state(module)
    if world.main:
        (out / "losses.json").write_text(json.dumps(losses))
        torch.save(weights, out / "final.pt")
    world.barrier()
    world.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
