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
* :func:`dp_bounds` - coarse min / max from a noisy histogram on a base-2 logarithmic
  grid, kept where the noisy count clears a union-bound threshold (a log-scale variant of
  the histogram range finder of Karwa and Vadhan 2018).
* :func:`dp_select_categories` - Gaussian noisy counts with thresholding, so only
  categories with enough noisy support are released (Korolova et al. 2009; Wilson et al.
  2020; Gopi et al. 2020, "Differentially Private Set Union").
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from lookalike.errors import InvalidParameterError
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

__all__ = ["dp_bounds", "dp_count", "dp_quantiles", "dp_select_categories"]

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


def dp_bounds(
    values: ArrayLike,
    *,
    epsilon: float,
    ledger: PrivacyLedger,
    rng: np.random.Generator | None = None,
    min_exponent: int = -16,
    max_exponent: int = 64,
    failure_probability: float = 0.01,
    label: str = "bounds",
    secure: bool = False,
) -> tuple[tuple[float, float], LaplaceEvent]:
    """Coarse DP lower and upper bounds of a numeric column, without public bounds.

    Rows are counted in bins of a signed base-2 logarithmic grid: ``[2^k, 2^(k+1))`` and
    its mirror for ``k`` in ``[min_exponent, max_exponent)``, plus a bin around zero and
    two overflow bins. Each row falls in one bin, so the histogram has L1 sensitivity 1 and
    Laplace noise of scale 1/epsilon makes it epsilon-DP. A bin is *populated* when its
    noisy count exceeds ``t = log(K / (2 beta)) / epsilon`` (K bins, beta =
    ``failure_probability``), which an empty bin passes with probability at most beta
    over all bins. The bounds are the outer edges of the lowest and highest populated
    bins - within a factor 2 of the data's range, never inside a well-populated range
    (a log-scale variant of the range finder of Karwa and Vadhan 2018, "Finite sample
    differentially private confidence intervals"). Rows in sparse outer bins fall outside
    and are clipped by the caller; refine with :func:`dp_quantiles` inside these bounds.

    Parameters
    ----------
    values : array-like of float
        The column (finite values).
    epsilon : float
        Budget, > 0.
    ledger : PrivacyLedger
        Charged with one ``LaplaceEvent(1/epsilon, 1)`` before sampling.
    rng : numpy.random.Generator, optional
        Noise source (required unless ``secure``).
    min_exponent, max_exponent : int, default -16, 64
        Resolution near zero (``2^min_exponent``) and largest magnitude
        (``2^max_exponent``; larger values land in the overflow bin and the bound stops there).
    failure_probability : float, default 0.01
        beta above.
    label : str, default "bounds"
        Event label.
    secure : bool, default False
        Draw from the OS cryptographically secure generator.

    Returns
    -------
    tuple
        ``((low, high), LaplaceEvent)``.

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
    eps = _check_real(owner, "epsilon", epsilon, low=0.0, low_open=True)
    k_lo, k_hi = int(min_exponent), int(max_exponent)
    if not (isinstance(min_exponent, int) and isinstance(max_exponent, int) and k_lo < k_hi
            and -1000 < k_lo and k_hi < 1000):
        raise InvalidParameterError(
            f"The 'min_exponent' and 'max_exponent' parameters of {owner} must be ints with "
            f"-1000 < min_exponent < max_exponent < 1000; got {min_exponent!r}, {max_exponent!r}."
        )
    beta = _check_real(owner, "failure_probability", failure_probability, low=0.0, high=1.0,
                       low_open=True, high_open=True)
    gen = _check_rng(owner, rng, secure)
    event = LaplaceEvent(1.0 / eps, 1.0, label)
    ledger.spend(event)

    n_mag = k_hi - k_lo + 1  # magnitude bins per sign, the last one is the overflow bin
    n_bins = 2 * n_mag + 1
    mag = np.abs(x)
    with np.errstate(divide="ignore"):
        expo = np.floor(np.log2(np.where(mag > 0, mag, 1.0)))
    level = np.clip(expo, k_lo, k_hi).astype(np.int64) - k_lo  # 0 .. n_mag-1
    small = mag < 2.0**k_lo
    # bin order, left to right: negative magnitudes high -> low, zero bin, positive low -> high
    index = np.where(small, n_mag, np.where(x > 0, n_mag + 1 + level, n_mag - 1 - level))
    counts = np.bincount(index, minlength=n_bins).astype(float)
    noisy = counts + event.scale * _standard_laplace(gen, (n_bins,), secure)

    exps = np.arange(k_lo, k_hi + 1, dtype=float)
    top = np.minimum(exps + 1.0, k_hi)  # outer edge of each magnitude bin (overflow: 2^k_hi)
    left = np.concatenate([-(2.0**top[::-1]), [-(2.0**k_lo)], 2.0**exps])
    right = np.concatenate([-(2.0**exps[::-1]), [2.0**k_lo], 2.0**top])

    threshold = math.log(n_bins / (2.0 * beta)) / eps
    populated = np.flatnonzero(noisy > threshold)
    if populated.size == 0:
        populated = np.array([int(np.argmax(noisy))])
    return (float(left[populated[0]]), float(right[populated[-1]])), event


def dp_select_categories(
    values: Iterable[Hashable],
    *,
    epsilon: float,
    delta: float,
    ledger: PrivacyLedger,
    rng: np.random.Generator | None = None,
    label: str = "categories",
    secure: bool = False,
) -> tuple[dict[Hashable, float], GaussianThresholdEvent]:
    """Release the categories with enough noisy support, with their noisy counts.

    Gaussian thresholding (Korolova, Kenthapadi, Mishra and Ntoulas 2009; Wilson et al.
    2020, "Differentially private SQL with bounded user contribution"; Gopi et al. 2020,
    "Differentially Private Set Union"): every category present in the column gets
    ``count + N(0, sigma^2)`` and is kept only if that exceeds ``threshold``. With half of
    ``delta`` for the Gaussian part, ``sigma = sigma_for_epsilon_delta(epsilon, delta/2)``
    (Dong, Roth and Su 2019), and the other half for a category held by a single row to
    pass: ``threshold = 1 + sigma * Phi^-1(1 - delta/2)``. The release is
    (epsilon, delta)-DP; a category seen once is released with probability at most
    ``delta / 2``.

    Parameters
    ----------
    values : iterable of hashable
        One category per row (map missing values to a sentinel first).
    epsilon : float
        Budget epsilon of the selection, > 0.
    delta : float
        Budget delta of the selection, in (0, 1).
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
    eps = _check_real(owner, "epsilon", epsilon, low=0.0, low_open=True)
    d = _check_real(owner, "delta", delta, low=0.0, high=1.0, low_open=True, high_open=True,
                    hint="Thresholding needs delta > 0; typical values are below 1/n_rows.")
    gen = _check_rng(owner, rng, secure)
    counts = Counter(values)
    sigma = sigma_for_epsilon_delta(eps, d / 2.0) * _MARGIN
    threshold = 1.0 + sigma * float(-special.ndtri(d / 2.0)) * _MARGIN
    event = GaussianThresholdEvent(sigma, threshold, label)
    ledger.spend(event)
    cats = list(counts)
    noisy = np.array([counts[c] for c in cats], dtype=float)
    noisy += sigma * _standard_normal(gen, (len(cats),), secure)
    kept = [(c, float(v)) for c, v in zip(cats, noisy, strict=True) if v > threshold]
    kept.sort(key=lambda cv: -cv[1])
    return dict(kept), event
