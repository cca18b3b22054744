"""Re-scoring stored eval results into new versioned outputs (DESIGN.md §5.2).

`reward`: the chosen reward function over the run's `eval.result` events ->
`reward.assigned` with that function's ids (old outputs are untouched).

`scores`: one pass over the evals topic computes the run's FINAL pass@k / avg@k
at every scope and emits only those (one `score.updated` per scope, metric and
k), with ids derived from (pass_at_k@V, "rescore:RUN", scope/key/metric/k). The
streaming processor's per-verdict history is not re-made: a rescore answers
"what is the score under version V", and it stays cheap for millions of results.
The hot loop parses records with orjson instead of building pydantic models;
records of an older schema version take the full decoder; undecodable ones
cannot be attributed to a run and are skipped (the streaming path dead-letters them).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Iterable

import orjson

from events.codec import DecodeError, decode
from events.log.base import RawRecord
from events.registry import SPECS, derive

from .normalizer import Normalizer, Verdict, repo_of
from .reducers.pass_at_k import PassAtK, ScorerState, plan_of, score_payload
from .reducers.rewards import reward_event
from .reward_fns import RewardFn
from .scoreboard import Board, RunBoard

__all__ = ["rescore_rewards", "rescore_scores", "final_scores"]

_EVAL_V = SPECS["eval.result"].version


def rescore_rewards(log, run_id: str, fn: RewardFn, batch: int = 1000) -> int:
    made, out = 0, []
    for rec in log.read("evals"):
        if rec.event.run_id != run_id or rec.event.type != "eval.result":
            continue
        out.append(reward_event(fn, rec.event))
        if len(out) >= batch:
            made += len(log.append("rewards", out))
            out = []
    if out:
        made += len(log.append("rewards", out))
    return made


def _verdicts(raws: Iterable[RawRecord], run_id: str):
    loads = orjson.loads
    for raw in raws:
        try:
            obj = loads(raw.value)
            if obj.get("type") != "eval.result" or obj.get("v") != _EVAL_V:
                obj = decode(raw.value).model_dump(mode="json")
            if obj.get("run_id") != run_id:
                continue
            p = obj["payload"]
            yield Verdict(run_id, p["instance_id"], p.get("sample_idx", 0), p["resolved"], p.get("repo", ""),
                          p.get("status", "ok"))
        except (orjson.JSONDecodeError, DecodeError, KeyError, TypeError, AttributeError):
            continue  # not attributable to any run: the streaming path dead-letters it


def final_scores(log, run_id: str, ks: tuple[int, ...] = (1,)) -> ScorerState:
    """Fold the run's evals into per-instance (n, c), then each scope once."""
    state = ScorerState(Board(tuple(sorted(set(ks)))))
    for rec in log.read("runs"):
        if rec.event.type == "run.started" and rec.event.run_id == run_id:
            state.board.plans[run_id] = plan_of(rec.event.payload)
    counts: dict[str, list] = {}
    norm = state.norm
    for v in _verdicts(log.read_raw("evals"), run_id):
        if not norm.accept(v):
            continue
        cur = counts.get(v.instance_id)
        if cur is None:
            counts[v.instance_id] = [1, int(v.resolved), v]
        else:
            cur[0] += 1
            cur[1] += v.resolved
    board = state.board.runs[run_id] = RunBoard(state.board.ks)
    for iid, (n, c, first) in counts.items():
        board.put(run_id, iid, repo_of(iid, first.repo), n, c)
    return state


def rescore_scores(log, run_id: str, version: int = 1, ks: tuple[int, ...] = (1,),
                   batch: int = 5000) -> tuple[int, ScorerState]:
    PassAtK(ks, version)  # validates the version
    state = final_scores(log, run_id, ks)
    ts = datetime.now(timezone.utc)
    out = []
    for s in state.board.all_scores(run_id):
        payload = score_payload(s, state, run_id, version)
        out.append(derive(payload, processor="pass_at_k", version=version, inputs=[f"rescore:{run_id}"],
                          run_id=run_id, ts=ts, discriminator=f"{s.scope}/{s.scope_key}/{s.metric}/{s.k}"))
    made = 0
    for i in range(0, len(out), batch):
        made += len(log.append("scores", out[i:i + batch]))
    return made, state
