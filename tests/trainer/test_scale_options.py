"""The trainer's options for larger models, through the real loop on a log: `--lora-rank` trains
adapters only (checkpoints hold them and the merged weights samplers load; a resume continues; a
mismatched resume is refused), and chunked logprobs, sequence packing and gradient checkpointing train
the same steps as the plain full-logits path; bf16 trains close to fp32."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from events.log import open_log
from tests.trainer.synthetic import make_group, write_groups
from trainer.checkpoint import latest_checkpoint
from trainer.config import TrainerConfig
from trainer.logprobs import TokenLogprobs
from trainer.loop import Trainer
from trainer.model import load_policy, load_weights

GROUPS = [make_group(f"g{i}", n=4, completion_len=9 + i) for i in range(6)]
torch.set_num_threads(1)


def _trainer(tmp: Path, name: str, write: bool = True, **kw) -> Trainer:
    url = f"sqlite:///{tmp}/{name}.db"
    if write:
        log = open_log(url)
        write_groups(log, GROUPS)
        log.close()
    cfg = TrainerConfig(log=url, checkpoint_dir=str(tmp / f"{name}-ck"), batch_groups=2, max_staleness=100,
                        lr=1e-2, seed=3, threads=1, mini_batch_samples=4, micro_batch_samples=2, **kw)
    return Trainer(cfg)


def _train(tmp: Path, name: str, steps: int, **kw) -> tuple[list, Trainer]:
    seen = []
    t = _trainer(tmp, name, **kw)
    t.on_step = seen.append
    assert t.run(until_step=steps) == steps
    t.close()
    return seen, t


def test_lora_trains_the_adapters_and_checkpoints_the_merged_model(tmp_path):
    _, t = _train(tmp_path, "lora", 2, lora_rank=4)
    total = sum(p.numel() for p in t.learner.model.parameters())
    trained = sum(p.numel() for p in t.learner.params)
    assert 0 < trained < total / 5  # the optimizer holds the adapters alone
    ck = latest_checkpoint(tmp_path / "lora-ck")
    assert ck.name == "step-00000002" and (ck / "adapter.pt").exists()
    start = load_policy("tiny", seed=3).model
    merged = torch.load(ck / "model.pt", weights_only=True)
    assert merged.keys() == start.state_dict().keys()  # the base architecture's names: samplers load it as is
    moved = {k for k, v in start.state_dict().items() if not torch.equal(v, merged[k])}
    assert moved and all("proj" in k for k in moved)  # adapters on the linear layers; embeddings frozen
    served = load_policy("tiny", seed=3).model
    load_weights(served, ck)
    ids = torch.tensor([GROUPS[0].samples[0].token_ids])
    with torch.no_grad():
        lora_lp = TokenLogprobs(t.learner.model, chunk=None)(ids)[0]
        served_lp = TokenLogprobs(served, chunk=None)(ids)[0]
    assert torch.allclose(lora_lp, served_lp, atol=1e-5)

    again = _trainer(tmp_path, "lora", write=False, lora_rank=4)
    assert again.step == 2 and again.run(until_step=3) == 3
    again.close()
    with pytest.raises(ValueError, match="with LoRA adapters; resume it with the same --lora-rank"):
        _trainer(tmp_path, "lora", write=False)
    with pytest.raises(ValueError, match="--lora-rank runs with --parallel none or ddp"):
        _trainer(tmp_path, "fsdp-lora", lora_rank=4, parallel="fsdp")


def test_chunked_packed_checkpointed_steps_equal_the_plain_path(tmp_path):
    plain, _ = _train(tmp_path, "plain", 3, logprob_chunk="none")
    lean, t = _train(tmp_path, "lean", 3, logprob_chunk="3", pack=True, gradient_checkpointing=True)
    assert t.learner.module.chunk == 3 and t.learner.module.pack
    for a, b in zip(plain, lean):
        assert abs(a.loss - b.loss) <= 1e-5 and abs(a.entropy - b.entropy) <= 1e-4, (a, b)
        assert abs(a.grad_norm - b.grad_norm) <= 1e-4 * max(1.0, a.grad_norm)
    w1 = torch.load(latest_checkpoint(tmp_path / "plain-ck") / "model.pt", weights_only=True)
    w2 = torch.load(latest_checkpoint(tmp_path / "lean-ck") / "model.pt", weights_only=True)
    assert max(float((w1[k] - w2[k]).abs().max()) for k in w1) < 1e-3


def test_bf16_trains_close_to_fp32(tmp_path):
    fp32, _ = _train(tmp_path, "fp32", 2)
    bf16, t = _train(tmp_path, "bf16", 2, dtype="bf16")
    assert t.learner.module.autocast == torch.bfloat16
    assert all(p.dtype == torch.float32 for p in t.learner.params)  # master weights and AdamW state stay fp32
    for a, b in zip(fp32, bf16):
        assert a.entropy == pytest.approx(b.entropy, rel=0.02) and a.loss != b.loss
        assert abs(a.pg_loss - b.pg_loss) <= 0.05 * max(abs(a.pg_loss), 0.05)
