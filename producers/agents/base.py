"""The `AgentRunner` seam between the orchestrator and the agents.

The orchestrator builds an `EpisodeContext` per (instance, sample, attempt) and
calls `runner.run(ctx)`; the runner writes the episode's events to `ctx.log`
and returns an `EpisodeOutcome`. A runner never raises for what an agent does
(bad output, failing commands, limits, model errors): those end the episode
with a reason. It raises only when it cannot write to the log.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from events.log import EventLog
from events.payloads import UNKNOWN_POLICY, FinishReason, PolicyVersion
from producers.sandbox.base import SandboxFactory

__all__ = ["AgentLimits", "Sampling", "EpisodeContext", "EpisodeOutcome", "AgentRunner",
           "TaskInstance"]


class AgentLimits(BaseModel):
    """The recipe's `sandbox_config` limits (names and defaults as in the SWE Agent Recipe)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_steps: int = 30
    """Most model calls per episode (`per_instance_call_limit`); format errors count."""
    max_turns: int = 15
    """Most executed tool calls (interaction turns) per episode before it is stopped."""
    execution_timeout: float = 300.0
    """Seconds one command may run before its process group is killed."""
    swe_agent_timeout: float = 1800.0
    """Seconds the whole episode may take (model calls and commands together)."""


class Sampling(BaseModel):
    """Sampling parameters sent with every model call."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    temperature: float = 0.0
    """Sampling temperature."""
    top_p: float = 1.0
    """Nucleus sampling mass."""
    max_tokens: int | None = None
    """Most completion tokens per call (None: the upstream's default)."""


class TaskInstance(Protocol):
    """What a runner needs of a dataset instance (`producers.datasets.Instance` fits it)."""

    instance_id: str
    repo: str
    base_commit: str
    problem_statement: str


@dataclass
class EpisodeContext:
    """Everything one episode needs; built by the orchestrator."""

    log: EventLog
    run_id: str
    episode_id: str
    instance: Any
    """The dataset instance (`producers.datasets.Instance`)."""
    sandbox_factory: SandboxFactory
    base_url: str
    """The proxy's base URL for this episode: http://HOST:PORT/e/{episode_id}/v1."""
    api_key: str = "ledger"
    """The proxy's bearer token."""
    model: str = "demo"
    sample_idx: int = 0
    attempt: int = 1
    seed: int | None = None
    """Per-episode seed, sent with every model call."""
    sampling: Sampling = field(default_factory=Sampling)
    policy_version: PolicyVersion = UNKNOWN_POLICY
    """The sampler's weights when the episode starts, if the caller knows them."""
    workflow_memory: str = ""
    """Induced workflows to put in the system prompt (may be empty)."""
    limits: AgentLimits = field(default_factory=AgentLimits)
    parent: str | None = None
    """Id of the event that caused this episode (e.g. `run.started`), if any."""


@dataclass
class EpisodeOutcome:
    episode_id: str
    patch: str
    reason: FinishReason
    turns: int
    """Tool calls executed."""
    steps: int
    """Model calls made."""
    duration_s: float
    finished_event_id: str
    started_event_id: str = ""
    error: str = ""
    incomplete: bool = False
    """True when a model call could not be recorded by the proxy (HTTP 503)."""
    infra_cause: str = ""
    """Non-empty when the infrastructure, not the agent, ended the episode (`producers.failures`)."""
    messages: list[dict[str, Any]] = field(default_factory=list)
    """The conversation as the agent saw it, raw model responses included."""


@runtime_checkable
class AgentRunner(Protocol):
    name: str

    def run(self, ctx: EpisodeContext) -> EpisodeOutcome:
        """Run one episode, writing its events to `ctx.log`."""
