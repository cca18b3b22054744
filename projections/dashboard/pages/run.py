"""The Run page: summary, pass@k curve, per-repo table, failures by reason, slowest and most
expensive episodes, and every episode (filtered by repo) linked to its own page."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import data
from ..charts import line_chart
from ..episodes import failure_groups, run_episodes
from ..html import Column, badge, cards, duration, episode_link, esc, num, run_link, run_url, section, table, when

__all__ = ["run_data", "run_body"]

EPISODES_SHOWN = 500
"""Episodes listed on the page without a repo filter (the JSON has them all)."""


def run_data(lake: Path, run_id: str) -> dict[str, Any] | None:
    summary = next((r for r in data.runs(lake) if r["run_id"] == run_id), None)
    if summary is None:
        return None
    episodes = run_episodes(lake, run_id)
    return {"run": summary, "repos": data.repo_table(lake, run_id), "episodes": episodes,
            "failures": failure_groups(episodes)}


def _episode_columns() -> list[Column]:
    return [Column("episode", lambda r: episode_link(r["episode_id"], f"{r['instance_id']} #{r['sample_idx']}")),
            Column("attempt", lambda r: num(r.get("attempt")), True),
            Column("outcome", lambda r: badge(r["outcome"])),
            Column("agent ended", lambda r: esc(r.get("reason") or "–")),
            Column("actions", lambda r: num(r.get("turns")), True),
            Column("model calls", lambda r: num(r.get("calls")), True),
            Column("tokens", lambda r: num(r.get("tokens")), True),
            Column("duration", lambda r: duration(r.get("duration_s")), True),
            Column("reward", lambda r: num(r.get("reward")), True)]


def _repo_columns(run_id: str, ks: list[int]) -> list[Column]:
    cols = [Column("repo", lambda r: f'<a href="{esc(run_url(run_id, repo=r["repo"]))}#episodes">{esc(r["repo"])}</a>'),
            Column("n", lambda r: num(r.get("n")), True), Column("samples", lambda r: num(r.get("samples")), True),
            Column("coverage", lambda r: num(r.get("coverage")), True)]
    cols += [Column(f"pass@{k}", lambda r, k=k: num(r["pass_at"].get(k)), True) for k in ks]
    cols += [Column("avg@1", lambda r: num(r.get("avg_at_1")), True),
             Column("evaluated", lambda r: num(r.get("evaluated")), True),
             Column("resolved", lambda r: num(r.get("resolved")), True),
             Column("infra", lambda r: num(r.get("infra")), True)]
    return cols


def _failures(groups: list[dict[str, Any]]) -> str:
    if not groups:
        return '<p id="failures" class="muted">no failures</p>'
    items = []
    for g in groups:
        chips = "".join(episode_link(e["episode_id"], f"{e['instance_id']} #{e['sample_idx']}")
                        for e in g["episodes"][:60])
        more = f' <span class="muted">and {g["count"] - 60} more</span>' if g["count"] > 60 else ""
        items.append(f'<tr><td>{badge(g["outcome"])}</td><td class="num">{g["count"]}</td>'
                     f'<td>{badge(g["kind"])}</td><td>{esc(", ".join(g["agent_ended"]))}</td>'
                     f'<td class="chips">{chips}{more}</td></tr>')
    return ('<table id="failures"><thead><tr><th>outcome</th><th class="num">episodes</th><th>kind</th>'
            '<th>agent ended</th><th>episodes</th></tr></thead><tbody>' + "".join(items) + "</tbody></table>")


def _top(episodes: list[dict[str, Any]], key: str, table_id: str) -> str:
    ranked = sorted((e for e in episodes if e.get(key) is not None), key=lambda e: -e[key])[:10]
    cols = [Column("episode", lambda r: episode_link(r["episode_id"], f"{r['instance_id']} #{r['sample_idx']}")),
            Column("outcome", lambda r: badge(r["outcome"])),
            Column("duration", lambda r: duration(r.get("duration_s")), True),
            Column("tokens", lambda r: num(r.get("tokens")), True),
            Column("model calls", lambda r: num(r.get("calls")), True),
            Column("actions", lambda r: num(r.get("turns")), True)]
    return table(ranked, cols, table_id, "no finished episodes")


def _curve(run_id: str, pass_at: dict[int, float]) -> str:
    return line_chart({run_id: [(float(k), v) for k, v in sorted(pass_at.items())]}, title="pass@k",
                      x_label="k", y_label="pass@k", element_id="passk-chart", y_range=(0.0, 1.0),
                      integer_x=True, width=460)


def run_body(d: dict[str, Any], repo: str | None = None) -> str:
    r, episodes = d["run"], d["episodes"]
    ks = sorted(r["pass_at"])
    head = (f'<p class="crumbs"><a href="/">Runs</a> › {esc(r["run_id"])}</p><h1>{esc(r["run_id"])}</h1>'
            f'<p class="sub">{badge(r.get("mode") or "-")} {badge(r.get("status") or "-")} · model '
            f'{esc(r.get("model") or "–")} · dataset {esc(r.get("dataset") or "–")} · started '
            f'{when(r.get("started_at"))} · {duration(r.get("duration_s"))}'
            + (f' · part of {run_link(r["parent_run"])}' if r.get("parent_run") else "") + "</p>")
    rewards = [e["reward"] for e in episodes if e.get("reward") is not None]
    reward = [("mean reward", num(sum(rewards) / len(rewards)))] if rewards else []
    trained = [("trained", '<a href="/training">see Training</a>')] if r.get("mode") == "rl" else []
    summary = cards([("episodes", num(r["episodes"])), ("evaluated", num(r["evaluated"])),
                     ("resolved", num(r["resolved"]))] + [(f"pass@{k}", num(r["pass_at"][k])) for k in ks]
                    + reward + [("infra failures", num(r["infra_failures"])),
                                ("model failures", num(r["model_failures"]))] + trained)
    shown = [e for e in episodes if repo is None or e.get("repo") == repo]
    cut = "" if repo or len(shown) <= EPISODES_SHOWN else \
        f'<p class="muted">the first {EPISODES_SHOWN} of {len(shown)}; pick a repo above to see the rest</p>'
    shown = shown if repo else shown[:EPISODES_SHOWN]
    title = f"Episodes of {repo}" if repo else "Episodes"
    repos = table(d["repos"], _repo_columns(r["run_id"], ks), "repo-table", "no repo scores yet")
    curve = _curve(r["run_id"], r["pass_at"]) if ks else ""
    filt = f' <a href="{esc(run_url(r["run_id"]))}#episodes" class="muted">(all repos)</a>' if repo else ""
    return (head + summary
            + section("Per repo", f'<div class="row"><div>{repos}</div><div>{curve}</div></div>')
            + section("Failures by reason", _failures(d["failures"]))
            + '<div class="row"><div>' + section("Slowest episodes", _top(episodes, "duration_s", "slowest"))
            + "</div><div>" + section("Most expensive episodes (tokens)", _top(episodes, "tokens", "expensive"))
            + "</div></div>"
            + f'<h2 id="episodes">{esc(title)}{filt}</h2>' + cut
            + table(shown, _episode_columns(), "episodes-table", "no episodes"))
