"""Token logprobs (and entropy) whose memory scales with tokens, not tokens x vocabulary.

`TokenLogprobs(model, chunk=N)` wraps a causal LM as the module the trainer
calls (and DDP/FSDP wrap: their hooks run on this module's forward). It runs
the decoder once for hidden states (B, L, H), then applies the output
projection `chunk` positions at a time (`auto`: about AUTO_LOGITS logits per
chunk, e.g. 85 positions of one row with a 49k vocabulary): each chunk's
logits (B, chunk, V) are made in the compute dtype (`autocast`, e.g. bf16),
turned into fp32 logprobs of the sampled tokens and entropies, and dropped;
under autograd each chunk is checkpointed, so the backward pass makes them
again one chunk at a time. Peak memory is the hidden states plus one chunk's
logits instead of (B, L, V) fp32 logits and their gradient. `chunk=None` is
the plain path (full logits, verl's `logprobs_from_logits` /
`entropy_from_logits`), kept for comparison.

The math is the same in both: logits / temperature in fp32, log-softmax at the
sampled token, entropy of the softmax. Models whose logits are more than the
output projection of the last hidden state (final logit soft-capping) are
refused on the chunked path.

Sequence packing (`pack=True`): the rows of a micro-batch are laid end to end
in one row without their padding, with position ids restarting at 0 for each
sample and no attention mask, so transformers masks attention block-diagonally
(no sample sees another); the results are put back in the (B, L-1) per-sample
layout, where the loss (any of verl's aggregation modes) is computed as before.
Padding then costs nothing, and a micro-batch is sized in tokens.
"""
from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch.utils.checkpoint import checkpoint

__all__ = ["AUTO_LOGITS", "TokenLogprobs", "chunk_logprobs"]

AUTO_LOGITS = 1 << 22
"""Logits per chunk when the chunk is `auto` (16 MB in fp32): 85 positions of a 49k vocabulary."""


class TokenLogprobs(torch.nn.Module):
    """forward(input_ids, attention_mask=None, position_ids=None, with_entropy=False) ->
    ((B, L-1) logprob of token t given tokens < t, (B, L-1) entropy or None)."""

    def __init__(self, model: Any, chunk: int | str | None = "auto", temperature: float = 1.0, pack: bool = False,
                 autocast: torch.dtype | None = None):
        super().__init__()
        if chunk is not None and chunk != "auto" and (not isinstance(chunk, int) or chunk < 1):
            raise ValueError(f"logprob chunk must be 'auto', None or >= 1 positions, got {chunk!r}")
        if chunk is not None and getattr(model.config, "final_logit_softcapping", None):
            raise ValueError(f"{type(model).__name__} soft-caps its logits; use the plain path (chunk=None)")
        self.model = model
        self.chunk = chunk
        """Positions per chunk; `auto`: as many as make AUTO_LOGITS logits (rows x positions x vocabulary)."""
        self.temperature = float(temperature)
        self.pack = pack
        self.autocast = autocast
        """Compute dtype for the decoder and the output projection (torch.autocast), e.g. bfloat16."""

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None,
                with_entropy: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """input_ids, attention_mask: (B, L), right-padded."""
        with self._compute():
            if self.pack and attention_mask is not None and position_ids is None:
                return self._packed(input_ids, attention_mask, with_entropy)
            return self._forward(input_ids, attention_mask, position_ids, with_entropy)

    def _compute(self):
        if self.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.model.device.type, dtype=self.autocast)

    def _packed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, with_entropy: bool):
        lengths = attention_mask.sum(-1)
        flat = input_ids[attention_mask.bool()].unsqueeze(0)
        positions = torch.cat([torch.arange(int(n), device=input_ids.device) for n in lengths]).unsqueeze(0)
        lp, ent = self._forward(flat, None, positions, with_entropy)
        starts = torch.cumsum(lengths, 0) - lengths
        cols = torch.arange(input_ids.shape[1] - 1, device=input_ids.device)
        valid = cols.unsqueeze(0) < (lengths - 1).unsqueeze(1)
        index = torch.where(valid, starts.unsqueeze(1) + cols.unsqueeze(0), torch.zeros_like(valid, dtype=torch.long))
        return lp[0][index] * valid, (None if ent is None else ent[0][index] * valid)

    def _forward(self, input_ids, attention_mask, position_ids, with_entropy):
        if self.chunk is None:
            return self._plain(input_ids, attention_mask, position_ids, with_entropy)
        hidden = self.model.get_decoder()(input_ids=input_ids, attention_mask=attention_mask,
                                          position_ids=position_ids, use_cache=False).last_hidden_state
        head = self.model.get_output_embeddings()
        chunk = self.chunk
        if chunk == "auto":
            chunk = max(1, AUTO_LOGITS // (hidden.shape[0] * head.weight.shape[0]))
        return chunk_logprobs(hidden[:, :-1], input_ids[:, 1:], head.weight, getattr(head, "bias", None),
                              self.temperature, chunk, with_entropy)

    def _plain(self, input_ids, attention_mask, position_ids, with_entropy):
        from verl.utils.torch_functional import (
            entropy_from_logits,
            logprobs_from_logits,
        )

        logits = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                            use_cache=False).logits[:, :-1]
        if self.temperature != 1.0:
            logits = logits / self.temperature
        logits = logits.float()
        entropy = entropy_from_logits(logits) if with_entropy else None
        return logprobs_from_logits(logits, input_ids[:, 1:]), entropy


def chunk_logprobs(hidden: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                   temperature: float, chunk: int, with_entropy: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """hidden: (B, T, H); targets: (B, T) token ids; weight: (V, H) output projection.
    Returns (B, T) fp32 logprobs of `targets` and, with `with_entropy`, (B, T) fp32 entropies."""
    grad = torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad)
    lps, ents = [], []
    for s in range(0, hidden.shape[1], chunk):
        args = (hidden[:, s:s + chunk], targets[:, s:s + chunk], weight, bias, temperature, with_entropy)
        lp, ent = checkpoint(_chunk, *args, use_reentrant=False) if grad else _chunk(*args)
        lps.append(lp)
        ents.append(ent)
    return torch.cat(lps, 1), (torch.cat(ents, 1) if with_entropy else None)


def _chunk(h: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
           temperature: float, with_entropy: bool) -> tuple[torch.Tensor, torch.Tensor]:
    logits = torch.nn.functional.linear(h, weight, bias).float()
    if temperature != 1.0:
        logits = logits / temperature
    lse = torch.logsumexp(logits, dim=-1)
    lp = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - lse
    if not with_entropy:
        return lp, lp.new_zeros(())
    ent = lse - (torch.softmax(logits, dim=-1) * logits).sum(-1)
    return lp, ent
