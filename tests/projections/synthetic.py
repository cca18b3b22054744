"""A deterministic synthetic run written to a log: the demo lake of the projection tests.

Two eval runs over two repos (4 instances each, 5 samples), their eval results,
score updates (one superseded), trainer steps, workflow memory, tasks and alerts.
`EXPECTED` holds the numbers the README's analyst examples must return.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from math import comb

import events
from events.payloads import (
    AlertRaised,
    AlertResolved,
    DatasetManifest,
    EvalResult,
    GateResult,
    RunFinished,
    RunStarted,
    ScoreUpdated,
    TaskFinished,
    TaskPhase,
    TrainerStep,
    WorkflowEvicted,
    WorkflowInduced,
)

__all__ = ["write_demo_run", "resolved", "RUNS", "REPOS", "INSTANCES", "SAMPLES", "DAYS"]

RUNS = ("demo", "demo-b")
REPOS = ("astropy/astropy", "django/django")
INSTANCES = 4
SAMPLES = 5
DAYS = {"demo": datetime(2026, 1, 15, 9, tzinfo=timezone.utc),
        "demo-b": datetime(2026, 1, 16, 9, tzinfo=timezone.utc)}


def resolved(run: str, repo_idx: int, inst: int, sample: int) -> bool:
    shift = 0 if run == "demo" else 1
    return (inst + sample * (repo_idx + 1) + shift) % (2 + repo_idx + inst % 2) == 0


def instance_ids(repo: str) -> list[str]:
    owner, name = repo.split("/")
    return [f"{owner}__{name}-{1000 + i}" for i in range(INSTANCES)]


def pass_at_k(n: int, c: int, k: int) -> float:
    return 1.0 if n - c < k else 1.0 - comb(n - c, k) / comb(n, k)


def _clock(run: str):
    t = DAYS[run]
    while True:
        t += timedelta(seconds=1)
        yield t


def write_demo_run(log) -> int:
    """Append the whole synthetic history; returns the number of events."""
    count = 0
    for run in RUNS:
        count += _write_run(log, run)
    count += _write_training(log)
    count += _write_memory(log)
    count += _write_tasks(log)
    count += _write_alerts(log)
    return count


def _write_run(log, run: str) -> int:
    clock = _clock(run)
    ids = [iid for repo in REPOS for iid in instance_ids(repo)]
    manifest = DatasetManifest(source="bundled:demo", split="test", sha256="0" * 64, count=len(ids),
                               instance_ids=ids)
    log.append("runs", [events.new(RunStarted(config={"model": f"model-{run}"}, manifest=manifest,
                                              planned=len(ids) * SAMPLES), producer="orchestrator",
                                   run_id=run, ts=next(clock))])
    evals = []
    for r, repo in enumerate(REPOS):
        for i, iid in enumerate(instance_ids(repo)):
            for s in range(SAMPLES):
                ok = resolved(run, r, i, s)
                evals.append(events.new(EvalResult(instance_id=iid, sample_idx=s, repo=repo, resolved=ok,
                                                   fail_to_pass={"test_fix": "PASSED" if ok else "FAILED"},
                                                   model=f"model-{run}"),
                                        producer="evaluator", run_id=run, ts=next(clock)))
    log.append("evals", evals)
    scores = _scores(run, clock)
    log.append("scores", scores)
    log.append("runs", [events.new(RunFinished(episodes=len(evals), evaluated=len(evals)),
                                   producer="orchestrator", run_id=run, ts=next(clock))])
    return len(evals) + 2 + len(scores)


def _instance_c(run: str) -> dict[str, list[int]]:
    """Repo -> correct samples per instance."""
    return {repo: [sum(resolved(run, r, i, s) for s in range(SAMPLES)) for i in range(INSTANCES)]
            for r, repo in enumerate(REPOS)}


def _score(run: str, scope: str, key: str, metric: str, k: int, value: float, n: int, ts) -> object:
    return events.new(ScoreUpdated(scope=scope, scope_key=key, metric=metric, k=k, value=value, n=n,
                                   samples=SAMPLES, model=f"model-{run}", dataset="bundled:demo", split="test"),
                      producer="processor.pass_at_k@1", run_id=run, ts=ts)


def _scores(run: str, clock) -> list:
    per_repo = _instance_c(run)
    every = [c for cs in per_repo.values() for c in cs]
    out = [_score(run, "run", run, "pass@k", 1, 0.0, 0, next(clock))]  # superseded below
    for k in range(1, SAMPLES + 1):
        value = sum(pass_at_k(SAMPLES, c, k) for c in every) / len(every)
        out.append(_score(run, "run", run, "pass@k", k, value, len(every), next(clock)))
    out.append(_score(run, "run", run, "avg@k", 1, sum(every) / (SAMPLES * len(every)),
                      len(every), next(clock)))
    for repo, cs in per_repo.items():
        for k in (1, SAMPLES):
            value = sum(pass_at_k(SAMPLES, c, k) for c in cs) / len(cs)
            out.append(_score(run, "repo", repo, "pass@k", k, value, len(cs), next(clock)))
        out.append(_score(run, "repo", repo, "avg@k", 1, sum(cs) / (SAMPLES * len(cs)), len(cs),
                          next(clock)))
    return out


def _write_training(log) -> int:
    clock = _clock("demo-b")
    steps = [events.new(TrainerStep(trainer_id="grpo-0", step=s, loss=1.0 / (s + 1), kl=0.01 * s,
                                    reward_mean=min(1.0, 0.2 + 0.04 * s), reward_std=0.1, samples=8,
                                    staleness={"0": 6, "1": 2}), producer="trainer", ts=next(clock))
             for s in range(20)]
    log.append("trainer", steps)
    return len(steps)


def _write_memory(log) -> int:
    clock = _clock("demo")
    scope = "django/django"
    evs = [events.new(WorkflowInduced(scope=scope, name=f"wf-{i}", description=f"workflow number {i}",
                                      steps=[f"step {i}.1", f"step {i}.2"], source_episode_ids=[f"ep-{i}"]),
                      producer="inducer", ts=next(clock)) for i in range(3)]
    evs.append(events.new(WorkflowEvicted(scope=scope, name="wf-0"), producer="processor.evictor@1",
                          ts=next(clock)))
    log.append("workflows", evs)
    return len(evs)


def _write_tasks(log) -> int:
    clock = _clock("demo-b")
    evs = []
    for tid, ok in (("add-payment-tests", True), ("bump-deps", False)):
        for phase in ("PREPARE", "GENERATE", "VALIDATE"):
            evs.append(events.new(TaskPhase(task_id=tid, phase=phase), producer="tasks", ts=next(clock)))
        evs.append(events.new(GateResult(task_id=tid, gate="tests", passed=ok, tests_passed=128,
                                         tests_failed=0 if ok else 2, coverage_before=72.1,
                                         coverage_after=74.5 if ok else 71.0), producer="tasks", ts=next(clock)))
        evs.append(events.new(TaskFinished(task_id=tid, status="success" if ok else "partial", partial=not ok,
                                           exit_code=0 if ok else 2, branch=f"auto/{tid}",
                                           risk_labels=[] if ok else ["tests-failed"]),
                              producer="tasks", ts=next(clock)))
    log.append("tasks", evs)
    return len(evs)


def _write_alerts(log) -> int:
    clock = _clock("demo-b")
    evs = [events.new(AlertRaised(rule="reward_drop", severity="critical", value=0.1, threshold=0.3,
                                  window_s=600, message="reward fell"), producer="alerts", ts=next(clock)),
           events.new(AlertRaised(rule="queue_lag", value=900, threshold=500, window_s=60),
                      producer="alerts", ts=next(clock)),
           events.new(AlertResolved(rule="queue_lag", value=100, threshold=500, window_s=60),
                      producer="alerts", ts=next(clock))]
    log.append("alerts", evs)
    return len(evs)
