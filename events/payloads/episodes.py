"""`episodes` topic: one agent attempt at one (instance, sample)."""
from __future__ import annotations

from typing import Literal

from .base import Payload
from .policy import UNKNOWN_POLICY, PolicyVersion

__all__ = ["SandboxInfo", "EpisodeStarted", "EpisodeFinished", "FinishReason"]

FinishReason = Literal["submitted", "max_steps", "max_turns", "timeout", "error", "cancelled"]


class SandboxInfo(Payload):
    kind: str = "local"
    """`local` or `docker`."""
    network_isolated: bool = False
    """True when commands ran without network (unshare -n / docker network none)."""
    filesystem_isolated: bool = False
    """True when commands could write only inside their sandbox (read-only mount namespace / container)."""
    note: str = ""
    """Why isolation is weaker than asked, if it is."""
    image: str | None = None


class EpisodeStarted(Payload):
    episode_id: str
    instance_id: str
    sample_idx: int = 0
    attempt: int = 1
    agent: str = "bash"
    sandbox: SandboxInfo = SandboxInfo()
    policy_version: PolicyVersion = UNKNOWN_POLICY
    """The sampler's weights when the episode started (v2; the responses carry what served each turn)."""
    model: str = ""
    repo: str = ""
    seed: int | None = None
    problem_statement: str = ""
    """The task as the agent was given it (empty when the producer does not record it)."""


class EpisodeFinished(Payload):
    episode_id: str
    instance_id: str
    sample_idx: int = 0
    attempt: int = 1
    patch: str = ""
    reason: FinishReason
    turns: int = 0
    steps: int = 0
    """Model calls made."""
    duration_s: float = 0.0
    error: str = ""
    incomplete: bool = False
    """True when some of the episode's model calls could not be recorded."""
    infra_cause: str = ""
    """Non-empty when the episode ended because the infrastructure failed, not the agent
    (`upstream unreachable`, `sandbox`, `repository missing`, ...): its patch is not judged."""
