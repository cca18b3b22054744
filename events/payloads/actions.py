"""`actions` topic: each tool call an agent made."""
from __future__ import annotations

from ..blob import Blob
from .base import Payload

__all__ = ["AgentAction"]


class AgentAction(Payload):
    episode_id: str
    step: int
    tool: str = "bash"
    command: str
    exit_code: int | None = None
    observation: Blob
    duration_s: float = 0.0
    timed_out: bool = False
    output_capped: bool = False
