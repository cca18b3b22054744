"""Upcasters: functions that lift a stored event dict from version v to v+1.

They run on read, before validation, so consumers only ever see current
schemas. Register one per (type, from_version); `upcast` chains them.
"""
from __future__ import annotations

import hashlib
from typing import Any, Callable

__all__ = ["upcaster", "upcast", "UPCASTERS"]

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    def register(fn: Upcaster) -> Upcaster:
        UPCASTERS[(event_type, from_version)] = fn
        return fn

    return register


def upcast(data: dict[str, Any], current: int) -> dict[str, Any]:
    """Apply registered upcasters until `data['v'] == current`; KeyError names a missing step."""
    event_type, v = data["type"], int(data["v"])
    while v < current:
        fn = UPCASTERS.get((event_type, v))
        if fn is None:
            raise KeyError(f"no upcaster for {event_type} v{v} -> v{v + 1}")
        data = fn(dict(data))
        v += 1
        data["v"] = v
    return data


@upcaster("agent.action", 1)
def _agent_action_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v1 stored the observation as a plain `output` string; v2 stores a Blob."""
    payload = dict(data["payload"])
    output = payload.pop("output", "")
    raw = output.encode("utf-8", "surrogateescape")
    payload["observation"] = {"text": output, "sha256": hashlib.sha256(raw).hexdigest(),
                              "size": len(raw), "complete": True}
    data["payload"] = payload
    return data


_UNKNOWN_POLICY = {"trainer_id": "", "step": 0, "unknown": True}


def _policy_unknown(data: dict[str, Any]) -> dict[str, Any]:
    """v1 stamped a bare integer with no lineage: which trainer's weights it meant cannot be known."""
    payload = dict(data["payload"])
    if "policy_version" in payload:
        payload["policy_version"] = dict(_UNKNOWN_POLICY)
    data["payload"] = payload
    return data


@upcaster("score.updated", 1)
def _score_updated_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v1: `n` = samples per instance, `c` summed at every scope, `instances` = instances scored.
    v2: `n` = instances scored, `samples` = samples per instance, `c` at instance scope only."""
    payload = dict(data["payload"])
    instances = payload.pop("instances", 1)
    payload["samples"] = payload.get("n", 0)
    payload["n"] = instances
    if payload.get("scope") != "instance":
        payload["c"] = None
    data["payload"] = payload
    return data


upcaster("episode.started", 1)(_policy_unknown)


@upcaster("proxy.response", 1)
def _proxy_response_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Two changes in one step (neither v2 shipped alone):
    - the bare-integer policy_version had no lineage: which trainer's weights it meant cannot be
      known, so it becomes `unknown` (never trained on);
    - v1 marked scripted and replayed responses trainable when they carried ids; v2 never does
      (`untrainable_reason` says why a response is not trainable)."""
    data = _policy_unknown(data)
    payload = dict(data["payload"])
    reason = "scripted" if payload.get("scripted") else (
        "replayed" if str(payload.get("upstream", "")).startswith("replay:") else None)
    if reason is not None:
        payload["trainable"] = False
    if not payload.get("trainable", False):
        payload["untrainable_reason"] = reason or "unknown"
    data["payload"] = payload
    return data


@upcaster("rollout.group", 1)
def _rollout_group_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Each sample's (and sampled span's) bare-integer policy_version becomes `unknown` (no lineage
    was recorded)."""
    payload = dict(data["payload"])
    payload["samples"] = [{**s, "policy_version": dict(_UNKNOWN_POLICY),
                           "spans": [{**sp, "policy_version": dict(_UNKNOWN_POLICY)} for sp in s.get("spans", [])]}
                          for s in payload.get("samples", [])]
    data["payload"] = payload
    return data


@upcaster("trainer.step", 1)
def _trainer_step_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """A step names its trainer, so its bare-integer version is that trainer's (trainer_id, step)."""
    payload = dict(data["payload"])
    payload["policy_version"] = {"trainer_id": payload["trainer_id"], "step": int(payload.get("policy_version", 0)),
                                 "unknown": False}
    data["payload"] = payload
    return data
