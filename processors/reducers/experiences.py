"""experiences: resolved episodes -> `experience.recorded`; every `every` new
successes in a memory scope (the instance's repo) -> `workflow.induction_requested`
(the AWM trigger).

An episode is recorded once its `episode.finished` (patch), a resolved
`eval.result` and all its actions (`episode.finished.turns` of them) have
arrived, in whichever order, so what is recorded does not depend on how the
topics interleave (the faust app reads them side by side); the actions are
condensed (command, exit code, short observation excerpt). The first eval
result of an episode decides.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from events.envelope import Envelope
from events.ids import content_digest
from events.log.base import Record
from events.payloads import ExperienceRecorded, ExperienceStep, WorkflowInductionRequested
from events.registry import derive

from ..normalizer import repo_of

__all__ = ["Experiences", "ExperienceState", "EpisodeNotes"]

_COMMAND_CAP = 400
_EXCERPT_CAP = 240


@dataclass
class _Episode:
    steps: dict = field(default_factory=dict)
    problem: str = ""
    finished: object = None
    verdict: object = None
    actions: int = 0


EpisodeNotes = _Episode
"""What `fold_episode` keeps per episode (public name for per-episode stores)."""


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
        ep_id = getattr(ev.payload, "episode_id", None)
        if not ep_id or ep_id in state.done:
            return state, []
        ep = state.episodes.setdefault(ep_id, _Episode())
        closed, exp = self.fold_episode(ep_id, ep, ev)
        if not closed:
            return state, []
        del state.episodes[ep_id]
        state.done.add(ep_id)
        if exp is None:
            return state, []
        return state, [exp, *self.count_success(state.scopes, exp)]

    def fold_episode(self, ep_id: str, ep: _Episode, ev: Envelope) -> tuple[bool, Envelope | None]:
        """Fold one event of episode `ep_id` (per-episode state only). Returns whether
        the episode is now closed, and its `experience.recorded` if it was resolved."""
        p = ev.payload
        if ev.type == "agent.action":
            ep.steps[p.step] = ExperienceStep(command=p.command[:_COMMAND_CAP], exit_code=p.exit_code,
                                              observation_excerpt=p.observation.text[:_EXCERPT_CAP])
            vars(ep)["actions"] = getattr(ep, "actions", 0) + 1  # (a state pickled before the count existed)
        elif ev.type == "episode.started":
            ep.problem = p.problem_statement
        elif ev.type == "episode.finished":
            ep.finished = p
        elif ev.type == "eval.result" and ep.verdict is None:
            ep.verdict = p
        if ep.finished is None or ep.verdict is None:
            return False, None
        if ep.verdict.resolved and getattr(ep, "actions", 0) < ep.finished.turns:
            return False, None  # actions still on their way (another topic)
        if not ep.verdict.resolved:
            return True, None
        v = ep.verdict
        payload = ExperienceRecorded(scope=repo_of(v.instance_id, v.repo), episode_id=ep_id,
                                     instance_id=v.instance_id, problem=ep.problem,
                                     steps=[ep.steps[k] for k in sorted(ep.steps)],
                                     patch=ep.finished.patch, reward=1.0)
        # content-addressed: the episode and what was made of it (events.ids)
        exp = derive(payload, processor=self.name, version=self.version, inputs=[ep_id, content_digest(payload)],
                     run_id=ev.run_id, parent=ev.id, ts=ev.ts)
        return True, exp

    def count_success(self, scopes: dict, exp: Envelope) -> list[Envelope]:
        """Count one recorded experience in its memory scope (per-scope state only:
        `scopes[scope] = (ids since the last request, successes)`); the induction request, if due."""
        scope = exp.payload.scope
        ids, count = scopes.get(scope, ([], 0))
        ids, count = ids + [exp.id], count + 1
        out = []
        if len(ids) >= self.every:
            req = WorkflowInductionRequested(scope=scope, experience_ids=ids, successes=count)
            out.append(derive(req, processor=self.name, version=self.version, inputs=ids, run_id=exp.run_id,
                              parent=exp.id, ts=exp.ts, discriminator=f"induce/{scope}/{count}"))
            ids = []
        scopes[scope] = (ids, count)
        return out
