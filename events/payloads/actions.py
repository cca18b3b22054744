"""`actions` topic: each tool call an agent made."""
from __future__ import annotations

from pydantic import Field

from ..blob import Blob
from .base import Payload

__all__ = ["AgentAction"]


class AgentAction(Payload):
    episode_id: str
    step: int = Field(ge=0)
    tool: str = "bash"
    command: str
    exit_code: int | None = None
    observation: Blob
    duration_s: float = Field(0.0, ge=0, allow_inf_nan=False)
    timed_out: bool = False
    output_capped: bool = False
