"""A run's infrastructure errors: counted from the log, summed up in one line.

A pair is an infrastructure error when its results so far are all `infra`
(a later real verdict, after a resume, replaces them). The one-line summary is
what `ledger run` prints before exiting with code 3.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from events.log import EventLog

__all__ = ["InfraTally", "tally_infra", "EXIT_INFRA"]

EXIT_INFRA = 3
"""`ledger run`'s exit code when some pairs hit infrastructure errors."""


@dataclass
class InfraTally:
    pairs: dict[tuple[str, int], str] = field(default_factory=dict)
    """(instance, sample) -> the cause of its latest infra result."""
    repos: dict[tuple[str, int], str] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.pairs)

    def causes(self) -> Counter:
        return Counter(self.pairs.values())

    def by_repo(self) -> Counter:
        return Counter(self.repos[p] for p in self.pairs)

    def summary(self, planned: int, stopped_after: int = 0, not_run: int = 0) -> str:
        causes = ", ".join(f"{cause} ({n})" for cause, n in self.causes().most_common())
        line = f"{self.count} of {planned} pairs hit infrastructure errors: {causes}"
        if stopped_after:
            line += (f"; stopped after {stopped_after} consecutive infrastructure errors, "
                     f"{not_run} pairs not run")
        return line + "; see ledger events --topic evals"


def tally_infra(log: EventLog, run_id: str) -> InfraTally:
    tally = InfraTally()
    judged: set[tuple[str, int]] = set()
    for rec in log.read("evals"):
        ev = rec.event
        if ev.run_id != run_id or ev.type != "eval.result":
            continue
        p = ev.payload
        pair = (p.instance_id, p.sample_idx)
        if p.status != "infra":
            judged.add(pair)
            tally.pairs.pop(pair, None)
        elif pair not in judged:
            tally.pairs[pair] = p.infra_cause or "unknown"
            tally.repos[pair] = p.repo
    return tally
