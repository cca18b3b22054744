"""Bulk mixed events for the projector's crash and rebuild tests."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import events
from events.blob import make_blob
from events.payloads import AgentAction, EvalResult, ProxyResponse, ScoreUpdated, TrainerStep

__all__ = ["write_bulk", "lake_ids", "log_ids"]


def write_bulk(log, n: int, seed: int = 7) -> None:
    """About `n` events over four topics and three days, plus re-appended duplicates."""
    rng = random.Random(seed)
    t0 = datetime(2026, 3, 1, 23, 0, tzinfo=timezone.utc)
    by_topic: dict[str, list] = {}
    for i in range(n):
        ts = t0 + timedelta(seconds=i * 30)  # 400 events cross midnight
        run = f"run-{i % 3}"
        kind = i % 4
        if kind == 0:
            ev = events.new(EvalResult(instance_id=f"repo__x-{i % 50}", sample_idx=i % 5, repo="repo/x",
                                       resolved=rng.random() < 0.4, fail_to_pass={"t": "PASSED"}),
                            producer="evaluator", run_id=run, ts=ts)
        elif kind == 1:
            ev = events.new(ProxyResponse(episode_id=f"ep-{i % 40}", request_id=f"rq-{i}", turn=i % 6,
                                          text="ok", completion_token_ids=[rng.randrange(256) for _ in range(8)],
                                          logprobs=[-0.5] * 8, usage={"completion_tokens": 8}),
                            producer="proxy", run_id=run, ts=ts)
        elif kind == 2:
            ev = events.new(ScoreUpdated(scope="instance", scope_key=f"repo__x-{i % 50}", metric="pass@k",
                                         k=1, value=rng.random(), n=1, samples=5, c=2),
                            producer="processor.pass_at_k@1", run_id=run, ts=ts)
        else:
            ev = events.new(AgentAction(episode_id=f"ep-{i % 40}", step=i, command="ls",
                                        observation=make_blob("a\nb\n")), producer="agent", run_id=run, ts=ts)
        by_topic.setdefault(ev.topic, []).append(ev)
    for topic, evs in by_topic.items():
        for i in range(0, len(evs), 500):
            log.append(topic, evs[i:i + 500])
    # an at-least-once producer's retry: the same events again, at new offsets
    dup = by_topic["scores"][:25]
    log.append_raw("scores", [(ev.key, events.encode(ev)) for ev in dup])
    log.append("trainer", [events.new(TrainerStep(trainer_id="t", step=s, loss=1.0), producer="trainer",
                                      ts=t0 + timedelta(seconds=s)) for s in range(30)])


def log_ids(log) -> list[str]:
    ids = []
    for topic in events.TOPICS:
        ids += [raw_id(r.value) for r in log.read_raw(topic)]
    return ids


def raw_id(value: bytes) -> str:
    import orjson

    return orjson.loads(value)["id"]


def lake_ids(lake) -> list[str]:
    import polars as pl

    from projections.lake import data_files

    files = [str(f.path) for f in data_files(lake)]
    if not files:
        return []
    return pl.concat([pl.read_parquet(f, columns=["id"]) for f in files])["id"].to_list()
