"""MetricInputNormalizer: one clean verdict per (run, instance, sample_idx).

Before any metric sees an eval result: a result that is not a verdict is
dropped and counted as malformed; a later result for an already-seen
(run, instance, sample_idx) is dropped and counted as a duplicate (the first
one wins, so re-appending or re-evaluating never shifts a score).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = ["Verdict", "Normalizer", "malformed_reason", "repo_of"]


class Verdict(NamedTuple):
    run_id: str
    instance_id: str
    sample_idx: int
    resolved: bool
    repo: str
    status: str = "ok"


def repo_of(instance_id: str, repo: str = "") -> str:
    """The repo of an instance: the result's own field, else SWE-bench's `owner__name-N`."""
    if repo:
        return repo
    head, sep, _ = instance_id.rpartition("-")
    owner, sep2, name = (head if sep else instance_id).partition("__")
    return f"{owner}/{name}" if sep2 else (head if sep else instance_id)


def malformed_reason(v: Verdict) -> str | None:
    if not v.run_id:
        return "no run_id"
    if not v.instance_id:
        return "empty instance_id"
    if not isinstance(v.sample_idx, int) or v.sample_idx < 0:
        return f"bad sample_idx {v.sample_idx!r}"
    if not isinstance(v.resolved, bool):
        return f"resolved is not a bool: {v.resolved!r}"
    if v.resolved and v.status != "ok":
        return f"resolved with status {v.status!r}"
    return None


@dataclass
class Normalizer:
    seen: set = field(default_factory=set)
    duplicates: dict = field(default_factory=dict)
    """run_id -> later duplicates dropped."""
    malformed: dict = field(default_factory=dict)
    """run_id -> malformed results dropped."""

    def accept(self, v: Verdict) -> bool:
        """True when `v` is the first well-formed verdict of its sample."""
        if malformed_reason(v) is not None:
            self.malformed[v.run_id] = self.malformed.get(v.run_id, 0) + 1
            return False
        key = (v.run_id, v.instance_id, v.sample_idx)
        if key in self.seen:
            self.duplicates[v.run_id] = self.duplicates.get(v.run_id, 0) + 1
            return False
        self.seen.add(key)
        return True
