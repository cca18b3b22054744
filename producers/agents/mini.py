"""The mini-swe-agent adapter: the real `mini-swe-agent` package, driven against the proxy.

Its `DefaultAgent` and litellm model are used as shipped; its commands run in
OUR sandbox through `SandboxEnvironment` (mini-swe-agent's Environment
protocol), which writes one `agent.action` per tool call with the same capture
as the bash agent. `mode="text"` parses fenced blocks (```bash or
```mswea_bash_command, what scripted upstreams emit); `mode="toolcall"` uses
its bash tool calls. Limits: `max_steps` is its step limit, `swe_agent_timeout`
its wall-time limit, `max_turns` and `execution_timeout` are enforced here.

One deliberate difference, `keep_unparsed_replies` (on by default): mini-swe-agent
leaves a reply it cannot parse (cut by `max_tokens`, or holding no action) out
of its history and sends only its format-error message, so the next prompt
lacks tokens the model sampled and the proxy must fork the episode's
trajectory. Kept, the reply stays in the history before that message (as
SWE-agent and our bash agent keep theirs): the episode stays one trajectory and
the model is trained on the reply that earned the error. A reply carrying tool
calls is never kept that way (a tool call needs its tool result next).
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict

from events.blob import DEFAULT_CAP
from events.payloads import FinishReason
from producers.failures import exception_cause
from producers.sandbox.base import SandboxError

from .base import EpisodeContext, EpisodeOutcome
from .mini_environment import MAX_TURNS_STATUS, SandboxEnvironment
from .recorder import EpisodeRecorder
from .workspace import open_for_episode

__all__ = ["MiniSweAgentConfig", "MiniSweAgent", "import_minisweagent"]

_EXIT_REASONS: dict[str, FinishReason] = {
    "Submitted": "submitted", "LimitsExceeded": "max_steps", MAX_TURNS_STATUS: "max_turns",
    "TimeExceeded": "timeout"}


def import_minisweagent():
    """Import mini-swe-agent quietly and offline: these variables are read at import time."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("MSWEA_SILENT_STARTUP", "1")
    os.environ.setdefault("MSWEA_GLOBAL_CONFIG_DIR", str(Path(tempfile.gettempdir()) / "ledger-mswea"))
    os.environ.setdefault("MSWEA_MODEL_RETRY_STOP_AFTER_ATTEMPT", "1")
    import litellm
    import minisweagent

    litellm.suppress_debug_info = True
    return minisweagent


class MiniSweAgentConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["text", "toolcall"] = "text"
    """`text`: one fenced block per reply; `toolcall`: mini-swe-agent's bash tool calls."""
    action_regex: str = r"```(?:bash|mswea_bash_command)[ \t]*\n(.*?)\n```"
    """How a command is found in a reply (text mode)."""
    config_file: str | None = None
    """A mini-swe-agent YAML config (default: its mini_textbased.yaml / mini.yaml)."""
    request_timeout_s: float = 600.0
    """Seconds one model call may take."""
    max_consecutive_format_errors: int = 3
    """Stop after this many unparseable replies in a row (0: never)."""
    observation_cap: int = DEFAULT_CAP
    """Bytes of each command's output stored whole in `agent.action`."""
    trajectory_dir: str | None = None
    """Where to save mini-swe-agent's trajectory JSON (one file per episode), if anywhere."""
    keep_unparsed_replies: bool = True
    """Keep a reply mini-swe-agent cannot parse in its history, before the format-error message
    (false: mini-swe-agent's own behaviour, which drops it and so forks the trajectory)."""


class MiniSweAgent:
    name = "mini-swe-agent"

    def __init__(self, config: MiniSweAgentConfig | None = None, **overrides: Any):
        self.config = config or MiniSweAgentConfig(**overrides)

    def _yaml(self, mini) -> dict[str, Any]:
        default = "mini_textbased.yaml" if self.config.mode == "text" else "mini.yaml"
        path = Path(self.config.config_file or Path(mini.package_dir) / "config" / default)
        return yaml.safe_load(path.read_text())

    def _model(self, ctx: EpisodeContext, cfg: dict[str, Any]):
        s = ctx.sampling
        kwargs: dict[str, Any] = {
            "api_base": ctx.base_url, "api_key": ctx.api_key, "drop_params": True,
            "_skip_mcp_handler": True, "temperature": s.temperature, "top_p": s.top_p,
            "timeout": self.config.request_timeout_s, "max_retries": 0}
        if s.max_tokens is not None:
            kwargs["max_tokens"] = s.max_tokens
        if ctx.seed is not None:
            kwargs["seed"] = ctx.seed
        common = dict(model_name=f"openai/{ctx.model}", model_kwargs=kwargs,
                      cost_tracking="ignore_errors",
                      observation_template=cfg["model"]["observation_template"],
                      format_error_template=cfg["model"]["format_error_template"])
        if self.config.mode == "text":
            from minisweagent.models.litellm_textbased_model import LitellmTextbasedModel

            model_cls: Any = LitellmTextbasedModel
            common["action_regex"] = self.config.action_regex
        else:
            from minisweagent.models.litellm_model import LitellmModel

            model_cls = LitellmModel
        if self.config.keep_unparsed_replies:
            model_cls = _keeping_unparsed_replies(model_cls)
        return model_cls(**common)

    def run(self, ctx: EpisodeContext) -> EpisodeOutcome:
        mini = import_minisweagent()
        from minisweagent.agents.default import DefaultAgent

        recorder = EpisodeRecorder(ctx, self.name, observation_cap=self.config.observation_cap)
        start = time.monotonic()
        sandbox, error = open_for_episode(ctx, recorder)
        if sandbox is None:
            return _outcome(recorder, start, "", "error", 0, error, False, [])
        with sandbox:
            recorder.started(sandbox.info)
            cfg = self._yaml(mini)
            agent_box: list[Any] = []
            env = SandboxEnvironment(sandbox, recorder, ctx.limits, start,
                                     step=lambda: agent_box[0].n_calls - 1,
                                     proposed_by=lambda: _last_response_event(agent_box[0].messages))
            agent = DefaultAgent(
                self._model(ctx, cfg), env, system_template=cfg["agent"]["system_template"],
                instance_template=cfg["agent"]["instance_template"],
                step_limit=ctx.limits.max_steps, cost_limit=0,
                wall_time_limit_seconds=max(1, int(ctx.limits.swe_agent_timeout)),
                max_consecutive_format_errors=self.config.max_consecutive_format_errors,
                output_path=self._trajectory_path(ctx))
            agent_box.append(agent)
            reason, error, incomplete, recorder.infra_cause = _drive(agent, _task(ctx))
            try:
                patch = sandbox.diff()
            except SandboxError as exc:
                patch, error = "", error or f"patch extraction failed: {exc}"
            return _outcome(recorder, start, patch, reason, agent.n_calls, error, incomplete,
                            agent.messages)

    def _trajectory_path(self, ctx: EpisodeContext) -> Path | None:
        if not self.config.trajectory_dir:
            return None
        return Path(self.config.trajectory_dir) / f"{ctx.episode_id}.traj.json"


def _keeping_unparsed_replies(model_cls: type) -> type:
    """`model_cls` whose format errors carry the unparsed reply first, so the agent's history keeps
    it (mini-swe-agent adds every message of a FormatError to its history)."""
    from minisweagent.exceptions import FormatError

    class KeepingUnparsedReplies(model_cls):  # type: ignore[misc, valid-type]
        def query(self, messages: list[dict], **kwargs: Any) -> dict:
            try:
                return super().query(messages, **kwargs)
            except FormatError as exc:
                reply = _unparsed_reply(exc.messages[0]) if exc.messages else None
                if reply is not None:
                    exc.messages = (reply, *exc.messages)
                raise

    return KeepingUnparsedReplies


def _unparsed_reply(error_message: dict) -> dict | None:
    """The assistant message a FormatError's message was raised for, as mini-swe-agent would have
    kept it (the completion's message plus `extra.response`), or None when it holds tool calls or
    the completion was not recorded. The call's cost moves to it (the agent bills `messages[0]`)."""
    extra = error_message.get("extra") or {}
    response = extra.get("response")
    choices = response.get("choices") if isinstance(response, dict) else None
    message = choices[0].get("message") if isinstance(choices, list) and choices \
        and isinstance(choices[0], dict) else None
    if not isinstance(message, dict) or message.get("tool_calls"):
        return None
    return {**message, "extra": {"response": response, "cost": extra.get("cost", 0.0),
                                 "unparsed": True}}


def _last_response_event(messages: list[dict]) -> str | None:
    """The `proxy.response` id of the latest model reply (mini-swe-agent keeps the completion in
    the assistant message's `extra.response`; its `id` is the proxy's request id)."""
    from events.ids import proxy_response_of

    for msg in reversed(messages):
        if msg.get("role") == "assistant":
            response = (msg.get("extra") or {}).get("response")
            return proxy_response_of(response.get("id") if isinstance(response, dict) else None)
    return None


def _task(ctx: EpisodeContext) -> str:
    inst = ctx.instance
    memory = ctx.workflow_memory.strip()
    block = f"\n\n<workflow_memory>\n{memory}\n</workflow_memory>" if memory else ""
    return (f"<instance_id>{inst.instance_id}</instance_id>\n\n"
            f"{inst.problem_statement.strip()}{block}")


def _drive(agent: Any, task: str) -> tuple[FinishReason, str, bool, str]:
    """Run mini-swe-agent to its exit; (reason, error, incomplete, infra cause)."""
    try:
        info = agent.run(task)
    except Exception as exc:  # its uncaught model/runtime errors end the episode
        status = _status_code(exc)
        return "error", f"{type(exc).__name__}: {exc}"[:2000], status == 503, exception_cause(exc)
    status = info.get("exit_status", "")
    reason = _EXIT_REASONS.get(status, "error")
    error = "" if reason != "error" else f"mini-swe-agent exited: {status or 'unknown'}"
    return reason, error, False, ""


def _status_code(exc: BaseException) -> int | None:
    seen: BaseException | None = exc
    while seen is not None:
        code = getattr(seen, "status_code", None)
        if isinstance(code, int):
            return code
        seen = seen.__cause__ or seen.__context__
    return None


def _outcome(recorder: EpisodeRecorder, start: float, patch: str, reason: FinishReason,
             steps: int, error: str, incomplete: bool, messages: list[dict]) -> EpisodeOutcome:
    duration = time.monotonic() - start
    fid = recorder.finished(patch=patch, reason=reason, turns=recorder.actions, steps=steps,
                            duration_s=duration, error=error, incomplete=incomplete)
    return EpisodeOutcome(
        episode_id=recorder.ctx.episode_id, patch=patch, reason=reason, turns=recorder.actions,
        steps=steps, duration_s=duration, finished_event_id=fid,
        started_event_id=recorder.started_id or "", error=error, incomplete=incomplete,
        infra_cause=recorder.infra_cause, messages=messages)
