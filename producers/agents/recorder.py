"""Writes an episode's own events: `episode.started`, `agent.action`s, `episode.finished`.

Each event is appended as soon as it happens (not batched at the end), so an
episode cut short by a crash still tells its story up to that point. An action
points through `parent` at the `proxy.response` that proposed it (its id is
`events.ids.response_id(request id)`; the runner passes it), or at
`episode.started` when the runner cannot know the model call; the finish event
points at `episode.started`.
"""
from __future__ import annotations

import events
from events.blob import DEFAULT_CAP, make_blob
from events.envelope import Envelope
from events.payloads import AgentAction, EpisodeFinished, EpisodeStarted, FinishReason, SandboxInfo
from producers.sandbox.base import CommandResult

from .base import EpisodeContext

__all__ = ["EpisodeRecorder"]


class EpisodeRecorder:
    """Appends one episode's events to `ctx.log`, linked by parent ids."""

    def __init__(self, ctx: EpisodeContext, agent: str, *, observation_cap: int = DEFAULT_CAP,
                 producer: str | None = None):
        self.ctx = ctx
        self.agent = agent
        self.observation_cap = observation_cap
        self.producer = producer or f"agent.{agent}"
        self.started_id: str | None = None
        self.actions = 0
        self.infra_cause = ""
        """Set when the episode ends because the infrastructure failed (`producers.failures`)."""

    def _append(self, topic: str, event: Envelope) -> str:
        self.ctx.log.append(topic, [event])
        return event.id

    def started(self, sandbox: SandboxInfo) -> str:
        ctx = self.ctx
        payload = EpisodeStarted(
            episode_id=ctx.episode_id, instance_id=ctx.instance.instance_id,
            sample_idx=ctx.sample_idx, attempt=ctx.attempt, agent=self.agent, sandbox=sandbox,
            policy_version=ctx.policy_version, model=ctx.model,
            repo=getattr(ctx.instance, "repo", ""), seed=ctx.seed,
            problem_statement=getattr(ctx.instance, "problem_statement", "") or "")
        event = events.new(payload, producer=self.producer, run_id=ctx.run_id, parent=ctx.parent)
        self.started_id = self._append("episodes", event)
        return event.id

    def action(self, step: int, command: str, result: CommandResult, tool: str = "bash",
               proposed_by: str | None = None) -> str:
        """One executed tool call; `step` is the 0-based model call that asked for it and
        `proposed_by` the id of that call's `proxy.response` (the action's parent)."""
        payload = AgentAction(
            episode_id=self.ctx.episode_id, step=step, tool=tool, command=command,
            exit_code=result.exit_code, observation=make_blob(result.output, self.observation_cap),
            duration_s=result.duration_s, timed_out=result.timed_out,
            output_capped=result.output_capped)
        self.actions += 1
        return self._append("actions", events.new(payload, producer=self.producer, run_id=self.ctx.run_id,
                                                  parent=proposed_by or self.started_id))

    def finished(self, *, patch: str, reason: FinishReason, turns: int, steps: int,
                 duration_s: float, error: str = "", incomplete: bool = False) -> str:
        ctx = self.ctx
        payload = EpisodeFinished(
            episode_id=ctx.episode_id, instance_id=ctx.instance.instance_id,
            sample_idx=ctx.sample_idx, attempt=ctx.attempt, patch=patch, reason=reason,
            turns=turns, steps=steps, duration_s=round(duration_s, 6), error=error,
            incomplete=incomplete, infra_cause=self.infra_cause)
        return self._append("episodes", events.new(payload, producer=self.producer,
                                                   run_id=ctx.run_id, parent=self.started_id))
