"""experiences: resolved episodes -> `experience.recorded`; every `every` new
successes in a memory scope (the instance's repo) -> `workflow.induction_requested`
(the AWM trigger).

An episode is recorded once both its `episode.finished` (patch) and a resolved
`eval.result` have arrived, in whichever order; its actions are those folded
before that point, condensed (command, exit code, short observation excerpt).
The first eval result of an episode decides.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from events.envelope import Envelope
from events.log.base import Record
from events.payloads import ExperienceRecorded, ExperienceStep, WorkflowInductionRequested
from events.registry import derive

from ..normalizer import repo_of

__all__ = ["Experiences", "ExperienceState"]

_COMMAND_CAP = 400
_EXCERPT_CAP = 240


@dataclass
class _Episode:
    steps: dict = field(default_factory=dict)
    problem: str = ""
    finished: object = None
    verdict: object = None


@dataclass
class ExperienceState:
    episodes: dict = field(default_factory=dict)
    done: set = field(default_factory=set)
    scopes: dict = field(default_factory=dict)
    """scope -> experience ids since the last induction request, and the success count."""


class Experiences:
    """`every`: successes per memory scope between induction requests."""

    name = "experiences"
    version = 1
    inputs = ("episodes", "actions", "evals")

    def __init__(self, every: int = 5):
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.every = every

    def initial_state(self) -> ExperienceState:
        return ExperienceState()

    def apply(self, state: ExperienceState, record: Record) -> tuple[ExperienceState, list[Envelope]]:
        ev = record.event
        p = ev.payload
        ep_id = getattr(p, "episode_id", None)
        if not ep_id or ep_id in state.done:
            return state, []
        ep = state.episodes.setdefault(ep_id, _Episode())
        if ev.type == "agent.action":
            ep.steps[p.step] = ExperienceStep(command=p.command[:_COMMAND_CAP], exit_code=p.exit_code,
                                              observation_excerpt=p.observation.text[:_EXCERPT_CAP])
        elif ev.type == "episode.started":
            ep.problem = p.problem_statement
        elif ev.type == "episode.finished":
            ep.finished = p
        elif ev.type == "eval.result" and ep.verdict is None:
            ep.verdict = p
        if ep.finished is None or ep.verdict is None:
            return state, []
        del state.episodes[ep_id]
        state.done.add(ep_id)
        if not ep.verdict.resolved:
            return state, []
        return state, self._record(state, ep_id, ep, ev)

    def _record(self, state: ExperienceState, ep_id: str, ep: _Episode, ev: Envelope) -> list[Envelope]:
        v = ep.verdict
        scope = repo_of(v.instance_id, v.repo)
        exp = derive(ExperienceRecorded(scope=scope, episode_id=ep_id, instance_id=v.instance_id,
                                        problem=ep.problem, steps=[ep.steps[k] for k in sorted(ep.steps)],
                                        patch=ep.finished.patch, reward=1.0),
                     processor=self.name, version=self.version, inputs=[ep_id], run_id=ev.run_id,
                     parent=ev.id, ts=ev.ts)
        ids, count = state.scopes.get(scope, ([], 0))
        ids, count = ids + [exp.id], count + 1
        out = [exp]
        if len(ids) >= self.every:
            req = WorkflowInductionRequested(scope=scope, experience_ids=ids, successes=count)
            out.append(derive(req, processor=self.name, version=self.version, inputs=ids, run_id=ev.run_id,
                              parent=exp.id, ts=ev.ts, discriminator=f"induce/{scope}/{count}"))
            ids = []
        state.scopes[scope] = (ids, count)
        return out
