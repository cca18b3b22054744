"""LoRA for the trainer (`--lora-rank R`, through `peft`): train low-rank adapters, serve merged weights.

`apply_lora(model, rank, alpha)` freezes the base model and adds adapters to
every linear layer of the decoder (`all-linear`: attention and MLP
projections; the output projection stays frozen). The optimizer then holds
state for the adapters alone. A checkpoint keeps the adapters (`adapter.pt`,
what training resumes from on top of the base weights, which never change) and
the merged weights (`model.pt`: base + B·A·alpha/r folded in, in the base
model's own parameter names), so samplers and `--export-hf` see an ordinary
model of the base architecture.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

__all__ = ["ADAPTER_FILE", "adapter_state", "apply_lora", "export_merged", "is_lora", "load_adapter_state",
           "merged_model", "merged_state", "save_adapter"]

ADAPTER_FILE = "adapter.pt"


def apply_lora(model: Any, rank: int, alpha: float | None = None, dropout: float = 0.0) -> Any:
    """`model` with LoRA adapters of rank `rank` (alpha default 2 * rank); only they are trainable."""
    from peft import LoraConfig, get_peft_model

    if rank < 1:
        raise ValueError(f"--lora-rank must be >= 1, got {rank}")
    config = LoraConfig(r=rank, lora_alpha=alpha if alpha is not None else 2 * rank, lora_dropout=dropout,
                        target_modules="all-linear", bias="none", task_type="CAUSAL_LM")
    return get_peft_model(model, config)


def is_lora(model: Any) -> bool:
    return hasattr(model, "peft_config")


def adapter_state(model: Any) -> dict[str, torch.Tensor]:
    """The adapters' tensors (what a LoRA checkpoint resumes from)."""
    from peft import get_peft_model_state_dict

    return {k: v.detach().clone() for k, v in get_peft_model_state_dict(model).items()}


def load_adapter_state(model: Any, state: dict[str, torch.Tensor]) -> None:
    from peft import set_peft_model_state_dict

    result = set_peft_model_state_dict(model, state)
    unexpected = list(getattr(result, "unexpected_keys", []) or [])
    if unexpected:
        raise ValueError(f"adapter checkpoint does not fit the model: unexpected keys {unexpected[:3]}")


def merged_model(model: Any) -> Any:
    """A plain model of the base architecture with the adapters folded in (the LoRA model is unchanged)."""
    import copy

    return copy.deepcopy(model).merge_and_unload()


def merged_state(model: Any) -> dict[str, torch.Tensor]:
    """The merged weights under the base model's parameter names (what `model.pt` holds)."""
    return merged_model(model).state_dict()


def save_adapter(path: Path, model: Any) -> None:
    torch.save(adapter_state(model), path / ADAPTER_FILE)


def export_merged(path: Path, model: Any, tokenizer: Any = None) -> Path:
    """The merged weights as a Hugging Face directory (`save_pretrained`: what vLLM and the `hf:`
    upstream load), with the tokenizer when it can save itself."""
    path = Path(path)
    merged_model(model).save_pretrained(path, safe_serialization=True)
    if hasattr(tokenizer, "save_pretrained"):
        tokenizer.save_pretrained(path)
    return path
