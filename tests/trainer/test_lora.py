"""LoRA through peft: only the adapters train, the merged weights are an ordinary model of the base
architecture with the LoRA model's logprobs (exported with save_pretrained, loaded with
from_pretrained), and adapters round-trip bitwise."""
from __future__ import annotations

import pytest
import torch

from trainer.logprobs import TokenLogprobs
from trainer.lora import adapter_state, apply_lora, export_merged, is_lora, load_adapter_state, merged_state
from trainer.model import load_policy


def _batch():
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (3, 12), generator=g), torch.ones(3, 12, dtype=torch.long)


def _trained():
    torch.manual_seed(0)
    model = apply_lora(load_policy("tiny", seed=0).model, rank=4)
    base = {k: v.clone() for k, v in model.state_dict().items() if "lora_" not in k}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    ids, attn = _batch()
    for _ in range(3):
        lp, _ = TokenLogprobs(model, chunk=5)(ids, attn)
        (-lp.mean()).backward()
        opt.step()
        opt.zero_grad()
    return model, base


def test_only_the_adapters_train_and_the_merged_model_has_their_logprobs(tmp_path):
    from transformers import AutoModelForCausalLM

    model, base = _trained()
    assert is_lora(model)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    assert 0 < trainable < total / 10
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in base.items())  # the base weights never change
    ids, attn = _batch()
    with torch.no_grad():
        lora_lp, _ = TokenLogprobs(model, chunk=None)(ids, attn)
        plain = load_policy("tiny", seed=0).model
        plain_lp, _ = TokenLogprobs(plain, chunk=None)(ids, attn)
        assert not torch.allclose(lora_lp, plain_lp, atol=1e-3)  # the adapters moved the policy
        state = merged_state(model)
        assert state.keys() == plain.state_dict().keys()  # the base model's own parameter names
        plain.load_state_dict(state)
        assert torch.allclose(TokenLogprobs(plain, chunk=None)(ids, attn)[0], lora_lp, atol=1e-5)
        served = AutoModelForCausalLM.from_pretrained(export_merged(tmp_path / "hf", model))
        assert not is_lora(served)
        assert torch.allclose(TokenLogprobs(served, chunk=None)(ids, attn)[0], lora_lp, atol=1e-5)


def test_adapters_round_trip_bitwise_and_rank_0_is_refused(tmp_path):
    model, _ = _trained()
    torch.save(adapter_state(model), tmp_path / "adapter.pt")
    fresh = apply_lora(load_policy("tiny", seed=0).model, rank=4)
    load_adapter_state(fresh, torch.load(tmp_path / "adapter.pt", weights_only=True))
    a, b = model.state_dict(), fresh.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="--lora-rank must be >= 1"):
        apply_lora(load_policy("tiny", seed=0).model, rank=0)
