"""`experiences` topic: digests of successful episodes, fuel for workflow induction."""
from __future__ import annotations

from .base import Payload

__all__ = ["ExperienceStep", "ExperienceRecorded"]


class ExperienceStep(Payload):
    command: str
    exit_code: int | None = None
    observation_excerpt: str = ""


class ExperienceRecorded(Payload):
    scope: str
    """Memory scope (e.g. the repo)."""
    episode_id: str
    instance_id: str
    problem: str = ""
    steps: list[ExperienceStep] = []
    patch: str = ""
    reward: float = 1.0
