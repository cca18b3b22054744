"""Agent runners by name: `make_runner("bash", request_timeout_s=60)`."""
from __future__ import annotations

import importlib
from typing import Any

from .base import AgentRunner

__all__ = ["RUNNERS", "make_runner"]

RUNNERS: dict[str, str] = {
    "bash": "producers.agents.bash:BashAgent",
    "mini-swe-agent": "producers.agents.mini:MiniSweAgent",
    "swe-agent": "producers.agents.swe_agent.runner:SweAgent",
}
"""name -> "module:Class"; modules are imported on use (mini-swe-agent pulls in litellm)."""


def make_runner(name: str, **config: Any) -> AgentRunner:
    """A runner by name, configured by keyword (fields of its config model)."""
    try:
        target = RUNNERS[name]
    except KeyError:
        raise ValueError(f"unknown agent runner {name!r}; known: {', '.join(RUNNERS)}") from None
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)(**config)
