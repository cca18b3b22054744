"""Small, real events for log and codec tests."""
from __future__ import annotations

import events
from events.blob import make_blob
from events.envelope import Envelope
from events.payloads import AgentAction

__all__ = ["action", "actions"]


def action(episode_id: str, step: int, text: str = "ok", *, producer: str = "test") -> Envelope:
    """An `agent.action` event keyed by `episode_id`."""
    payload = AgentAction(episode_id=episode_id, step=step, command=f"echo {step}",
                          exit_code=0, observation=make_blob(text))
    return events.new(payload, producer=producer, run_id="run-1")


def actions(n: int, keys: int = 5, *, start: int = 0, producer: str = "test") -> list[Envelope]:
    """`n` actions spread round-robin over `keys` episodes, steps counting per episode."""
    return [action(f"ep-{i % keys}", i // keys, producer=producer) for i in range(start, start + n)]
