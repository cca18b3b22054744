"""`AgentConfigValidator`: every missing or invalid field of a SWE-agent config, at once.

The message names each field by its dotted path (`agent.model.api_base`) and
says what is wrong, so a bad config fails before a subprocess is started.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["AgentConfigValidator", "ConfigValidationError"]

_REQUIRED = ("agent.model.name", "agent.model.api_base", "env.deployment.type", "env.repo.path",
             "problem_statement.text", "problem_statement.id", "output_dir")


class ConfigValidationError(ValueError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid SWE-agent config:\n" + "\n".join(f"  - {p}" for p in problems))


def _get(config: dict[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


class AgentConfigValidator:
    def problems(self, config: Any) -> list[str]:
        if not isinstance(config, dict):
            return [f"config: expected a mapping, got {type(config).__name__}"]
        found = [f"{f}: missing" for f in _REQUIRED if _get(config, f) in (None, "")]
        return found + self._values(config)

    def validate(self, config: Any) -> dict[str, Any]:
        found = self.problems(config)
        if found:
            raise ConfigValidationError(found)
        return config

    def _values(self, c: dict[str, Any]) -> list[str]:
        out = []
        base = _get(c, "agent.model.api_base")
        if isinstance(base, str) and base and not base.startswith(("http://", "https://")):
            out.append(f"agent.model.api_base: must be an http(s) URL, got {base!r}")
        out += _number(c, "agent.model.per_instance_call_limit", lo=1, integer=True)
        out += _number(c, "agent.model.temperature", lo=0, hi=2)
        out += _number(c, "agent.model.top_p", lo=0, hi=1, lo_open=True)
        out += _number(c, "agent.tools.execution_timeout", lo=1)
        kind = _get(c, "env.deployment.type")
        if kind not in (None, "", "local", "docker"):
            out.append(f"env.deployment.type: must be 'local' or 'docker', got {kind!r}")
        if kind == "docker" and not _get(c, "env.deployment.image"):
            out.append("env.deployment.image: missing (required for the docker deployment)")
        path = _get(c, "env.repo.path")
        if path and not (Path(path) / ".git").exists():
            out.append(f"env.repo.path: not a git repository: {path}")
        pid = _get(c, "problem_statement.id")
        if isinstance(pid, str) and ("/" in pid or pid.strip() != pid):
            out.append(f"problem_statement.id: must not contain '/' or surrounding spaces: {pid!r}")
        return out


def _number(c: dict[str, Any], field: str, *, lo: float | None = None, hi: float | None = None,
            integer: bool = False, lo_open: bool = False) -> list[str]:
    v = _get(c, field)
    if v is None:
        return []
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and not isinstance(v, int)):
        return [f"{field}: expected {'an integer' if integer else 'a number'}, got {v!r}"]
    if lo is not None and (v <= lo if lo_open else v < lo):
        return [f"{field}: must be {'>' if lo_open else '>='} {lo:g}, got {v!r}"]
    if hi is not None and v > hi:
        return [f"{field}: must be <= {hi:g}, got {v!r}"]
    return []
