"""Additive-noise mechanisms that return the noisy value *and* the event to account.

``gaussian_mechanism`` and ``laplace_mechanism`` draw noise from a caller-supplied
``numpy.random.Generator`` (STYLE.md item 8). With ``secure=True`` the uniforms behind the
noise come from the operating system's cryptographically secure generator instead
(``secrets.token_bytes``, i.e. ``os.urandom``), in the spirit of Opacus's ``secure_mode``:
the noise then cannot be reproduced from a seed or from the generator's state. Secure
draws are turned into Gaussian / Laplace noise by the inverse CDF in double precision; this
does not defend against floating-point side channels of continuous noise (Mironov 2012,
"On significance of the least significant bits for differential privacy"), which would
need a discrete or snapping mechanism.

If a ``ledger`` is passed, the event is spent on it *before* any noise is drawn, so a
release that would overspend raises :class:`~lookalike.errors.BudgetExceededError` and
produces nothing.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, overload

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from lookalike.errors import InvalidParameterError
from lookalike.privacy.events import GaussianEvent, LaplaceEvent
from lookalike.privacy.gdp import _check_real

if TYPE_CHECKING:
    from lookalike.privacy.accountant import PrivacyLedger

__all__ = ["gaussian_mechanism", "laplace_mechanism"]


# --------------------------------------------------------------------------- noise sources
def _secure_uniform(size: int | tuple[int, ...]) -> np.ndarray:
    """Uniforms in the open interval (0, 1) with 53 random bits each, from ``os.urandom``."""
    shape = (size,) if isinstance(size, int) else tuple(size)
    n = int(np.prod(shape, dtype=np.int64))
    words = np.frombuffer(secrets.token_bytes(8 * n), dtype=np.uint64) >> np.uint64(11)
    return ((words.astype(np.float64) + 0.5) / float(1 << 53)).reshape(shape)


def _uniform(
    rng: np.random.Generator | None, size: int | tuple[int, ...], secure: bool
) -> np.ndarray:
    """Open-interval uniforms from ``rng`` or, if ``secure``, from the OS CSPRNG."""
    if secure:
        return _secure_uniform(size)
    u = rng.random(size)  # type: ignore[union-attr]
    return np.where(u == 0.0, np.nextafter(0.0, 1.0), u)


def _standard_normal(
    rng: np.random.Generator | None, size: tuple[int, ...], secure: bool
) -> np.ndarray:
    if secure:
        return special.ndtri(_secure_uniform(size))
    return rng.standard_normal(size)  # type: ignore[union-attr]


def _standard_laplace(
    rng: np.random.Generator | None, size: tuple[int, ...], secure: bool
) -> np.ndarray:
    if secure:
        u = _secure_uniform(size) - 0.5
        return -np.sign(u) * np.log1p(-2.0 * np.abs(u))
    return rng.laplace(0.0, 1.0, size)  # type: ignore[union-attr]


def _gumbel(rng: np.random.Generator | None, size: int, secure: bool) -> np.ndarray:
    """Standard Gumbel noise (for the exponential mechanism by the Gumbel-max trick)."""
    return -np.log(-np.log(_uniform(rng, size, secure)))


def _check_rng(owner: str, rng: object, secure: bool) -> np.random.Generator | None:
    if secure:
        return None
    if not isinstance(rng, np.random.Generator):
        raise InvalidParameterError(
            f"The 'rng' parameter of {owner} must be a numpy.random.Generator; got {rng!r}. "
            "Pass the generator derived from the caller's random_state, or secure=True to "
            "draw the noise from the operating system's secure generator."
        )
    return rng


def _as_values(owner: str, value: ArrayLike) -> tuple[np.ndarray, bool]:
    arr = np.asarray(value, dtype=float)
    if not np.all(np.isfinite(arr)):
        raise InvalidParameterError(
            f"The 'value' parameter of {owner} must be finite; got {value!r}. Clip or impute "
            "before the release."
        )
    return arr, arr.ndim == 0


@overload
def gaussian_mechanism(value: float, sensitivity: float, sigma: float,
                       rng: np.random.Generator | None = ..., *, label: str = ...,
                       ledger: PrivacyLedger | None = ..., secure: bool = ...,
                       ) -> tuple[float, GaussianEvent]: ...
@overload
def gaussian_mechanism(value: ArrayLike, sensitivity: float, sigma: float,
                       rng: np.random.Generator | None = ..., *, label: str = ...,
                       ledger: PrivacyLedger | None = ..., secure: bool = ...,
                       ) -> tuple[np.ndarray, GaussianEvent]: ...
def gaussian_mechanism(
    value: ArrayLike,
    sensitivity: float,
    sigma: float,
    rng: np.random.Generator | None = None,
    *,
    label: str = "",
    ledger: PrivacyLedger | None = None,
    secure: bool = False,
) -> tuple[float | np.ndarray, GaussianEvent]:
    """Release ``value + N(0, sigma^2 I)``: the Gaussian mechanism.

    It is ``sensitivity / sigma``-GDP (Dong, Roth and Su 2019, Theorem 2.7); use
    :func:`lookalike.privacy.gdp.sigma_for_epsilon_delta` or
    :meth:`PrivacyLedger.calibrate_gaussian` to choose sigma.

    Parameters
    ----------
    value : float or array-like
        The exact statistic (any shape).
    sensitivity : float
        L2 sensitivity of the whole ``value`` under adding or removing one row, >= 0.
    sigma : float
        Noise standard deviation, > 0.
    rng : numpy.random.Generator, optional
        Source of the noise; required unless ``secure=True`` (then it is ignored and does
        not advance).
    label : str, default ""
        Label of the event.
    ledger : PrivacyLedger, optional
        If given, the event is spent on it before the noise is drawn.
    secure : bool, default False
        Draw from the OS cryptographically secure generator.

    Returns
    -------
    tuple
        ``(noisy value, GaussianEvent)``; the value is a float for scalar input.

    Raises
    ------
    BudgetExceededError
        If ``ledger`` cannot afford the release (nothing is drawn).

    Examples
    --------
    >>> noisy, event = gaussian_mechanism([1.0, 2.0], 1.0, 2.0, np.random.default_rng(0),
    ...                                   label="means")
    >>> noisy.shape, event.mu
    ((2,), 0.5)
    """
    owner = "gaussian_mechanism"
    arr, scalar = _as_values(owner, value)
    event = GaussianEvent(_check_real(owner, "sigma", sigma, low=0.0, low_open=True),
                          _check_real(owner, "sensitivity", sensitivity, low=0.0), label)
    gen = _check_rng(owner, rng, secure)
    if ledger is not None:
        ledger.spend(event)
    noisy = arr + event.sigma * _standard_normal(gen, arr.shape, secure)
    return (float(noisy) if scalar else noisy), event


@overload
def laplace_mechanism(value: float, sensitivity: float, scale: float,
                      rng: np.random.Generator | None = ..., *, label: str = ...,
                      ledger: PrivacyLedger | None = ..., secure: bool = ...,
                      ) -> tuple[float, LaplaceEvent]: ...
@overload
def laplace_mechanism(value: ArrayLike, sensitivity: float, scale: float,
                      rng: np.random.Generator | None = ..., *, label: str = ...,
                      ledger: PrivacyLedger | None = ..., secure: bool = ...,
                      ) -> tuple[np.ndarray, LaplaceEvent]: ...
def laplace_mechanism(
    value: ArrayLike,
    sensitivity: float,
    scale: float,
    rng: np.random.Generator | None = None,
    *,
    label: str = "",
    ledger: PrivacyLedger | None = None,
    secure: bool = False,
) -> tuple[float | np.ndarray, LaplaceEvent]:
    """Release ``value + Laplace(0, scale)`` per coordinate: the Laplace mechanism.

    It is ``sensitivity / scale``-DP (Dwork, McSherry, Nissim and Smith 2006); for a
    target epsilon use ``scale = sensitivity / epsilon``.

    Parameters
    ----------
    value : float or array-like
        The exact statistic (any shape).
    sensitivity : float
        L1 sensitivity of the whole ``value`` under adding or removing one row, >= 0.
    scale : float
        Laplace scale b, > 0.
    rng : numpy.random.Generator, optional
        Source of the noise; required unless ``secure=True``.
    label : str, default ""
        Label of the event.
    ledger : PrivacyLedger, optional
        If given, the event is spent on it before the noise is drawn.
    secure : bool, default False
        Draw from the OS cryptographically secure generator.

    Returns
    -------
    tuple
        ``(noisy value, LaplaceEvent)``.

    Examples
    --------
    >>> noisy, event = laplace_mechanism(100.0, 1.0, 10.0, np.random.default_rng(0))
    >>> isinstance(noisy, float), event.epsilon
    (True, 0.1)
    """
    owner = "laplace_mechanism"
    arr, scalar = _as_values(owner, value)
    event = LaplaceEvent(_check_real(owner, "scale", scale, low=0.0, low_open=True),
                         _check_real(owner, "sensitivity", sensitivity, low=0.0), label)
    gen = _check_rng(owner, rng, secure)
    if ledger is not None:
        ledger.spend(event)
    noisy = arr + event.scale * _standard_laplace(gen, arr.shape, secure)
    return (float(noisy) if scalar else noisy), event
