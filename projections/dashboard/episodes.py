"""Episodes for the dashboard: a run's episodes with their outcome and cost, and one
episode's whole story (transcript turn by turn, patch, evaluation, reward)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from .data import INFRA_STATUSES, flat, per_version, policy_label, rows_of

__all__ = ["run_episodes", "failure_groups", "episode", "outcome_of"]


@per_version
def run_episodes(lake: Path, run_id: str) -> list[dict[str, Any]]:
    """Every episode of a run: instance, sample, attempt, repo, how it ended, its evaluation,
    reward, tokens, model calls, actions and duration."""
    started = flat(lake, "episode.started", ["run_id", "episode_id", "instance_id", "sample_idx", "attempt", "repo",
                                             "agent", "ts"])
    if started is None:
        return []
    frame = started.filter(pl.col("run_id") == run_id).drop("run_id").rename({"ts": "started_at"}).collect()
    ids = frame["episode_id"].to_list()
    for part in (_finished(lake, ids), _evals(lake, run_id), _rewards(lake, ids), _tokens(lake, ids)):
        if part is not None:
            frame = frame.join(part, on="episode_id", how="left")
    rows = rows_of(frame.sort(["instance_id", "sample_idx", "attempt"]))
    for r in rows:
        r["outcome"] = outcome_of(r)
    return rows


def _finished(lake: Path, ids: list[str]) -> pl.DataFrame | None:
    f = flat(lake, "episode.finished", ["episode_id", "reason", "turns", "steps", "duration_s", "error", "incomplete",
                                        "patch"])
    if f is None:
        return None
    return (f.filter(pl.col("episode_id").is_in(ids))
            .with_columns(patch_lines=pl.col("patch").str.count_matches("\n"), has_patch=pl.col("patch") != "")
            .drop("patch").collect().unique("episode_id", keep="last"))


def _evals(lake: Path, run_id: str) -> pl.DataFrame | None:
    f = flat(lake, "eval.result")
    if f is None:
        return None
    cols = ["episode_id", "resolved", "status", "reason"] + (["infra_cause"] if "infra_cause" in
                                                           f.collect_schema().names() else [])
    return (f.filter((pl.col("run_id") == run_id) & pl.col("episode_id").is_not_null()).select(cols)
            .rename({"status": "eval_status", "reason": "eval_reason"}).collect().unique("episode_id", keep="first"))


def _rewards(lake: Path, ids: list[str]) -> pl.DataFrame | None:
    f = flat(lake, "reward.assigned", ["episode_id", "reward"])
    if f is None:
        return None
    return f.filter(pl.col("episode_id").is_in(ids)).collect().unique("episode_id", keep="last")


def _tokens(lake: Path, ids: list[str]) -> pl.DataFrame | None:
    f = flat(lake, "proxy.response", ["episode_id", "usage", "latency_ms"])
    if f is None:
        return None
    usage = pl.col("usage")
    return (f.filter(pl.col("episode_id").is_in(ids)).group_by("episode_id")
            .agg(calls=pl.len(), prompt_tokens=usage.struct.field("prompt_tokens").sum(),
                 completion_tokens=usage.struct.field("completion_tokens").sum(),
                 tokens=usage.struct.field("total_tokens").sum(), model_ms=pl.col("latency_ms").sum())
            .collect())


def outcome_of(r: dict[str, Any]) -> str:
    """One label for how an episode ended: `resolved`, `rewarded` (no tests, a reward: the RL loop),
    `running`, `infra: <cause>`, or the model's failure."""
    if r.get("resolved"):
        return "resolved"
    status, reason = r.get("eval_status"), r.get("reason")
    if status in INFRA_STATUSES:
        return f"infra: {r.get('infra_cause') or 'unknown cause'}"
    if status is None:
        if r.get("reward") is not None:
            return "rewarded"  # judged by its reward alone (the RL loop), not by tests
        return "not evaluated" if reason else "running"
    if status == "ok":
        return "tests fail"
    return status.replace("_", " ")


def failure_groups(episodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Unresolved episodes grouped by outcome (then by how the agent stopped), largest group first."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in episodes:
        if r["outcome"] not in ("resolved", "rewarded", "running"):
            groups.setdefault(r["outcome"], []).append(r)
    out = [{"outcome": k, "count": len(v), "kind": "infra" if k.startswith("infra") else "model",
            "agent_ended": sorted({e.get("reason") or "-" for e in v}), "episodes": v} for k, v in groups.items()]
    return sorted(out, key=lambda g: (-g["count"], g["outcome"]))


# -- one episode ------------------------------------------------------------------------------------
def episode(lake: Path, episode_id: str) -> dict[str, Any] | None:
    """The story of one episode, or None when the lake does not know it."""
    started = _one(lake, "episode.started", episode_id)
    finished = _one(lake, "episode.finished", episode_id)
    if started is None and finished is None:
        return None
    requests = _by_key(lake, "proxy.request", episode_id, "turn")
    responses = _by_key(lake, "proxy.response", episode_id, "turn")
    errors = _by_key(lake, "proxy.error", episode_id, "turn")
    actions = _by_key(lake, "agent.action", episode_id, "step")
    evals = _eval_of(lake, episode_id)
    reward = _reward_of(lake, episode_id)
    usage = [r.get("usage") or {} for r in responses]
    return {"episode_id": episode_id, "started": started, "finished": finished,
            "turns": _turns(requests, responses, errors, actions), "eval": evals, "reward": reward,
            "tokens": {k: sum((u.get(k) or 0) for u in usage) for k in ("prompt_tokens", "completion_tokens",
                                                                          "total_tokens")},
            "policy_versions": sorted({policy_label(r.get("policy_version")) for r in responses}),
            "run_id": (started or finished or {}).get("run_id")}


def _one(lake: Path, event_type: str, episode_id: str) -> dict[str, Any] | None:
    rows = _by_key(lake, event_type, episode_id, "log_offset")
    return rows[-1] if rows else None


def _by_key(lake: Path, event_type: str, episode_id: str, order: str) -> list[dict[str, Any]]:
    """Rows of an episode-keyed event type (the key is the episode id), in `order`."""
    f = flat(lake, event_type)
    if f is None:
        return []
    frame = f.filter(pl.col("key") == episode_id).collect()
    if "episode_id" in frame.columns:
        frame = frame.filter(pl.col("episode_id") == episode_id)
    return rows_of(frame.sort([order, "log_offset"]))


def _eval_of(lake: Path, episode_id: str) -> dict[str, Any] | None:
    f = flat(lake, "eval.result")
    if f is None:
        return None
    rows = rows_of(f.filter(pl.col("episode_id") == episode_id).collect().sort("log_offset"))
    if not rows:
        return None
    ev = rows[0]  # the first verdict of a sample is the one scored
    tests = [{"test": t["test"], "set": "FAIL_TO_PASS", "status": t["status"]} for t in ev.get("fail_to_pass") or []]
    tests += [{"test": t["test"], "set": "PASS_TO_PASS", "status": t["status"]} for t in ev.get("pass_to_pass") or []]
    return {**ev, "tests": tests, "later_verdicts": len(rows) - 1}


def _reward_of(lake: Path, episode_id: str) -> dict[str, Any] | None:
    rows = _by_key(lake, "reward.assigned", episode_id, "log_offset")
    return rows[-1] if rows else None


def _turns(requests: list[dict], responses: list[dict], errors: list[dict], actions: list[dict]) -> list[dict]:
    """Turn by turn: the messages new in this call, the model's response (or error), the actions it
    led to (linked by `parent`; by step for actions recorded without the link)."""
    by_turn = {r["turn"]: r for r in responses}
    err_by_turn = {e["turn"]: e for e in errors}
    linked: dict[str, list[dict]] = {}
    for a in actions:
        linked.setdefault(a.get("parent") or "", []).append(a)
    response_ids = {r["id"] for r in responses}
    by_step: dict[int, list[dict]] = {}
    for a in actions:
        if a.get("parent") not in response_ids:
            by_step.setdefault(a["step"], []).append(a)
    out: list[dict] = []
    prev: list[dict] = []
    prev_text: str | None = None
    for req in requests:
        msgs = req.get("messages") or []
        extends = msgs[:len(prev)] == prev
        fresh = msgs[len(prev):] if extends else msgs
        if fresh and prev_text is not None and fresh[0].get("role") == "assistant" \
                and fresh[0].get("content") == prev_text:
            fresh = fresh[1:]  # the previous response, already shown as such
        resp = by_turn.get(req["turn"])
        acts = (linked.get(resp["id"], []) if resp else []) + by_step.get(req["turn"], [])
        out.append({"turn": req["turn"], "request_id": req["request_id"], "new_messages": fresh,
                    "history_rewritten": bool(prev) and not extends, "sampling": req.get("sampling"),
                    "response": resp, "error": err_by_turn.get(req["turn"]), "actions": acts})
        prev, prev_text = msgs, (resp["text"] if resp else None)
    return out
