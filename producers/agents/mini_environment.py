"""mini-swe-agent's Environment protocol over our Sandbox.

`execute` runs the command in the sandbox (bash, clean environment, the
per-command timeout), writes its `agent.action`, and raises mini-swe-agent's
`Submitted` on the submit sentinel and `LimitsExceeded` past `max_turns`.
"""
from __future__ import annotations

import platform
import time
from typing import Any, Callable

from producers.sandbox.base import Sandbox

from .base import AgentLimits
from .recorder import EpisodeRecorder
from .response_format import is_submission

__all__ = ["SandboxEnvironment", "MAX_TURNS_STATUS"]

MAX_TURNS_STATUS = "MaxTurnsExceeded"


class SandboxEnvironment:
    def __init__(self, sandbox: Sandbox, recorder: EpisodeRecorder, limits: AgentLimits,
                 start: float, step: Callable[[], int], proposed_by: Callable[[], str | None] = lambda: None):
        self.sandbox, self.recorder, self.limits = sandbox, recorder, limits
        self.deadline = start + limits.swe_agent_timeout
        self.step = step
        self.proposed_by = proposed_by
        """The `proxy.response` event id of the model call whose action runs now."""
        self.config = {"cwd": str(sandbox.workdir), "timeout": limits.execution_timeout}

    def _exit(self, exc_type: type, status: str, content: str = "") -> Exception:
        return exc_type({"role": "exit", "content": content or status,
                         "extra": {"exit_status": status, "submission": ""}})

    def execute(self, action: dict, cwd: str = "", *, timeout: int | None = None) -> dict[str, Any]:
        from minisweagent.exceptions import LimitsExceeded, Submitted, TimeExceeded

        if self.recorder.actions >= self.limits.max_turns:
            raise self._exit(LimitsExceeded, MAX_TURNS_STATUS)
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise self._exit(TimeExceeded, "TimeExceeded")
        command = action.get("command", "")
        limit = min(timeout or self.limits.execution_timeout, self.limits.execution_timeout, left)
        result = self.sandbox.run(command, timeout_s=limit)
        self.recorder.action(max(self.step(), 0), command, result, proposed_by=self.proposed_by())
        if is_submission(result):
            raise self._exit(Submitted, "Submitted", result.output)
        info = "" if not result.timed_out else f"the command timed out after {limit:g}s and was killed"
        return {"output": result.output, "returncode": -1 if result.exit_code is None else result.exit_code,
                "exception_info": info}

    def get_template_vars(self, **kwargs: Any) -> dict[str, Any]:
        return {**platform.uname()._asdict(), **self.config, **kwargs}

    def serialize(self) -> dict:
        return {"info": {"config": {"environment": dict(self.config),
                                    "environment_type": f"{__name__}.SandboxEnvironment"}}}
