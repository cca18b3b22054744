"""The built-in bash agent: one ```bash command per model reply, run in the sandbox.

The problem statement, the instance id and the workflow memory go into the
system prompt; each reply must carry exactly one fenced bash block; its output
goes back as the next user message; `echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT`
submits. Limits (recipe names): `max_steps` model calls, `max_turns` executed
commands, `execution_timeout` per command, `swe_agent_timeout` in total. The
patch recorded is the sandbox's diff whatever the reason the episode ended.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from events.blob import DEFAULT_CAP
from events.payloads import FinishReason
from producers.failures import exception_cause
from producers.sandbox.base import Sandbox, SandboxError

from .base import EpisodeContext, EpisodeOutcome
from .model_client import ModelCallFailed, ProxyModel
from .prompts import render_instance, render_system
from .recorder import EpisodeRecorder
from .response_format import FormatError, format_observation, is_submission, parse_command
from .workspace import open_for_episode

__all__ = ["BashAgentConfig", "BashAgent"]


class BashAgentConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    request_timeout_s: float = 600.0
    """Seconds one model call may take (the recipe's proxy `timeout`)."""
    observation_cap: int = DEFAULT_CAP
    """Bytes of each command's output stored whole in `agent.action` (then excerpt + sha256)."""
    trajectory_dir: str | None = None
    """Where to save the conversation as JSON after every step (`<episode_id>.traj.json`), if anywhere."""


class _Stop(Exception):
    def __init__(self, reason: FinishReason, error: str = "", incomplete: bool = False):
        super().__init__(reason)
        self.reason, self.error, self.incomplete = reason, error, incomplete


class _Submitted(Exception):
    pass


class BashAgent:
    name = "bash"

    def __init__(self, config: BashAgentConfig | None = None, **overrides: Any):
        self.config = config or BashAgentConfig(**overrides)

    def run(self, ctx: EpisodeContext) -> EpisodeOutcome:
        recorder = EpisodeRecorder(ctx, self.name, observation_cap=self.config.observation_cap)
        start = time.monotonic()
        sandbox, error = open_for_episode(ctx, recorder)
        if sandbox is None:
            return self._finish(recorder, start, None, _Stop("error", error), [])
        with sandbox:
            recorder.started(sandbox.info)
            episode = _Episode(ctx, self.config, sandbox, recorder, start)
            stop = episode.loop()
            episode.save(stop.reason)
            return self._finish(recorder, start, sandbox, stop, episode.messages,
                                steps=episode.steps)

    def _finish(self, recorder: EpisodeRecorder, start: float, sandbox: Sandbox | None,
                stop: _Stop, messages: list[dict[str, Any]], steps: int = 0) -> EpisodeOutcome:
        error = stop.error
        patch = ""
        if sandbox is not None:
            try:
                patch = sandbox.diff()
            except SandboxError as exc:
                error = error or f"patch extraction failed: {exc}"
        duration = time.monotonic() - start
        fid = recorder.finished(patch=patch, reason=stop.reason, turns=recorder.actions,
                                steps=steps, duration_s=duration, error=error,
                                incomplete=stop.incomplete)
        return EpisodeOutcome(
            episode_id=recorder.ctx.episode_id, patch=patch, reason=stop.reason,
            turns=recorder.actions, steps=steps, duration_s=duration, finished_event_id=fid,
            started_event_id=recorder.started_id or "", error=error, incomplete=stop.incomplete,
            infra_cause=recorder.infra_cause,
            messages=messages)


class _Episode:
    """The loop of one episode; ends by returning why it stopped."""

    def __init__(self, ctx: EpisodeContext, config: BashAgentConfig, sandbox: Sandbox,
                 recorder: EpisodeRecorder, start: float):
        self.ctx, self.sandbox, self.recorder = ctx, sandbox, recorder
        self.limits = ctx.limits
        self.deadline = start + ctx.limits.swe_agent_timeout
        self.model = ProxyModel(ctx, request_timeout_s=config.request_timeout_s)
        self.steps = 0
        self.proposed_by: str | None = None
        """The `proxy.response` event of the last model call (the next action's parent)."""
        self.trajectory = (Path(config.trajectory_dir) / f"{ctx.episode_id}.traj.json"
                           if config.trajectory_dir else None)
        self.messages: list[dict[str, Any]] = [
            {"role": "system", "content": render_system(ctx, str(sandbox.workdir))},
            {"role": "user", "content": render_instance(ctx)},
        ]

    def save(self, status: str = "running") -> None:
        if not self.trajectory:
            return
        self.trajectory.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.trajectory.with_suffix(".tmp")
        tmp.write_text(json.dumps({"episode_id": self.ctx.episode_id, "status": status,
                                   "steps": self.steps, "messages": self.messages}, indent=1))
        tmp.replace(self.trajectory)

    def loop(self) -> _Stop:
        try:
            while True:
                try:
                    self.step()
                finally:
                    self.save()
        except _Submitted:
            return _Stop("submitted")
        except _Stop as stop:
            return stop
        except SandboxError as exc:
            self.recorder.infra_cause = exc.cause
            return _Stop("error", f"sandbox failed: {exc}")
        except Exception as exc:  # an episode always ends with episode.finished
            return _Stop("error", f"{type(exc).__name__}: {exc}")

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise _Stop("timeout", f"swe_agent_timeout of {self.limits.swe_agent_timeout:g}s reached")
        return left

    def step(self) -> None:
        if self.steps >= self.limits.max_steps:
            raise _Stop("max_steps")
        if self.recorder.actions >= self.limits.max_turns:
            raise _Stop("max_turns")
        text = self.query(self.remaining())
        try:
            command = parse_command(text)
        except FormatError as exc:
            self.messages.append({"role": "user", "content": exc.message})
            return
        self.execute(command)

    def query(self, remaining: float) -> str:
        step = self.steps
        self.steps += 1
        try:
            reply = self.model.complete(self.messages, timeout_s=remaining)
        except ModelCallFailed as exc:
            if exc.timed_out and self.deadline <= time.monotonic() + 1:
                raise _Stop("timeout", str(exc)) from exc
            self.recorder.infra_cause = exception_cause(exc)
            raise _Stop("error", f"model call {step}: {exc}", incomplete=exc.unrecorded) from exc
        self.proposed_by = reply.response_event_id
        # Raw replies are kept even when they fail to parse.
        self.messages.append({"role": "assistant", "content": reply.text,
                              "extra": {"step": step, "finish_reason": reply.finish_reason}})
        return reply.text

    def execute(self, command: str) -> None:
        timeout = min(self.limits.execution_timeout, self.remaining())
        result = self.sandbox.run(command, timeout_s=timeout)
        self.recorder.action(self.steps - 1, command, result, proposed_by=self.proposed_by)
        if is_submission(result):
            raise _Submitted()
        if result.timed_out and self.deadline <= time.monotonic():
            raise _Stop("timeout", f"swe_agent_timeout of {self.limits.swe_agent_timeout:g}s reached")
        self.messages.append({"role": "user", "content": format_observation(result)})
