"""Training samples from one episode's proxy events (token fidelity, DESIGN.md §4).

Each turn's prompt ids are rebuilt from the stored full ids or delta; turns are
folded into forks: a turn whose prompt extends the fork's tokens (previous
prompt + completion) continues it, any other turn starts a new fork (context
compaction, sub-agents). A fork's sample is its last prompt + completion, with
loss mask 1 exactly on tokens some turn of the fork sampled, and behaviour
logprobs on those positions (0.0 elsewhere).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from events.payloads.policy import UNKNOWN_POLICY, PolicyVersion, oldest

__all__ = ["Turn", "Fork", "Excluded", "prompts_of", "forks_of"]


class Excluded(Exception):
    """The episode cannot yield exact samples; `reason` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Turn:
    request_id: str
    turn: int
    event_id: str = ""
    """Id of the proxy.request event (what a delta's `base_request` names)."""
    prompt_ids: list | None = None
    delta: tuple | None = None
    """(base_request, prefix_len, ids)."""
    completion: list | None = None
    logprobs: list | None = None
    trainable: bool = False
    policy_version: PolicyVersion = UNKNOWN_POLICY
    reason: str = "done"
    answered: bool = False


@dataclass
class Fork:
    token_ids: list = field(default_factory=list)
    loss_mask: list = field(default_factory=list)
    logprobs: list = field(default_factory=list)
    prompt_len: int = 0
    policy_version: PolicyVersion | None = None
    """The oldest version of its turns (events.payloads.policy.oldest)."""


def prompts_of(turns: list[Turn]) -> dict[str, list]:
    """Full prompt ids per request id."""
    prompts: dict[str, list] = {}
    by_id = {t.request_id: t for t in turns}
    by_id.update({t.event_id: t for t in turns if t.event_id})
    for t in turns:
        if t.prompt_ids is not None:
            prompts[t.request_id] = list(t.prompt_ids)
            continue
        if t.delta is None:
            raise Excluded("no_prompt_ids")
        base_id, prefix_len, ids = t.delta
        base = by_id.get(base_id)
        if base is None or base.request_id not in prompts:
            raise Excluded("missing_base_request")
        prompts[t.request_id] = (prompts[base.request_id] + list(base.completion or []))[:prefix_len] + list(ids)
    return prompts


def check(t: Turn) -> None:
    if not t.answered:
        raise Excluded("missing_response")
    if t.reason != "done":
        raise Excluded(f"stream_{t.reason}")
    if not t.trainable or t.completion is None or t.logprobs is None:
        raise Excluded("not_trainable")
    if len(t.logprobs) != len(t.completion):
        raise Excluded("logprobs_misaligned")


def forks_of(turns: list[Turn]) -> list[Fork]:
    turns = sorted(turns, key=lambda t: t.turn)
    for t in turns:
        check(t)
    prompts = prompts_of(turns)
    forks: list[Fork] = []
    for t in turns:
        prompt, comp = prompts[t.request_id], t.completion
        cur = forks[-1] if forks else None
        if cur is None or prompt[:len(cur.token_ids)] != cur.token_ids:
            cur = Fork(prompt_len=len(prompt))
            forks.append(cur)
        gap = len(prompt) - len(cur.token_ids)
        cur.token_ids = prompt + list(comp)
        cur.loss_mask += [0] * gap + [1] * len(comp)
        cur.logprobs += [0.0] * gap + [float(x) for x in t.logprobs]
        cur.policy_version = oldest(cur.policy_version, t.policy_version)
    return forks
