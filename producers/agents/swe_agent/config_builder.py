"""`SWEAgentConfigBuilder`: one SWE-agent config per episode, pointed at the proxy.

The problem statement id is `<instance_id>.<episode_id>`, so concurrent
episodes of the same instance never share SWE-agent's output directories.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..base import EpisodeContext
from .settings import TOKEN_ENV, SweAgentSettings

__all__ = ["SWEAgentConfigBuilder", "unique_instance_id"]


def unique_instance_id(instance_id: str, episode_id: str) -> str:
    return f"{instance_id}.{episode_id}"


class SWEAgentConfigBuilder:
    def __init__(self, settings: SweAgentSettings | None = None):
        self.settings = settings or SweAgentSettings()

    def _model(self, ctx: EpisodeContext) -> dict[str, Any]:
        s = ctx.sampling
        completion: dict[str, Any] = {}
        if ctx.seed is not None:
            completion["seed"] = ctx.seed
        if s.max_tokens is not None:
            completion["max_tokens"] = s.max_tokens
        return {
            "name": f"openai/{ctx.model}", "api_base": ctx.base_url, "api_key": f"${TOKEN_ENV}",
            "per_instance_call_limit": ctx.limits.max_steps, "per_instance_cost_limit": 0,
            "total_cost_limit": 0, "temperature": s.temperature, "top_p": s.top_p,
            "completion_kwargs": completion, "max_input_tokens": 0, "max_output_tokens": 0,
            "retry": {"retries": 0}}

    def _deployment(self) -> dict[str, Any]:
        st = self.settings
        if st.deployment_type == "local":
            return {"type": "local"}
        return {"type": "docker", "image": st.docker_image,
                "docker_args": [f"--memory={st.docker_memory_limit}"],
                "startup_timeout": st.docker_startup_timeout,
                "remove_container": st.docker_remove_container}

    def build(self, ctx: EpisodeContext, repo_path: Path, base_commit: str,
              output_dir: Path) -> dict[str, Any]:
        inst = ctx.instance
        return {
            "agent": {"model": self._model(ctx),
                      "tools": {"execution_timeout": int(ctx.limits.execution_timeout),
                                "total_execution_timeout": int(ctx.limits.swe_agent_timeout)}},
            "env": {"deployment": self._deployment(),
                    "repo": {"type": "local", "path": str(repo_path), "base_commit": base_commit}},
            "problem_statement": {"type": "text", "text": _problem_text(ctx),
                                  "id": unique_instance_id(inst.instance_id, ctx.episode_id)},
            "output_dir": str(output_dir),
        }

    def write(self, config: dict[str, Any], path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
        return path


def _problem_text(ctx: EpisodeContext) -> str:
    inst = ctx.instance
    memory = ctx.workflow_memory.strip()
    block = f"\n\n<workflow_memory>\n{memory}\n</workflow_memory>" if memory else ""
    return f"<instance_id>{inst.instance_id}</instance_id>\n\n{inst.problem_statement.strip()}{block}"
