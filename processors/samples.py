"""Training samples from one episode's proxy events (token fidelity, DESIGN.md §4).

An episode is one trajectory: turn 0's prompt ids, then for each later turn the
ids its `prompt_delta` appends (template and observation tokens) and the ids it
sampled. A new fork starts only where the proxy recorded one: a turn > 0 whose
request stores full prompt ids (with its `fork_reason`); a delta continues the
fork whose last turn it names. Nothing is compared token by token and nothing
is re-tokenised, and every id is stored once per fork: a sample holds exactly
the fork's conversation, never a copy of a prefix per turn.

Each fork's sample has loss mask 1 exactly on sampled tokens, the behaviour
logprobs there (0.0 elsewhere), and one span per model call (where its tokens
are, its policy version).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from events.payloads.policy import UNKNOWN_POLICY, PolicyVersion, oldest

__all__ = ["Turn", "Fork", "Excluded", "forks_of", "check", "NEVER_TRAINABLE"]

NEVER_TRAINABLE = ("scripted", "replayed")
"""Untrainable reasons whose episodes still assemble (for analysis), in untrainable groups."""


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
    fork_reason: str | None = None
    completion: list | None = None
    logprobs: list | None = None
    trainable: bool = False
    untrainable_reason: str | None = None
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
    spans: list = field(default_factory=list)
    """(turn, request_id, start, end, policy_version) per model call."""
    fork_reason: str | None = None
    untrainable: str | None = None
    """scripted / replayed when some turn of the fork is."""


def check(t: Turn) -> str | None:
    """Raise Excluded for a turn that cannot be part of a sample; the never-trainable reason or None."""
    if not t.answered:
        raise Excluded("missing_response")
    if t.reason != "done":
        raise Excluded(f"stream_{t.reason}")
    if t.completion is None or t.logprobs is None:
        raise Excluded("not_trainable")
    if len(t.logprobs) != len(t.completion):
        raise Excluded("logprobs_misaligned")
    if t.trainable:
        return None
    if t.untrainable_reason in NEVER_TRAINABLE:
        return t.untrainable_reason
    raise Excluded("not_trainable")


def forks_of(turns: list[Turn]) -> list[Fork]:
    turns = sorted(turns, key=lambda t: t.turn)
    untrainable = [check(t) for t in turns]
    forks: list[Fork] = []
    ends: dict[str, tuple[Fork, int]] = {}
    """request event id -> (its fork, the fork's length after its completion)."""
    for t, never in zip(turns, untrainable):
        cur = forks[-1] if forks else None
        if t.prompt_ids is None and t.delta is None:
            raise Excluded("no_prompt_ids")
        if t.prompt_ids is None and _continues(cur, ends.get(t.delta[0]), t.delta[1]):
            _append(cur, t.delta[2], 0)  # continues the fork: template + observation ids only
        else:
            cur = _new_fork(t, ends, first=not forks)
            forks.append(cur)
        start = len(cur.token_ids)
        _append(cur, t.completion, 1, t.logprobs)
        cur.spans.append((t.turn, t.request_id, start, len(cur.token_ids), t.policy_version))
        cur.policy_version = oldest(cur.policy_version, t.policy_version)
        cur.untrainable = cur.untrainable or never
        ends[t.event_id] = (cur, len(cur.token_ids))
    return forks


def _continues(cur: Fork | None, base_end: tuple | None, prefix_len: int) -> bool:
    """The delta names the current fork's last turn and keeps all of its ids."""
    return (cur is not None and base_end is not None and base_end[0] is cur
            and base_end[1] == len(cur.token_ids) == prefix_len)


def _new_fork(t: Turn, ends: dict, first: bool) -> Fork:
    if t.prompt_ids is not None:
        prompt = list(t.prompt_ids)
    else:  # a delta on a turn that is not the current fork's end (older logs)
        base_id, prefix_len, ids = t.delta
        if base_id not in ends:
            raise Excluded("missing_base_request")
        base, length = ends[base_id]
        if prefix_len > length:
            raise Excluded("bad_prompt_delta")
        prompt = base.token_ids[:prefix_len] + list(ids)
    reason = t.fork_reason or (None if first else "unrecorded: the request stores no fork reason")
    fork = Fork(prompt_len=len(prompt), fork_reason=reason)
    _append(fork, prompt, 0)
    return fork


def _append(fork: Fork, ids: list, mask: int, logprobs: list | None = None) -> None:
    fork.token_ids.extend(ids)
    fork.loss_mask.extend([mask] * len(ids))
    fork.logprobs.extend([float(x) for x in logprobs] if logprobs is not None else [0.0] * len(ids))
