"""`SweAgent`: the recipe's `sweagent run` subprocess as an agent runner.

Per episode: a fresh sandbox checkout (SWE-agent's local repo), a validated
config pointing its model at the proxy, then `sweagent run --config FILE` in
its own process group under `swe_agent_timeout` (the whole group is killed on
timeout). Its trajectory becomes `agent.action` events (SWE-agent runs the
commands itself, so they are recorded when it has finished), its `.pred` /
`.patch` / the working tree give the patch.

Limits: `max_steps` is SWE-agent's `per_instance_call_limit`, `execution_timeout`
its per-command timeout, `swe_agent_timeout` the subprocess's. SWE-agent takes one
action per model call and has no separate turn limit, so `max_turns` is bounded by
`max_steps` only. Its commands run under SWE-agent's deployment, not our sandbox:
`episode.started` says so (`network_isolated` false, a note).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from events.payloads import FinishReason, SandboxInfo
from producers.sandbox.base import CommandResult

from ..base import EpisodeContext, EpisodeOutcome
from ..recorder import EpisodeRecorder
from ..workspace import open_for_episode
from .config_builder import SWEAgentConfigBuilder, unique_instance_id
from .config_validator import AgentConfigValidator, ConfigValidationError
from .patch_extractor import PatchExtractor
from .settings import TOKEN_ENV, SweAgentSettings

__all__ = ["SweAgent", "exit_reason"]

_LOG_TAIL = 2000


def exit_reason(exit_status: str) -> FinishReason:
    """SWE-agent's exit status as a finish reason (`submitted (exit_cost)` = autosubmitted
    at the call limit)."""
    if exit_status.startswith("submitted"):
        return "max_steps" if "exit_cost" in exit_status else "submitted"
    return "max_steps" if exit_status == "exit_cost" else "error"


class SweAgent:
    name = "swe-agent"

    def __init__(self, settings: SweAgentSettings | None = None, **overrides: Any):
        self.settings = settings or SweAgentSettings(**overrides)
        self.builder = SWEAgentConfigBuilder(self.settings)
        self.validator = AgentConfigValidator()

    def run(self, ctx: EpisodeContext) -> EpisodeOutcome:
        recorder = EpisodeRecorder(ctx, self.name, observation_cap=self.settings.observation_cap)
        start = time.monotonic()
        sandbox, error = open_for_episode(ctx, recorder)
        if sandbox is None:
            return _outcome(recorder, start, "", "error", 0, error)
        root = Path(tempfile.mkdtemp(prefix=f"swea-{ctx.episode_id[:8]}-", dir=self.settings.output_root))
        try:
            with sandbox:
                info = sandbox.info.model_copy(update={"note": _note(sandbox.info, self.settings),
                                                       "network_isolated": False})
                recorder.started(info)
                return self._episode(ctx, recorder, sandbox, root, start)
        finally:
            if not self.settings.keep_outputs:
                shutil.rmtree(root, ignore_errors=True)

    def _episode(self, ctx, recorder, sandbox, root: Path, start: float) -> EpisodeOutcome:
        config = self.builder.build(ctx, sandbox.workdir, sandbox.base_commit, root / "out")
        try:
            self.validator.validate(config)
        except ConfigValidationError as exc:
            return _outcome(recorder, start, "", "error", 0, str(exc))
        path = self.builder.write(config, root / "config.yaml")
        left = max(1.0, ctx.limits.swe_agent_timeout - (time.monotonic() - start))
        code, timed_out, log_tail = self._call(path, ctx, root, left)
        uid = unique_instance_id(ctx.instance.instance_id, ctx.episode_id)
        instance_dir = root / "out" / uid
        traj = _read_json(instance_dir / f"{uid}.traj")
        steps = _record_actions(recorder, traj)
        patch = PatchExtractor(instance_dir, uid, git_diff=sandbox.diff).extract().patch
        status = (traj.get("info") or {}).get("exit_status") or ""
        if timed_out:
            reason, error = "timeout", f"sweagent ran past {left:g}s and was killed"
        elif status:
            reason = exit_reason(status)
            error = "" if reason != "error" else f"sweagent exit status {status}"
        else:
            reason, error = "error", f"sweagent exited with code {code} and no trajectory: {log_tail}"
        return _outcome(recorder, start, patch, reason, steps, error)

    def _call(self, config_path: Path, ctx: EpisodeContext, root: Path,
              timeout_s: float) -> tuple[int | None, bool, str]:
        argv = [*self.settings.executable, "run"]
        if self.settings.base_config:
            argv += ["--config", self.settings.base_config]
        argv += ["--config", str(config_path)]
        env = {**os.environ, **self.settings.extra_env, TOKEN_ENV: ctx.api_key}
        log_path = root / "sweagent.log"
        with log_path.open("wb") as log:
            try:
                proc = subprocess.Popen(argv, cwd=root, env=env, stdin=subprocess.DEVNULL,
                                        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            except OSError as exc:
                return None, False, f"cannot start {argv[0]}: {exc.strerror}"
            try:
                code, timed_out = proc.wait(timeout=timeout_s), False
            except subprocess.TimeoutExpired:
                _kill_group(proc.pid)
                code, timed_out = proc.wait(), True
            finally:
                _kill_group(proc.pid)
        return code, timed_out, log_path.read_bytes()[-_LOG_TAIL:].decode("utf-8", "replace")


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _note(info: SandboxInfo, settings: SweAgentSettings) -> str:
    """SWE-agent runs its own commands: the sandbox's isolation holds only for the checkout."""
    extra = (f"commands run by SWE-agent's {settings.deployment_type} deployment, "
             "not by the sandbox")
    return f"{info.note}; {extra}" if info.note else extra


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(errors="replace"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _responses(recorder: EpisodeRecorder) -> list[tuple[str, str]]:
    """(text, event id) of the episode's `proxy.response`s in turn order, read back from its
    partition of the log (SWE-agent keeps no ids of its model calls)."""
    from events.codec import DecodeError, decode
    from events.log.partitioner import partitions_for

    log, episode = recorder.ctx.log, recorder.ctx.episode_id
    part = partitions_for([episode], log.partitions("proxy"))[0]
    found = []
    for raw in log.read_raw("proxy", 0, part):
        if raw.key != episode:
            continue
        try:
            ev = decode(raw.value)
        except DecodeError:
            continue
        if ev.type == "proxy.response":
            found.append((ev.payload.turn, ev.payload.text, ev.id))
    return [(text, eid) for _, text, eid in sorted(found, key=lambda t: t[0])]


def _record_actions(recorder: EpisodeRecorder, traj: dict[str, Any]) -> int:
    """One `agent.action` per trajectory step, each linked to the model response whose text it
    came from (the first unused one in turn order, so requeried format errors are skipped);
    returns the model calls made."""
    items = traj.get("trajectory") or []
    responses = _responses(recorder) if items else []
    for step, item in enumerate(items):
        action = str(item.get("action") or "")
        if not action.strip():
            continue
        text = str(item.get("response") or "")
        at = next((i for i, (t, _) in enumerate(responses) if t == text), None)
        proposed_by = None
        if at is not None:
            proposed_by = responses[at][1]
            del responses[:at + 1]
        obs = str(item.get("observation") or "")
        code = item.get("exit_code")
        recorder.action(step, action, CommandResult(
            exit_code=code if isinstance(code, int) else None, output=obs,
            output_size=len(obs.encode("utf-8", "surrogateescape")), output_capped=False,
            timed_out=False, duration_s=float(item.get("execution_time") or 0.0)), proposed_by=proposed_by)
    calls = ((traj.get("info") or {}).get("model_stats") or {}).get("api_calls")
    return int(calls) if isinstance(calls, int) else len(items)


def _outcome(recorder: EpisodeRecorder, start: float, patch: str, reason: FinishReason,
             steps: int, error: str) -> EpisodeOutcome:
    duration = time.monotonic() - start
    fid = recorder.finished(patch=patch, reason=reason, turns=recorder.actions, steps=steps,
                            duration_s=duration, error=error)
    return EpisodeOutcome(
        episode_id=recorder.ctx.episode_id, patch=patch, reason=reason, turns=recorder.actions,
        steps=steps, duration_s=duration, finished_event_id=fid,
        started_event_id=recorder.started_id or "", error=error, infra_cause=recorder.infra_cause)
