"""The Runs page (every run, its trend, a form to compare two) and the two-run comparison."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from .. import data
from ..charts import line_chart
from ..html import Column, badge, duration, esc, num, run_link, run_url, section, table, when

__all__ = ["runs_body", "search_body", "compare_data", "compare_body"]


def _ks(rows: list[dict[str, Any]]) -> list[int]:
    return sorted({k for r in rows for k in r.get("pass_at", {})})


def runs_columns(ks: list[int]) -> list[Column]:
    def planned(r: dict[str, Any]) -> str:
        return num(r["episodes"]) + (f' <span class="muted">/ {r["planned"]:,}</span>' if r.get("planned") else "")

    def name(r: dict[str, Any]) -> str:
        parent = r.get("parent_run")
        what = " · ".join(p for p in (r.get("model"), r.get("dataset")) if p) or "–"
        part = f" · part of {run_link(parent)}" if parent else ""
        return (('<span class="muted">↳ </span>' if parent else "") + f"<b>{run_link(r['run_id'])}</b>"
                + f'<br><span class="muted small">{esc(what)}{part}</span>')

    cols = [Column("run", name), Column("mode", lambda r: badge(r.get("mode") or "-")),
            Column("status", lambda r: badge(r.get("status") or "-")),
            Column("started", lambda r: when(r.get("started_at"))),
            Column("duration", lambda r: duration(r.get("duration_s")), True),
            Column("episodes", planned, True),
            Column("resolved", _resolved, True)]
    cols += [Column(f"pass@{k}", lambda r, k=k: num(r["pass_at"].get(k)), True) for k in ks]
    cols += [Column("failures: infra", lambda r: _count(r["infra_failures"], "warn"), True),
             Column("model", lambda r: _count(r["model_failures"], "bad"), True)]
    return cols


def _resolved(r: dict[str, Any]) -> str:
    return num(r["resolved"]) + f' <span class="muted">/ {r["evaluated"]:,}</span>'


def _count(n: int, tone: str) -> str:
    return f'<span class="badge {tone}">{n:,}</span>' if n else '<span class="muted">0</span>'


def _trend(rows: list[dict[str, Any]], ks: list[int]) -> str:
    """pass@k of each evaluated run in start order (x: the run's position; hover names it)."""
    scored = [r for r in rows if r["pass_at"]]
    series: dict[str, list[tuple[float, float]]] = {}
    links: dict[str, list[str]] = {}
    for k in ks[:3] + ([ks[-1]] if len(ks) > 3 else []):
        pts = [(float(i + 1), r["pass_at"][k]) for i, r in enumerate(scored) if k in r["pass_at"]]
        if pts:
            series[f"pass@{k}"] = pts
            links[f"pass@{k}"] = [run_url(r["run_id"]) for r in scored if k in r["pass_at"]]
    chart = line_chart(series, title="pass@k across runs (in start order)", x_label="run (1 = oldest)",
                       y_label="pass@k", element_id="trend-chart", y_range=(0.0, 1.0), integer_x=True,
                       point_links=links, width=620)
    legend = "".join(f"<li>{i + 1}. {run_link(r['run_id'])}</li>" for i, r in enumerate(scored))
    return (f'<div class="charts">{chart}<ol class="muted" style="columns: 2; font-size: 12px; '
            f'list-style: none; padding: 0">{legend}</ol></div>')


def runs_body(lake: Path, rows: list[dict[str, Any]]) -> str:
    from ... import lake as lk

    ks = _ks(rows)
    running = sum(r["status"] == "running" for r in rows)
    logs = sorted(lk.Manifest.load(lake).logs)
    head = (f"<h1>Runs</h1><p class=\"sub\">{len(rows)} runs · {running} running · from "
            f"{len(logs)} log{'s' if len(logs) != 1 else ''} ({esc(', '.join(logs)) or 'none yet'})</p>")
    options = "".join(f'<option value="{esc(r["run_id"])}">{esc(r["run_id"])}</option>' for r in rows)
    second = "".join(f'<option value="{esc(r["run_id"])}"{" selected" if i == len(rows) - 2 else ""}>'
                     f'{esc(r["run_id"])}</option>' for i, r in enumerate(rows))
    form = (f'<form class="inline" id="compare-form" action="/compare" method="get">Compare '
            f'<select name="a">{options}</select> with <select name="b">{second}</select>'
            f'<button type="submit">compare</button></form>') if len(rows) > 1 else ""
    return (head + table(rows, runs_columns(ks), "runs-table", "no runs in this lake yet") + form
            + section("Trend", _trend(rows, ks) if ks else '<p class="muted">no scores yet</p>'))


def search_body(search: str, subs: list[dict[str, Any]]) -> str:
    """A param_search: its sub-runs (one per grid point) side by side, pass@k per point."""
    ks = _ks(subs)
    head = (f'<p class="crumbs"><a href="/">Runs</a> › {esc(search)}</p><h1>{esc(search)}</h1>'
            f'<p class="sub">{badge("param_search")} {len(subs)} grid points</p>')
    series = {f"pass@{k}": [(float(i + 1), r["pass_at"][k]) for i, r in enumerate(subs) if k in r["pass_at"]]
              for k in ks}
    chart = line_chart(series, title="pass@k per grid point", x_label="grid point (as listed)", y_label="pass@k",
                       element_id="search-chart", y_range=(0.0, 1.0), integer_x=True,
                       point_links={f"pass@{k}": [run_url(r["run_id"]) for r in subs if k in r["pass_at"]] for k in ks})
    return head + table(subs, runs_columns(ks), "runs-table") + section("By grid point", chart)


# -- compare ------------------------------------------------------------------------------------------
def compare_data(lake: Path, a: str, b: str) -> dict[str, Any]:
    """Two runs side by side: pass@k per k, per repo, and the instances whose results moved."""
    scores = data.run_scores(lake)
    repos = {r["repo"]: r for r in data.repo_table(lake, a)}, {r["repo"]: r for r in data.repo_table(lake, b)}
    ks = sorted(set(scores.get(a, {})) & set(scores.get(b, {})))
    per_repo = []
    for repo in sorted(set(repos[0]) | set(repos[1])):
        ra, rb = repos[0].get(repo, {}), repos[1].get(repo, {})
        row: dict[str, Any] = {"repo": repo}
        for k in ks:
            va, vb = ra.get("pass_at", {}).get(k), rb.get("pass_at", {}).get(k)
            row[f"a@{k}"], row[f"b@{k}"] = va, vb
            row[f"d@{k}"] = None if va is None or vb is None else vb - va
        per_repo.append(row)
    return {"a": a, "b": b, "ks": ks, "run": {k: (scores[a][k], scores[b][k]) for k in ks},
            "repos": per_repo, "instances": _moved(lake, a, b)}


def _moved(lake: Path, a: str, b: str) -> list[dict[str, Any]]:
    evals = data.flat(lake, "eval.result", ["run_id", "instance_id", "repo", "resolved"])
    if evals is None:
        return []
    rates = (evals.filter(pl.col("run_id").is_in([a, b])).group_by(["run_id", "instance_id", "repo"])
             .agg(rate=pl.col("resolved").mean()).collect())
    wide = (rates.filter(pl.col("run_id") == a).drop("run_id").rename({"rate": "a"})
            .join(rates.filter(pl.col("run_id") == b).drop("run_id", "repo").rename({"rate": "b"}),
                  on="instance_id", how="full", coalesce=True))
    wide = wide.with_columns(delta=pl.col("b") - pl.col("a")).filter(pl.col("delta") != 0)
    return data.rows_of(wide.sort([pl.col("delta").abs(), "instance_id"], descending=[True, False]).head(40))


def _delta(d: float | None) -> str:
    if d is None:
        return '<span class="muted">–</span>'
    cls = "pos" if d > 0 else "neg" if d < 0 else "muted"
    return f'<span class="{cls}">{d:+.3f}</span>'


def compare_body(cmp: dict[str, Any]) -> str:
    a, b, ks = cmp["a"], cmp["b"], cmp["ks"]
    head = f"<h1>{esc(a)} <span class=\"muted\">vs</span> {esc(b)}</h1>"
    head += f'<p class="sub">{run_link(a)} (A) and {run_link(b)} (B); Δ = B − A</p>'
    run_rows = [{"k": k, "a": cmp["run"][k][0], "b": cmp["run"][k][1]} for k in ks]
    run_tbl = table(run_rows, [Column("metric", lambda r: f"pass@{r['k']}"), Column("A", lambda r: num(r["a"]), True),
                               Column("B", lambda r: num(r["b"]), True),
                               Column("Δ", lambda r: _delta(r["b"] - r["a"]), True)], "compare-run",
                    "the two runs share no scored k")
    cols = [Column("repo", lambda r: esc(r["repo"]))]
    for k in ks:
        cols += [Column(f"A pass@{k}", lambda r, k=k: num(r[f"a@{k}"]), True),
                 Column(f"B pass@{k}", lambda r, k=k: num(r[f"b@{k}"]), True),
                 Column(f"Δ pass@{k}", lambda r, k=k: _delta(r[f"d@{k}"]), True)]
    inst_cols = [Column("instance", lambda r: esc(r["instance_id"])), Column("repo", lambda r: esc(r.get("repo"))),
                 Column("A resolved", lambda r: num(r.get("a")), True),
                 Column("B resolved", lambda r: num(r.get("b")), True),
                 Column("Δ", lambda r: _delta(r.get("delta")), True)]
    return (head + section("Run", run_tbl) + section("Per repo", table(cmp["repos"], cols, "compare-repos"))
            + section("Instances that moved (share of samples resolved)",
                      table(cmp["instances"], inst_cols, "compare-instances", "no instance changed")))
