"""Which consumed samples a trainer may train on, and why the others are dropped.

A trainer `T` at step `s` keeps a sample only if
- its version is known (`unknown_version` otherwise),
- it is of T's lineage: `trainer_id == T` (`lineage` otherwise: another trainer's
  weights, or base weights no trainer produced),
- it is at most `max_staleness` steps old: `s - step <= max_staleness` (`stale`),
- it says it is trainable (`untrainable` otherwise: scripted or replayed traffic);
then, with dynamic sampling, a group whose kept samples all have the same reward
has zero advantage and is dropped whole (`zero_advantage`); a complete group
whose episodes were all excluded upstream is dropped as `excluded`.

`judge` is a pure function of (group, step): a resumed trainer judges the same
groups the same way, so its `trainer.dropped` events are the same events.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from events.payloads import RolloutGroup, RolloutSample

__all__ = ["Drops", "Judged", "Selector", "staleness_of", "untrainable"]


@dataclass
class Drops:
    """Samples dropped for one reason: counts, whole groups, versions seen."""

    samples: int = 0
    group_ids: list[str] = field(default_factory=list)
    versions: Counter = field(default_factory=Counter)
    reward: float = 0.0
    """Sum of the dropped samples' rewards."""

    def add(self, samples: list[RolloutSample], group_id: str | None = None) -> None:
        self.samples += len(samples)
        self.reward += sum(s.reward for s in samples)
        self.versions.update(str(s.policy_version) for s in samples)
        if group_id is not None:
            self.group_ids.append(group_id)


@dataclass
class Judged:
    group: RolloutGroup | None
    """The group with only its trainable samples, or None when nothing of it is trained on."""
    drops: dict[str, Drops]
    staleness: Counter
    """Kept samples: steps behind -> count."""


def untrainable(group: RolloutGroup) -> str | None:
    """Why this group must never be trained on (scripted, replayed), or None."""
    if not group.trainable:
        return group.untrainable_reason or "untrainable"
    bad = next((s for s in group.samples if not s.trainable), None)
    return None if bad is None else (bad.untrainable_reason or "untrainable")


def staleness_of(sample: RolloutSample, step: int) -> int:
    return step - sample.policy_version.step


class Selector:
    def __init__(self, trainer_id: str, max_staleness: int, dynamic_sampling: bool = True):
        self.trainer_id, self.max_staleness, self.dynamic_sampling = trainer_id, max_staleness, dynamic_sampling

    def reason(self, s: RolloutSample, step: int) -> str | None:
        """Why this sample is not trained on at `step`, or None."""
        v = s.policy_version
        if v.unknown:
            return "unknown_version"
        if v.trainer_id != self.trainer_id:
            return "lineage"
        if staleness_of(s, step) > self.max_staleness:
            return "stale"
        if not s.trainable:
            return "untrainable"
        return None

    def judge(self, group: RolloutGroup, step: int) -> Judged:
        drops: dict[str, Drops] = {}
        if not group.trainable:  # a group of scripted or replayed episodes
            drops["untrainable"] = Drops()
            drops["untrainable"].add(group.samples, group.group_id)
            return Judged(None, drops, Counter())
        if not group.samples:
            drops["excluded"] = Drops(samples=group.excluded, group_ids=[group.group_id])  # counts episodes
            return Judged(None, drops, Counter())
        kept = []
        for s in group.samples:
            why = self.reason(s, step)
            if why is None:
                kept.append(s)
            else:
                drops.setdefault(why, Drops()).add([s])
        if kept and self.dynamic_sampling and len({s.reward for s in kept}) == 1:
            drops.setdefault("zero_advantage", Drops()).add(kept, group.group_id)
            kept = []
        if not kept:
            return Judged(None, drops, Counter())
        out = group if len(kept) == len(group.samples) else group.model_copy(update={"samples": kept})
        return Judged(out, drops, Counter(str(max(staleness_of(s, step), 0)) for s in kept))
