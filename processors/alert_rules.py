"""Declarative alert rules: a metric over a sliding event-time window vs a threshold.

Each metric maps an event to a sample (num, den) and aggregates a window:
- `proxy_error_rate`: errors / calls (proxy.error vs proxy.response)
- `proxy_p95_latency_ms`: p95 of proxy.response latency_ms
- `eval_timeout_rate`: timed-out evaluations / evaluations
- `reward_mean_drop`: mean reward before the window minus mean reward in it
- `deadletter_growth`: dead-lettered records in the window
- `rollout_exclusion_rate`: excluded episodes / (excluded + sampled) in rollout groups
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

__all__ = ["Rule", "METRICS", "DEFAULT_RULES", "load_rules", "sample_of"]


@dataclass(frozen=True)
class Rule:
    name: str
    """Unique rule name; also the alert's key."""
    metric: str
    """One of METRICS."""
    threshold: float
    """Raised when the windowed value is above it (`op: ">"`) or below it (`op: "<"`)."""
    window_s: float = 300.0
    """Sliding window length, in event time (seconds)."""
    op: Literal[">", "<"] = ">"
    severity: Literal["info", "warning", "critical"] = "warning"
    min_events: int = 1
    """Samples needed in the window before the rule may fire."""
    webhook: str | None = None
    """URL that `ledger alerts` POSTs the alert JSON to."""

    def breached(self, value: float) -> bool:
        return value > self.threshold if self.op == ">" else value < self.threshold


def _proxy_error(ev: Any):
    return (1.0, 1.0) if ev.type == "proxy.error" else (0.0, 1.0) if ev.type == "proxy.response" else None


def _latency(ev: Any):
    return (float(ev.payload.latency_ms), 1.0) if ev.type == "proxy.response" else None


def _eval_timeout(ev: Any):
    return (float(ev.payload.status == "timeout"), 1.0) if ev.type == "eval.result" else None


def _reward(ev: Any):
    return (float(ev.payload.reward), 1.0) if ev.type == "reward.assigned" else None


def _deadletter(ev: Any):
    return (1.0, 1.0) if ev.type == "deadletter.record" else None


def _exclusion(ev: Any):
    if ev.type != "rollout.group":
        return None
    p = ev.payload
    return (float(p.excluded), float(p.excluded + len({s.episode_id for s in p.samples})))


METRICS: dict[str, tuple[Callable[[Any], tuple[float, float] | None], str, tuple[str, ...]]] = {
    "proxy_error_rate": (_proxy_error, "ratio", ("proxy",)),
    "proxy_p95_latency_ms": (_latency, "p95", ("proxy",)),
    "eval_timeout_rate": (_eval_timeout, "ratio", ("evals",)),
    "reward_mean_drop": (_reward, "drop", ("rewards",)),
    "deadletter_growth": (_deadletter, "count", ("deadletter",)),
    "rollout_exclusion_rate": (_exclusion, "ratio", ("rollouts",)),
}


def sample_of(metric: str, ev: Any):
    return METRICS[metric][0](ev)


DEFAULT_RULES = (
    Rule("proxy_error_rate", "proxy_error_rate", 0.2, min_events=10),
    Rule("proxy_p95_latency", "proxy_p95_latency_ms", 30_000.0, min_events=10),
    Rule("eval_timeout_rate", "eval_timeout_rate", 0.3, min_events=10),
    Rule("reward_mean_drop", "reward_mean_drop", 0.2, window_s=600.0, min_events=20),
    Rule("deadletter_growth", "deadletter_growth", 10.0, severity="critical"),
    Rule("rollout_exclusion_rate", "rollout_exclusion_rate", 0.5, min_events=4),
)


def load_rules(path: str | Path | None) -> tuple[Rule, ...]:
    """Rules from a YAML file (`rules: [{name, metric, threshold, ...}]`), else the defaults."""
    if path is None:
        return DEFAULT_RULES
    import yaml

    data = yaml.safe_load(Path(path).read_text()) or {}
    rules = []
    for i, item in enumerate(data.get("rules", [])):
        try:
            rule = Rule(**item)
        except TypeError as exc:
            raise ValueError(f"{path}: rule {i}: {exc}") from None
        if rule.metric not in METRICS:
            raise ValueError(f"{path}: rule {rule.name!r}: unknown metric {rule.metric!r}; "
                             f"known: {', '.join(METRICS)}")
        rules.append(rule)
    if len({r.name for r in rules}) != len(rules):
        raise ValueError(f"{path}: rule names must be unique")
    return tuple(rules)
