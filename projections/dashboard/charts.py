"""Static SVG line charts drawn on the server (no scripts, no network)."""
from __future__ import annotations

from html import escape

__all__ = ["line_chart", "PALETTE"]

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
_PAD_L, _PAD_R, _PAD_T, _PAD_B = 52, 16, 46, 40


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    step = (hi - lo) / (n - 1)
    return [lo + i * step for i in range(n)]


def _bounds(values: list[float], fixed: tuple[float, float] | None) -> tuple[float, float]:
    if fixed is not None:
        return fixed
    if not values:
        return 0.0, 1.0
    lo, hi = min(values), max(values)
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    return lo, hi


def line_chart(series: dict[str, list[tuple[float, float]]], *, title: str, x_label: str,
               y_label: str, element_id: str, width: int = 560, height: int = 300,
               y_range: tuple[float, float] | None = None, integer_x: bool = False) -> str:
    """An SVG element: one polyline (with point markers) per named series."""
    xs = [x for pts in series.values() for x, _ in pts]
    ys = [y for pts in series.values() for _, y in pts]
    x0, x1 = _bounds(xs, None)
    y0, y1 = _bounds(ys, y_range)
    pw, ph = width - _PAD_L - _PAD_R, height - _PAD_T - _PAD_B

    def sx(x: float) -> float:
        return _PAD_L + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return _PAD_T + ph - (y - y0) / (y1 - y0) * ph

    out = [f'<svg id="{escape(element_id)}" class="chart" xmlns="http://www.w3.org/2000/svg" '
           f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">',
           f'<title>{escape(title)}</title>',
           f'<text x="{width / 2}" y="16" text-anchor="middle" class="chart-title">{escape(title)}</text>',
           f'<rect x="{_PAD_L}" y="{_PAD_T}" width="{pw}" height="{ph}" fill="#fafafa" stroke="#ccc"/>']
    for t in _ticks(y0, y1):
        out.append(f'<line x1="{_PAD_L}" x2="{_PAD_L + pw}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{_PAD_L - 6}" y="{sy(t) + 4:.1f}" text-anchor="end" class="tick">{t:.2f}</text>')
    x_ticks = sorted(set(xs)) if integer_x and len(set(xs)) <= 12 else _ticks(x0, x1)
    for t in x_ticks:
        label = f"{t:.0f}" if integer_x or abs(t - round(t)) < 1e-9 else f"{t:.2f}"
        out.append(f'<text x="{sx(t):.1f}" y="{_PAD_T + ph + 16}" text-anchor="middle" class="tick">{label}</text>')
    out.append(f'<text x="{_PAD_L + pw / 2}" y="{height - 6}" text-anchor="middle" class="axis">{escape(x_label)}</text>')
    out.append(f'<text x="14" y="{_PAD_T + ph / 2}" text-anchor="middle" class="axis" '
               f'transform="rotate(-90 14 {_PAD_T + ph / 2})">{escape(y_label)}</text>')
    if not ys:
        out.append(f'<text x="{_PAD_L + pw / 2}" y="{_PAD_T + ph / 2}" text-anchor="middle" class="empty">no data yet</text>')
    for i, (name, pts) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        pts = sorted(pts)
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        out.append(f'<polyline class="series" data-series="{escape(name)}" fill="none" stroke="{color}" '
                   f'stroke-width="2" points="{path}"/>')
        if len(pts) <= 40:
            out += [f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{color}"/>' for x, y in pts]
        lx = _PAD_L + 130 * (i % 4)
        ly = 34
        out.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{color}"/>')
        out.append(f'<text x="{lx + 14}" y="{ly}" class="legend">{escape(name[:18])}</text>')
    out.append("</svg>")
    return "\n".join(out)
