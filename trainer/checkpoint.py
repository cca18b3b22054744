"""Atomic trainer checkpoints: weights, optimizer, RNG, consumed offsets, unconsumed input.

A checkpoint is the directory `step-NNNNNNNN/` holding `model.pt`, `optim.pt`,
`rng.pt` and `state.json`. It is written under a temporary name, every file
and the directory fsynced, then renamed into place and the parent fsynced:
a directory with the final name is always complete. The offsets inside it
are the trainer's truth about what it has consumed; the consumer group's
committed offsets are advanced only after the checkpoint is durable.
"""
from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .lora import ADAPTER_FILE, export_merged, is_lora, load_adapter_state, merged_state, save_adapter
from .model import MODEL_FILE

__all__ = ["CheckpointState", "checkpoint_path", "export_hf_dir", "publish_dir", "save_checkpoint", "latest_checkpoint",
           "load_checkpoint", "prune"]

_PREFIX = "step-"


@dataclass
class CheckpointState:
    step: int
    version: int
    offsets: dict[tuple[str, int], int]
    """Next offset to consume per (topic, partition)."""
    pending: list[dict[str, Any]] = field(default_factory=list)
    """Polled but not yet trained groups: {"partition", "offset", "ts", "group" (JSON text)}."""
    dropped: dict[str, int] = field(default_factory=dict)
    """Samples dropped since the last step, by reason (reported with the next one)."""
    filtered_groups: int = 0
    """Zero-advantage groups dropped since the last step."""
    filtered_reward: float = 0.0
    """Sum of those groups' rewards."""
    policy_event: str | None = None
    """The encoded `policy.updated` event announcing this checkpoint (re-published on resume)."""

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step, "version": self.version,
                "offsets": [[t, p, o] for (t, p), o in sorted(self.offsets.items())],
                "pending": self.pending, "dropped": self.dropped, "filtered_groups": self.filtered_groups,
                "filtered_reward": self.filtered_reward,
                "policy_event": self.policy_event}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "CheckpointState":
        dropped = obj.get("dropped") or ({"stale": obj["dropped_stale"]} if obj.get("dropped_stale") else {})
        return cls(step=obj["step"], version=obj["version"],
                   offsets={(t, p): o for t, p, o in obj["offsets"]}, pending=obj["pending"],
                   dropped=dropped, filtered_groups=obj.get("filtered_groups", 0),
                   filtered_reward=obj.get("filtered_reward", 0.0),
                   policy_event=obj.get("policy_event"))


def checkpoint_path(root: Path, step: int) -> Path:
    return root / f"{_PREFIX}{step:08d}"


def save_checkpoint(root: str | Path, state: CheckpointState, model: Any, optimizer: Any,
                    tokenizer: Any = None, export_hf: bool = False) -> Path:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = checkpoint_path(root, state.step)
    if final.exists():  # a resumed run re-made an identical checkpoint
        return final
    tmp = root / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    if is_lora(model):  # the adapters to resume from, the merged weights to serve
        save_adapter(tmp, model)
        torch.save(merged_state(model), tmp / MODEL_FILE)
    else:
        torch.save(model.state_dict(), tmp / MODEL_FILE)
    torch.save(optimizer.state_dict(), tmp / "optim.pt")
    torch.save(_rng_state(), tmp / "rng.pt")
    (tmp / "state.json").write_text(json.dumps(state.to_json()))
    if export_hf:
        if is_lora(model):
            export_merged(tmp / "hf", model, tokenizer)
        else:
            export_hf_dir(tmp / "hf", model, tokenizer)
    publish_dir(tmp, final)
    return final


def publish_dir(tmp: Path, final: Path) -> None:
    """Make the fully written directory `tmp` appear as `final` atomically and durably: every file
    and `tmp` synced, one rename, then the parent synced (a SIGKILL leaves either no `final` or all of it)."""
    for f in sorted(tmp.rglob("*")):
        _fsync(f)
    _fsync(tmp)
    os.rename(tmp, final)
    _fsync(final.parent)


def export_hf_dir(path: Path, model: Any, tokenizer: Any) -> None:
    """The weights in Hugging Face format (what vLLM and from_pretrained load)."""
    model.save_pretrained(path, safe_serialization=True)
    if hasattr(tokenizer, "save_pretrained"):
        tokenizer.save_pretrained(path)


def latest_checkpoint(root: str | Path) -> Path | None:
    root = Path(root)
    if not root.is_dir():
        return None
    done = sorted(p for p in root.iterdir() if p.name.startswith(_PREFIX) and (p / "state.json").exists())
    return done[-1] if done else None


def load_checkpoint(path: Path, model: Any, optimizer: Any) -> CheckpointState:
    adapter = path / ADAPTER_FILE
    if is_lora(model) != adapter.exists():
        raise ValueError(f"{path} was written {'with' if adapter.exists() else 'without'} LoRA adapters; "
                         f"resume it {'with the same' if adapter.exists() else 'without'} --lora-rank "
                         "(or start another --checkpoint-dir)")
    if is_lora(model):
        load_adapter_state(model, torch.load(adapter, map_location="cpu", weights_only=True))
    else:
        model.load_state_dict(torch.load(path / MODEL_FILE, map_location="cpu", weights_only=True))
    optimizer.load_state_dict(torch.load(path / "optim.pt", map_location="cpu", weights_only=True))
    _set_rng_state(torch.load(path / "rng.pt", weights_only=False))
    return CheckpointState.from_json(json.loads((path / "state.json").read_text()))


def prune(root: str | Path, keep: int) -> None:
    """Delete all but the newest `keep` checkpoints and any leftover temporary dirs."""
    root = Path(root)
    done = sorted(p for p in root.iterdir() if p.name.startswith(_PREFIX))
    for old in done[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    for tmp in root.glob(".tmp-*"):
        if not tmp.name.endswith(f"-{os.getpid()}"):
            shutil.rmtree(tmp, ignore_errors=True)


def _rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
