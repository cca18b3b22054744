"""Chunked and packed logprobs compute what the plain full-logits path computes.

Same values (logprobs, entropies) and the same gradients through the whole
model, at a temperature other than 1, with a right-padded row; packing (rows
laid end to end, block-diagonal attention) changes nothing either: a sample that
could see its neighbour would differ by far more than float rounding.
"""
from __future__ import annotations

import pytest
import torch

from trainer.logprobs import TokenLogprobs


def _model(vocab: int = 4096):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
                      attn_implementation="sdpa")
    return LlamaForCausalLM(cfg)


def _batch(vocab: int = 4096):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, vocab, (3, 120), generator=g)
    attn = torch.ones_like(ids)
    attn[1, 90:] = 0
    attn[2, 33:] = 0
    return ids, attn


def _run(model, ids, attn, **kw):
    model.zero_grad()
    lp, ent = TokenLogprobs(model, temperature=0.7, **kw)(ids, attn, with_entropy=True)
    valid = (attn[:, 1:] * attn[:, :-1]).float()
    ((lp * valid).sum() + 0.5 * (ent * valid).sum()).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    return lp.detach() * valid, ent.detach() * valid, grads


@pytest.mark.parametrize("kw", [{"chunk": 16}, {"chunk": "auto"}, {"chunk": None, "pack": True}, {"chunk": 7, "pack": True}])
def test_same_values_and_gradients_as_full_logits(kw):
    model = _model()
    ids, attn = _batch()
    lp0, ent0, g0 = _run(model, ids, attn, chunk=None)
    lp1, ent1, g1 = _run(model, ids, attn, **kw)
    assert torch.allclose(lp0, lp1, atol=1e-5, rtol=0) and torch.allclose(ent0, ent1, atol=1e-5, rtol=0)
    for name, grad in g0.items():
        assert torch.allclose(grad, g1[name], atol=1e-5, rtol=1e-4), name


def test_chunked_values_without_grad():
    model = _model()
    ids, attn = _batch()
    with torch.no_grad():
        full = TokenLogprobs(model, chunk=None)(ids, attn)[0]
        chunked = TokenLogprobs(model, chunk=5)(ids, attn)[0]
    assert torch.allclose(full, chunked, atol=1e-6, rtol=0)


def test_soft_capped_logits_are_refused_on_the_chunked_path():
    model = _model()
    model.config.final_logit_softcapping = 30.0
    with pytest.raises(ValueError, match="soft-caps"):
        TokenLogprobs(model, chunk=16)
