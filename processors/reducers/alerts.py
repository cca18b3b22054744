"""alerts: sliding-window rules -> `alert.raised` / `alert.resolved`.

Windows are in event time (the max `ts` seen by the rule), so a replay raises
the same alerts with the same ids as the live run did.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

from events.envelope import Envelope
from events.log.base import Record
from events.payloads import AlertRaised, AlertResolved
from events.registry import derive

from ..alert_rules import METRICS, Rule, load_rules, sample_of

__all__ = ["Alerts", "load_rules"]


@dataclass
class _Window:
    samples: deque = field(default_factory=deque)
    now: float = 0.0
    before_num: float = 0.0
    before_den: float = 0.0
    active: bool = False


def _value(kind: str, w: _Window) -> float:
    num = sum(s[1] for s in w.samples)
    den = sum(s[2] for s in w.samples)
    if kind == "count":
        return num
    if kind == "p95":
        xs = sorted(s[1] for s in w.samples)
        return xs[min(len(xs) - 1, int(0.95 * len(xs)))]
    ratio = num / den if den else 0.0
    if kind == "drop":
        return (w.before_num / w.before_den - ratio) if w.before_den else 0.0
    return ratio


class Alerts:
    name = "alerts"
    version = 1

    def __init__(self, rules: tuple[Rule, ...] | None = None):
        self.rules = tuple(rules) if rules is not None else load_rules(None)
        self.inputs = tuple(sorted({t for r in self.rules for t in METRICS[r.metric][2]}))

    def initial_state(self) -> dict:
        return {r.name: _Window() for r in self.rules}

    def apply(self, state: dict, record: Record) -> tuple[dict, list[Envelope]]:
        ev = record.event
        out = []
        for rule in self.rules:
            sample = sample_of(rule.metric, ev)
            if sample is None:
                continue
            w = state.setdefault(rule.name, _Window())
            made = self._update(rule, w, ev, sample)
            if made is not None:
                out.append(made)
        return state, out

    def _update(self, rule: Rule, w: _Window, ev: Envelope, sample) -> Envelope | None:
        t = ev.ts.timestamp() if isinstance(ev.ts, datetime) else float(ev.ts)
        w.now = max(w.now, t)
        w.samples.append((t, *sample))
        while w.samples and w.samples[0][0] < w.now - rule.window_s:
            _, num, den = w.samples.popleft()
            w.before_num += num
            w.before_den += den
        kind = METRICS[rule.metric][1]
        value = _value(kind, w)
        firing = len(w.samples) >= rule.min_events and rule.breached(value)
        if firing == w.active:
            return None
        w.active = firing
        if firing:
            payload = AlertRaised(rule=rule.name, severity=rule.severity, value=value, threshold=rule.threshold,
                                  window_s=rule.window_s,
                                  message=f"{rule.metric} = {value:g} {rule.op} {rule.threshold:g} "
                                          f"over {rule.window_s:g}s ({len(w.samples)} samples)")
        else:
            payload = AlertResolved(rule=rule.name, value=value, threshold=rule.threshold, window_s=rule.window_s)
        return derive(payload, processor=self.name, version=self.version, inputs=[ev.id], parent=ev.id,
                      run_id=ev.run_id, ts=ev.ts, discriminator=f"{rule.name}/{'raised' if firing else 'resolved'}")
