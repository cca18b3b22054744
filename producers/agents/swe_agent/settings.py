"""Settings of the SWE-agent adapter: the recipe's `sandbox_config` plus how to call it."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["SweAgentSettings", "TOKEN_ENV"]

TOKEN_ENV = "LEDGER_PROXY_TOKEN"
"""The proxy token reaches SWE-agent through this variable, never through the config file."""


class SweAgentSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    executable: tuple[str, ...] = ("sweagent",)
    """The command that starts SWE-agent (`run --config FILE` is appended)."""
    base_config: str | None = None
    """A SWE-agent config (e.g. its config/default.yaml) loaded before the per-episode one."""
    deployment_type: Literal["docker", "local"] = "local"
    """`docker` (isolated, for production) or `local` (fast, for debugging)."""
    docker_image: str = "swerex-python:3.11"
    """Docker image (docker deployment only)."""
    docker_memory_limit: str = "8g"
    """Container memory limit (docker deployment only)."""
    docker_startup_timeout: float = 180.0
    """Seconds the container may take to start (docker deployment only)."""
    docker_remove_container: bool = True
    """Remove the container after the run (docker deployment only)."""
    extra_env: dict[str, str] = {}
    """Environment variables added to SWE-agent's process."""
    output_root: str | None = None
    """Where per-episode configs and outputs go (default: a temporary directory, removed)."""
    keep_outputs: bool = False
    """Keep the per-episode output directory after the run."""
    observation_cap: int = 64 * 1024
    """Bytes of each observation stored whole in `agent.action`."""
