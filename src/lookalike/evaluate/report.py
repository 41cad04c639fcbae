"""Render a metrics document (``metrics.json``) as a self-contained HTML page.

The page needs nothing but the metrics document: every figure is drawn from its ``plots``
section with matplotlib (object API, Agg canvas, no global pyplot state) and embedded as a
base64 PNG, and the styles are inline, so ``report.html`` can be mailed or archived alone.

>>> from lookalike.evaluate import load_metrics
>>> html = render_html(load_metrics("report/metrics.json").metrics)  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import html as _html
import io
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

log = logging.getLogger(__name__)

REAL_COLOR = "#5b6770"
SYN_COLOR = "#e8743b"
HOLD_COLOR = "#2f8fce"
MAX_COLUMN_PLOTS = 60


# --------------------------------------------------------------------------- figures
def _figure(width: float, height: float):  # noqa: ANN202 - matplotlib types are lazy
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="tight")


def _png(fig: Any, dpi: int = 90) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _short(label: str, n: int = 18) -> str:
    label = str(label)
    return label if len(label) <= n else label[: n - 1] + "…"


def column_figure(item: Mapping[str, Any]) -> str:
    """PNG data URI of one column's real-vs-synthetic distribution."""
    fig = _figure(3.6, 2.5)
    ax = fig.add_subplot(1, 1, 1)
    if item["kind"] == "categorical":
        labels = list(item["labels"])
        real, syn = list(item["real"]), list(item["synthetic"])
        keep = [i for i in range(len(labels)) if real[i] > 0 or syn[i] > 0]
        labels = [_short(labels[i]) for i in keep][::-1]
        real = [real[i] for i in keep][::-1]
        syn = [syn[i] for i in keep][::-1]
        y = list(range(len(labels)))
        h = 0.4
        ax.barh([v + h / 2 for v in y], real, height=h, color=REAL_COLOR, label="real")
        ax.barh([v - h / 2 for v in y], syn, height=h, color=SYN_COLOR, label="synthetic")
        ax.set_yticks(y)
        ax.set_yticklabels(labels, fontsize=7)
        ax.set_xlabel("share of rows", fontsize=7)
    else:
        edges = list(item["edges"])
        mids = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:], strict=True)]
        width = edges[1] - edges[0]
        ax.bar(mids, item["real"], width=width, color=REAL_COLOR, alpha=0.55, label="real")
        ax.step(edges, [item["synthetic"][0], *item["synthetic"]], where="pre",
                color=SYN_COLOR, linewidth=1.6, label="synthetic")
        ax.set_ylabel("share of rows", fontsize=7)
        if item["kind"] == "datetime":
            import pandas as pd

            ticks = [edges[0], edges[len(edges) // 2], edges[-1]]
            ax.set_xticks(ticks)
            ax.set_xticklabels([pd.to_datetime(t, unit="s").strftime("%Y-%m-%d") for t in ticks])
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, frameon=False, loc="best")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _png(fig)


def association_figure(assoc: Mapping[str, Any]) -> str:
    """PNG data URI of the real, synthetic and |difference| association heat maps."""
    import numpy as np

    cols = [_short(c, 16) for c in assoc["columns"]]
    k = len(cols)

    def arr(m: Sequence[Sequence[float | None]], absolute: bool) -> Any:
        a = np.array([[np.nan if v is None else float(v) for v in row] for row in m])
        return np.abs(a) if absolute else a

    real, syn = arr(assoc["real"], True), arr(assoc["synthetic"], True)
    diff = np.abs(real - syn)
    panels = [("real", real, "Greys"), ("synthetic", syn, "Oranges"),
              ("|real − synthetic|", diff, "Reds")]
    if k > 30:
        panels = panels[2:]
    size = max(3.2, min(0.28 * k + 1.5, 9.0))
    fig = _figure(size * len(panels), size)
    for i, (title, mat, cmap) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        im = ax.imshow(np.ma.masked_invalid(mat), vmin=0, vmax=1, cmap=cmap)
        ax.set_title(title, fontsize=9)
        ax.set_xticks(range(k))
        ax.set_yticks(range(k))
        fs = 7 if k <= 20 else 5
        ax.set_xticklabels(cols, rotation=90, fontsize=fs)
        ax.set_yticklabels(cols if i == 0 else [""] * k, fontsize=fs)
        if title.startswith("|") and k <= 16:
            for a in range(k):
                for b in range(k):
                    v = mat[a, b]
                    if a != b and math.isfinite(v) and v >= 0.05:
                        ax.text(b, a, f"{v:.2f}", ha="center", va="center", fontsize=5,
                                color="white" if v > 0.5 else "black")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03).ax.tick_params(labelsize=6)
    return _png(fig)


def dcr_figure(hist: Mapping[str, Any]) -> str:
    """PNG data URI of the distance-to-closest-record histograms."""
    fig = _figure(6.5, 2.8)
    ax = fig.add_subplot(1, 1, 1)
    edges = list(hist["edges"])
    colors = [SYN_COLOR, HOLD_COLOR, REAL_COLOR]
    styles = ["-", "--", ":"]
    for counts, name, color, style in zip(hist["counts"], hist["series"], colors, styles,
                                          strict=False):
        total = max(sum(counts), 1)
        shares = [c / total for c in counts]
        ax.step(edges, [shares[0], *shares], where="pre", color=color, linestyle=style,
                linewidth=1.8, label=name)
    ax.set_xlabel("distance to the closest record (encoded space)", fontsize=8)
    ax.set_ylabel("share of rows", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=8, frameon=False)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _png(fig)


def mad_figure(reg: Mapping[str, Any]) -> str:
    """PNG data URI of the regression protocol's MAD distributions (real vs synthetic)."""
    fig = _figure(4.2, 2.4)
    ax = fig.add_subplot(1, 1, 1)
    bp = ax.boxplot([reg["mad_real"], reg["mad_synthetic"]], vert=False, widths=0.5,
                    patch_artist=True)
    ax.set_yticks([1, 2])
    ax.set_yticklabels(["trained on real", "trained on synthetic"], fontsize=8)
    for patch, color in zip(bp["boxes"], (REAL_COLOR, SYN_COLOR), strict=True):
        patch.set_facecolor(color)
        patch.set_alpha(0.6)
    ax.set_xlabel("mean absolute deviation on the holdout", fontsize=8)
    ax.tick_params(labelsize=7)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _png(fig)


# --------------------------------------------------------------------------- formatting
def fmt(value: Any, digits: int = 3, percent: bool = False) -> str:
    """Format a metric for the page (``—`` when missing).

    Examples
    --------
    >>> fmt(0.51234), fmt(None), fmt(0.25, percent=True)
    ('0.512', '—', '25.0%')
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if percent:
        return f"{100 * float(value):.1f}%"
    return f"{float(value):.{digits}f}"


def _importance_rows(fi: Mapping[str, Any], top: int = 10) -> list[dict[str, Any]]:
    if not fi or fi.get("real") is None:
        return []
    names = fi["features"]
    real = fi["real"]
    syn = fi.get("synthetic") or [0.0] * len(real)
    tr, ts = sum(real) or 1.0, sum(syn) or 1.0
    rank_s = {n: i + 1 for i, n in enumerate(sorted(names, key=lambda n: -syn[names.index(n)]))}
    order = sorted(range(len(names)), key=lambda i: -real[i])[:top]
    return [{"feature": names[i], "real": real[i] / tr, "synthetic": syn[i] / ts,
             "rank_real": r + 1, "rank_synthetic": rank_s[names[i]]}
            for r, i in enumerate(order)]


def render_html(metrics: Mapping[str, Any], *, title: str | None = None) -> str:
    """Render ``metrics`` (a metrics document) as one self-contained HTML page.

    Examples
    --------
    >>> page = render_html(result.metrics)  # doctest: +SKIP
    >>> page.startswith("<!DOCTYPE html>")  # doctest: +SKIP
    True
    """
    import jinja2

    plots = metrics.get("plots", {})
    meta = metrics.get("meta", {})
    columns = plots.get("columns", [])
    worst_first = sorted(columns, key=lambda c: (c.get("score") is None, c.get("score") or 0))
    column_imgs = [
        {"column": c["column"], "kind": c["kind"], "score": c.get("score"),
         "missing_real": c.get("missing_real"), "missing_synthetic": c.get("missing_synthetic"),
         "img": column_figure(c)}
        for c in worst_first[:MAX_COLUMN_PLOTS]
    ]
    assoc = plots.get("association")
    assoc_img = association_figure(assoc) if assoc and len(assoc["columns"]) >= 2 else None
    dcr_img = dcr_figure(plots["dcr"]) if plots.get("dcr") else None
    reg = metrics.get("utility", {}).get("regression")
    mad_img = mad_figure(reg) if reg and "mad_real" in reg else None
    tstr = metrics.get("utility", {}).get("tstr")
    pairs = metrics.get("fidelity", {}).get("pairs", [])
    worst_pairs = sorted(
        (p for p in pairs if p.get("assoc_diff") is not None), key=lambda p: -p["assoc_diff"]
    )[:10]
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("lookalike.evaluate", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["fmt"] = fmt
    env.filters["pct"] = lambda v: fmt(v, percent=True)
    template = env.get_template("report.html.j2")
    return template.render(
        title=title or "Synthetic data evaluation",
        m=metrics,
        s=metrics.get("summary", {}),
        v=metrics.get("verdict", {}),
        meta=meta,
        tstr=tstr,
        reg=reg,
        priv=metrics.get("privacy", {}),
        qa=metrics.get("fidelity", {}).get("qa"),
        disc=metrics.get("fidelity", {}).get("discriminator"),
        column_imgs=column_imgs,
        n_columns=len(columns),
        assoc_img=assoc_img,
        dcr_img=dcr_img,
        mad_img=mad_img,
        worst_pairs=worst_pairs,
        importance=_importance_rows(tstr.get("feature_importance", {})) if tstr else [],
        escape=_html.escape,
    )
