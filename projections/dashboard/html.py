"""The dashboard's HTML pieces: the page layout, tables, badges, links and numbers.

Pages are plain server-rendered HTML (no build step, no framework): every value is escaped
here, every link is built here, so the page modules only arrange pieces.
"""
from __future__ import annotations

from html import escape
from typing import Any, Callable, Iterable
from urllib.parse import quote, urlencode

__all__ = ["page", "table", "badge", "num", "pct", "duration", "when", "run_link", "episode_link", "run_url",
           "episode_url", "cards", "section", "esc", "details", "diff", "Column"]

CSS = """
:root { --fg:#111827; --muted:#6b7280; --line:#e5e7eb; --soft:#f9fafb; --accent:#2563eb; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif;
       margin: 0; color: var(--fg); background: #fff; font-size: 14px; line-height: 1.45; }
header { background: #111827; color: #fff; padding: 10px 28px; display: flex; gap: 22px; align-items: baseline; }
header .brand { font-weight: 700; font-size: 16px; color: #fff; margin-right: 12px; }
header a { color: #cbd5e1; text-decoration: none; } header a:hover, header a.active { color: #fff; }
header .lake { margin-left: auto; color: #94a3b8; font-size: 12px; }
main { padding: 18px 28px 48px; max-width: 1440px; }
a { color: var(--accent); text-decoration: none; } a:hover { text-decoration: underline; }
h1 { font-size: 22px; margin: 4px 0 2px; } h2 { font-size: 16px; margin: 30px 0 10px; }
h3 { font-size: 14px; margin: 16px 0 6px; }
.sub, .muted { color: var(--muted); } .small { font-size: 12px; } .crumbs { color: var(--muted); font-size: 13px; }
table { border-collapse: collapse; } th, td { padding: 5px 10px; border-bottom: 1px solid var(--line);
  text-align: left; vertical-align: top; white-space: nowrap; }
td.wrap, td.chips { white-space: normal; }
th { font-weight: 600; color: #374151; background: var(--soft); font-size: 13px; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr:hover td { background: #f8fafc; }
.badge { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px; white-space: nowrap; }
.ok { background: #dcfce7; color: #166534; } .bad { background: #fee2e2; color: #991b1b; }
.warn { background: #fef3c7; color: #92400e; } .info { background: #e0e7ff; color: #3730a3; }
.plain { background: #f3f4f6; color: #374151; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; margin: 14px 0 6px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 8px 14px; min-width: 110px; }
.card .v { font-size: 20px; font-weight: 600; font-variant-numeric: tabular-nums; }
.card .k { color: var(--muted); font-size: 12px; }
.charts { display: flex; flex-wrap: wrap; gap: 18px; } .chart { border: 1px solid var(--line); border-radius: 8px; }
pre { background: #f3f4f6; padding: 10px 12px; border-radius: 6px; overflow: auto; max-height: 460px;
      white-space: pre-wrap; word-break: break-word; font-size: 12.5px; margin: 4px 0; }
.diff span { display: block; min-height: 1.2em; }
.diff .add { color: #166534; background: #ecfdf5; } .diff .del { color: #991b1b; background: #fef2f2; }
.diff .hunk { color: #6d28d9; } .diff .file { font-weight: 600; }
.turn { border-left: 3px solid var(--line); padding: 2px 0 2px 16px; margin: 18px 0; }
.turn h3 { margin-top: 0; } .label { font-size: 12.5px; color: var(--muted); margin-top: 10px; }
.label b { font-size: 11.5px; text-transform: uppercase; letter-spacing: .04em; color: #374151; margin-right: 6px; }
.scroll { max-width: 100%; overflow-x: auto; }
.response pre { background: #eff6ff; } .action pre { background: #111827; color: #e5e7eb; }
.observation pre { background: #f9fafb; border: 1px solid var(--line); }
.pos { color: #166534; } .neg { color: #991b1b; }
.chips a { display: inline-block; margin: 2px 4px 2px 0; padding: 0 7px; border: 1px solid var(--line);
  border-radius: 6px; font-size: 12px; }
form.inline { display: flex; gap: 8px; align-items: center; margin: 8px 0; }
select, button { font: inherit; padding: 3px 6px; }
details > summary { cursor: pointer; color: #374151; }
.row { display: flex; flex-wrap: wrap; gap: 12px 36px; align-items: flex-start; }
.row > div { min-width: 0; max-width: 100%; overflow-x: auto; }
"""

_LIVE = """<script>
(function () {
  var version = document.body.getAttribute('data-version');
  setInterval(function () {
    fetch('/api/version').then(function (r) { return r.json(); }).then(function (j) {
      if (j.version !== version) { location.reload(); }
    }).catch(function () {});
  }, 4000);
})();
</script>"""

NAV = [("Runs", "/"), ("Training", "/training"), ("Alerts", "/alerts"), ("Memory", "/memory"), ("Tasks", "/tasks")]


def esc(value: Any) -> str:
    return escape("" if value is None else str(value))


def page(title: str, body: str, *, active: str = "", lake: str = "", version: str = "", live: bool = False) -> str:
    """A whole page; `live` reloads it when the lake changes (while a run goes)."""
    nav = "".join(f'<a href="{href}" class="{"active" if name == active else ""}">{name}</a>' for name, href in NAV)
    script = _LIVE if live else ""
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)} · swe-ledger</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>'
            f'<body data-version="{esc(version)}"><header><a class="brand" href="/">swe-ledger</a>{nav}'
            f'<span class="lake">lake {esc(lake)} · read-only{" · live" if live else ""}</span></header>'
            f"<main>{body}</main>{script}</body></html>")


def section(title: str, content: str, anchor: str = "") -> str:
    aid = f' id="{esc(anchor)}"' if anchor else ""
    return f"<h2{aid}>{esc(title)}</h2>{content}"


def details(summary: str, content: str, open_: bool = False) -> str:
    return f"<details{' open' if open_ else ''}><summary>{summary}</summary>{content}</details>"


class Column:
    """A table column: its header, how a row renders in it (HTML), whether it is numeric (right
    aligned) and whether its text may wrap (cells do not, by default)."""

    def __init__(self, title: str, render: Callable[[dict[str, Any]], str], numeric: bool = False,
                 wrap: bool = False):
        self.title, self.render = title, render
        self.cls = " ".join(c for c, on in (("num", numeric), ("wrap", wrap)) if on)


def table(rows: Iterable[dict[str, Any]], columns: list[Column], table_id: str, empty: str = "none") -> str:
    rows = list(rows)
    if not rows:
        return f'<p id="{esc(table_id)}" class="muted">{esc(empty)}</p>'
    head = "".join(f'<th class="{c.cls}">{esc(c.title)}</th>' for c in columns)
    body = "".join("<tr>" + "".join(f'<td class="{c.cls}">{c.render(r)}</td>' for c in columns) + "</tr>"
                   for r in rows)
    return (f'<div class="scroll"><table id="{esc(table_id)}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{body}</tbody></table></div>')


def cards(items: list[tuple[str, str]]) -> str:
    return '<div class="cards">' + "".join(f'<div class="card"><div class="v">{v}</div><div class="k">{esc(k)}</div>'
                                           f"</div>" for k, v in items) + "</div>"


_TONE = {"finished": "ok", "resolved": "ok", "rewarded": "info", "running": "info", "failed": "bad",
         "cancelled": "warn",
         "unfinished": "warn", "eval": "plain", "rl": "info", "param_search": "plain", "model": "bad", "infra": "warn"}


def badge(text: Any, tone: str | None = None) -> str:
    label = str(text)
    tone = tone or _TONE.get(label) or ("warn" if label.startswith("infra") else "bad" if label not in ("-", "")
                                        and label != "ok" else "plain")
    return f'<span class="badge {tone}">{esc(label)}</span>'


def num(value: Any, digits: int = 3) -> str:
    if value is None:
        return '<span class="muted">–</span>'
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return esc(value)


def pct(value: Any) -> str:
    return num(value, 3)


def duration(seconds: Any) -> str:
    if seconds is None:
        return '<span class="muted">–</span>'
    s = float(seconds)
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60)} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60)} min"


def when(iso: Any) -> str:
    """An ISO time as `YYYY-MM-DD HH:MM` (UTC; the full time on hover)."""
    if not iso:
        return '<span class="muted">–</span>'
    text = str(iso).replace("T", " ")
    return f'<span title="{esc(text[:26])} UTC">{esc(text[:16])}</span>'


def run_url(run_id: str, **query: str) -> str:
    q = {k: v for k, v in query.items() if v}
    return f"/runs/{quote(run_id, safe='')}" + (f"?{urlencode(q)}" if q else "")


def episode_url(episode_id: str) -> str:
    return f"/episodes/{quote(episode_id, safe='')}"


def run_link(run_id: str, **query: str) -> str:
    return f'<a href="{esc(run_url(run_id, **query))}">{esc(run_id)}</a>'


def episode_link(episode_id: str, text: str | None = None) -> str:
    return f'<a class="episode-link" href="{esc(episode_url(episode_id))}">{esc(text or episode_id)}</a>'


def diff(patch: str) -> str:
    """A unified diff with its lines coloured."""
    if not patch:
        return '<p class="muted">empty patch</p>'
    out = []
    for line in patch.splitlines():
        cls = ("file" if line.startswith(("diff --git", "+++", "---", "index ")) else "add" if line.startswith("+")
               else "del" if line.startswith("-") else "hunk" if line.startswith("@@") else "")
        out.append(f'<span class="{cls}">{esc(line) or " "}</span>')
    return '<pre class="diff" id="patch">' + "".join(out) + "</pre>"
