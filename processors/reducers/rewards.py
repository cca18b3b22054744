"""rewards: `eval.result` -> `reward.assigned` under one versioned reward function.

Stateless. Results with status `infra` get no reward (an outage says nothing about
the policy, and must never train it towards 0). Output ids are derived from
(`rewards.NAME`, version, eval id[, penalties]), so a new reward function or version
writes new outputs beside the old ones.
"""
from __future__ import annotations

from events.envelope import Envelope
from events.log.base import Record
from events.payloads import INFRA, RewardAssigned
from events.registry import derive

from ..reward_fns import RewardFn, reward_fn

__all__ = ["Rewards", "reward_event"]


def reward_event(fn: RewardFn, ev: Envelope, run_only: str | None = None) -> Envelope:
    p = ev.payload
    value, comps = fn(p)
    payload = RewardAssigned(episode_id=p.episode_id, instance_id=p.instance_id, sample_idx=p.sample_idx,
                             eval_id=ev.id, reward=value, components=comps, reward_fn=fn.name,
                             reward_version=fn.version)
    disc = "" if fn.ident == f"{fn.name}@{fn.version}" else fn.ident
    return derive(payload, processor=f"rewards.{fn.name}", version=fn.version, inputs=[ev.id],
                  run_id=ev.run_id, parent=ev.id, ts=ev.ts, discriminator=disc)


class Rewards:
    """`fn`: the reward function (default binary@1)."""

    inputs = ("evals",)

    def __init__(self, fn: RewardFn | None = None):
        self.fn = fn or reward_fn("binary", 1)
        self.name = f"rewards.{self.fn.name}" + ("" if self.fn.ident.endswith(f"@{self.fn.version}")
                                                 else "." + self.fn.ident.split("+", 1)[1])
        self.version = self.fn.version

    def initial_state(self) -> None:
        return None

    def apply(self, state: None, record: Record) -> tuple[None, list[Envelope]]:
        if record.event.type != "eval.result" or record.event.payload.status == INFRA:
            return state, []  # an infrastructure failure is no signal about the policy
        return state, [reward_event(self.fn, record.event)]
