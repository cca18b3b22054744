"""rollouts: proxy + episodes + rewards -> `rollout.group` (GRPO groups).

An episode is ready once it has finished and has a reward from the configured
reward function; it then yields one sample per fork (processors.samples: one
trajectory for the whole episode unless the proxy recorded a fork) or is
excluded with a reason (proxy error, a response without ids or logprobs,
unfinished response, missing request/response, incomplete episode). A group is
complete when `group_size` episodes of a (run, instance) are ready, excluded
ones included (so a group never waits for episodes that will not come): the
first `group_size` ready episodes form group 0, the next ones group 1, ...; the
group carries the samples of its included episodes and the count and reasons of
its excluded ones (possibly no samples at all; the trainer drops and counts such
a group). Cross-topic order is free: whatever arrives first is buffered.

Scripted (`demo`) and replayed (`replay:`) episodes are never trainable: they
still assemble into samples (`trainable: false`), but only into groups of their
own, `<run>/<instance>/untrainable/<n>` with `trainable: false`, never into a
group meant for training; the trainer drops and counts those (`untrainable`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from events.envelope import Envelope
from events.log.base import Record
from events.payloads import UNKNOWN_POLICY, RolloutGroup, RolloutSample, SampledSpan
from events.registry import derive

from ..reward_fns import RewardFn, reward_fn

from ..samples import Excluded, Turn, forks_of

__all__ = ["Rollouts", "RolloutState", "EpisodeTurns", "PendingGroup"]


@dataclass
class _Episode:
    turns: dict = field(default_factory=dict)
    errors: int = 0
    finished: Any = None
    run_id: str = ""
    instance_id: str = ""
    reward: float | None = None


@dataclass
class _Pending:
    episodes: list = field(default_factory=list)
    """[(episode_id, [RolloutSample])]"""
    excluded: dict = field(default_factory=dict)
    index: int = 0
    untrainable: list = field(default_factory=list)
    """Ready scripted/replayed episodes, grouped apart: [(episode_id, [RolloutSample])]."""
    untrainable_index: int = 0


EpisodeTurns = _Episode
"""What `fold_episode` keeps per episode (public name for per-episode stores)."""
PendingGroup = _Pending
"""What `add_ready` keeps per (run, instance)."""


@dataclass
class RolloutState:
    episodes: dict = field(default_factory=dict)
    done: set = field(default_factory=set)
    groups: dict = field(default_factory=dict)
    excluded_total: dict = field(default_factory=dict)


class Rollouts:
    """`group_size`: episodes per GRPO group; `reward`: the reward function whose
    `reward.assigned` events are used (default binary@1)."""

    name = "rollouts"
    version = 2
    inputs = ("episodes", "proxy", "rewards")

    def __init__(self, group_size: int = 4, reward: RewardFn | None = None):
        if group_size < 1:
            raise ValueError(f"group_size must be >= 1, got {group_size}")
        self.group_size = group_size
        self.reward = reward or reward_fn("binary", 1)

    def initial_state(self) -> RolloutState:
        return RolloutState()

    def apply(self, state: RolloutState, record: Record) -> tuple[RolloutState, list[Envelope]]:
        ev = record.event
        ep_id = getattr(ev.payload, "episode_id", None)
        if not ep_id or ep_id in state.done:
            return state, []
        ep = state.episodes.setdefault(ep_id, _Episode())
        if not self.fold_episode(ep, ev):
            return state, []
        del state.episodes[ep_id]
        state.done.add(ep_id)
        key = (ep.run_id, ep.instance_id)
        return state, self.add_ready(state.groups.setdefault(key, _Pending()), state.excluded_total, ep_id,
                                     key, self.outcome(ep_id, ep), ev)

    def fold_episode(self, ep: _Episode, ev: Envelope) -> bool:
        """Fold one event into its episode (per-episode state only); True once it is ready."""
        return self._fold(ep, ev) and ep.finished is not None and ep.reward is not None

    def _fold(self, ep: _Episode, ev: Envelope) -> bool:
        p, t = ev.payload, ev.type
        if t == "proxy.request":
            turn = ep.turns.setdefault(p.request_id, Turn(p.request_id, p.turn))
            turn.turn, turn.prompt_ids, turn.event_id = p.turn, p.prompt_token_ids, ev.id
            turn.fork_reason = p.fork_reason
            if p.prompt_delta is not None:
                d = p.prompt_delta
                turn.delta = (d.base_request, d.prefix_len, list(d.ids))
        elif t == "proxy.response":
            turn = ep.turns.setdefault(p.request_id, Turn(p.request_id, p.turn))
            turn.completion, turn.logprobs = p.completion_token_ids, p.logprobs
            turn.trainable, turn.policy_version, turn.reason = p.trainable, p.policy_version, p.reason
            turn.untrainable_reason = p.untrainable_reason
            turn.answered = True
        elif t == "proxy.error":
            ep.errors += 1
        elif t == "episode.finished":
            ep.finished, ep.run_id, ep.instance_id = p, ev.run_id, p.instance_id
        elif t == "episode.started":
            ep.run_id, ep.instance_id = ev.run_id or ep.run_id, p.instance_id
        elif t == "reward.assigned":
            if (p.reward_fn, p.reward_version) != (self.reward.name, self.reward.version) or ep.reward is not None:
                return False
            ep.reward = p.reward
            ep.run_id, ep.instance_id = ep.run_id or ev.run_id, ep.instance_id or p.instance_id
        else:
            return False
        return True

    def _samples(self, ep_id: str, ep: _Episode) -> list[RolloutSample]:
        if ep.finished.incomplete:
            raise Excluded("incomplete")
        if ep.errors:
            raise Excluded("proxy_error")
        if not ep.turns:
            raise Excluded("no_proxy_events")
        if any(t.prompt_ids is None and t.delta is None for t in ep.turns.values()):
            raise Excluded("missing_request")
        return [RolloutSample(sample_id=f"{ep_id}/{i}", episode_id=ep_id, rollout_id=ep_id, fork=i,
                              token_ids=f.token_ids, loss_mask=f.loss_mask, logprobs=f.logprobs,
                              prompt_len=f.prompt_len, reward=ep.reward,
                              policy_version=UNKNOWN_POLICY if f.policy_version is None else f.policy_version,
                              spans=[SampledSpan(turn=t, request_id=r, start=a, end=b, policy_version=v)
                                     for t, r, a, b, v in f.spans],
                              fork_reason=f.fork_reason, trainable=f.untrainable is None,
                              untrainable_reason=f.untrainable)
                for i, f in enumerate(forks_of(list(ep.turns.values())))]

    def outcome(self, ep_id: str, ep: _Episode) -> list[RolloutSample] | str:
        """A ready episode's samples, or the reason it is excluded."""
        try:
            return self._samples(ep_id, ep)
        except Excluded as exc:
            return exc.reason

    def add_ready(self, pending: _Pending, excluded_total: dict, ep_id: str, key: tuple[str, str],
                  outcome: list[RolloutSample] | str, ev: Envelope) -> list[Envelope]:
        """Add one ready episode to its (run, instance) `pending` group (per-key state
        only); the `rollout.group` once it is full. `ev`: the event that made it ready."""
        run_id, instance_id = key
        if isinstance(outcome, str):
            pending.excluded[outcome] = pending.excluded.get(outcome, 0) + 1
            excluded_total[outcome] = excluded_total.get(outcome, 0) + 1
        elif not all(s.trainable for s in outcome):
            return self._add_untrainable(pending, ep_id, key, outcome, ev)
        else:
            pending.episodes.append((ep_id, outcome))
        if len(pending.episodes) + sum(pending.excluded.values()) < self.group_size:
            return []
        members, pending.episodes = pending.episodes, []
        group_id = f"{run_id}/{instance_id}/{pending.index}"
        payload = RolloutGroup(group_id=group_id, run_id=run_id, prompt_id=instance_id,
                               samples=[s for _, ss in members for s in ss],
                               excluded=sum(pending.excluded.values()), excluded_reasons=dict(pending.excluded))
        pending.index += 1
        pending.excluded = {}
        return [derive(payload, processor=self.name, version=self.version, inputs=[e for e, _ in members],
                       run_id=run_id, parent=ev.id, ts=ev.ts, discriminator=group_id)]

    def _add_untrainable(self, pending: _Pending, ep_id: str, key: tuple[str, str],
                         samples: list[RolloutSample], ev: Envelope) -> list[Envelope]:
        """Scripted/replayed episodes: their own groups, marked untrainable, never mixed in."""
        run_id, instance_id = key
        pending.untrainable.append((ep_id, samples))
        if len(pending.untrainable) < self.group_size:
            return []
        members, pending.untrainable = pending.untrainable[:self.group_size], pending.untrainable[self.group_size:]
        group_id = f"{run_id}/{instance_id}/untrainable/{pending.untrainable_index}"
        pending.untrainable_index += 1
        payload = RolloutGroup(group_id=group_id, run_id=run_id, prompt_id=instance_id,
                               samples=[s for _, ss in members for s in ss], trainable=False,
                               untrainable_reason=_never_reason(members))
        return [derive(payload, processor=self.name, version=self.version, inputs=[e for e, _ in members],
                       run_id=run_id, parent=ev.id, ts=ev.ts, discriminator=group_id)]


def _never_reason(members: list) -> str:
    """`scripted` when any member's upstream was scripted, else `replayed`."""
    reasons = {s.untrainable_reason for _, ss in members for s in ss}
    return "scripted" if "scripted" in reasons else "replayed"
