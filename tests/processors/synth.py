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


def episode_events(run_id: str, episode_id: str, instance_id: str, turns, *, sample_idx: int = 0,
                   incomplete: bool = False, error_at: int | None = None, trainable: bool = True,
                   policy_versions=None, reason: str = "done", untrainable_reason: str | None = None):
    """episode.started, proxy request/response per turn, episode.finished.

    `turns`: [(prompt_ids, completion_ids)]; a prompt that extends the previous
    prompt + completion is stored as a delta, any other as full ids with a fork
    reason on turns > 0 (as the proxy does).
    """
    from events.payloads import (EpisodeFinished, EpisodeStarted, PolicyVersion, PromptDelta, ProxyError,
                                 ProxyRequest, ProxyResponse)

    out = [events.new(EpisodeStarted(episode_id=episode_id, instance_id=instance_id, sample_idx=sample_idx,
                                     problem_statement=f"fix {instance_id}"), producer="test", run_id=run_id)]
    prev = None
    for i, (prompt, completion) in enumerate(turns):
        rid = f"{episode_id}-req{i}"
        base = (prev[1] + prev[2]) if prev else None
        if base is not None and prompt[:len(base)] == base:
            req = ProxyRequest(episode_id=episode_id, request_id=rid, turn=i,
                               prompt_delta=PromptDelta(base_request=prev[0], prefix_len=len(base),
                                                        ids=prompt[len(base):]))
        else:
            req = ProxyRequest(episode_id=episode_id, request_id=rid, turn=i, prompt_token_ids=prompt,
                               fork_reason="history_edited: test" if i else None)
        req_ev = events.new(req, producer="proxy", run_id=run_id)
        out.append(req_ev)
        if error_at == i:
            out.append(events.new(ProxyError(episode_id=episode_id, request_id=rid, turn=i, status=502,
                                             kind="upstream_error", message="boom"), producer="proxy",
                                  run_id=run_id))
            continue
        pv = policy_versions[i] if policy_versions else 0
        pv = PolicyVersion.of("t", pv) if isinstance(pv, int) else pv  # ints: steps of trainer "t"
        out.append(events.new(ProxyResponse(episode_id=episode_id, request_id=rid, turn=i,
                                            completion_token_ids=completion,
                                            logprobs=[-0.1 * (j + 1) for j in range(len(completion))],
                                            trainable=trainable and untrainable_reason is None,
                                            untrainable_reason=untrainable_reason or (
                                                None if trainable else "no_token_ids"),
                                            policy_version=pv, reason=reason,
                                            latency_ms=100.0),
                              producer="proxy", run_id=run_id))
        prev = (req_ev.id, prompt, completion)
    out.append(events.new(EpisodeFinished(episode_id=episode_id, instance_id=instance_id, sample_idx=sample_idx,
                                          patch="diff --git a/x b/x", reason="submitted", turns=len(turns),
                                          incomplete=incomplete), producer="agent", run_id=run_id))
    return out
