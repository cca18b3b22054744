"""evictor: keeps each workflow-memory scope within `max_workflows`.

Folds the `workflows` topic. On `workflow.induced` the workflow becomes the
newest of its scope (a re-induced name is refreshed, not duplicated); when a
scope then holds more than `max_workflows`, the oldest are evicted with a
`workflow.evicted` whose id derives from the inducing event and the evicted
name, so a re-run emits the same events. A `workflow.evicted` from anyone
(including this reducer's own outputs, read back) removes the name.
"""
from __future__ import annotations

from events.envelope import Envelope
from events.log.base import Record
from events.payloads import WorkflowEvicted
from events.registry import derive

__all__ = ["Evictor"]

State = dict[str, list[str]]
"""Scope -> workflow names, oldest first."""


class Evictor:
    name = "evictor"
    version = 1
    inputs = ("workflows",)

    def __init__(self, max_workflows: int = 50):
        if max_workflows < 1:
            raise ValueError(f"max_workflows must be >= 1, got {max_workflows}")
        self.max_workflows = max_workflows
        """Most workflows a scope keeps; the oldest beyond it are evicted."""

    def initial_state(self) -> State:
        return {}

    def apply(self, state: State, record: Record) -> tuple[State, list[Envelope]]:
        event = record.event
        if event.type == "workflow.evicted":
            return _without(state, event.payload.scope, event.payload.name), []
        if event.type != "workflow.induced":
            return state, []
        scope, name = event.payload.scope, event.payload.name
        names = [n for n in state.get(scope, []) if n != name] + [name]
        excess, kept = names[:-self.max_workflows], names[-self.max_workflows:]
        out = [self._evicted(event, scope, old) for old in excess]
        return {**state, scope: kept}, out

    def _evicted(self, cause: Envelope, scope: str, name: str) -> Envelope:
        return derive(WorkflowEvicted(scope=scope, name=name, reason="capacity"),
                      processor=self.name, version=self.version, inputs=[cause.id],
                      run_id=cause.run_id, parent=cause.id, discriminator=name)


def _without(state: State, scope: str, name: str) -> State:
    names = state.get(scope)
    if not names or name not in names:
        return state
    return {**state, scope: [n for n in names if n != name]}

