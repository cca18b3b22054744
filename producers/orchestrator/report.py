"""The score table printed at the end of a run, and the run's one-line outcome."""
from __future__ import annotations

from collections import Counter
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["print_summary", "score_table"]


def score_table(rows: list[dict[str, Any]], title: str, ks: list[int], run_id: str = "",
                infra: Counter | None = None, infra_total: int = 0) -> Table:
    """pass@k for the run's k values and avg@1 (avg@k = avg@1 by definition), per scope key (the
    run, then each repo), and the pairs per scope that hit infrastructure errors; `n` is the
    instances scored, `samples` the samples per instance (see processors/scoreboard.py). A value
    that was not computed (no sample judged there, or fewer than k) shows as "—", never as 0."""
    table = Table(title=title)
    table.add_column("scope")
    table.add_column("n", justify="right")
    table.add_column("samples", justify="right")
    for k in ks:
        table.add_column(f"pass@{k}", justify="right")
    table.add_column("avg@1", justify="right")
    table.add_column("infra", justify="right")
    infra = infra or Counter()
    order = {"run": 0, "repo": 1}
    keys = {(r["scope"], r["scope_key"]) for r in rows if r["scope"] in order}
    keys |= {("repo", repo) for repo in infra if repo}
    if run_id:
        keys.add(("run", run_id))
    index = {(r["scope"], r["scope_key"], r["metric"], r["k"]): r for r in rows}
    for scope, key in sorted(keys, key=lambda sk: (order[sk[0]], sk[1])):
        cells = [key if scope == "repo" else f"run {key}"]
        first = index.get((scope, key, "avg@k", 1)) or {}
        cells += [str(first.get("n", "—")), str(first.get("samples", "—"))]
        for metric, k in [("pass@k", k) for k in ks] + [("avg@k", 1)]:
            r = index.get((scope, key, metric, k))
            cells.append("—" if r is None else f"{r['value']:.3f}")
        cells.append(str(infra_total if scope == "run" else infra.get(key, 0)))
        table.add_row(*cells)
    return table


def print_summary(console: Console, summary, config) -> None:
    console.print(score_table(summary.scores, f"scores · {summary.run_id}", config.sampling.k,
                              run_id=summary.run_id, infra=summary.infra.by_repo(),
                              infra_total=summary.infra.count))
    console.print(f"planned {summary.planned} · skipped (already done) {summary.skipped} · "
                  f"ran {summary.ran} · evaluated {summary.evaluated} · resolved {summary.resolved} · "
                  f"failed {summary.failed} · given up {summary.given_up} · "
                  f"infrastructure errors {summary.infra.count}"
                  + (f" · not run {summary.not_run}" if summary.not_run else ""))
    console.print(f"log: {config.log}\nlake: {config.lake}  (score index: ledger scores --lake {config.lake})\n"
                  f"dashboard: ledger serve --lake {config.lake}")
