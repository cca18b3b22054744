"""The score table printed at the end of a run."""
from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["print_summary", "score_table"]


def score_table(rows: list[dict[str, Any]], title: str, ks: list[int]) -> Table:
    """pass@k for the run's k values and avg@1, per scope key (the run, then each repo); `n` is
    the instances scored, `samples` the samples per instance (see processors/scoreboard.py)."""
    table = Table(title=title)
    table.add_column("scope")
    table.add_column("n", justify="right")
    table.add_column("samples", justify="right")
    for k in ks:
        table.add_column(f"pass@{k}", justify="right")
    table.add_column("avg@1", justify="right")
    order = {"run": 0, "repo": 1}
    keys = sorted({(r["scope"], r["scope_key"]) for r in rows if r["scope"] in order},
                  key=lambda sk: (order[sk[0]], sk[1]))
    index = {(r["scope"], r["scope_key"], r["metric"], r["k"]): r for r in rows}
    for scope, key in keys:
        cells = [key if scope == "repo" else f"run {key}"]
        first = index.get((scope, key, "avg@k", 1)) or {}
        cells += [str(first.get("n", "")), str(first.get("samples", ""))]
        for metric, k in [("pass@k", k) for k in ks] + [("avg@k", 1)]:
            r = index.get((scope, key, metric, k))
            cells.append("—" if r is None else f"{r['value']:.3f}")
        table.add_row(*cells)
    return table


def print_summary(console: Console, summary, config) -> None:
    console.print(score_table(summary.scores, f"scores · {summary.run_id}", config.sampling.k))
    console.print(f"planned {summary.planned} · skipped (already done) {summary.skipped} · "
                  f"ran {summary.ran} · evaluated {summary.evaluated} · resolved {summary.resolved} · "
                  f"failed {summary.failed} · given up {summary.given_up}")
    console.print(f"log: {config.log}\nlake: {config.lake}  (score index: ledger scores --lake {config.lake})\n"
                  f"dashboard: ledger serve --lake {config.lake}")
