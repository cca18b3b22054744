"""What a synthesis has done so far, read back from its events (the resume point)."""
from __future__ import annotations

from dataclasses import dataclass, field

from events.log import EventLog
from events.payloads import (SynthesisBaseline, SynthesisFinished, SynthesisStarted, TaskRejected,
                             TaskSynthesized)

__all__ = ["SynthState", "read_state"]


@dataclass
class SynthState:
    started: SynthesisStarted | None = None
    baselines: dict[str, SynthesisBaseline] = field(default_factory=dict)
    accepted: dict[str, dict[str, TaskSynthesized]] = field(default_factory=dict)
    """project -> candidate_id -> task."""
    rejected: dict[str, dict[str, TaskRejected]] = field(default_factory=dict)
    finished: list[SynthesisFinished] = field(default_factory=list)

    def decided(self, project: str) -> dict[str, bool]:
        """candidate_id -> accepted, for every decided candidate of `project`."""
        out = {cid: False for cid in self.rejected.get(project, {})}
        out.update({cid: True for cid in self.accepted.get(project, {})})
        return out

    def record(self, payload: object) -> None:
        if isinstance(payload, SynthesisStarted) and self.started is None:
            self.started = payload
        elif isinstance(payload, SynthesisBaseline):
            self.baselines.setdefault(payload.project, payload)
        elif isinstance(payload, TaskSynthesized):
            self.accepted.setdefault(payload.project, {}).setdefault(payload.candidate_id, payload)
        elif isinstance(payload, TaskRejected):
            self.rejected.setdefault(payload.project, {}).setdefault(payload.candidate_id, payload)
        elif isinstance(payload, SynthesisFinished):
            self.finished.append(payload)


def read_state(log: EventLog, synth_id: str) -> SynthState:
    """Every `synthesis` event of `synth_id`, first one per step winning (ids are deterministic,
    so a step appended twice is there once anyway)."""
    state = SynthState()
    for rec in log.read("synthesis"):
        if rec.event.run_id == synth_id:
            state.record(rec.event.payload)
    return state
