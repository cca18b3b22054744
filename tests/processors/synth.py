"""Synthetic runs for processor tests: real events, appended to a real log."""
from __future__ import annotations

import random

import events
from events.payloads import DatasetManifest, EvalResult, RunStarted

__all__ = ["run_started", "eval_result", "synthetic_run"]


def run_started(run_id: str, instance_ids: list[str], samples: int = 1):
    manifest = DatasetManifest(source="bundled", split="test", sha256="0" * 64, count=len(instance_ids),
                               instance_ids=instance_ids)
    return events.new(RunStarted(config={"model": "demo-model"}, manifest=manifest,
                                 planned=len(instance_ids) * samples), producer="test", run_id=run_id)


def eval_result(run_id: str, instance_id: str, sample_idx: int, resolved: bool, **kw):
    payload = EvalResult(instance_id=instance_id, sample_idx=sample_idx, resolved=resolved,
                         episode_id=kw.pop("episode_id", f"ep-{run_id}-{instance_id}-{sample_idx}"), **kw)
    return events.new(payload, producer="test", run_id=run_id)


def synthetic_run(run_id: str, instances: int, samples: int, seed: int = 0, duplicates: int = 0):
    """run.started + evals for `instances` x `samples` (shuffled), with some duplicates."""
    rng = random.Random(seed)
    ids = [f"org{i % 3}__repo{i % 3}-{i}" for i in range(instances)]
    evs = []
    for iid in ids:
        skill = rng.random()
        for s in range(samples):
            status = rng.choice(["ok", "ok", "ok", "timeout", "empty_patch", "patch_failed"])
            resolved = status == "ok" and rng.random() < skill
            f2p = {f"t{j}": ("PASSED" if resolved or rng.random() < 0.5 else "FAILED") for j in range(3)}
            evs.append(eval_result(run_id, iid, s, resolved, status=status, fail_to_pass=f2p,
                                   pass_to_pass={"p0": "PASSED"}))
    rng.shuffle(evs)
    for _ in range(duplicates):
        src = rng.choice(evs)
        p = src.payload
        evs.append(eval_result(run_id, p.instance_id, p.sample_idx, not p.resolved))
    return run_started(run_id, ids, samples), evs
