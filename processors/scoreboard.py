"""Incremental pass@k / avg@1 aggregates at instance, repo and run scope.

Each instance holds its samples and resolved samples (s, c). A wider scope
keeps running sums over its instances, so folding one verdict costs
O(len(ks)) whatever the scope size: pass@k of a scope is the mean of its
instances' pass@k over the instances with s >= k (the others are not scored
for that k), for the configured k values only, so a key never goes stale as
samples arrive.

avg@k — the expected share of resolved samples among k samples — is c/s for
every k (the mean of k draws has the mean of one draw), so it equals avg@1 by
definition and only avg@1 is reported: the mean over instances of c/s (which
is also what the unbiased pass@1 estimates).

What a score says about its scope: `n` = instances scored, `samples` =
samples per instance (an instance's own count; at wider scopes the fewest any
scored instance has), `c` = resolved samples, at instance scope only (a sum
over instances would not be comparable with anything).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

from .estimators import pass_at_k
from .normalizer import Verdict, repo_of

__all__ = ["Score", "RunPlan", "ScopeAgg", "RunBoard", "Board"]


class Score(NamedTuple):
    scope: str
    scope_key: str
    metric: str
    k: int
    value: float
    n: int
    """Instances scored."""
    samples: int
    """Samples per instance (the fewest among the scored instances at wider scopes)."""
    c: int | None
    """Resolved samples (instance scope only)."""
    coverage: float


@dataclass
class RunPlan:
    """What run.started says about a run."""

    instances: int = 0
    by_repo: dict = field(default_factory=dict)
    model: str = ""
    dataset: str = ""
    split: str = ""


@dataclass
class ScopeAgg:
    ks: tuple
    pass_sum: dict = field(default_factory=dict)
    pass_ns: dict = field(default_factory=dict)
    """k -> Counter of the sample counts of the instances scored at k."""
    avg_sum: float = 0.0
    c: int = 0
    """Resolved samples (reported at instance scope only)."""
    ns: Counter = field(default_factory=Counter)

    def update(self, old: tuple[int, int] | None, new: tuple[int, int]) -> None:
        if old is not None:
            self._fold(*old, sign=-1)
        self._fold(*new, sign=1)

    def _fold(self, n: int, c: int, sign: int) -> None:
        _bump(self.ns, n, sign)
        self.avg_sum += sign * (c / n)
        self.c += sign * c
        for k in self.ks:
            v = pass_at_k(n, c, k)
            if v is None:
                continue
            self.pass_sum[k] = self.pass_sum.get(k, 0.0) + sign * v
            _bump(self.pass_ns.setdefault(k, Counter()), n, sign)

    def scores(self, scope: str, key: str, planned: int) -> list[Score]:
        count = sum(self.ns.values())
        if not count:
            return []
        coverage = 1.0 if scope == "instance" else (count / planned if planned else 0.0)
        c = self.c if scope == "instance" else None
        out = []
        for k in self.ks:
            ns = self.pass_ns.get(k)
            m = sum(ns.values()) if ns else 0
            if m:
                out.append(Score(scope, key, "pass@k", k, _clamp(self.pass_sum[k] / m), m, min(ns), c, coverage))
        out.append(Score(scope, key, "avg@k", 1, _clamp(self.avg_sum / count), count, min(self.ns), c, coverage))
        return out


def _bump(counter: Counter, n: int, sign: int) -> None:
    counter[n] += sign
    if not counter[n]:
        del counter[n]


def _clamp(x: float) -> float:
    """Running sums may drift by an ulp below 0 or above 1."""
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else x


@dataclass
class RunBoard:
    ks: tuple
    instances: dict = field(default_factory=dict)
    """instance_id -> [n, c, repo]."""
    aggs: dict = field(default_factory=dict)
    """(scope, key) -> ScopeAgg."""

    def add(self, v: Verdict) -> list[tuple[str, str]]:
        """Fold one accepted verdict; return the (scope, key)s whose scores changed."""
        cur = self.instances.get(v.instance_id)
        repo = cur[2] if cur else repo_of(v.instance_id, v.repo)
        old = (cur[0], cur[1]) if cur else None
        new = ((cur[0] if cur else 0) + 1, (cur[1] if cur else 0) + int(v.resolved))
        return self._set(v.run_id, v.instance_id, repo, old, new)

    def put(self, run_id: str, instance_id: str, repo: str, n: int, c: int) -> None:
        """Fold an instance's final (n, c) at once (batch re-scoring)."""
        self._set(run_id, instance_id, repo, None, (n, c))

    def _set(self, run_id: str, instance_id: str, repo: str, old, new) -> list[tuple[str, str]]:
        self.instances[instance_id] = [new[0], new[1], repo]
        scopes = [("instance", instance_id), ("repo", repo), ("run", run_id)]
        for sk in scopes:
            agg = self.aggs.get(sk)
            if agg is None:
                agg = self.aggs[sk] = ScopeAgg(self.ks)
            agg.update(old, new)
        return scopes

    def scores(self, scope: str, key: str, plan: RunPlan | None) -> list[Score]:
        planned = 0
        if plan is not None:
            planned = plan.instances if scope == "run" else plan.by_repo.get(key, 0)
        return self.aggs[(scope, key)].scores(scope, key, planned)


@dataclass
class Board:
    ks: tuple = (1,)
    runs: dict = field(default_factory=dict)
    plans: dict = field(default_factory=dict)

    def add(self, v: Verdict) -> list[tuple[str, str]]:
        board = self.runs.get(v.run_id)
        if board is None:
            board = self.runs[v.run_id] = RunBoard(self.ks)
        return board.add(v)

    def scores(self, run_id: str, scope: str, key: str) -> list[Score]:
        return self.runs[run_id].scores(scope, key, self.plans.get(run_id))

    def all_scores(self, run_id: str) -> list[Score]:
        board = self.runs.get(run_id)
        if board is None:
            return []
        return [s for (scope, key) in sorted(board.aggs) for s in self.scores(run_id, scope, key)]
