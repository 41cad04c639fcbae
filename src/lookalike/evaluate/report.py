"""Render a metrics document (``metrics.json``) as a self-contained HTML page.

The page needs nothing but the metrics document: every figure is drawn from its ``plots``
section as inline SVG (:mod:`lookalike.evaluate._svg`) and the styles are inline, so
``report.html`` can be mailed or archived alone and renders in any browser without scripts.

>>> from lookalike.evaluate import load_metrics
>>> html = render_html(load_metrics("report/metrics.json").metrics)  # doctest: +SKIP
"""

from __future__ import annotations

import html as _html
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

from lookalike.evaluate import _svg

log = logging.getLogger(__name__)

MAX_COLUMN_PLOTS = 60


# --------------------------------------------------------------------------- figures
def column_figure(item: Mapping[str, Any]) -> str:
    """Inline SVG of one column's real-vs-synthetic distribution."""
    if item["kind"] == "categorical":
        return _svg.category_bars(item["labels"], item["real"], item["synthetic"],
                                  title=f"{item['column']}: real vs synthetic")
    return _svg.histogram(item["edges"], item["real"], item["synthetic"],
                          datetime=item["kind"] == "datetime",
                          title=f"{item['column']}: real vs synthetic")


def association_figure(assoc: Mapping[str, Any]) -> str:
    """Inline SVG of the real, synthetic and |difference| association heat maps."""
    cols = list(assoc["columns"])
    k = len(cols)

    def absolute(m: Sequence[Sequence[float | None]]) -> list[list[float | None]]:
        return [[None if v is None else abs(float(v)) for v in row] for row in m]

    real, syn = absolute(assoc["real"]), absolute(assoc["synthetic"])
    diff = [[None if a is None or b is None else abs(a - b) for a, b in zip(r, s, strict=True)]
            for r, s in zip(real, syn, strict=True)]
    mats = [real, syn, diff]
    titles = ["real", "synthetic", "|real − synthetic|"]
    colors = [(70, 80, 90), (232, 116, 59), (200, 30, 30)]
    if k > 30:
        mats, titles, colors = mats[2:], titles[2:], colors[2:]
    return _svg.heatmaps(cols, mats, titles, colors)


def dcr_figure(hist: Mapping[str, Any]) -> str:
    """Inline SVG of the distance-to-closest-record histograms."""
    return _svg.step_lines(hist["edges"], hist["counts"], hist["series"],
                           xlabel="distance to the closest record (encoded space)")


def mad_figure(reg: Mapping[str, Any]) -> str:
    """Inline SVG of the regression protocol's MAD distributions (real vs synthetic)."""
    return _svg.boxplots([reg["mad_real"], reg["mad_synthetic"]],
                         ["trained on real", "trained on synthetic"],
                         xlabel="mean absolute deviation on the holdout")


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
         "svg": column_figure(c)}
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
