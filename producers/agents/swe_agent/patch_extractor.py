"""`PatchExtractor`: SWE-agent's patch, trying its output files, then the working tree.

Strategies in order: the `.pred` file's `model_patch`, the `.patch` file, the
trajectory's `info.submission`, then the sandbox's git diff. The first
non-empty one wins and its name is kept (`source`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

__all__ = ["PatchExtractor", "ExtractedPatch"]


@dataclass(frozen=True)
class ExtractedPatch:
    patch: str
    source: str
    """`pred`, `patch_file`, `trajectory`, `git_diff` or `none`."""


def _json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(errors="replace"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


class PatchExtractor:
    def __init__(self, instance_dir: Path, instance_id: str, git_diff: Callable[[], str] | None = None):
        self.dir, self.id, self.git_diff = instance_dir, instance_id, git_diff

    def from_pred(self) -> str:
        return _json(self.dir / f"{self.id}.pred").get("model_patch") or ""

    def from_patch_file(self) -> str:
        path = self.dir / f"{self.id}.patch"
        return path.read_text(errors="replace") if path.is_file() else ""

    def from_trajectory(self) -> str:
        return (_json(self.dir / f"{self.id}.traj").get("info") or {}).get("submission") or ""

    def extract(self) -> ExtractedPatch:
        strategies: list[tuple[str, Callable[[], str]]] = [
            ("pred", self.from_pred), ("patch_file", self.from_patch_file),
            ("trajectory", self.from_trajectory)]
        if self.git_diff is not None:
            strategies.append(("git_diff", self.git_diff))
        for name, strategy in strategies:
            patch = strategy()
            if patch.strip():
                return ExtractedPatch(patch, name)
        return ExtractedPatch("", "none")
