"""Re-scoring stored eval results into new versioned outputs (DESIGN.md §5.2).

`reward`: the chosen reward function over the run's `eval.result` events ->
`reward.assigned` with that function's ids (old outputs are untouched).

`scores`: one pass over the evals topic computes the run's FINAL pass@k / avg@k
at every scope and emits only those (one `score.updated` per scope, metric and
k), with ids derived from (pass_at_k@V, "rescore:RUN", the run's input set,
scope/key/metric/k). The input set is named by the run.started id and the
highest offset per partition of the run's eval records: the log is append-only,
so any new result of the run moves one of them and the next rescore makes new
events (the latest wins in the score index), while rescoring unchanged input
makes the same ids again (nothing new is stored). The
streaming processor's per-verdict history is not re-made: a rescore answers
"what is the score under version V", and it stays cheap for millions of results.
The hot loop parses records with orjson instead of building pydantic models;
records of an older schema version take the full decoder; undecodable ones
cannot be attributed to a run and are skipped (the streaming path dead-letters them).
"""
from __future__ import annotations

import gc
from datetime import datetime, timezone
from typing import Iterable, NamedTuple

import orjson

from events.codec import DecodeError, decode
from events.registry import SPECS, derive

from .normalizer import repo_of
from .reducers.pass_at_k import PassAtK, ScorerState, plan_of, score_payload
from .reducers.rewards import reward_event
from .reward_fns import RewardFn
from .scoreboard import Board, RunBoard

__all__ = ["rescore_rewards", "rescore_scores", "final_scores", "Rescored"]

_EVAL_V = SPECS["eval.result"].version


def rescore_rewards(log, run_id: str, fn: RewardFn, batch: int = 1000) -> int:
    made, out = 0, []
    for rec in log.read("evals"):
        if rec.event.run_id != run_id or rec.event.type != "eval.result" or rec.event.payload.status == "infra":
            continue
        out.append(reward_event(fn, rec.event))
        if len(out) >= batch:
            made += len(log.append("rewards", out))
            out = []
    if out:
        made += len(log.append("rewards", out))
    return made


def _values(log) -> Iterable[tuple[int, int, bytes]]:
    """(partition, offset, value) of every evals record."""
    if hasattr(log, "scan_values"):
        return log.scan_values("evals")
    return ((raw.partition, raw.offset, raw.value) for raw in log.read_raw("evals"))


def _event_obj(value: bytes) -> dict | None:
    """The event as a dict: orjson for current eval.result records, else the full decoder."""
    try:
        obj = orjson.loads(value)
        if obj.get("type") != "eval.result" or obj.get("v") != _EVAL_V:
            obj = decode(value).model_dump(mode="json")
        return obj
    except (orjson.JSONDecodeError, DecodeError, AttributeError):
        return None  # not attributable to any run: the streaming path dead-letters it


def final_scores(log, run_id: str, ks: tuple[int, ...] = (1,)) -> ScorerState:
    """Fold the run's evals into per-instance (n, c), then each scope once.

    The loop applies the Normalizer's rules inline (first verdict per sample wins,
    malformed ones dropped, both counted): it runs once per stored result.
    """
    state = ScorerState(Board(tuple(sorted(set(ks)))))
    started = "-"
    for rec in log.read("runs"):
        if rec.event.type == "run.started" and rec.event.run_id == run_id:
            state.board.plans[run_id] = plan_of(rec.event.payload)
            started = rec.event.id
    enabled = gc.isenabled()
    gc.disable()  # a million live dicts and tuples: the cyclic GC would rescan them over and over
    try:
        counts, dup, bad, last = _count(log, run_id)
    finally:
        if enabled:
            gc.enable()
    state.inputs[run_id] = [f"plan:{started}", "evals:" + ",".join(f"{p}:{o}" for p, o in sorted(last.items()))]
    state.norm.duplicates[run_id], state.norm.malformed[run_id] = dup, bad
    board = state.board.runs[run_id] = RunBoard(state.board.ks)
    for iid, (n, c, repo) in counts.items():
        board.put(run_id, iid, repo_of(iid, repo), n, c)
    return state


def _count(log, run_id: str) -> tuple[dict[str, list], int, int, dict[int, int]]:
    """instance -> [n, c, repo] over the run's accepted verdicts, (duplicates, malformed),
    and the highest offset per partition of the run's records (its input set)."""
    marker = orjson.dumps({"run_id": run_id})[1:-1]
    seen: set = set()
    counts: dict[str, list] = {}
    last: dict[int, int] = {}
    dup = bad = 0
    for part, off, value in _values(log):
        if marker not in value:
            continue  # cheap pre-filter; the parsed run_id decides below
        obj = _event_obj(value)
        if obj is None or obj.get("run_id") != run_id or obj.get("type") != "eval.result":
            continue
        if off > last.get(part, -1):
            last[part] = off
        p = obj["payload"]
        if p.get("status") == "infra":
            continue  # judged nothing: not a sample (as in the streaming scorer)
        iid, s, res = p.get("instance_id"), p.get("sample_idx", 0), p.get("resolved")
        if type(s) is not int or s < 0:
            continue  # outside EvalResult's range: undecodable (the streaming path dead-letters it)
        # normalizer.malformed_reason, inlined (run_id is known to be set here)
        if not iid or type(res) is not bool or (res and p.get("status", "ok") != "ok"):
            bad += 1
            continue
        key = (iid, s)
        if key in seen:
            dup += 1
            continue
        seen.add(key)
        cur = counts.get(iid)
        if cur is None:
            counts[iid] = [1, int(res), p.get("repo", "")]
        else:
            cur[0] += 1
            cur[1] += res
    return counts, dup, bad, last


class Rescored(NamedTuple):
    scores: int
    """Final score values computed (one event each)."""
    stored: int
    """Of those, how many the log did not hold yet (the others have the same ids, same input)."""
    state: ScorerState


def rescore_scores(log, run_id: str, version: int = 1, ks: tuple[int, ...] = (1,),
                   batch: int = 5000) -> Rescored:
    PassAtK(ks, version)  # validates the version
    state = final_scores(log, run_id, ks)
    ts = datetime.now(timezone.utc)
    out = []
    for s in state.board.all_scores(run_id):
        payload = score_payload(s, state, run_id, version)
        out.append(derive(payload, processor="pass_at_k", version=version,
                          inputs=[f"rescore:{run_id}", *state.inputs[run_id]],
                          run_id=run_id, ts=ts, discriminator=f"{s.scope}/{s.scope_key}/{s.metric}/{s.k}"))
    stored = 0
    for i in range(0, len(out), batch):
        stored += log.append_counted("scores", out[i:i + batch]).fresh
    return Rescored(len(out), stored, state)
