"""The score table printed at the end of a run."""
from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["print_summary", "score_table"]


def score_table(rows: list[dict[str, Any]], title: str, ks: list[int]) -> Table:
    """pass@k and avg@k for the run's k values, per scope key (the run, then each repo)."""
    table = Table(title=title)
    table.add_column("scope")
    table.add_column("n", justify="right")
    for k in ks:
        table.add_column(f"pass@{k}", justify="right")
    for k in ks:
        table.add_column(f"avg@{k}", justify="right")
    order = {"run": 0, "repo": 1}
    keys = sorted({(r["scope"], r["scope_key"]) for r in rows if r["scope"] in order},
                  key=lambda sk: (order[sk[0]], sk[1]))
    index = {(r["scope"], r["scope_key"], r["metric"], r["k"]): r for r in rows}
    for scope, key in keys:
        cells = [key if scope == "repo" else f"run {key}"]
        ns = [r["n"] for r in rows if r["scope"] == scope and r["scope_key"] == key]
        cells.append(str(max(ns) if ns else ""))
        for metric in ("pass@k", "avg@k"):
            for k in ks:
                r = index.get((scope, key, metric, k))
                cells.append("—" if r is None else f"{r['value']:.3f}")
        table.add_row(*cells)
    return table


def print_summary(console: Console, summary, config) -> None:
    console.print(score_table(summary.scores, f"scores · {summary.run_id}", config.sampling.k))
    console.print(f"planned {summary.planned} · skipped (already done) {summary.skipped} · "
                  f"ran {summary.ran} · evaluated {summary.evaluated} · resolved {summary.resolved} · "
                  f"failed {summary.failed} · given up {summary.given_up}")
    if summary.given_up_pairs:
        shown = ", ".join(summary.given_up_pairs[:20])
        more = f" and {len(summary.given_up_pairs) - 20} more" if len(summary.given_up_pairs) > 20 else ""
        console.print(f"given up (attempts ran out; scored as empty patches): {shown}{more}")
    console.print(f"log: {config.log}\nlake: {config.lake}  (score index: ledger scores --lake {config.lake})\n"
                  f"dashboard: ledger serve --lake {config.lake}")
