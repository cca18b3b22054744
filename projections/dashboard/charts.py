"""SVG charts drawn on the server: no scripts, no network, readable on their own.

Axes get "nice" ticks (1, 2, 2.5 or 5 times a power of ten: 0/0.25/0.5/0.75/1,
0/5/10/15), labels are formatted to the precision of the tick step, the left
margin is sized to the widest tick label so the rotated axis title never
overlaps it, and every element carries a sans-serif font so a chart opened
alone (`/charts/passk.svg`) looks like the one on the page. Points carry a
`<title>`, so hovering shows the exact value.
"""
from __future__ import annotations

import math
from html import escape

__all__ = ["line_chart", "nice_ticks", "PALETTE", "FONT"]

PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#ea580c", "#7c3aed", "#0891b2", "#db2777", "#65a30d"]
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
_CHAR_W = 6.6  # px per character of an 11px tick label, roughly
_PAD_R, _PAD_T, _PAD_B = 18, 40, 46


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About `count` round tick values covering [lo, hi] (step 1, 2, 2.5 or 5 x 10^n)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0]
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:  # a flat series: a range around it that stays on its side of zero
        pad = abs(lo) * 0.5 or 1.0
        lo, hi = (lo - pad if lo - pad >= 0 or lo < 0 else 0.0), hi + pad
    raw = (hi - lo) / max(1, count - 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw - 1e-12)
    start = math.floor(lo / step + 1e-9) * step
    ticks, t = [], start
    while t < hi + step * 0.5:
        ticks.append(round(t, 12))
        if t >= hi - 1e-12:
            break
        t += step
    return ticks


def _label(value: float, step: float) -> str:
    """A tick label with as many decimals as the step needs (never 0.14/0.28/0.41)."""
    if 0 < step < 1e-3:
        return "0" if value == 0 else f"{value:.1e}"
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 0
    if step > 0 and abs(step * 10 ** decimals - round(step * 10 ** decimals)) > 1e-6:
        decimals += 1  # 2.5, 0.25
    if abs(value) >= 10_000:
        return f"{value:,.0f}"
    return f"{value:.{decimals}f}"


def _integer_ticks(lo: float, hi: float, count: int = 8) -> list[float]:
    if hi == lo:
        lo, hi = lo - 1, hi + 1
    ticks = nice_ticks(lo, hi, count)
    step = max(1.0, ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0
    step = float(math.ceil(step))
    start = math.floor(lo)
    out, t = [], float(start)
    while t <= hi + 1e-9:
        out.append(t)
        t += step
    return out or [float(start)]


def line_chart(series: dict[str, list[tuple[float, float]]], *, title: str, x_label: str, y_label: str,
               element_id: str, width: int = 520, height: int = 280,
               y_range: tuple[float, float] | None = None, integer_x: bool = False,
               point_links: dict[str, list[str]] | None = None) -> str:
    """An SVG line chart: one polyline (with markers) per named series, a legend, nice ticks."""
    xs = [x for pts in series.values() for x, _ in pts]
    ys = [y for pts in series.values() for _, y in pts if y is not None and math.isfinite(y)]
    y_ticks = nice_ticks(*y_range) if y_range else nice_ticks(min(ys, default=0.0), max(ys, default=1.0))
    x_ticks = (_integer_ticks(min(xs), max(xs)) if integer_x else nice_ticks(min(xs), max(xs))) if xs else [0.0, 1.0]
    y0, y1 = y_ticks[0], y_ticks[-1] if y_ticks[-1] > y_ticks[0] else y_ticks[0] + 1
    x0, x1 = x_ticks[0], x_ticks[-1] if x_ticks[-1] > x_ticks[0] else x_ticks[0] + 1
    y_step = (y_ticks[1] - y_ticks[0]) if len(y_ticks) > 1 else 1.0
    labels = [_label(t, y_step) for t in y_ticks]
    pad_l = 30 + int(max(len(s) for s in labels) * _CHAR_W)
    pw, ph = width - pad_l - _PAD_R, height - _PAD_T - _PAD_B

    def sx(x: float) -> float:
        return pad_l + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return _PAD_T + ph - (y - y0) / (y1 - y0) * ph

    out = [f'<svg id="{escape(element_id)}" class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" role="img" font-family="{FONT}" '
           f'style="font-family: {FONT}">',
           f"<title>{escape(title)}</title>",
           f'<text x="{pad_l}" y="16" font-size="13" font-weight="600" fill="#111827" class="chart-title">'
           f"{escape(title)}</text>"]
    for t, text in zip(y_ticks, labels):
        out.append(f'<line x1="{pad_l}" x2="{pad_l + pw}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" stroke="#e5e7eb"/>')
        out.append(f'<text x="{pad_l - 6}" y="{sy(t) + 4:.1f}" text-anchor="end" font-size="11" fill="#4b5563" '
                   f'class="tick">{text}</text>')
    x_step = (x_ticks[1] - x_ticks[0]) if len(x_ticks) > 1 else 1.0
    for t in x_ticks:
        out.append(f'<line x1="{sx(t):.1f}" x2="{sx(t):.1f}" y1="{_PAD_T + ph}" y2="{_PAD_T + ph + 4}" '
                   f'stroke="#9ca3af"/>')
        out.append(f'<text x="{sx(t):.1f}" y="{_PAD_T + ph + 17}" text-anchor="middle" font-size="11" '
                   f'fill="#4b5563" class="tick">{_label(t, x_step)}</text>')
    out.append(f'<line x1="{pad_l}" x2="{pad_l + pw}" y1="{_PAD_T + ph}" y2="{_PAD_T + ph}" stroke="#9ca3af"/>')
    out.append(f'<text x="{pad_l + pw / 2:.1f}" y="{height - 8}" text-anchor="middle" font-size="12" '
               f'fill="#374151" class="axis">{escape(x_label)}</text>')
    out.append(f'<text x="14" y="{_PAD_T + ph / 2:.1f}" text-anchor="middle" font-size="12" fill="#374151" '
               f'class="axis" transform="rotate(-90 14 {_PAD_T + ph / 2:.1f})">{escape(y_label)}</text>')
    if not ys:
        out.append(f'<text x="{pad_l + pw / 2:.1f}" y="{_PAD_T + ph / 2:.1f}" text-anchor="middle" font-size="13" '
                   f'fill="#9ca3af" class="empty">no data yet</text>')
    out += _series(series, sx, sy, point_links or {})
    out += _legend(list(series), pad_l, width)
    out.append("</svg>")
    return "\n".join(out)


def _series(series, sx, sy, links: dict[str, list[str]]) -> list[str]:
    out = []
    for i, (name, pts) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        pts = sorted((x, y) for x, y in pts if y is not None and math.isfinite(y))
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        out.append(f'<polyline class="series" data-series="{escape(name)}" fill="none" stroke="{color}" '
                   f'stroke-width="2" stroke-linejoin="round" points="{path}"/>')
        if len(pts) <= 60:
            for j, (x, y) in enumerate(pts):
                dot = (f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3.2" fill="{color}">'
                       f"<title>{escape(name)}: {x:g}, {y:.4g}</title></circle>")
                href = links.get(name, [])
                out.append(f'<a href="{escape(href[j])}">{dot}</a>' if j < len(href) else dot)
    return out


def _legend(names: list[str], pad_l: int, width: int) -> list[str]:
    out, x, y = [], float(pad_l), 30.0
    for i, name in enumerate(names[:8]):
        label = name if len(name) <= 28 else name[:27] + "…"
        w = 18 + len(label) * _CHAR_W + 14
        if x + w > width - _PAD_R and x > pad_l:
            break  # the legend stays on one line; the series' titles still name them
        color = PALETTE[i % len(PALETTE)]
        out.append(f'<rect x="{x:.1f}" y="{y - 8}" width="10" height="10" rx="2" fill="{color}"/>')
        out.append(f'<text x="{x + 14:.1f}" y="{y + 1}" font-size="11" fill="#374151" class="legend">'
                   f"{escape(label)}</text>")
        x += w
    return out
