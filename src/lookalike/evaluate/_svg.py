"""Small inline-SVG charts for the HTML report.

Hand-written SVG keeps the report fast to build (milliseconds instead of seconds of matplotlib
text layout for dozens of panels), crisp at any zoom, and free of a plotting dependency. Each
function returns an ``<svg>`` string; every label is XML-escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

REAL = "#5b6770"
SYN = "#e8743b"
HOLD = "#2f8fce"
FONT = 'font-family="Helvetica, Arial, sans-serif"'


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering [lo, hi] (1-2-5 steps).

    Examples
    --------
    >>> nice_ticks(0, 1)
    [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    """
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step - 1e-9) * step
    ticks = []
    t = start
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 12))
        t += step
    return ticks


def tick_label(v: float, datetime: bool = False) -> str:
    """Short label for an axis tick (dates as YYYY-MM-DD, large numbers with k/M).

    Examples
    --------
    >>> tick_label(250000.0), tick_label(0.25), tick_label(86400 * 365, datetime=True)
    ('250k', '0.25', '1971-01-01')
    """
    if datetime:
        import datetime as dt

        return (dt.datetime(1970, 1, 1) + dt.timedelta(seconds=v)).strftime("%Y-%m-%d")
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:g}M"
    if a >= 1e4:
        return f"{v / 1e3:g}k"
    if a >= 100 or v == int(v):
        return f"{v:.0f}"
    return f"{v:.3g}"


def _frame(w: int, h: int, body: list[str], title: str = "") -> str:
    t = f"<title>{escape(title)}</title>" if title else ""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="100%" '
            f'role="img" {FONT} font-size="11">{t}' + "".join(body) + "</svg>")


def _legend(x: float, y: float, items: Sequence[tuple[str, str, str]]) -> list[str]:
    out = []
    for i, (label, color, kind) in enumerate(items):
        yy = y + i * 15
        if kind == "line":
            out.append(f'<line x1="{x}" y1="{yy}" x2="{x + 14}" y2="{yy}" stroke="{color}" '
                       'stroke-width="2.5"/>')
        elif kind == "dash":
            out.append(f'<line x1="{x}" y1="{yy}" x2="{x + 14}" y2="{yy}" stroke="{color}" '
                       'stroke-width="2.5" stroke-dasharray="4 3"/>')
        else:
            out.append(f'<rect x="{x}" y="{yy - 5}" width="14" height="10" fill="{color}"/>')
        out.append(f'<text x="{x + 19}" y="{yy + 4}" fill="#333">{escape(label)}</text>')
    return out


def _y_axis(x0: float, x1: float, y0: float, y1: float, top: float, fmt_pct: bool) -> list[str]:
    """Left axis from value 0 (at y0) to ``top`` (at y1), with grid lines to ``x1``."""
    out = []
    for t in nice_ticks(0.0, top, 4):
        if t > top * 1.0001:
            continue
        yy = y0 - (y0 - y1) * (t / top if top > 0 else 0)
        label = f"{100 * t:.0f}%" if fmt_pct and top >= 0.05 else (
            f"{100 * t:.1f}%" if fmt_pct else tick_label(t))
        out.append(f'<line x1="{x0}" y1="{yy:.1f}" x2="{x0 - 4}" y2="{yy:.1f}" stroke="#999"/>')
        out.append(f'<line x1="{x0}" y1="{yy:.1f}" x2="{x1}" y2="{yy:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{x0 - 7}" y="{yy + 4:.1f}" text-anchor="end" fill="#555">'
                   f"{label}</text>")
    return out


def histogram(edges: Sequence[float], real: Sequence[float], synthetic: Sequence[float], *,
              datetime: bool = False, title: str = "") -> str:
    """Real shares as grey bars, synthetic shares as an orange step line, over shared bins
    (no legend: the page explains the colours once)."""
    w, h, left, right, top_m, bottom = 360, 210, 46, 10, 10, 30
    x0, x1, y0, y1 = left, w - right, h - bottom, top_m
    lo, hi = float(edges[0]), float(edges[-1])
    span = hi - lo if hi > lo else 1.0
    top = max(max(real, default=0), max(synthetic, default=0)) * 1.1 or 1.0

    def sx(v: float) -> float:
        return x0 + (x1 - x0) * (v - lo) / span

    def sy(v: float) -> float:
        return y0 - (y0 - y1) * v / top

    body = [f'<rect x="0" y="0" width="{w}" height="{h}" fill="white"/>']
    # clip the grid lines of the y axis to the plot area
    body += _y_axis(x0, x1, y0, y1, top, True)
    for a, b, v in zip(edges[:-1], edges[1:], real, strict=True):
        width = max(sx(b) - sx(a) - 0.6, 0.5)
        body.append(f'<rect x="{sx(a):.1f}" y="{sy(v):.1f}" width="{width:.1f}" '
                    f'height="{y0 - sy(v):.1f}" fill="{REAL}" fill-opacity="0.55"/>')
    pts = []
    for a, b, v in zip(edges[:-1], edges[1:], synthetic, strict=True):
        pts += [f"{sx(a):.1f},{sy(v):.1f}", f"{sx(b):.1f},{sy(v):.1f}"]
    body.append(f'<polyline points="{" ".join(pts)}" fill="none" stroke="{SYN}" '
                'stroke-width="2"/>')
    body.append(f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#999"/>')
    ticks = [t for t in nice_ticks(lo, hi, 4 if datetime else 5) if lo <= t <= hi]
    if datetime and len(ticks) > 3:
        ticks = ticks[:: max(1, len(ticks) // 3)]
    for t in ticks:
        body.append(f'<line x1="{sx(t):.1f}" y1="{y0}" x2="{sx(t):.1f}" y2="{y0 + 4}" '
                    'stroke="#999"/>')
        body.append(f'<text x="{sx(t):.1f}" y="{y0 + 16}" text-anchor="middle" fill="#555">'
                    f"{escape(tick_label(t, datetime))}</text>")
    return _frame(w, h, body, title)


def category_bars(labels: Sequence[str], real: Sequence[float], synthetic: Sequence[float], *,
                  title: str = "") -> str:
    """Horizontal paired bars (real grey above, synthetic orange below) of category shares."""
    keep = [i for i in range(len(labels)) if real[i] > 0 or synthetic[i] > 0]
    row = 17
    w, left, right, top_m, bottom = 360, 118, 16, 8, 26
    h = top_m + bottom + row * max(len(keep), 1)
    x0, x1 = left, w - right
    top = max([real[i] for i in keep] + [synthetic[i] for i in keep] + [1e-9]) * 1.08

    def sx(v: float) -> float:
        return x0 + (x1 - x0) * v / top

    body = [f'<rect x="0" y="0" width="{w}" height="{h}" fill="white"/>']
    for t in nice_ticks(0.0, top, 4):
        if t > top:
            continue
        body.append(f'<line x1="{sx(t):.1f}" y1="{top_m}" x2="{sx(t):.1f}" y2="{h - bottom}" '
                    'stroke="#eee"/>')
        body.append(f'<text x="{sx(t):.1f}" y="{h - bottom + 14}" text-anchor="middle" '
                    f'fill="#555">{100 * t:.0f}%</text>')
    for k, i in enumerate(keep):
        y = top_m + k * row
        label = labels[i] if len(labels[i]) <= 18 else labels[i][:17] + "…"
        body.append(f'<text x="{x0 - 6}" y="{y + 12}" text-anchor="end" fill="#333">'
                    f'{escape(label)}<title>{escape(labels[i])}</title></text>')
        body.append(f'<rect x="{x0}" y="{y + 2}" width="{sx(real[i]) - x0:.1f}" height="6.5" '
                    f'fill="{REAL}"><title>real {100 * real[i]:.1f}%</title></rect>')
        body.append(f'<rect x="{x0}" y="{y + 8.5}" width="{sx(synthetic[i]) - x0:.1f}" '
                    f'height="6.5" fill="{SYN}"><title>synthetic {100 * synthetic[i]:.1f}%'
                    "</title></rect>")
    body.append(f'<line x1="{x0}" y1="{top_m}" x2="{x0}" y2="{h - bottom}" stroke="#999"/>')
    return _frame(w, h, body, title)


def step_lines(edges: Sequence[float], series: Sequence[Sequence[float]],
               names: Sequence[str], *, xlabel: str, title: str = "") -> str:
    """Normalised histograms of several series as step lines (e.g. DCR distributions)."""
    w, h, left, right, top_m, bottom = 720, 260, 50, 14, 12, 42
    x0, x1, y0, y1 = left, w - right, h - bottom, top_m
    lo, hi = float(edges[0]), float(edges[-1])
    span = hi - lo if hi > lo else 1.0
    shares = []
    for counts in series:
        total = sum(counts) or 1
        shares.append([c / total for c in counts])
    top = max((max(s, default=0) for s in shares), default=0) * 1.1 or 1.0

    def sx(v: float) -> float:
        return x0 + (x1 - x0) * (v - lo) / span

    def sy(v: float) -> float:
        return y0 - (y0 - y1) * v / top

    body = [f'<rect x="0" y="0" width="{w}" height="{h}" fill="white"/>']
    body += _y_axis(x0, x1, y0, y1, top, True)
    colors = [SYN, HOLD, REAL]
    dashes = ["", ' stroke-dasharray="7 4"', ' stroke-dasharray="2 3"']
    for k, s in enumerate(shares):
        pts = []
        for a, b, v in zip(edges[:-1], edges[1:], s, strict=True):
            pts += [f"{sx(a):.1f},{sy(v):.1f}", f"{sx(b):.1f},{sy(v):.1f}"]
        body.append(f'<polyline points="{" ".join(pts)}" fill="none" stroke="{colors[k % 3]}" '
                    f'stroke-width="2.2"{dashes[k % 3]}/>')
    body.append(f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#999"/>')
    for t in nice_ticks(lo, hi, 8):
        if lo <= t <= hi:
            body.append(f'<text x="{sx(t):.1f}" y="{y0 + 16}" text-anchor="middle" '
                        f'fill="#555">{tick_label(t)}</text>')
    body.append(f'<text x="{(x0 + x1) / 2}" y="{h - 6}" text-anchor="middle" fill="#333">'
                f"{escape(xlabel)}</text>")
    kinds = ["line", "dash", "dash"]
    body += _legend(x1 - 150, y1 + 10, [(n, colors[k % 3], kinds[k % 3])
                                        for k, n in enumerate(names)])
    return _frame(w, h, body, title)


def boxplots(groups: Sequence[Sequence[float]], names: Sequence[str], *, xlabel: str) -> str:
    """Horizontal box plots (min, quartiles, median, max) of a few small samples."""
    import numpy as np

    w, left, right, row = 520, 150, 16, 34
    h = 20 + row * len(groups) + 34
    x0, x1 = left, w - right
    allv = [v for g in groups for v in g]
    lo, hi = (min(allv), max(allv)) if allv else (0.0, 1.0)
    pad = (hi - lo) * 0.08 or abs(hi) * 0.05 or 1.0
    lo, hi = lo - pad, hi + pad

    def sx(v: float) -> float:
        return x0 + (x1 - x0) * (v - lo) / (hi - lo)

    body = [f'<rect x="0" y="0" width="{w}" height="{h}" fill="white"/>']
    colors = [REAL, SYN]
    for k, (g, name) in enumerate(zip(groups, names, strict=True)):
        y = 16 + k * row
        q = np.quantile(np.asarray(g, dtype=float), [0, 0.25, 0.5, 0.75, 1]) if len(g) else [0] * 5
        c = colors[k % 2]
        body.append(f'<text x="{x0 - 8}" y="{y + 14}" text-anchor="end" fill="#333">'
                    f"{escape(name)}</text>")
        body.append(f'<line x1="{sx(q[0]):.1f}" y1="{y + 10}" x2="{sx(q[4]):.1f}" y2="{y + 10}" '
                    f'stroke="{c}"/>')
        body.append(f'<rect x="{sx(q[1]):.1f}" y="{y}" width="{max(sx(q[3]) - sx(q[1]), 1):.1f}" '
                    f'height="20" fill="{c}" fill-opacity="0.45" stroke="{c}"/>')
        body.append(f'<line x1="{sx(q[2]):.1f}" y1="{y}" x2="{sx(q[2]):.1f}" y2="{y + 20}" '
                    f'stroke="{c}" stroke-width="2.5"/>')
    y0 = 16 + row * len(groups)
    body.append(f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#999"/>')
    for t in nice_ticks(lo, hi, 5):
        if lo <= t <= hi:
            body.append(f'<text x="{sx(t):.1f}" y="{y0 + 14}" text-anchor="middle" fill="#555">'
                        f"{t:.4g}</text>")
    body.append(f'<text x="{(x0 + x1) / 2}" y="{h - 4}" text-anchor="middle" fill="#333">'
                f"{escape(xlabel)}</text>")
    return _frame(w, h, body)


def _heat_color(v: float | None, rgb: tuple[int, int, int]) -> str:
    if v is None or not math.isfinite(v):
        return "#f3f3f3"
    v = min(max(v, 0.0), 1.0)
    r, g, b = (round(255 - (255 - c) * v) for c in rgb)
    return f"rgb({r},{g},{b})"


def heatmaps(columns: Sequence[str], mats: Sequence[Sequence[Sequence[float | None]]],
             titles: Sequence[str], colors: Sequence[tuple[int, int, int]],
             *, annotate_last: bool = True) -> str:
    """Side-by-side heat maps in [0, 1] sharing the column labels (values as tooltips)."""
    k = len(columns)
    cell = max(9, min(24, 460 // max(k, 1)))
    label_w = 110
    panel = cell * k
    gap = 26
    w = label_w + len(mats) * (panel + gap)
    h = 24 + panel + label_w
    body = [f'<rect x="0" y="0" width="{w}" height="{h}" fill="white"/>']
    fs = 10 if cell >= 14 else 8
    for p, (mat, title, rgb) in enumerate(zip(mats, titles, colors, strict=True)):
        ox = label_w + p * (panel + gap)
        body.append(f'<text x="{ox + panel / 2}" y="14" text-anchor="middle" font-size="12" '
                    f'fill="#333">{escape(title)}</text>')
        for i in range(k):
            for j in range(k):
                v = mat[i][j]
                tip = f"{columns[i]} × {columns[j]}: " + ("—" if v is None else f"{v:.3f}")
                body.append(f'<rect x="{ox + j * cell}" y="{22 + i * cell}" width="{cell - 1}" '
                            f'height="{cell - 1}" fill="{_heat_color(v, rgb)}">'
                            f"<title>{escape(tip)}</title></rect>")
                if (annotate_last and p == len(mats) - 1 and i != j and v is not None
                        and v >= 0.1 and cell >= 20):
                    tc = "white" if v > 0.55 else "#222"
                    body.append(f'<text x="{ox + j * cell + cell / 2 - 0.5}" '
                                f'y="{22 + i * cell + cell / 2 + 3}" text-anchor="middle" '
                                f'font-size="8" fill="{tc}">{v:.2f}</text>')
        for j, name in enumerate(columns):
            short = name if len(name) <= 16 else name[:15] + "…"
            x = ox + j * cell + cell / 2 + 3
            y = 22 + panel + 6
            body.append(f'<text x="{x}" y="{y}" font-size="{fs}" fill="#444" '
                        f'transform="rotate(60 {x} {y})">{escape(short)}</text>')
    for i, name in enumerate(columns):
        short = name if len(name) <= 16 else name[:15] + "…"
        body.append(f'<text x="{label_w - 6}" y="{22 + i * cell + cell / 2 + 3}" '
                    f'text-anchor="end" font-size="{fs}" fill="#444">{escape(short)}</text>')
    return _frame(w, h, body)
