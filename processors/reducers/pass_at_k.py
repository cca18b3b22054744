"""pass_at_k: `eval.result` (+ `run.started`) -> `score.updated` at every scope.

Every accepted verdict updates its instance, its repo and its run; each of those
scopes then emits its current pass@k (for every k with samples >= k) and avg@1
(see `scoreboard` for what n, samples and c mean). Repo coverage is counted
against the dataset's own repo names (`manifest.repos`) when the run recorded
them. An
output's id is derived from the input eval id plus scope/metric/k, and its value
is a function of the verdicts folded before it, so with a deterministic input
order (the runtime's) re-running yields the same ids with the same values.
A `run.started` folded after some of its run's verdicts re-emits the run's
scores with the plan filled in. Duplicates and malformed results are dropped
by the normalizer and counted in the scores (`dropped_duplicates`,
`dropped_malformed`: the run's totals at emission); a drop re-emits the run
scope, so the run's latest score carries the final totals. A result with
status `infra` judged nothing: it is not a sample (no n, no c), so a pair
with only infra results is missing from the scores and from their coverage,
and a later real verdict of the same sample is its first.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from events.envelope import Envelope
from events.log.base import Record
from events.payloads import INFRA, ScoreUpdated
from events.registry import derive

from ..normalizer import Normalizer, Verdict, repo_of
from ..scoreboard import Board, RunPlan, Score

__all__ = ["PassAtK", "ScorerState", "plan_of", "SCORER_VERSIONS", "score_payload"]

SCORER_VERSIONS = {1: "unbiased pass@k (product form), avg@1; first verdict per sample wins"}


@dataclass
class ScorerState:
    board: Board
    norm: Normalizer = field(default_factory=Normalizer)


def plan_of(payload: Any) -> RunPlan:
    """The scoring plan of a run from its run.started payload."""
    ids = list(payload.manifest.instance_ids)
    by_repo: dict[str, int] = dict(getattr(payload.manifest, "repos", None) or {})
    if not by_repo:  # runs recorded before manifests named repos: guessed from the ids
        for iid in ids:
            r = repo_of(iid)
            by_repo[r] = by_repo.get(r, 0) + 1
    cfg = payload.config or {}
    model = cfg.get("model", "")
    if isinstance(model, dict):
        model = model.get("name") or model.get("model") or ""
    return RunPlan(instances=len(ids) or payload.manifest.count, by_repo=by_repo, model=str(model),
                   dataset=payload.manifest.source, split=payload.manifest.split)


def score_payload(s: Score, state: ScorerState, run_id: str, version: int) -> ScoreUpdated:
    plan = state.board.plans.get(run_id) or RunPlan()
    return ScoreUpdated(scope=s.scope, scope_key=s.scope_key, metric=s.metric, k=s.k, value=s.value,
                        n=s.n, samples=s.samples, c=s.c, coverage=s.coverage, scorer_version=version,
                        model=plan.model, dataset=plan.dataset, split=plan.split,
                        dropped_duplicates=state.norm.duplicates.get(run_id, 0),
                        dropped_malformed=state.norm.malformed.get(run_id, 0))


def _disc(scope: str, s: Score) -> str:
    return f"{scope}/{s.metric}/{s.k}"


class PassAtK:
    """`ks`: the k values scored (pass@k needs n >= k at an instance)."""

    name = "pass_at_k"
    inputs = ("runs", "evals")

    def __init__(self, ks: tuple[int, ...] = (1,), version: int = 1):
        if version not in SCORER_VERSIONS:
            raise ValueError(f"unknown scorer version {version}; known: {sorted(SCORER_VERSIONS)}")
        self.ks = tuple(sorted(set(ks)))
        self.version = version

    def initial_state(self) -> ScorerState:
        return ScorerState(Board(self.ks))

    def apply(self, state: ScorerState, record: Record) -> tuple[ScorerState, list[Envelope]]:
        ev = record.event
        if ev.type == "run.started":
            state.board.plans[ev.run_id] = plan_of(ev.payload)
            return state, self._replan(state, ev)
        if ev.type != "eval.result":
            return state, []
        p = ev.payload
        if p.status == INFRA:
            return state, []  # judged nothing: not a sample; coverage shows the pair missing
        v = Verdict(ev.run_id, p.instance_id, p.sample_idx, p.resolved, p.repo, p.status)
        if not state.norm.accept(v):
            return state, self._dropped(state, ev, v.run_id)
        out = []
        for scope, key in state.board.add(v):
            for s in state.board.scores(v.run_id, scope, key):
                payload = score_payload(s, state, v.run_id, self.version)
                out.append(derive(payload, processor=self.name, version=self.version, inputs=[ev.id],
                                  run_id=v.run_id, parent=ev.id, ts=ev.ts,
                                  discriminator=_disc(scope, s)))
        return state, out

    def _dropped(self, state: ScorerState, ev: Envelope, run_id: str) -> list[Envelope]:
        """A dropped result changes the run's drop counters: re-emit the run scope, so
        its latest value carries the final totals whatever the arrival order."""
        if run_id not in state.board.runs:
            return []
        return [derive(score_payload(s, state, run_id, self.version), processor=self.name, version=self.version,
                       inputs=[ev.id], run_id=run_id, parent=ev.id, ts=ev.ts, discriminator=_disc("run", s))
                for s in state.board.scores(run_id, "run", run_id)]

    def _replan(self, state: ScorerState, ev: Envelope) -> list[Envelope]:
        """run.started after some of its verdicts (cross-topic order is free): re-emit
        the run's scores with the plan's coverage, model and dataset."""
        board = state.board.runs.get(ev.run_id)
        if board is None:
            return []
        out = []
        for scope, key in sorted(board.aggs):
            for s in state.board.scores(ev.run_id, scope, key):
                out.append(derive(score_payload(s, state, ev.run_id, self.version), processor=self.name,
                                  version=self.version, inputs=[ev.id], run_id=ev.run_id, parent=ev.id,
                                  ts=ev.ts, discriminator=f"{key}/{_disc(scope, s)}"))
        return out
