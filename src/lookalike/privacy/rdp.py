"""Rényi differential privacy (RDP): the accountant of DP-SGD, as pure functions.

A mechanism is (alpha, r)-RDP when the Rényi divergence of order alpha between its output
distributions on neighbouring tables is at most r (Mironov 2017, "Rényi Differential
Privacy", CSF). RDP composes by adding the curves ``r(alpha)`` order by order, and converts
to (epsilon, delta)-DP. Here:

* :func:`gaussian_rdp` - the Gaussian mechanism, ``alpha / (2 sigma^2)`` (Mironov 2017,
  Proposition 7);
* :func:`subsampled_gaussian_rdp` - the Poisson-subsampled ("sampled") Gaussian mechanism
  of DP-SGD under add/remove-one neighbours (Mironov, Talwar and Zhang 2019, "Rényi
  Differential Privacy of the Sampled Gaussian Mechanism", Section 3.3): exact for
  integer orders and by the convergent series of Section 3.3 for fractional ones;
* :func:`laplace_rdp` - the Laplace mechanism (Mironov 2017, Proposition 6);
* :func:`pure_dp_rdp` - any epsilon-DP mechanism, via ``epsilon^2 / 2``-zCDP (Bun and
  Steinke 2016, Proposition 3.3);
* :func:`rdp_to_epsilon` / :func:`rdp_to_delta` - the conversion of Balle, Barthe, Gaboardi,
  Hsu and Sato 2020 (Theorem 21) = Canonne, Kamath and Steinke 2020 (Proposition 12), the
  one used by Opacus's ``get_privacy_spent`` and dp-accounting's ``RdpAccountant``;
* :func:`noise_multiplier_for_epsilon` - calibration of DP-SGD's noise multiplier by a
  bracketing root finder that never overshoots the target epsilon.

Every function is vectorised over the orders and errs on the conservative side: an order
whose series cannot be summed reliably gets an RDP of ``inf`` (it is then simply not used).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
from scipy import special

from lookalike.errors import InvalidParameterError
from lookalike.privacy.gdp import _check_int, _check_real, _root_on_safe_side

__all__ = [
    "DEFAULT_ORDERS",
    "gaussian_rdp",
    "laplace_rdp",
    "noise_multiplier_for_epsilon",
    "pure_dp_rdp",
    "rdp_to_delta",
    "rdp_to_epsilon",
    "sampled_gaussian_epsilon",
    "subsampled_gaussian_rdp",
]

#: RDP orders used by default: the grid of dp-accounting's ``RdpAccountant``
#: (1.1 ... 10.9 by 0.1, 11 ... 63, 128, 256, 512, 1024).
DEFAULT_ORDERS: tuple[float, ...] = tuple(
    [1.0 + x / 10.0 for x in range(1, 100)] + [float(a) for a in range(11, 64)]
    + [128.0, 256.0, 512.0, 1024.0]
)

_MAX_SERIES_TERMS = 1 << 20  # fractional-order series longer than this count as divergent
_SERIES_RELATIVE_CUTOFF = 36.0  # stop once a whole chunk is below exp(-36) ~ 2e-16 of the sum
_CACHED_TERMS = 1 << 13  # log-binomial tables are cached for the first 8192 series terms


def _orders_array(owner: str, orders: Sequence[float] | np.ndarray) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(orders, dtype=float))
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 1.0):
        raise InvalidParameterError(
            f"The 'orders' parameter of {owner} must be a non-empty 1-D sequence of finite "
            f"floats > 1; got {orders!r}. Use lookalike.privacy.rdp.DEFAULT_ORDERS."
        )
    return arr


# --------------------------------------------------------------------------- RDP curves
def gaussian_rdp(
    noise_multiplier: float, orders: Sequence[float] | np.ndarray = DEFAULT_ORDERS
) -> np.ndarray:
    """RDP of the Gaussian mechanism: ``alpha / (2 * noise_multiplier**2)``.

    Mironov (2017), Proposition 7; ``noise_multiplier`` is sigma divided by the L2
    sensitivity.

    Parameters
    ----------
    noise_multiplier : float
        sigma / sensitivity, > 0 (``inf`` gives zeros).
    orders : sequence of float, default DEFAULT_ORDERS
        RDP orders, each > 1.

    Returns
    -------
    numpy.ndarray
        RDP at each order.

    Examples
    --------
    >>> gaussian_rdp(2.0, orders=[2.0, 8.0]).tolist()
    [0.25, 1.0]
    """
    z = _check_real("gaussian_rdp", "noise_multiplier", noise_multiplier, low=0.0,
                    low_open=True, allow_inf=True)
    alphas = _orders_array("gaussian_rdp", orders)
    return alphas / (2.0 * z * z)


def laplace_rdp(
    epsilon: float, orders: Sequence[float] | np.ndarray = DEFAULT_ORDERS
) -> np.ndarray:
    """RDP of the Laplace mechanism with ``epsilon = sensitivity / scale`` (exact).

    Mironov (2017), Proposition 6:
    ``r(alpha) = eps + log(1 + (alpha-1)/(2 alpha-1) * (exp((1-2 alpha) eps) - 1)) / (alpha-1)``.
    The curve is convex in epsilon with value 0 at 0, hence superadditive, so it also
    bounds a vector Laplace release whose L1 sensitivity over scale is ``epsilon``.

    Parameters
    ----------
    epsilon : float
        L1 sensitivity divided by the Laplace scale, >= 0.
    orders : sequence of float, default DEFAULT_ORDERS
        RDP orders, each > 1.

    Returns
    -------
    numpy.ndarray
        RDP at each order (always <= epsilon).

    Examples
    --------
    >>> bool(np.all(laplace_rdp(1.0, [2.0, 32.0]) <= 1.0))
    True
    """
    eps = _check_real("laplace_rdp", "epsilon", epsilon, low=0.0)
    alphas = _orders_array("laplace_rdp", orders)
    inner = (alphas - 1.0) * np.expm1((1.0 - 2.0 * alphas) * eps) / (2.0 * alphas - 1.0)
    return eps + np.log1p(inner) / (alphas - 1.0)


def pure_dp_rdp(
    epsilon: float, orders: Sequence[float] | np.ndarray = DEFAULT_ORDERS
) -> np.ndarray:
    """RDP bound of any epsilon-DP mechanism: ``min(epsilon, alpha * epsilon**2 / 2)``.

    epsilon-DP implies ``epsilon**2 / 2``-zCDP (Bun and Steinke 2016, Proposition 3.3), i.e.
    RDP ``alpha epsilon^2 / 2`` at every order, and trivially RDP <= epsilon.

    Parameters
    ----------
    epsilon : float
        The pure-DP epsilon, >= 0.
    orders : sequence of float, default DEFAULT_ORDERS
        RDP orders, each > 1.

    Returns
    -------
    numpy.ndarray
        RDP bound at each order.

    Examples
    --------
    >>> pure_dp_rdp(0.5, [2.0, 16.0]).tolist()
    [0.25, 0.5]
    """
    eps = _check_real("pure_dp_rdp", "epsilon", epsilon, low=0.0)
    alphas = _orders_array("pure_dp_rdp", orders)
    return np.minimum(eps, alphas * eps * eps / 2.0)


@functools.lru_cache(maxsize=32)
def _integer_table(alphas: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(k, alpha - k, log C(alpha, k))`` for integer orders, -inf outside 2 <= k <= alpha."""
    a = np.asarray(alphas)[:, None]
    k = np.arange(int(max(alphas)) + 1, dtype=float)
    with np.errstate(all="ignore"):
        log_binom = (special.gammaln(a + 1.0) - special.gammaln(k + 1.0)
                     - special.gammaln(a - k + 1.0))
    log_binom = np.where((k >= 2.0) & (k <= a), log_binom, -np.inf)
    return k, np.where(k <= a, a - k, 0.0), log_binom


def _log_a_integer(q: float, sigma: float, alphas: np.ndarray) -> np.ndarray:
    """log A_alpha for integer alpha >= 2 (Mironov, Talwar, Zhang 2019, Section 3.3).

    ``A_alpha = sum_k C(alpha, k) q^k (1-q)^(alpha-k) exp((k^2 - k) / (2 sigma^2))`` is the
    expectation of ``exp((K^2 - K)/(2 sigma^2))`` for K ~ Binomial(alpha, q), so
    ``A_alpha - 1 = sum_{k>=2} C(alpha, k) q^k (1-q)^(alpha-k) expm1(...)``: a sum of
    non-negative terms, summed in log space without cancellation.
    """
    k, a_minus_k, log_binom = _integer_table(tuple(float(a) for a in alphas))
    with np.errstate(all="ignore"):
        x = (k * k - k) / (2.0 * sigma * sigma)
        log_expm1 = x + np.log(-np.expm1(-x))  # log(exp(x) - 1), stable for all x > 0
        terms = log_binom + (k * math.log(q) + log_expm1) + a_minus_k * math.log1p(-q)
    return np.logaddexp(0.0, special.logsumexp(terms, axis=1))


@functools.lru_cache(maxsize=256)
def _fractional_table(
    alphas: tuple[float, ...], start: int, stop: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(log |C(alpha, i)|, sign C(alpha, i))`` for i in [start, stop), fractional alpha."""
    a = np.asarray(alphas)[:, None]
    i = np.arange(start, stop, dtype=float)[None, :]
    log_binom = special.gammaln(a + 1.0) - special.gammaln(i + 1.0) - special.gammaln(a - i + 1.0)
    return log_binom, special.gammasgn(a - i + 1.0)


def _log_a_fractional(q: float, sigma: float, alphas: np.ndarray) -> np.ndarray:
    """log A_alpha for fractional alpha > 1 (Mironov, Talwar, Zhang 2019, Section 3.3).

    ``A_alpha = A_0 + A_1`` with, for ``z0 = sigma^2 log(1/q - 1) + 1/2``,

    * ``A_0 = sum_i C(alpha,i) q^i (1-q)^(alpha-i) exp((i^2-i)/(2 sigma^2)) Phi((z0-i)/sigma)``
    * ``A_1 = sum_i C(alpha,i) q^(alpha-i) (1-q)^i exp((j^2-j)/(2 sigma^2)) Phi((j-z0)/sigma)``,
      ``j = alpha - i``,

    generalised binomials being signed. Summed chunk by chunk in signed log space until a
    chunk is negligible; an order that does not converge within ``_MAX_SERIES_TERMS``
    terms, or whose sum is not positive, gets ``inf`` (conservative).
    """
    m = alphas.size
    key = tuple(float(a) for a in alphas)
    z0 = sigma * sigma * math.log(1.0 / q - 1.0) + 0.5
    two_s2 = 2.0 * sigma * sigma
    log_q, log_1mq = math.log(q), math.log1p(-q)
    run = np.full((2, m), -np.inf)
    sgn = np.ones((2, m))
    active = np.ones(m, dtype=bool)
    start, chunk = 0, 256
    while active.any() and start < _MAX_SERIES_TERMS:
        idx = np.flatnonzero(active)
        i = np.arange(start, start + chunk, dtype=float)[None, :]
        a = alphas[idx][:, None]
        j = a - i
        if start + chunk <= _CACHED_TERMS:
            table_binom, table_sign = _fractional_table(key, start, start + chunk)
            log_binom, sign = table_binom[idx], table_sign[idx]
        else:
            log_binom = (special.gammaln(a + 1.0) - special.gammaln(i + 1.0)
                         - special.gammaln(j + 1.0))
            sign = special.gammasgn(j + 1.0)
        log_s0 = (log_binom + i * log_q + j * log_1mq + (i * i - i) / two_s2
                  + special.log_ndtr((z0 - i) / sigma))
        log_s1 = (log_binom + j * log_q + i * log_1mq + (j * j - j) / two_s2
                  + special.log_ndtr((j - z0) / sigma))
        for row, log_s in ((0, log_s0), (1, log_s1)):
            stacked = np.concatenate([run[row, idx][:, None], log_s], axis=1)
            weights = np.concatenate([sgn[row, idx][:, None], sign], axis=1)
            total, total_sign = special.logsumexp(stacked, axis=1, b=weights, return_sign=True)
            run[row, idx], sgn[row, idx] = total, total_sign
        scale = np.maximum(run[0, idx], run[1, idx])
        chunk_max = np.maximum(log_s0.max(axis=1), log_s1.max(axis=1))
        active[idx[chunk_max < scale - _SERIES_RELATIVE_CUTOFF]] = False
        start += chunk
        chunk = min(2 * chunk, 1 << 16)
    log_a, log_a_sign = special.logsumexp(run, axis=0, b=sgn, return_sign=True)
    bad = active | ~(log_a_sign > 0) | ~np.isfinite(log_a)
    return np.where(bad, np.inf, log_a)


def subsampled_gaussian_rdp(
    noise_multiplier: float,
    sample_rate: float,
    steps: int = 1,
    orders: Sequence[float] | np.ndarray = DEFAULT_ORDERS,
) -> np.ndarray:
    """RDP of ``steps`` rounds of the Poisson-subsampled Gaussian mechanism (DP-SGD).

    Each round includes every row independently with probability ``sample_rate`` and adds
    N(0, (noise_multiplier * C)^2) noise to a sum of per-row contributions clipped to L2
    norm C. Under add/remove-one neighbours one round is (alpha, log(A_alpha)/(alpha-1))-RDP
    (Mironov, Talwar and Zhang 2019, Section 3.3; the quantity Opacus's ``compute_rdp`` and
    dp-accounting's ``RdpAccountant`` compute); rounds compose additively (Mironov 2017,
    Proposition 1).

    Parameters
    ----------
    noise_multiplier : float
        sigma / C, > 0 (``inf`` gives zeros).
    sample_rate : float
        Poisson sampling probability q in [0, 1].
    steps : int, default 1
        Number of rounds, >= 0.
    orders : sequence of float, default DEFAULT_ORDERS
        RDP orders, each > 1.

    Returns
    -------
    numpy.ndarray
        RDP at each order (``inf`` where infinite or not computable).

    Examples
    --------
    >>> r = subsampled_gaussian_rdp(1.0, 1.0, steps=1, orders=[2.0])  # q = 1: plain Gaussian
    >>> r.tolist()
    [1.0]
    """
    owner = "subsampled_gaussian_rdp"
    sigma = _check_real(owner, "noise_multiplier", noise_multiplier, low=0.0, low_open=True,
                        allow_inf=True)
    q = _check_real(owner, "sample_rate", sample_rate, low=0.0, high=1.0)
    n_steps = _check_int(owner, "steps", steps, low=0)
    alphas = _orders_array(owner, orders)
    if q == 0.0 or n_steps == 0 or math.isinf(sigma):
        return np.zeros_like(alphas)
    if q == 1.0:
        return n_steps * alphas / (2.0 * sigma * sigma)
    out = np.empty_like(alphas)
    is_int = alphas == np.round(alphas)
    if is_int.any():
        out[is_int] = _log_a_integer(q, sigma, alphas[is_int]) / (alphas[is_int] - 1.0)
    if (~is_int).any():
        out[~is_int] = _log_a_fractional(q, sigma, alphas[~is_int]) / (alphas[~is_int] - 1.0)
    out = np.maximum(out, 0.0)
    return n_steps * out


# --------------------------------------------------------------------------- conversion
def rdp_to_epsilon(
    rdp: Sequence[float] | np.ndarray,
    delta: float,
    orders: Sequence[float] | np.ndarray = DEFAULT_ORDERS,
) -> tuple[float, float]:
    """Convert an RDP curve to the smallest epsilon at ``delta``, and the order used.

    Balle, Barthe, Gaboardi, Hsu and Sato (2020), "Hypothesis testing interpretations and
    Rényi differential privacy", Theorem 21 (= Canonne, Kamath and Steinke 2020,
    Proposition 12):
    ``epsilon = min_alpha r(alpha) + log1p(-1/alpha) - (log(delta) + log(alpha)) / (alpha - 1)``,
    clipped at 0. This is Opacus's ``get_privacy_spent`` formula.

    Parameters
    ----------
    rdp : sequence of float
        RDP at each order (``inf`` allowed).
    delta : float
        Target delta in [0, 1]; with delta = 0 the answer is 0 for a zero curve, else inf.
    orders : sequence of float, default DEFAULT_ORDERS
        The orders of ``rdp``.

    Returns
    -------
    tuple of (float, float)
        ``(epsilon, optimal order)``; the order is ``nan`` when epsilon is infinite.

    Examples
    --------
    >>> eps, order = rdp_to_epsilon(gaussian_rdp(4.0), 1e-5)
    >>> round(eps, 3), order
    (1.013, 18.0)
    """
    owner = "rdp_to_epsilon"
    alphas = _orders_array(owner, orders)
    curve = _curve(owner, rdp, alphas)
    d = _check_real(owner, "delta", delta, low=0.0, high=1.0)
    if d == 0.0:
        return (0.0, math.nan) if np.all(curve == 0.0) else (math.inf, math.nan)
    with np.errstate(invalid="ignore"):
        eps = curve + np.log1p(-1.0 / alphas) - (math.log(d) + np.log(alphas)) / (alphas - 1.0)
    eps = np.where(np.isnan(eps), np.inf, eps)
    best = int(np.argmin(eps))
    if not np.isfinite(eps[best]):
        return math.inf, math.nan
    return max(0.0, float(eps[best])), float(alphas[best])


def rdp_to_delta(
    rdp: Sequence[float] | np.ndarray,
    epsilon: float,
    orders: Sequence[float] | np.ndarray = DEFAULT_ORDERS,
) -> tuple[float, float]:
    """Convert an RDP curve to the smallest delta at ``epsilon``, and the order used.

    Same theorem as :func:`rdp_to_epsilon` solved for delta (Canonne, Kamath and Steinke
    2020, Proposition 12):
    ``log delta = min_alpha (alpha-1)(r(alpha) - epsilon + log1p(-1/alpha)) - log(alpha)``.

    Parameters
    ----------
    rdp : sequence of float
        RDP at each order.
    epsilon : float
        Target epsilon, >= 0.
    orders : sequence of float, default DEFAULT_ORDERS
        The orders of ``rdp``.

    Returns
    -------
    tuple of (float, float)
        ``(delta, optimal order)``, delta capped at 1.

    Examples
    --------
    >>> d, _ = rdp_to_delta(gaussian_rdp(4.0), 1.02)
    >>> d < 1e-5
    True
    """
    owner = "rdp_to_delta"
    alphas = _orders_array(owner, orders)
    curve = _curve(owner, rdp, alphas)
    e = _check_real(owner, "epsilon", epsilon, low=0.0)
    with np.errstate(invalid="ignore"):
        log_delta = (alphas - 1.0) * (curve - e + np.log1p(-1.0 / alphas)) - np.log(alphas)
    log_delta = np.where(np.isnan(log_delta), np.inf, log_delta)
    best = int(np.argmin(log_delta))
    return float(min(1.0, math.exp(min(log_delta[best], 0.0)))), float(alphas[best])


def _curve(owner: str, rdp: Sequence[float] | np.ndarray, alphas: np.ndarray) -> np.ndarray:
    curve = np.atleast_1d(np.asarray(rdp, dtype=float))
    if curve.shape != alphas.shape or np.any(np.isnan(curve)) or np.any(curve < 0):
        raise InvalidParameterError(
            f"The 'rdp' parameter of {owner} must be {alphas.size} non-negative floats, one per "
            f"order; got {curve.size} values. Compute it with the same orders."
        )
    return curve


# --------------------------------------------------------------------------- DP-SGD
def sampled_gaussian_epsilon(
    noise_multiplier: float,
    sample_rate: float,
    steps: int,
    delta: float,
    orders: Sequence[float] | np.ndarray = DEFAULT_ORDERS,
) -> float:
    """epsilon at ``delta`` of ``steps`` rounds of the sampled Gaussian mechanism.

    :func:`subsampled_gaussian_rdp` followed by :func:`rdp_to_epsilon` (what Opacus's
    ``RDPAccountant.get_epsilon`` reports).

    Parameters
    ----------
    noise_multiplier : float
        sigma / clipping norm, > 0.
    sample_rate : float
        Poisson sampling probability in [0, 1].
    steps : int
        Number of rounds, >= 0.
    delta : float
        Target delta in [0, 1].
    orders : sequence of float, default DEFAULT_ORDERS
        RDP orders.

    Returns
    -------
    float
        epsilon.

    Examples
    --------
    >>> round(sampled_gaussian_epsilon(1.0, 0.01, 1000, 1e-5), 2)
    2.1
    """
    rdp = subsampled_gaussian_rdp(noise_multiplier, sample_rate, steps, orders)
    return rdp_to_epsilon(rdp, delta, orders)[0]


def noise_multiplier_for_epsilon(
    epsilon: float,
    delta: float,
    sample_rate: float,
    steps: int,
    orders: Sequence[float] | np.ndarray = DEFAULT_ORDERS,
) -> float:
    """Smallest DP-SGD noise multiplier whose RDP accounting meets (epsilon, delta).

    Brent's bracketing root finder on ``sampled_gaussian_epsilon(sigma) - epsilon``, which
    is continuous and non-increasing in sigma, with the answer moved up if needed, so
    ``sampled_gaussian_epsilon(result, ...) <= epsilon`` always holds (unlike a fixed
    tolerance bisection such as Opacus's ``get_noise_multiplier``, it is also tight to
    ~1e-15 relative).

    Parameters
    ----------
    epsilon : float
        Target epsilon, > 0.
    delta : float
        Target delta in (0, 1).
    sample_rate : float
        Poisson sampling probability in (0, 1].
    steps : int
        Number of rounds, >= 1.
    orders : sequence of float, default DEFAULT_ORDERS
        RDP orders.

    Returns
    -------
    float
        The noise multiplier sigma / C.

    Raises
    ------
    InvalidParameterError
        If no noise multiplier up to 1e6 meets the target.

    Examples
    --------
    >>> z = noise_multiplier_for_epsilon(1.0, 1e-5, sample_rate=0.01, steps=1000)
    >>> sampled_gaussian_epsilon(z, 0.01, 1000, 1e-5) <= 1.0
    True
    """
    owner = "noise_multiplier_for_epsilon"
    e = _check_real(owner, "epsilon", epsilon, low=0.0, low_open=True)
    d = _check_real(owner, "delta", delta, low=0.0, high=1.0, low_open=True, high_open=True)
    q = _check_real(owner, "sample_rate", sample_rate, low=0.0, high=1.0, low_open=True)
    n_steps = _check_int(owner, "steps", steps)
    alphas = _orders_array(owner, orders)

    def g(sigma: float) -> float:
        rdp = subsampled_gaussian_rdp(sigma, q, n_steps, alphas)
        return rdp_to_epsilon(rdp, d, alphas)[0] - e

    hi = 1.0
    while g(hi) > 0:
        hi *= 2.0
        if hi > 1e6:
            raise InvalidParameterError(
                f"The 'epsilon' parameter of {owner} is too small: no noise multiplier up to "
                f"1e6 gives epsilon <= {e} at delta={d} with sample_rate={q} and steps={n_steps}. "
                "Increase epsilon or delta, or use fewer steps or a smaller sample rate."
            )
    lo = hi / 2.0
    while g(lo) <= 0 and lo > 1e-3:
        lo /= 2.0
    return _root_on_safe_side(g, lo, hi, feasible="hi")
