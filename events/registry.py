"""Every event type: its payload model, topic, schema version and key rule.

This table is the catalog of DESIGN.md §3 as code. The concrete event classes
(`EVENT_CLASSES["proxy.response"]`, ...) are generated from it so that the
envelope, the discriminated union and the key rules cannot drift apart.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Any, Callable, Literal, Union

from pydantic import Field, TypeAdapter, create_model

from . import payloads as p
from .envelope import Envelope
from .ids import derived_id, uuid7

__all__ = ["EventSpec", "SPECS", "EVENT_CLASSES", "Event", "EVENT_ADAPTER", "new", "derive",
           "spec_for_payload"]

KeyRule = Callable[[str, Any], str]


@dataclass(frozen=True)
class EventSpec:
    type: str
    payload: type[p.Payload]
    topic: str
    version: int
    key: KeyRule


def _run(run_id: str, _: Any) -> str:
    return run_id


def _attr(name: str) -> KeyRule:
    return lambda _run_id, payload: str(getattr(payload, name))


def _eval_key(run_id: str, payload: p.EvalResult) -> str:
    return f"{run_id}/{payload.instance_id}"


def _reward_key(_run_id: str, payload: p.RewardAssigned) -> str:
    return payload.episode_id or payload.eval_id


_episode = _attr("episode_id")
_scope = _attr("scope")

_TABLE: list[EventSpec] = [
    EventSpec("run.started", p.RunStarted, "runs", 1, _run),
    EventSpec("run.finished", p.RunFinished, "runs", 1, _run),
    EventSpec("episode.started", p.EpisodeStarted, "episodes", 2, _episode),
    EventSpec("episode.finished", p.EpisodeFinished, "episodes", 1, _episode),
    EventSpec("proxy.request", p.ProxyRequest, "proxy", 1, _episode),
    EventSpec("proxy.response", p.ProxyResponse, "proxy", 2, _episode),
    EventSpec("proxy.error", p.ProxyError, "proxy", 1, _episode),
    EventSpec("agent.action", p.AgentAction, "actions", 2, _episode),
    EventSpec("eval.result", p.EvalResult, "evals", 1, _eval_key),
    EventSpec("reward.assigned", p.RewardAssigned, "rewards", 1, _reward_key),
    EventSpec("score.updated", p.ScoreUpdated, "scores", 2, _run),
    EventSpec("experience.recorded", p.ExperienceRecorded, "experiences", 1, _scope),
    EventSpec("workflow.induction_requested", p.WorkflowInductionRequested, "workflows", 1, _scope),
    EventSpec("workflow.induced", p.WorkflowInduced, "workflows", 1, _scope),
    EventSpec("workflow.evicted", p.WorkflowEvicted, "workflows", 1, _scope),
    EventSpec("rollout.group", p.RolloutGroup, "rollouts", 2, _attr("group_id")),
    EventSpec("trainer.step", p.TrainerStep, "trainer", 2, _attr("trainer_id")),
    EventSpec("policy.updated", p.PolicyUpdated, "trainer", 1, _attr("trainer_id")),
    EventSpec("trainer.dropped", p.TrainerDropped, "trainer", 1, _attr("trainer_id")),
    EventSpec("trainer.stalled", p.TrainerStalled, "trainer", 1, _attr("trainer_id")),
    EventSpec("task.phase", p.TaskPhase, "tasks", 1, _attr("task_id")),
    EventSpec("gate.result", p.GateResult, "tasks", 1, _attr("task_id")),
    EventSpec("task.finished", p.TaskFinished, "tasks", 1, _attr("task_id")),
    EventSpec("alert.raised", p.AlertRaised, "alerts", 1, _attr("rule")),
    EventSpec("alert.resolved", p.AlertResolved, "alerts", 1, _attr("rule")),
    EventSpec("deadletter.record", p.DeadLetter, "deadletter", 1, _attr("source_topic")),
]

SPECS: dict[str, EventSpec] = {s.type: s for s in _TABLE}
_BY_PAYLOAD: dict[type, EventSpec] = {s.payload: s for s in _TABLE}


def _class_name(event_type: str) -> str:
    return "".join(part.capitalize() for part in event_type.replace("_", ".").split(".")) + "Event"


def _event_class(spec: EventSpec) -> type[Envelope]:
    return create_model(
        _class_name(spec.type),
        __base__=Envelope,
        __module__=__name__,
        type=(Literal[spec.type], spec.type),  # type: ignore[valid-type]
        v=(Literal[spec.version], spec.version),  # type: ignore[valid-type]
        payload=(spec.payload, ...),
    )


EVENT_CLASSES: dict[str, type[Envelope]] = {s.type: _event_class(s) for s in _TABLE}
for _cls in EVENT_CLASSES.values():
    globals()[_cls.__name__] = _cls

Event = Annotated[Union[tuple(EVENT_CLASSES.values())], Field(discriminator="type")]  # type: ignore[misc]
EVENT_ADAPTER: TypeAdapter = TypeAdapter(Event)


def spec_for_payload(payload: p.Payload) -> EventSpec:
    try:
        return _BY_PAYLOAD[type(payload)]
    except KeyError:
        raise TypeError(f"{type(payload).__name__} is not a registered event payload") from None


def new(payload: p.Payload, *, producer: str, run_id: str = "", parent: str | None = None,
        key: str | None = None, id: str | None = None, ts: datetime | None = None) -> Envelope:
    """Wrap a payload in its event class with a fresh UUIDv7 id and the catalog's key."""
    spec = spec_for_payload(payload)
    return EVENT_CLASSES[spec.type](
        id=id or uuid7(),
        ts=ts or datetime.now(timezone.utc),
        run_id=run_id,
        key=key if key is not None else spec.key(run_id, payload),
        parent=parent,
        producer=producer,
        payload=payload,
    )


def derive(payload: p.Payload, *, processor: str, version: int | str, inputs: str | list[str],
           run_id: str = "", parent: str | None = None, ts: datetime | None = None,
           discriminator: str = "") -> Envelope:
    """A derived event: its id is a pure function of (processor@version, inputs[, discriminator]).

    `discriminator` separates several outputs made from the same inputs.
    """
    ids = [inputs] if isinstance(inputs, str) else list(inputs)
    if discriminator:
        ids = [*ids, f"#{discriminator}"]
    return new(payload, producer=f"processor.{processor}@{version}", run_id=run_id,
               parent=parent, id=derived_id(processor, version, ids), ts=ts)
