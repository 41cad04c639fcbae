"""Differentially private statistics for encoders and generators.

Data-dependent metadata - the row count, column bounds, quantiles, the list of categories -
is either declared by the user or estimated here with a charged budget (STYLE.md item 7).
Every function takes the caller's :class:`~lookalike.privacy.PrivacyLedger`, spends its
event on it *before* drawing any noise (so an unaffordable release raises
:class:`~lookalike.errors.BudgetExceededError` and reveals nothing), and returns the value
together with the event.

Neighbouring tables differ by one row, and each row contributes one value to the column.

* :func:`dp_count` - Laplace or Gaussian noisy count (sensitivity 1).
* :func:`dp_quantiles` - exponential mechanism over the public interval, one draw per
  quantile (Smith 2011; McSherry and Talwar 2007).
* :func:`dp_bounds` - coarse min / max from a noisy histogram (Laplace or Gaussian) on a
  base-2 logarithmic grid, kept where the noisy count clears a union-bound threshold (a
  log-scale variant of the histogram range finder of Karwa and Vadhan 2018).
* :func:`dp_histogram` - Gaussian noisy counts on a public grid (:func:`log_grid_edges`,
  :func:`fine_grid_edges`); :func:`populated_range`, :func:`consistent_counts` and
  :func:`histogram_quantiles` post-process them (a two-level hierarchical histogram made
  consistent as in Hay et al. 2010, and the noisy CDF read for quantiles), for free.
* :func:`dp_select_categories` - Gaussian noisy counts with thresholding, so only
  categories with enough noisy support are released (Korolova et al. 2009; Wilson et al.
  2020; Gopi et al. 2020, "Differentially Private Set Union").
* :func:`calibrate_releases` - one noise scale for many Gaussian releases so that,
  composed by the ledger's own accountant, they spend exactly the budget.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from lookalike.errors import BudgetExceededError, InvalidParameterError
from lookalike.privacy.accountant import PrivacyLedger
from lookalike.privacy.events import (
    ComposedEvent,
    GaussianEvent,
    GaussianThresholdEvent,
    LaplaceEvent,
    PureDPEvent,
)
from lookalike.privacy.gdp import _check_int, _check_real, sigma_for_epsilon_delta
from lookalike.privacy.mechanisms import (
    _check_rng,
    _gumbel,
    _standard_laplace,
    _standard_normal,
    _uniform,
)

__all__ = [
    "CalibratedRelease",
    "PlannedRelease",
    "calibrate_releases",
    "consistent_counts",
    "dp_bounds",
    "dp_count",
    "dp_histogram",
    "dp_quantiles",
    "dp_select_categories",
    "fine_grid_edges",
    "gaussian_threshold",
    "histogram_quantiles",
    "log_grid_edges",
    "populated_range",
]

#: Relative safety margin on calibrated noise, so float rounding never tips a release
#: calibrated to the whole remaining budget over it.
_MARGIN = 1.0 + 1e-9


def _finite_column(owner: str, values: ArrayLike) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    if not np.all(np.isfinite(arr)):
        raise InvalidParameterError(
            f"The 'values' parameter of {owner} must hold finite numbers; got "
            f"{int(np.sum(~np.isfinite(arr)))} missing or infinite values. Drop or impute them "
            "first (their count is itself data: release it with dp_count if needed)."
        )
    return arr


def dp_count(
    n: int,
    *,
    ledger: PrivacyLedger,
    rng: np.random.Generator | None = None,
    epsilon: float | None = None,
    sigma: float | None = None,
    label: str = "row count",
    secure: bool = False,
) -> tuple[int, LaplaceEvent | GaussianEvent]:
    """Noisy count of rows (sensitivity 1), rounded and clipped at 0.

    Give exactly one of ``epsilon`` (Laplace noise of scale 1/epsilon, epsilon-DP; Dwork et
    al. 2006) or ``sigma`` (Gaussian noise, 1/sigma-GDP; Dong, Roth and Su 2019). Rounding
    and clipping are post-processing.

    Parameters
    ----------
    n : int
        The exact count, >= 0.
    ledger : PrivacyLedger
        Charged before the noise is drawn.
    rng : numpy.random.Generator, optional
        Noise source (required unless ``secure``).
    epsilon : float, optional
        Pure-DP budget of the release, > 0.
    sigma : float, optional
        Gaussian noise standard deviation, > 0.
    label : str, default "row count"
        Event label.
    secure : bool, default False
        Draw from the OS cryptographically secure generator.

    Returns
    -------
    tuple
        ``(noisy count, event)``.

    Examples
    --------
    >>> ledger = PrivacyLedger(1.0)
    >>> count, event = dp_count(1000, epsilon=0.5, ledger=ledger, rng=np.random.default_rng(0))
    >>> abs(count - 1000) < 50, event.epsilon
    (True, 0.5)
    """
    owner = "dp_count"
    true_n = _check_int(owner, "n", n, low=0)
    if (epsilon is None) == (sigma is None):
        raise InvalidParameterError(
            f"{owner} takes exactly one of 'epsilon' (Laplace noise) or 'sigma' (Gaussian "
            f"noise); got epsilon={epsilon!r}, sigma={sigma!r}."
        )
    gen = _check_rng(owner, rng, secure)
    event: LaplaceEvent | GaussianEvent
    if epsilon is not None:
        eps = _check_real(owner, "epsilon", epsilon, low=0.0, low_open=True)
        event = LaplaceEvent(1.0 / eps, 1.0, label)
        ledger.spend(event)
        noise = event.scale * float(_standard_laplace(gen, (), secure))
    else:
        event = GaussianEvent(_check_real(owner, "sigma", sigma, low=0.0, low_open=True), 1.0,
                              label)
        ledger.spend(event)
        noise = event.sigma * float(_standard_normal(gen, (), secure))
    return max(0, int(round(true_n + noise))), event


def _exponential_quantile(
    sorted_x: np.ndarray, q: float, lo: float, hi: float, eps: float,
    rng: np.random.Generator | None, secure: bool,
) -> float:
    """One exponential-mechanism draw of the q-quantile on [lo, hi] (Smith 2011).

    The output density at y is proportional to ``exp(-eps/2 * |#{x < y} - q n|)``; the
    score has sensitivity 1 under adding or removing a row, so the draw is eps-DP. Sampled
    exactly: pick a gap between order statistics with weight ``width * exp(score)`` by the
    Gumbel-max trick, then a uniform point inside it.
    """
    n = sorted_x.size
    edges = np.concatenate([[lo], sorted_x, [hi]])
    widths = np.diff(edges)
    score = -np.abs(np.arange(n + 1, dtype=float) - q * n)
    with np.errstate(divide="ignore"):
        log_w = np.log(widths) + 0.5 * eps * score
    if not np.any(np.isfinite(log_w)):
        return lo
    k = int(np.argmax(log_w + _gumbel(rng, n + 1, secure)))
    return float(edges[k] + widths[k] * float(_uniform(rng, 1, secure)[0]))


def dp_quantiles(
    values: ArrayLike,
    quantiles: Sequence[float],
    bounds: tuple[float, float],
    *,
    epsilon: float,
    ledger: PrivacyLedger,
    rng: np.random.Generator | None = None,
    label: str = "quantiles",
    secure: bool = False,
) -> tuple[np.ndarray, ComposedEvent]:
    """DP quantiles of a numeric column inside public bounds (exponential mechanism).

    Each of the m quantiles is one draw of the exponential mechanism for quantiles (Smith
    2011, "Privacy-preserving statistical estimation with optimal convergence rates";
    McSherry and Talwar 2007) with epsilon / m, so the whole release is epsilon-DP by basic
    composition. Values are clipped to ``bounds`` first; the outputs are sorted
    (post-processing) so they are non-decreasing in the quantile level. With a large
    epsilon the result approaches the empirical quantile; with a small one it stays inside
    the bounds.

    Parameters
    ----------
    values : array-like of float
        The column (finite values).
    quantiles : sequence of float
        Levels in [0, 1].
    bounds : tuple of float
        Public ``(low, high)``; must not be derived from the data.
    epsilon : float
        Total budget of the m draws, > 0.
    ledger : PrivacyLedger
        Charged with one ``ComposedEvent`` of m ``PureDPEvent`` before sampling.
    rng : numpy.random.Generator, optional
        Noise source (required unless ``secure``).
    label : str, default "quantiles"
        Event label.
    secure : bool, default False
        Draw from the OS cryptographically secure generator.

    Returns
    -------
    tuple
        ``(array of m values, ComposedEvent)``.

    Examples
    --------
    >>> x = np.random.default_rng(1).uniform(0, 100, 2000)
    >>> q, event = dp_quantiles(x, [0.5], (0.0, 100.0), epsilon=1.0,
    ...                         ledger=PrivacyLedger(1.0), rng=np.random.default_rng(2))
    >>> bool(abs(q[0] - np.median(x)) < 5)
    True
    """
    owner = "dp_quantiles"
    x = _finite_column(owner, values)
    levels = [_check_real(owner, "quantiles", q, low=0.0, high=1.0) for q in quantiles]
    if not levels:
        raise InvalidParameterError(f"The 'quantiles' parameter of {owner} must not be empty.")
    lo, hi = _public_bounds(owner, bounds)
    eps = _check_real(owner, "epsilon", epsilon, low=0.0, low_open=True)
    gen = _check_rng(owner, rng, secure)
    share = eps / len(levels)
    event = ComposedEvent(
        tuple(PureDPEvent(share, f"{label} q={q:g}") for q in levels), count=1, label=label
    )
    ledger.spend(event)
    sorted_x = np.sort(np.clip(x, lo, hi))
    draws = [_exponential_quantile(sorted_x, q, lo, hi, share, gen, secure) for q in levels]
    order = np.argsort(levels, kind="stable")
    out = np.empty(len(levels))
    out[order] = np.sort(draws)
    return out, event


def _public_bounds(owner: str, bounds: tuple[float, float]) -> tuple[float, float]:
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        lo, hi = math.nan, math.nan
    if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
        raise InvalidParameterError(
            f"The 'bounds' parameter of {owner} must be a public (low, high) pair of finite "
            f"floats with low <= high; got {bounds!r}. Declare them in the schema or estimate "
            "them with dp_bounds."
        )
    return lo, hi


# --------------------------------------------------------------------------- grids
def _check_step(owner: str, step: float | None) -> float | None:
    if step is None:
        return None
    return _check_real(owner, "step", step, low=0.0, low_open=True,
                       hint="It is the spacing of the values (10**-decimals), or None.")


def _snap(edges: np.ndarray, step: float | None) -> np.ndarray:
    """Move cell edges to half steps of the value grid so no grid value sits on an edge."""
    if step is None:
        return edges
    return (np.ceil(edges / step - 1e-9) - 0.5) * step


def log_grid_edges(
    step: float | None = None, *, min_exponent: int = -16, max_exponent: int = 64
) -> np.ndarray:
    """Edges of the public signed base-2 logarithmic grid (Karwa and Vadhan 2018 style).

    Cells, left to right: ``[-2^(k+1), -2^k)`` for ``k`` from ``max_exponent - 1`` down, a
    cell around zero, then ``[2^k, 2^(k+1))`` up to ``2^max_exponent``. Without ``step``
    the zero cell is ``[-2^min_exponent, 2^min_exponent)``; with the values' spacing
    ``step`` (``10**-decimals``, public schema metadata) the smallest octave is the one
    holding ``step``, the zero cell holds exactly the value 0 and every edge sits half a
    step between two grid values. Values beyond ``2^max_exponent`` belong to the outer
    cells (callers clip).

    Examples
    --------
    >>> log_grid_edges(1.0, max_exponent=3).tolist()
    [-7.5, -3.5, -1.5, -0.5, 0.5, 1.5, 3.5, 7.5]
    """
    owner = "log_grid_edges"
    step = _check_step(owner, step)
    k_lo, k_hi = int(min_exponent), int(max_exponent)
    if step is not None:
        k_lo = math.floor(math.log2(step))
    if not (isinstance(min_exponent, int) and isinstance(max_exponent, int) and k_lo < k_hi
            and -1100 < k_lo and k_hi < 1000):
        raise InvalidParameterError(
            f"The 'min_exponent' and 'max_exponent' parameters of {owner} must be ints with "
            f"-1000 < min_exponent < max_exponent < 1000 (and 2^max_exponent above the step); "
            f"got {min_exponent!r}, {max_exponent!r}."
        )
    pos = _snap(2.0 ** np.arange(k_lo, k_hi + 1, dtype=float), step)
    pos = np.unique(pos[pos > 0])
    return np.concatenate([-pos[::-1], pos])


def fine_grid_edges(
    low: float, high: float, step: float | None = None, *, cells: int = 128,
    min_exponent: int = -16,
) -> tuple[np.ndarray, np.ndarray]:
    """A fine, public grid on ``[low, high]``: the log grid's octaves cut into equal cells.

    The pieces of ``[low, high]`` between consecutive edges of :func:`log_grid_edges` (the
    zero cell, octaves, and the partial octaves at the ends) are each cut into up to
    ``cells // pieces`` (between 4 and 64) equal cells, never narrower than ``step``. A
    narrow range far from zero is therefore cut linearly, a range over many octaves (heavy
    tails) logarithmically, and 0 keeps a cell of its own. With ``step`` the edges sit at
    half steps, so integer columns with a short range get one cell per value.

    Returns
    -------
    tuple
        ``(edges, groups)``: the cell edges, and the index of the first cell of each piece
        (plus the number of cells), so ``groups[g]:groups[g+1]`` are the cells of piece g.

    Examples
    --------
    >>> edges, groups = fine_grid_edges(0.0, 1000.0, 1.0, cells=40)
    >>> float(edges[0]), float(edges[1]), float(edges[-1]), int(groups[-1]) == len(edges) - 1
    (-0.5, 0.5, 1000.5, True)
    """
    owner = "fine_grid_edges"
    step = _check_step(owner, step)
    lo = _check_real(owner, "low", low)
    hi = _check_real(owner, "high", high, low=lo)
    n_cells = _check_int(owner, "cells", cells)
    if step is not None:
        a = (round(lo / step) - 0.5) * step
        b = (round(hi / step) + 0.5) * step
    else:
        a, b = lo, hi
    if b <= a:  # a single float value: one degenerate piece
        return np.array([a, b]), np.array([0, 1])
    k_lo = math.floor(math.log2(step)) if step is not None else int(min_exponent)
    top = max(abs(a), abs(b), 2.0 ** k_lo)
    k_hi = max(math.ceil(math.log2(top)) + 1, k_lo + 1)
    grid = log_grid_edges(step, min_exponent=k_lo, max_exponent=k_hi)
    inner = grid[(grid > a) & (grid < b)]
    bounds = np.concatenate([[a], inner, [b]])
    pieces = len(bounds) - 1
    per = int(min(64, max(4, n_cells // pieces)))
    edges: list[np.ndarray] = []
    groups = [0]
    for left, right in itertools.pairwise(bounds):
        if step is not None:
            m = round(float((right - left) / step))
            sub = left + step * np.unique(np.round(np.linspace(0, m, min(per, m) + 1)))
        else:
            sub = np.linspace(left, right, per + 1)
        edges.append(sub[:-1])
        groups.append(groups[-1] + len(sub) - 1)
    edges.append(np.array([b]))
    return np.concatenate(edges), np.array(groups, dtype=np.int64)


def _cell_index(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Cell of each value (values outside the edges go to the outer cells)."""
    k = len(edges) - 1
    return np.clip(np.searchsorted(edges, x, side="right") - 1, 0, k - 1)


# --------------------------------------------------------------------------- histograms
def dp_histogram(
    values: ArrayLike,
    edges: ArrayLike,
    *,
    sigma: float,
    ledger: PrivacyLedger,
    rng: np.random.Generator | None = None,
    label: str = "histogram",
    secure: bool = False,
    extra: ArrayLike = (),
) -> tuple[np.ndarray, GaussianEvent]:
    """Gaussian noisy counts of a numeric column on a public grid.

    Every row adds 1 to exactly one cell (values outside the edges are counted in the
    outer cells), so adding or removing a row changes the count vector by 1 in L2 norm
    and ``count + N(0, sigma^2)`` per cell is the Gaussian mechanism, ``1/sigma``-GDP
    (Dong, Roth and Su 2019). ``edges`` must not depend on the data (use
    :func:`log_grid_edges`, :func:`fine_grid_edges` or edges derived from earlier DP
    releases). ``extra`` holds the exact counts of further cells for rows that are *not*
    in ``values`` (e.g. the column's missing cells): each row is still in exactly one
    cell, so they are released in the same vector at no extra cost, after the grid's.

    Parameters
    ----------
    values : array-like of float
        The column (finite values).
    edges : array-like of float
        Increasing public cell edges (at least 2).
    sigma : float
        Noise standard deviation, > 0.
    ledger : PrivacyLedger
        Charged with one ``GaussianEvent(sigma, 1)`` before the noise is drawn.
    rng : numpy.random.Generator, optional
        Noise source (required unless ``secure``).
    label : str, default "histogram"
        Event label.
    secure : bool, default False
        Draw from the OS cryptographically secure generator.
    extra : array-like of float, default ()
        Exact counts of further cells (rows not in ``values``), released after the grid's.

    Returns
    -------
    tuple
        ``(noisy counts, GaussianEvent)``; the counts are floats and may be negative.

    Examples
    --------
    >>> counts, event = dp_histogram([1, 2, 2, 3], [0.5, 1.5, 2.5, 3.5], sigma=0.1,
    ...                              ledger=PrivacyLedger(100.0, 1e-5),
    ...                              rng=np.random.default_rng(0))
    >>> np.round(counts).tolist(), event.mu
    ([1.0, 2.0, 1.0], 10.0)
    """
    owner = "dp_histogram"
    x = _finite_column(owner, values)
    e = np.asarray(edges, dtype=float).ravel()
    if e.size < 2 or not np.all(np.isfinite(e)) or np.any(np.diff(e) < 0):
        raise InvalidParameterError(
            f"The 'edges' parameter of {owner} must hold at least 2 finite non-decreasing "
            f"floats; got {edges!r}."
        )
    s = _check_real(owner, "sigma", sigma, low=0.0, low_open=True)
    gen = _check_rng(owner, rng, secure)
    event = GaussianEvent(s, 1.0, label)
    ledger.spend(event)
    counts = np.bincount(_cell_index(x, e), minlength=e.size - 1).astype(float)
    counts = np.concatenate([counts, np.asarray(extra, dtype=float).ravel()])
    return counts + s * _standard_normal(gen, counts.shape, secure), event


def populated_range(
    noisy: ArrayLike, edges: ArrayLike, *, threshold: float, step: float | None = None,
    extend_threshold: float | None = None,
) -> tuple[float, float]:
    """Outer edges of the cells whose noisy count exceeds ``threshold`` (post-processing).

    With no such cell the fullest cell is used. With ``extend_threshold`` the range then
    grows outwards, one cell at a time on each side, while the next cell's noisy count
    exceeds it: only the first empty cell beyond the data is ever tested on each side, so
    this lower threshold needs no union bound over the grid (an empty cell is added with
    probability at most twice the per-test tail probability). With ``step`` the edges
    (half steps) are turned into the smallest and largest grid value inside the cells.

    Examples
    --------
    >>> populated_range([0.0, 50.0, 3.0, 40.0], [0.5, 1.5, 2.5, 3.5, 4.5], threshold=10.0,
    ...                 step=1.0)
    (2.0, 4.0)
    >>> populated_range([0.0, 7.0, 50.0, 0.0], [0.5, 1.5, 2.5, 3.5, 4.5], threshold=10.0,
    ...                 extend_threshold=5.0)
    (1.5, 3.5)
    """
    counts = np.asarray(noisy, dtype=float)
    e = np.asarray(edges, dtype=float)
    cells = np.flatnonzero(counts > threshold)
    if cells.size == 0:
        cells = np.array([int(np.argmax(counts))])
    first, last = int(cells[0]), int(cells[-1])
    if extend_threshold is not None:
        while first > 0 and counts[first - 1] > extend_threshold:
            first -= 1
        while last + 1 < counts.size and counts[last + 1] > extend_threshold:
            last += 1
    lo, hi = float(e[first]), float(e[last + 1])
    if step is not None:
        lo, hi = _on_grid(lo + step / 2, step), _on_grid(hi - step / 2, step)
    return lo, max(lo, hi)


def _on_grid(x: float, step: float) -> float:
    """``x`` rounded to the grid of spacing ``step`` (as decimals, when step = 10**-d)."""
    value = round(x / step) * step
    digits = -math.floor(math.log10(step)) if step < 1 else 0
    return float(round(value, max(digits, 0)) + 0.0)


def consistent_counts(
    noisy: ArrayLike,
    sigma: float,
    groups: ArrayLike,
    group_totals: ArrayLike | None = None,
    sigma_totals: float | None = None,
    *,
    z: float = 2.0,
    shrink: float = 0.0,
) -> np.ndarray:
    """Non-negative histogram estimate from noisy fine counts and noisy group totals.

    Post-processing of Gaussian releases (free). Within each group of consecutive cells
    (``groups[g]:groups[g+1]``), a noisy total of the same group from an independent
    release (``group_totals[g]``, NaN where there is none) is combined with the sum of the
    fine counts by inverse-variance weighting, and the fine counts are shifted equally to
    add up to it: the least-squares consistent estimate of a two-level hierarchical
    histogram (Hay, Rastogi, Miklau and Suciu 2010, "Boosting the accuracy of
    differentially private histograms through consistency"; Qardaji, Yang and Li 2013).
    A group whose estimated total is not ``z`` standard deviations above 0 is set to 0
    (noise in empty regions would otherwise pile up in the CDF). In the others the cells
    are set to ``max(0, x - shrink * sigma)`` (clipping at 0, or with ``shrink > 0`` soft
    thresholding, Donoho and Johnstone 1994, which leaves empty cells nearer 0 than the
    ``0.4 sigma`` that clipping leaves) and rescaled to the group total.

    Examples
    --------
    >>> consistent_counts([5.0, -3.0, 40.0, 60.0], 2.0, [0, 2, 4]).tolist()
    [0.0, 0.0, 40.0, 60.0]
    """
    f = np.asarray(noisy, dtype=float).copy()
    g = np.asarray(groups, dtype=np.int64)
    totals = (np.full(len(g) - 1, np.nan) if group_totals is None
              else np.asarray(group_totals, dtype=float))
    out = np.zeros_like(f)
    var_f = float(sigma) ** 2
    var_c = float(sigma_totals) ** 2 if sigma_totals is not None else math.inf
    for i in range(len(g) - 1):
        cells = slice(int(g[i]), int(g[i + 1]))
        m = g[i + 1] - g[i]
        if m <= 0:
            continue
        fine_sum = float(f[cells].sum())
        var_sum = m * var_f
        if np.isfinite(totals[i]) and math.isfinite(var_c):
            w_c, w_f = 1.0 / var_c, 1.0 / var_sum
            total = (totals[i] * w_c + fine_sum * w_f) / (w_c + w_f)
            var_total = 1.0 / (w_c + w_f)
        else:
            total, var_total = fine_sum, var_sum
        if total <= z * math.sqrt(var_total):
            continue
        est = np.clip(f[cells] + (total - fine_sum) / m - shrink * float(sigma), 0.0, None)
        s = est.sum()
        out[cells] = est * (total / s) if s > 0 else total / m
    return out


def histogram_quantiles(counts: ArrayLike, edges: ArrayLike, levels: ArrayLike) -> np.ndarray:
    """Quantiles of a non-negative histogram, linear inside each cell (post-processing).

    The "DP CDF" read-out: the cumulative sum of a noisy histogram estimates the CDF, and
    quantiles are read off it (cf. the histogram-based quantiles compared by Gillenwater,
    Joseph and Kulesza 2021, "Differentially private quantiles").

    Examples
    --------
    >>> histogram_quantiles([10.0, 0.0, 10.0], [0.0, 1.0, 2.0, 3.0], [0.25, 0.75]).tolist()
    [0.5, 2.5]
    """
    c = np.clip(np.asarray(counts, dtype=float), 0.0, None)
    e = np.asarray(edges, dtype=float)
    q = np.asarray(levels, dtype=float)
    total = c.sum()
    if total <= 0:
        return np.full(q.shape, (e[0] + e[-1]) / 2.0)
    cdf = np.concatenate([[0.0], np.cumsum(c) / total])
    out = np.empty(q.shape)
    for j, level in np.ndenumerate(q):
        i = int(np.clip(np.searchsorted(cdf, level, side="left") - 1, 0, len(c) - 1))
        while c[i] <= 0 and i + 1 < len(c) and cdf[i + 1] < level:
            i += 1
        frac = 0.0 if c[i] <= 0 else float(np.clip((level - cdf[i]) * total / c[i], 0.0, 1.0))
        out[j] = e[i] + frac * (e[i + 1] - e[i])
    return out


# --------------------------------------------------------------------------- bounds
def dp_bounds(
    values: ArrayLike,
    *,
    epsilon: float | None = None,
    sigma: float | None = None,
    ledger: PrivacyLedger,
    rng: np.random.Generator | None = None,
    min_exponent: int = -16,
    max_exponent: int = 64,
    failure_probability: float = 0.01,
    step: float | None = None,
    label: str = "bounds",
    secure: bool = False,
) -> tuple[tuple[float, float], LaplaceEvent | GaussianEvent]:
    """Coarse DP lower and upper bounds of a numeric column, without public bounds.

    Rows are counted in the cells of the signed base-2 logarithmic grid
    (:func:`log_grid_edges`: ``[2^k, 2^(k+1))`` and its mirror for ``k`` in
    ``[min_exponent, max_exponent)``, plus a cell around zero; values beyond
    ``2^max_exponent`` count in the outer cells). Each row falls in one cell, so the
    histogram has L1 and L2 sensitivity 1. Give exactly one of ``epsilon`` (Laplace noise
    of scale 1/epsilon, epsilon-DP) or ``sigma`` (Gaussian noise, 1/sigma-GDP). A cell is
    *populated* when its noisy count exceeds ``t``, which an empty cell passes with
    probability at most beta / K (K cells, beta = ``failure_probability``), so at most
    beta over all cells: ``t = log(K / (2 beta)) / epsilon`` (Laplace) or
    ``t = sigma Phi^-1(1 - beta / K)`` (Gaussian). The bounds are the outer edges of the
    lowest and highest populated cells - within a factor 2 of the data's range, never
    inside a well-populated range (a log-scale variant of the histogram range finder of
    Karwa and Vadhan 2018, "Finite sample differentially private confidence intervals").
    Rows in sparse outer cells fall outside and are clipped by the caller.

    Parameters
    ----------
    values : array-like of float
        The column (finite values).
    epsilon : float, optional
        Pure-DP budget (Laplace noise), > 0.
    sigma : float, optional
        Gaussian noise standard deviation, > 0.
    ledger : PrivacyLedger
        Charged with one ``LaplaceEvent(1/epsilon, 1)`` or ``GaussianEvent(sigma, 1)``
        before sampling.
    rng : numpy.random.Generator, optional
        Noise source (required unless ``secure``).
    min_exponent, max_exponent : int, default -16, 64
        Resolution near zero (``2^min_exponent``; ignored with ``step``) and largest
        magnitude (``2^max_exponent``).
    failure_probability : float, default 0.01
        beta above.
    step : float, optional
        Public spacing of the values (``10**-decimals``): the grid is aligned to it (see
        :func:`log_grid_edges`) and the bounds are grid values.
    label : str, default "bounds"
        Event label.
    secure : bool, default False
        Draw from the OS cryptographically secure generator.

    Returns
    -------
    tuple
        ``((low, high), event)``.

    Examples
    --------
    >>> x = np.random.default_rng(0).uniform(3, 700, 5000)
    >>> (low, high), _ = dp_bounds(x, epsilon=1.0, ledger=PrivacyLedger(1.0),
    ...                            rng=np.random.default_rng(1))
    >>> low, high
    (2.0, 1024.0)
    """
    owner = "dp_bounds"
    x = _finite_column(owner, values)
    if (epsilon is None) == (sigma is None):
        raise InvalidParameterError(
            f"{owner} takes exactly one of 'epsilon' (Laplace noise) or 'sigma' (Gaussian "
            f"noise); got epsilon={epsilon!r}, sigma={sigma!r}."
        )
    beta = _check_real(owner, "failure_probability", failure_probability, low=0.0, high=1.0,
                       low_open=True, high_open=True)
    edges = log_grid_edges(step, min_exponent=min_exponent, max_exponent=max_exponent)
    n_cells = edges.size - 1
    gen = _check_rng(owner, rng, secure)
    event: LaplaceEvent | GaussianEvent
    if epsilon is not None:
        eps = _check_real(owner, "epsilon", epsilon, low=0.0, low_open=True)
        event = LaplaceEvent(1.0 / eps, 1.0, label)
        ledger.spend(event)
        counts = np.bincount(_cell_index(x, edges), minlength=n_cells).astype(float)
        noisy = counts + event.scale * _standard_laplace(gen, (n_cells,), secure)
        threshold = math.log(n_cells / (2.0 * beta)) / eps
    else:
        s = _check_real(owner, "sigma", sigma, low=0.0, low_open=True)
        noisy, event = dp_histogram(x, edges, sigma=s, ledger=ledger, rng=gen, label=label,
                                    secure=secure)
        threshold = gaussian_threshold(s, beta / n_cells)
    return populated_range(noisy, edges, threshold=threshold, step=step), event


def gaussian_threshold(sigma: float, probability: float) -> float:
    """Level that N(0, sigma^2) noise exceeds with probability at most ``probability``.

    Examples
    --------
    >>> round(gaussian_threshold(1.0, 0.025), 3)
    1.96
    """
    return float(sigma * -special.ndtri(probability) * _MARGIN)


# --------------------------------------------------------------------------- categories
def dp_select_categories(
    values: Iterable[Hashable],
    *,
    epsilon: float | None = None,
    delta: float | None = None,
    sigma: float | None = None,
    threshold: float | None = None,
    ledger: PrivacyLedger,
    rng: np.random.Generator | None = None,
    label: str = "categories",
    secure: bool = False,
) -> tuple[dict[Hashable, float], GaussianThresholdEvent]:
    """Release the categories with enough noisy support, with their noisy counts.

    Gaussian thresholding, the standard mechanism for an unknown domain (Korolova,
    Kenthapadi, Mishra and Ntoulas 2009; Wilson et al. 2020, "Differentially private SQL
    with bounded user contribution"; Gopi et al. 2020, "Differentially Private Set Union";
    Wilkins, Kifer, Zhang and Karrer 2024 for its exact analysis): every category present
    in the column gets ``count + N(0, sigma^2)`` and is kept only if that exceeds
    ``threshold``. Apart from the event that a category held only by the differing row is
    released (probability ``Phi((1 - threshold) / sigma)``, added to delta by the ledger),
    it is the Gaussian mechanism with sensitivity 1.

    Give either ``epsilon`` and ``delta`` - then half of ``delta`` goes to the Gaussian
    part, ``sigma = sigma_for_epsilon_delta(epsilon, delta/2)`` (Dong, Roth and Su 2019),
    and half to the threshold, ``threshold = 1 + sigma * Phi^-1(1 - delta/2)``, so the
    release alone is (epsilon, delta)-DP - or ``sigma`` and ``threshold`` calibrated by the
    caller (e.g. jointly with other releases by :func:`calibrate_releases`).

    Parameters
    ----------
    values : iterable of hashable
        One category per row (map missing values to a sentinel first).
    epsilon, delta : float, optional
        Budget of the selection alone; delta in (0, 1).
    sigma, threshold : float, optional
        Noise standard deviation (> 0) and release threshold (>= 1).
    ledger : PrivacyLedger
        Charged with one :class:`GaussianThresholdEvent` before sampling.
    rng : numpy.random.Generator, optional
        Noise source (required unless ``secure``).
    label : str, default "categories"
        Event label.
    secure : bool, default False
        Draw from the OS cryptographically secure generator.

    Returns
    -------
    tuple
        ``({category: noisy count}, event)``, most frequent first.

    Examples
    --------
    >>> col = ["a"] * 500 + ["b"] * 300 + ["rare"]
    >>> kept, event = dp_select_categories(col, epsilon=1.0, delta=1e-5,
    ...                                    ledger=PrivacyLedger(1.0, 1e-5),
    ...                                    rng=np.random.default_rng(0))
    >>> list(kept)
    ['a', 'b']
    """
    owner = "dp_select_categories"
    if epsilon is not None and sigma is None and threshold is None:
        eps = _check_real(owner, "epsilon", epsilon, low=0.0, low_open=True)
        d = _check_real(owner, "delta", delta, low=0.0, high=1.0, low_open=True,
                        high_open=True,
                        hint="Thresholding needs delta > 0; typical values are below 1/n_rows.")
        s = sigma_for_epsilon_delta(eps, d / 2.0) * _MARGIN
        t = 1.0 + gaussian_threshold(s, d / 2.0)
    elif epsilon is None and delta is None and sigma is not None and threshold is not None:
        s = _check_real(owner, "sigma", sigma, low=0.0, low_open=True)
        t = _check_real(owner, "threshold", threshold, low=1.0)
    else:
        raise InvalidParameterError(
            f"{owner} takes either 'epsilon' and 'delta', or 'sigma' and 'threshold'; got "
            f"epsilon={epsilon!r}, delta={delta!r}, sigma={sigma!r}, threshold={threshold!r}."
        )
    gen = _check_rng(owner, rng, secure)
    counts = Counter(values)
    event = GaussianThresholdEvent(s, t, label)
    ledger.spend(event)
    cats = list(counts)
    noisy = np.array([counts[c] for c in cats], dtype=float)
    noisy += s * _standard_normal(gen, (len(cats),), secure)
    kept = [(c, float(v)) for c, v in zip(cats, noisy, strict=True) if v > t]
    kept.sort(key=lambda cv: -cv[1])
    return dict(kept), event


# --------------------------------------------------------------------------- joint calibration
@dataclass(frozen=True)
class PlannedRelease:
    """A Gaussian release to calibrate jointly with others (see :func:`calibrate_releases`).

    Parameters
    ----------
    label : str
        Label of the event it will be recorded under.
    weight : float, default 1.0
        Its share of the composed privacy loss: its GDP parameter is
        ``mu_i = mu * sqrt(weight / sum of weights)``, i.e. ``sigma_i = s / sqrt(weight)``
        for a common scale ``s`` (sensitivity 1).
    thresholded : bool, default False
        Noisy counts released only above a threshold (category selection); such releases
        share ``threshold_share`` of the ledger's delta for the threshold.
    """

    label: str
    weight: float = 1.0
    thresholded: bool = False


@dataclass(frozen=True)
class CalibratedRelease:
    """Noise of one planned release: ``sigma`` and, for a thresholded one, ``threshold``."""

    label: str
    sigma: float
    threshold: float | None = None

    @property
    def event(self) -> GaussianEvent | GaussianThresholdEvent:
        """The event this release records on the ledger."""
        if self.threshold is None:
            return GaussianEvent(self.sigma, 1.0, self.label)
        return GaussianThresholdEvent(self.sigma, self.threshold, self.label)


def calibrate_releases(
    ledger: PrivacyLedger,
    releases: Sequence[PlannedRelease],
    *,
    threshold_share: float = 0.5,
) -> tuple[CalibratedRelease, ...]:
    """Noise for several sensitivity-1 Gaussian releases that together use the whole budget.

    Each release i gets ``sigma_i = s / sqrt(weight_i)``; thresholded releases get the
    threshold ``1 + sigma_i Phi^-1(1 - delta_i)`` with ``delta_i`` an equal part of
    ``threshold_share * ledger.delta``. The common scale ``s`` is the smallest for which
    the ledger, with its own composition (Gaussian DP when every event is Gaussian, RDP
    otherwise), accepts all the releases on top of what it already holds: found by
    bisection on :meth:`PrivacyLedger.can_spend`, so spending them all afterwards never
    exceeds the budget and leaves (up to ~1e-12 relative) nothing unspent. This replaces a
    split of (epsilon, delta) by basic composition, which wastes most of the budget when
    the ledger composes tightly (e.g. k equal Gaussian releases cost ~sqrt(k), not k).

    Parameters
    ----------
    ledger : PrivacyLedger
        Holds the budget (delta > 0 is needed); nothing is recorded here.
    releases : sequence of PlannedRelease
        The releases to be made (each spent later with its :attr:`CalibratedRelease.event`).
    threshold_share : float, default 0.5
        Share of the ledger's delta given to the thresholds of thresholded releases.

    Returns
    -------
    tuple of CalibratedRelease
        In the order of ``releases``.

    Raises
    ------
    BudgetExceededError
        If no noise level fits (e.g. the ledger's budget is used up or delta is 0).

    Examples
    --------
    >>> ledger = PrivacyLedger(1.0, 1e-5)
    >>> plan = calibrate_releases(ledger, [PlannedRelease("a"), PlannedRelease("b", 4.0)])
    >>> round(plan[0].sigma / plan[1].sigma, 6)
    2.0
    >>> for r in plan:
    ...     _ = ledger.spend(r.event)
    >>> round(ledger.spent.epsilon, 9)
    1.0
    """
    owner = "calibrate_releases"
    rel = list(releases)
    if not rel:
        return ()
    weights = [_check_real(owner, "weight", r.weight, low=0.0, low_open=True) for r in rel]
    share = _check_real(owner, "threshold_share", threshold_share, low=0.0, high=1.0,
                        low_open=True, high_open=True)
    n_thr = sum(1 for r in rel if r.thresholded)
    if ledger.delta <= 0.0:
        raise BudgetExceededError(
            f"{owner}: Gaussian releases need a budget delta > 0; the ledger has delta=0. "
            "Declare a delta (typically below 1/n_rows)."
        )
    if ledger.spent.epsilon >= ledger.epsilon * (1.0 - 1e-12):
        raise BudgetExceededError(
            f"{owner}: the budget epsilon={ledger.epsilon:g} is used up by {len(ledger)} "
            "events; declare a larger budget or release less earlier."
        )
    z = -special.ndtri(share * ledger.delta / n_thr) * _MARGIN if n_thr else 0.0

    def plan(scale: float) -> tuple[CalibratedRelease, ...]:
        out = []
        for r, w in zip(rel, weights, strict=True):
            s = scale / math.sqrt(w)
            out.append(CalibratedRelease(r.label, s, 1.0 + s * z if r.thresholded else None))
        return tuple(out)

    def fits(scale: float) -> bool:
        return ledger.can_spend(ComposedEvent(tuple(r.event for r in plan(scale)),
                                              label="plan"))

    hi = 1.0
    while not fits(hi):
        hi *= 2.0
        if hi > 1e12:
            raise BudgetExceededError(
                f"{owner}: no noise level fits the remaining budget (epsilon="
                f"{ledger.epsilon:g}, delta={ledger.delta:g}, already spent epsilon="
                f"{ledger.spent.epsilon:.6g}); declare a larger budget or release less."
            )
    lo = hi / 2.0
    while fits(lo) and lo > 1e-300:
        hi, lo = lo, lo / 2.0
    for _ in range(200):
        if hi - lo <= hi * 1e-13:
            break
        mid = 0.5 * (lo + hi)
        if fits(mid):
            hi = mid
        else:
            lo = mid
    return plan(hi)
