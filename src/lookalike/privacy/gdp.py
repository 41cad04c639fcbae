"""Gaussian differential privacy (GDP): pure conversions, composition and calibration.

A mechanism is mu-GDP when distinguishing its outputs on two neighbouring tables is at
least as hard as telling N(0, 1) from N(mu, 1) (Dong, Roth and Su 2019, "Gaussian
Differential Privacy", JRSS-B 2022). The Gaussian mechanism with L2 sensitivity ``s`` and
noise ``sigma`` is exactly ``s / sigma``-GDP, GDP composes by ``sqrt(sum mu_i**2)``, and a
mu-GDP mechanism is (epsilon, delta(epsilon))-DP for every epsilon >= 0 with

    delta(epsilon) = Phi(-epsilon/mu + mu/2) - exp(epsilon) * Phi(-epsilon/mu - mu/2)

(their Corollary 2.13; the same curve as the analytic Gaussian mechanism of Balle and
Wang 2018, Theorem 8). Everything here is a pure function of floats; root finding is
done by bracketing (``scipy.optimize.brentq``) and every calibrated value is moved, if
needed, to the safe side of the target, so a calibrated noise level never overshoots.

The module also holds the accounting of the 3A paper's cluster-mean release (Madl, Xu,
Choudhury and Howard 2023, Theorem 2 / Equation 7), see :func:`cluster_means_delta`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable
from typing import Literal

import numpy as np
from scipy import special

from lookalike.errors import InvalidParameterError

__all__ = [
    "cluster_means_delta",
    "cluster_means_mu",
    "cluster_means_sigma",
    "compose_mu",
    "delta_from_mu",
    "epsilon_from_mu",
    "gaussian_mu",
    "log_delta_from_mu",
    "mu_from_epsilon_delta",
    "sigma_for_epsilon_delta",
]


# --------------------------------------------------------------------------- helpers
def _check_real(
    owner: str,
    name: str,
    value: object,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
    allow_inf: bool = False,
    hint: str = "",
) -> float:
    """Return ``value`` as a float or raise :class:`InvalidParameterError`.

    The message follows STYLE.md item 2: parameter, owner, interval, bad value, fix.
    """
    left = "(" if low_open else "["
    right = ")" if high_open else "]"
    interval = f"{left}{low:g}, {high:g}{right}"
    number = float(value) if isinstance(value, numbers.Real) else math.nan  # type: ignore[arg-type]
    ok = not math.isnan(number) and (allow_inf or math.isfinite(number))
    if ok:
        ok = (number > low if low_open else number >= low) and (
            number < high if high_open else number <= high
        )
    if not ok or isinstance(value, bool | np.bool_):
        tail = f" {hint}" if hint else ""
        raise InvalidParameterError(
            f"The '{name}' parameter of {owner} must be a float in {interval}; got {value!r}.{tail}"
        )
    return number


def _check_int(owner: str, name: str, value: object, *, low: int = 1, hint: str = "") -> int:
    """Return ``value`` as an int >= ``low`` or raise :class:`InvalidParameterError`."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)
    if ok:
        number = float(value)  # type: ignore[arg-type]
        ok = math.isfinite(number) and number.is_integer() and number >= low
    if not ok:
        tail = f" {hint}" if hint else ""
        raise InvalidParameterError(
            f"The '{name}' parameter of {owner} must be an int >= {low}; got {value!r}.{tail}"
        )
    return int(value)  # type: ignore[arg-type]


def _root_on_safe_side(
    g: Callable[[float], float],
    lo: float,
    hi: float,
    *,
    feasible: Literal["lo", "hi"],
    ok: Callable[[float], bool] | None = None,
) -> float:
    """Bracketed root of a monotone ``g``, returned on the side where ``g(x) <= 0``.

    ``g`` must be continuous and monotone on ``[lo, hi]`` with ``g <= 0`` at the
    ``feasible`` end and ``g > 0`` at the other. The root is found with Brent's method
    (``scipy.optimize.brentq``, relative tolerance ~1e-15); if rounding leaves the
    estimate on the infeasible side it is walked towards the feasible end until
    ``ok(x)`` (default ``g(x) <= 0``; pass a stricter predicate to also cover rounding
    in how callers will re-check the result). The result always satisfies it.
    """
    accept = ok if ok is not None else (lambda x: g(x) <= 0)
    safe, unsafe = (hi, lo) if feasible == "hi" else (lo, hi)
    if not accept(safe):
        raise ArithmeticError("the bracket has no feasible end")  # pragma: no cover
    if accept(unsafe):
        return unsafe
    from scipy.optimize import brentq  # lazy: scipy.optimize costs ~1 s to import

    x = float(brentq(g, min(lo, hi), max(lo, hi), xtol=1e-300, rtol=1e-15, maxiter=500))
    direction = 1.0 if safe > unsafe else -1.0
    step = max(abs(x) * 1e-15, 1e-300)
    while not accept(x):
        x += direction * step
        step *= 2.0
        if (x - safe) * direction >= 0:
            return safe
    return x


# --------------------------------------------------------------------------- basics
def gaussian_mu(sensitivity: float, sigma: float) -> float:
    """GDP parameter of the Gaussian mechanism: ``mu = sensitivity / sigma``.

    Dong, Roth and Su (2019), Theorem 2.7: adding N(0, sigma^2 I) to a statistic of L2
    sensitivity ``sensitivity`` is ``sensitivity / sigma``-GDP, and no better.

    Parameters
    ----------
    sensitivity : float
        L2 sensitivity of the released statistic, >= 0.
    sigma : float
        Standard deviation of the Gaussian noise, > 0.

    Returns
    -------
    float
        ``mu``.

    Examples
    --------
    >>> gaussian_mu(1.0, 4.0)
    0.25
    """
    s = _check_real("gaussian_mu", "sensitivity", sensitivity, low=0.0)
    sd = _check_real("gaussian_mu", "sigma", sigma, low=0.0, low_open=True, allow_inf=True)
    return s / sd


def compose_mu(mus: Iterable[float]) -> float:
    """Compose GDP mechanisms: ``sqrt(sum(mu_i ** 2))``.

    Dong, Roth and Su (2019), Corollary 3.3 (also adaptive composition). The sum is
    done with :func:`math.fsum`, so composing k copies of one ``mu`` gives exactly the
    float ``sqrt(k * mu**2)``.

    Parameters
    ----------
    mus : iterable of float
        GDP parameters, each >= 0. An empty iterable gives 0.

    Returns
    -------
    float
        The GDP parameter of the composition.

    Examples
    --------
    >>> compose_mu([0.3, 0.4])
    0.5
    """
    squares = [_check_real("compose_mu", "mus", m, low=0.0) ** 2 for m in mus]
    return math.sqrt(math.fsum(squares))


def log_delta_from_mu(mu: float, epsilon: float) -> float:
    """Natural log of the delta(epsilon) curve of mu-GDP (Dong, Roth, Su 2019, Cor. 2.13).

    Computed as ``log(Phi(a) - exp(epsilon) Phi(b))`` with ``a = -epsilon/mu + mu/2`` and
    ``b = -epsilon/mu - mu/2`` entirely in log space (``scipy.special.log_ndtr`` and
    ``expm1``), so it stays accurate far in the tails (large epsilon, tiny delta) where
    the direct difference would cancel to zero or go negative.

    Parameters
    ----------
    mu : float
        GDP parameter, >= 0 (``inf`` allowed: no privacy).
    epsilon : float
        Target epsilon, >= 0 (``inf`` allowed).

    Returns
    -------
    float
        ``log(delta)``; ``-inf`` when delta is 0.

    Examples
    --------
    >>> round(math.exp(log_delta_from_mu(1.0, 0.0)), 6)
    0.382925
    """
    m = _check_real("log_delta_from_mu", "mu", mu, low=0.0, allow_inf=True)
    e = _check_real("log_delta_from_mu", "epsilon", epsilon, low=0.0, allow_inf=True)
    return _log_delta(m, e)


def _log_delta(mu: float, epsilon: float) -> float:
    if mu == 0.0 or math.isinf(epsilon):
        return -math.inf
    if math.isinf(mu):
        return 0.0
    log_a = float(special.log_ndtr(-epsilon / mu + mu / 2.0))
    log_b = epsilon + float(special.log_ndtr(-epsilon / mu - mu / 2.0))
    if not log_b < log_a:
        return -math.inf  # the exact value is positive but below float resolution
    return log_a + math.log(-math.expm1(log_b - log_a))


def _delta_ok(mu: float, epsilon: float, delta: float, log_target: float) -> bool:
    """``delta(epsilon; mu) <= delta`` both in log space and after ``exp`` rounding."""
    log_d = _log_delta(mu, epsilon)
    return log_d <= log_target and math.exp(log_d) <= delta


def delta_from_mu(mu: float, epsilon: float) -> float:
    """delta(epsilon) of a mu-GDP mechanism (Dong, Roth and Su 2019, Corollary 2.13).

    ``delta = Phi(-epsilon/mu + mu/2) - exp(epsilon) * Phi(-epsilon/mu - mu/2)``,
    evaluated stably in log space (see :func:`log_delta_from_mu`).

    Parameters
    ----------
    mu : float
        GDP parameter, >= 0.
    epsilon : float
        Target epsilon, >= 0.

    Returns
    -------
    float
        The smallest delta for which the mechanism is (epsilon, delta)-DP.

    Examples
    --------
    >>> round(delta_from_mu(1.0, 0.0), 6)  # = 2 Phi(1/2) - 1
    0.382925
    """
    return math.exp(log_delta_from_mu(mu, epsilon))


def epsilon_from_mu(mu: float, delta: float) -> float:
    """Smallest epsilon with delta(epsilon) <= delta for a mu-GDP mechanism.

    Inverts Dong, Roth and Su (2019), Corollary 2.13 with a bracketing root finder
    (``scipy.optimize.brentq`` on ``log delta(epsilon) - log delta``, which is strictly
    decreasing in epsilon). The answer is exact to ~1e-15 relative and is rounded up:
    ``delta_from_mu(mu, result) <= delta`` always holds.

    Parameters
    ----------
    mu : float
        GDP parameter, >= 0.
    delta : float
        Target delta in (0, 1].

    Returns
    -------
    float
        epsilon (0 when ``delta >= 2 Phi(mu/2) - 1``).

    Examples
    --------
    >>> round(epsilon_from_mu(1.0, 1e-5), 4)
    4.3772
    """
    m = _check_real("epsilon_from_mu", "mu", mu, low=0.0, allow_inf=True)
    d = _check_real(
        "epsilon_from_mu", "delta", delta, low=0.0, high=1.0, low_open=True,
        hint="Use a delta > 0: a Gaussian mechanism is never (epsilon, 0)-DP.",
    )
    if math.isinf(m):
        return math.inf
    log_target = math.log(d)
    if _log_delta(m, 0.0) <= log_target:
        return 0.0

    def g(eps: float) -> float:
        return _log_delta(m, eps) - log_target

    hi = max(1.0, m * m)
    while g(hi) > 0:
        hi *= 2.0
    return _root_on_safe_side(
        g, 0.0, hi, feasible="hi", ok=lambda eps: _delta_ok(m, eps, d, log_target)
    )


def mu_from_epsilon_delta(epsilon: float, delta: float) -> float:
    """Largest mu such that mu-GDP implies (epsilon, delta)-DP.

    Bracketing root of ``log delta(epsilon; mu) - log delta`` in mu (increasing in mu),
    rounded down so that ``delta_from_mu(result, epsilon) <= delta``
    (Dong, Roth and Su 2019, Corollary 2.13).

    Parameters
    ----------
    epsilon : float
        Target epsilon, >= 0.
    delta : float
        Target delta in (0, 1).

    Returns
    -------
    float
        mu.

    Examples
    --------
    >>> round(mu_from_epsilon_delta(4.3772, 1e-5), 4)
    1.0
    """
    e = _check_real("mu_from_epsilon_delta", "epsilon", epsilon, low=0.0)
    d = _check_real(
        "mu_from_epsilon_delta", "delta", delta, low=0.0, high=1.0, low_open=True, high_open=True
    )
    log_target = math.log(d)

    def g(mu: float) -> float:
        return _log_delta(mu, e) - log_target

    lo, hi = 1.0, 1.0
    while g(lo) > 0:
        lo /= 2.0
    while g(hi) <= 0:
        hi *= 2.0
    return _root_on_safe_side(
        g, lo, hi, feasible="lo", ok=lambda mu: _delta_ok(mu, e, d, log_target)
    )


def sigma_for_epsilon_delta(
    epsilon: float, delta: float, sensitivity: float = 1.0, compositions: int = 1
) -> float:
    """Smallest Gaussian noise sigma meeting (epsilon, delta) for k-fold composition.

    The k-fold composition of Gaussian mechanisms with L2 sensitivity ``s`` and noise
    ``sigma`` is ``mu = sqrt(k * (s / sigma)**2)``-GDP (Dong, Roth and Su 2019,
    Theorem 2.7 and Corollary 3.3); sigma is found by bracketing root finding on
    ``log delta(epsilon; mu(sigma)) - log delta`` (Corollary 2.13) and rounded up, so
    ``delta_from_mu(sqrt(k * (s / sigma)**2), epsilon) <= delta`` always holds. For
    k = 1 this is the analytic Gaussian mechanism of Balle and Wang (2018).

    Parameters
    ----------
    epsilon : float
        Target epsilon, >= 0.
    delta : float
        Target delta in (0, 1).
    sensitivity : float, default 1.0
        L2 sensitivity of each release, > 0.
    compositions : int, default 1
        Number k of releases sharing the budget.

    Returns
    -------
    float
        sigma.

    Examples
    --------
    >>> round(sigma_for_epsilon_delta(1.0, 1e-5), 4)
    3.7306
    >>> round(sigma_for_epsilon_delta(1.0, 1e-5, compositions=4) / 2, 4)
    3.7306
    """
    owner = "sigma_for_epsilon_delta"
    e = _check_real(owner, "epsilon", epsilon, low=0.0)
    d = _check_real(owner, "delta", delta, low=0.0, high=1.0, low_open=True, high_open=True)
    s = _check_real(owner, "sensitivity", sensitivity, low=0.0, low_open=True)
    k = _check_int(owner, "compositions", compositions)
    log_target = math.log(d)

    def g(sigma: float) -> float:
        return _log_delta(math.sqrt(k * (s / sigma) ** 2), e) - log_target

    lo, hi = s, s
    while g(hi) > 0:
        hi *= 2.0
    while g(lo) <= 0 and lo > 1e-300:
        lo /= 2.0
    return _root_on_safe_side(
        g, lo, hi, feasible="hi",
        ok=lambda sigma: _delta_ok(math.sqrt(k * (s / sigma) ** 2), e, d, log_target),
    )


# --------------------------------------------------------------------------- 3A (ClustMix)
def cluster_means_mu(
    sigma: float, min_cluster_size: int, n_clusters: int, n_features: int
) -> float:
    """GDP parameter of releasing noisy cluster means, as in the 3A paper's Theorem 2.

    Releasing the C * D coordinates of C cluster means of points in [0, 1]^D, every
    cluster holding at least l points, each coordinate with N(0, sigma^2) noise: one
    coordinate has sensitivity 1 / l, so it is ``1 / (l sigma)``-GDP, and the C * D
    releases compose to ``mu = sqrt(C * D) / (l * sigma)`` (Dong, Roth and Su 2019,
    Corollary 3.3).

    Parameters
    ----------
    sigma : float
        Noise standard deviation on each coordinate, > 0.
    min_cluster_size : int
        l, the smallest number of members of any released cluster.
    n_clusters : int
        C.
    n_features : int
        D (features scaled to [0, 1]).

    Returns
    -------
    float
        mu.

    Examples
    --------
    >>> round(cluster_means_mu(0.1, min_cluster_size=50, n_clusters=4, n_features=25), 12)
    2.0

    Notes
    -----
    The sensitivity argument holds for means of a fixed partition of the rows; privacy
    of the partition itself (which rows form which cluster) is outside this bound and
    must be argued or paid for by the caller.
    """
    owner = "cluster_means_mu"
    sd = _check_real(owner, "sigma", sigma, low=0.0, low_open=True)
    ell = _check_int(owner, "min_cluster_size", min_cluster_size)
    c = _check_int(owner, "n_clusters", n_clusters)
    dim = _check_int(owner, "n_features", n_features)
    return math.sqrt(c * dim * ((1.0 / ell) / sd) ** 2)


def cluster_means_delta(
    epsilon: float, sigma: float, min_cluster_size: int, n_clusters: int, n_features: int
) -> float:
    """delta(epsilon, sigma, l, C, D) of the 3A noisy cluster-mean release (Equation 7).

    Madl, Xu, Choudhury and Howard (2023), "Approximate, Adapt, Anonymize (3A): a
    Framework for Privacy Preserving Training Data Release for Machine Learning",
    Theorem 2 / Equation 7: with ``mu = sqrt(C * D) / (l * sigma)``
    (:func:`cluster_means_mu`),

        delta = Phi(-epsilon/mu + mu/2) - exp(epsilon) * Phi(-epsilon/mu - mu/2),

    i.e. Dong, Roth and Su (2019), Corollary 2.13 applied to the composed mu. The paper's
    full text could not be retrieved while writing this (only its abstract, which names
    Gaussian differential privacy as the anonymisation step); the formula implemented is
    the composition stated above, derived from the per-coordinate sensitivity 1 / l.

    Parameters
    ----------
    epsilon : float
        Target epsilon, >= 0.
    sigma : float
        Noise standard deviation per coordinate, > 0.
    min_cluster_size, n_clusters, n_features : int
        l, C and D.

    Returns
    -------
    float
        delta.

    Examples
    --------
    >>> round(cluster_means_delta(1.0, 0.1, 50, 4, 25), 6) == round(delta_from_mu(2.0, 1.0), 6)
    True
    """
    e = _check_real("cluster_means_delta", "epsilon", epsilon, low=0.0, allow_inf=True)
    mu = cluster_means_mu(sigma, min_cluster_size, n_clusters, n_features)
    return math.exp(_log_delta(mu, e))


def cluster_means_sigma(
    epsilon: float, delta: float, min_cluster_size: int, n_clusters: int, n_features: int
) -> float:
    """Smallest per-coordinate sigma for which the 3A release is (epsilon, delta)-DP.

    Inverse of :func:`cluster_means_delta` in sigma (3A paper, Equation 7): it equals
    ``sigma_for_epsilon_delta(epsilon, delta, sensitivity=1/l, compositions=C*D)`` and
    never overshoots the target.

    Parameters
    ----------
    epsilon : float
        Target epsilon, >= 0.
    delta : float
        Target delta in (0, 1).
    min_cluster_size, n_clusters, n_features : int
        l, C and D.

    Returns
    -------
    float
        sigma.

    Examples
    --------
    >>> s = cluster_means_sigma(1.0, 1e-5, 50, 4, 25)
    >>> cluster_means_delta(1.0, s, 50, 4, 25) <= 1e-5
    True
    """
    owner = "cluster_means_sigma"
    ell = _check_int(owner, "min_cluster_size", min_cluster_size)
    c = _check_int(owner, "n_clusters", n_clusters)
    dim = _check_int(owner, "n_features", n_features)
    return sigma_for_epsilon_delta(epsilon, delta, sensitivity=1.0 / ell, compositions=c * dim)
