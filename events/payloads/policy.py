"""Policy versions with lineage (DESIGN.md §4, "Staleness bound, with lineage").

A policy version names the weights that sampled something. It is one struct,
written the same way in `proxy.response`, `episode.started`, every rollout
sample and `trainer.step`:

| weights                                    | JSON                                                   |
|--------------------------------------------|--------------------------------------------------------|
| trainer T after N optimizer steps          | `{"trainer_id": "T", "step": N, "unknown": false}`     |
| base weights no trainer produced           | `{"trainer_id": "", "step": 0, "unknown": false}`      |
| the sampler cannot know (e.g. an unfollowed `openai:` server) | `{"trainer_id": "", "step": 0, "unknown": true}` |

`T@0` is the initial weights trainer T starts from: a sampler that follows T
stamps `T@0` until T's first `policy.updated`. A trainer T trains only on
samples of its own lineage (`trainer_id == T`, not unknown) no more than
`max_staleness` steps behind it; every other sample is dropped with a
`trainer.dropped` event. Events written before versions had a lineage (a bare
integer) are upcast to `unknown` (proxy, episodes, rollouts) or to the
trainer's own lineage (`trainer.step`, which names its trainer).
"""
from __future__ import annotations

from pydantic import model_validator

from .base import Payload

__all__ = ["PolicyVersion", "UNKNOWN_POLICY", "BASE_POLICY", "oldest"]


class PolicyVersion(Payload):
    """The weights that sampled something: `trainer_id`'s after `step` optimizer steps."""

    trainer_id: str = ""
    """The lineage: the trainer whose checkpoints these weights are ("" = base weights, no trainer)."""
    step: int = 0
    """Optimizer steps that trainer had taken (0 = the weights it started from)."""
    unknown: bool = False
    """True when the sampler could not know which weights served; such samples are never trained on."""

    @model_validator(mode="after")
    def _unknown_is_bare(self) -> "PolicyVersion":
        if self.unknown and (self.trainer_id or self.step):
            raise ValueError("an unknown policy version carries no trainer_id or step")
        return self

    @classmethod
    def of(cls, trainer_id: str, step: int) -> "PolicyVersion":
        return cls(trainer_id=trainer_id, step=step)

    def __str__(self) -> str:
        if self.unknown:
            return "unknown"
        return f"{self.trainer_id}@{self.step}" if self.trainer_id else f"base@{self.step}"


UNKNOWN_POLICY = PolicyVersion(unknown=True)
"""What a sampler that cannot know its weights stamps."""
BASE_POLICY = PolicyVersion()
"""Base weights that no trainer produced (an `hf:` upstream that follows no trainer)."""


def oldest(a: PolicyVersion | None, b: PolicyVersion) -> PolicyVersion:
    """The version a sample built from turns sampled under `a` and `b` carries: the older step
    of one lineage; `unknown` when either is unknown or the lineages differ."""
    if a is None:
        return b
    if a.unknown or b.unknown or a.trainer_id != b.trainer_id:
        return UNKNOWN_POLICY
    return a if a.step <= b.step else b
