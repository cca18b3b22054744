"""The topic catalog as data: names, key rule, default partitions, retention.

A deployment may set a prefix (e.g. `staging.`) so several share one Kafka
cluster; code always speaks logical names and backends map them.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Topic", "CATALOG", "TOPICS", "physical_name", "logical_name", "topic_of"]


@dataclass(frozen=True)
class Topic:
    name: str
    key: str
    """How the partition key is formed (documentation; the rule lives in events.registry)."""
    partitions: int
    retention_ms: int = -1
    """-1: keep forever (the log is the source of truth)."""


_DAY = 24 * 3600 * 1000

CATALOG: dict[str, Topic] = {t.name: t for t in [
    Topic("runs", "run_id", 1),
    Topic("episodes", "episode_id", 4),
    Topic("work", "episode_id", 12),
    Topic("proxy", "episode_id", 8),
    Topic("actions", "episode_id", 4),
    Topic("evals", "run_id/instance_id", 4),
    Topic("rewards", "episode_id", 4),
    Topic("scores", "run_id", 1),
    Topic("experiences", "memory scope", 2),
    Topic("workflows", "memory scope", 2),
    Topic("rollouts", "group id", 4),
    Topic("trainer", "trainer id", 1),
    Topic("tasks", "task id", 2),
    Topic("synthesis", "project (synthesis.started/finished: synthesis id)", 2),
    Topic("alerts", "rule", 1),
    Topic("deadletter", "source topic", 1, retention_ms=30 * _DAY),
]}
TOPICS = tuple(CATALOG)


def topic_of(name: str) -> Topic:
    try:
        return CATALOG[name]
    except KeyError:
        raise KeyError(f"unknown topic {name!r}; known topics: {', '.join(TOPICS)}") from None


def physical_name(name: str, prefix: str = "") -> str:
    return f"{prefix}{name}"


def logical_name(physical: str, prefix: str = "") -> str:
    return physical[len(prefix):] if prefix and physical.startswith(prefix) else physical
