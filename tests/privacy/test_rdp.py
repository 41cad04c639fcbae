"""Rényi DP: closed forms, numerical integration, Opacus and dp-accounting overlap."""

from __future__ import annotations

import functools
import importlib.util
import logging
import math
import warnings
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate

from lookalike.errors import InvalidParameterError
from lookalike.privacy import rdp

dpa = pytest.importorskip("dp_accounting")
dpa_rdp = pytest.importorskip("dp_accounting.rdp.rdp_privacy_accountant")
dpa_calibration = pytest.importorskip("dp_accounting.mechanism_calibration")


def _load_opacus_rdp_analysis() -> ModuleType:
    """Opacus's ``accountants/analysis/rdp.py`` (numpy + scipy only), without importing torch.

    ``import opacus`` pulls in torch (seconds); the RDP analysis module itself is pure math.
    """
    spec = importlib.util.find_spec("opacus")
    if spec is None or spec.origin is None:
        pytest.skip("opacus is not installed")
    path = Path(spec.origin).parent / "accountants" / "analysis" / "rdp.py"
    module_spec = importlib.util.spec_from_file_location("_opacus_rdp_analysis", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


opacus_rdp = _load_opacus_rdp_analysis()

ORDERS = list(rdp.DEFAULT_ORDERS)
INT_ORDERS = [float(a) for a in range(2, 64)] + [128.0, 256.0]
SMALL_ORDERS = [1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 16.0, 20.0, 32.0, 64.0,
                128.0, 256.0, 512.0, 1024.0]


@functools.lru_cache(maxsize=None)
def _opacus_rdp_one_step(q: float, sigma: float) -> np.ndarray:
    return opacus_rdp.compute_rdp(q=q, noise_multiplier=sigma, steps=1, orders=ORDERS)


def _opacus_rdp(q: float, sigma: float, steps: int) -> np.ndarray:
    return steps * _opacus_rdp_one_step(q, sigma)


def _opacus_eps(rdp_curve: np.ndarray, delta: float, orders: list[float]) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(opacus_rdp.get_privacy_spent(orders=orders, rdp=rdp_curve, delta=delta)[0])


def _dpa_eps(q: float, sigma: float, steps: int, delta: float, orders: list[float]) -> float:
    acc = dpa_rdp.RdpAccountant(orders)
    acc.compose(dpa.PoissonSampledDpEvent(q, dpa.GaussianDpEvent(sigma)), steps)
    return float(acc.get_epsilon(delta))


def _rdp_by_quadrature(q: float, sigma: float, alpha: float) -> float:
    """Rényi divergence of (1-q) N(0,s^2) + q N(1,s^2) from N(0,s^2), by numerical integration.

    A_alpha = E_{z ~ N(0, s^2)}[((1 - q) + q exp((2z - 1) / (2 s^2)))^alpha]
    (Mironov, Talwar and Zhang 2019, Section 3).
    """
    def f(z: float) -> float:
        log_ratio = np.logaddexp(math.log1p(-q), math.log(q) + (2 * z - 1) / (2 * sigma**2))
        log_density = -z * z / (2 * sigma**2) - math.log(sigma * math.sqrt(2 * math.pi))
        return math.exp(log_density + alpha * log_ratio)

    value, _ = integrate.quad(f, -np.inf, np.inf, epsabs=0, epsrel=1e-13, limit=500)
    return math.log(value) / (alpha - 1)


# ----------------------------------------------------------------------------- closed forms
def test_gaussian_rdp_closed_form() -> None:
    alphas = np.array([1.5, 2.0, 10.0, 256.0])
    np.testing.assert_allclose(rdp.gaussian_rdp(2.0, alphas), alphas / 8.0, rtol=1e-15)
    # the sampled Gaussian with q = 1 is the plain Gaussian
    np.testing.assert_allclose(rdp.subsampled_gaussian_rdp(2.0, 1.0, 3, alphas),
                               3 * alphas / 8.0, rtol=1e-15)
    assert np.all(rdp.subsampled_gaussian_rdp(2.0, 0.0, 3, alphas) == 0.0)
    assert np.all(rdp.subsampled_gaussian_rdp(2.0, 0.3, 0, alphas) == 0.0)


def test_gaussian_rdp_matches_dp_accounting_gaussian_event() -> None:
    acc = dpa_rdp.RdpAccountant(ORDERS)
    acc.compose(dpa.GaussianDpEvent(1.7), 5)
    np.testing.assert_allclose(5 * rdp.gaussian_rdp(1.7, ORDERS), acc._rdp, rtol=1e-14)


def test_laplace_rdp_matches_dp_accounting_and_limits() -> None:
    for b in (0.5, 1.0, 4.0):
        acc = dpa_rdp.RdpAccountant(ORDERS)
        acc.compose(dpa.LaplaceDpEvent(b))
        np.testing.assert_allclose(rdp.laplace_rdp(1.0 / b, ORDERS), acc._rdp, rtol=1e-12)
    curve = rdp.laplace_rdp(1.0, [1.01, 2.0, 1e4])
    assert np.all(curve <= 1.0) and curve[-1] == pytest.approx(1.0, abs=1e-3)
    # convex in epsilon with r(0) = 0, hence superadditive (covers vector releases)
    eps = np.linspace(0.0, 5.0, 51)
    r = np.array([rdp.laplace_rdp(e, [3.0])[0] for e in eps])
    assert np.all(np.diff(r, 2) >= -1e-12)


def test_pure_dp_rdp_bound() -> None:
    np.testing.assert_allclose(rdp.pure_dp_rdp(0.2, [2.0, 100.0]), [0.04, 0.2])


@pytest.mark.parametrize(
    "q,sigma,alpha",
    [(0.5, 5.0, 2.4), (0.5, 0.5, 1.1), (0.2, 1.0, 1.5), (0.01, 1.0, 1.5), (0.01, 1.0, 3.0),
     (0.5, 2.0, 2.0), (0.9, 1.0, 1.2), (0.05, 0.8, 1.3), (1e-3, 0.8, 1.1), (0.02, 3.0, 17.0)],
)
def test_sampled_gaussian_matches_numerical_integration(q: float, sigma: float,
                                                       alpha: float) -> None:
    ours = rdp.subsampled_gaussian_rdp(sigma, q, 1, [alpha])[0]
    assert ours == pytest.approx(_rdp_by_quadrature(q, sigma, alpha), rel=1e-8)


def test_fractional_and_integer_orders_join_continuously() -> None:
    for a in (2.0, 3.0, 7.0):
        left, mid, right = rdp.subsampled_gaussian_rdp(0.9, 0.05, 1, [a - 1e-7, a, a + 1e-7])
        assert left <= mid * (1 + 1e-9) and mid <= right * (1 + 1e-9)
        assert left == pytest.approx(right, rel=1e-5)


def test_monotone_in_order_sigma_rate_and_steps() -> None:
    curve = rdp.subsampled_gaussian_rdp(1.0, 0.05, 1, ORDERS)
    assert np.all(np.diff(curve) >= -1e-15)
    assert np.all(rdp.subsampled_gaussian_rdp(2.0, 0.05, 1, ORDERS) < curve)
    assert np.all(rdp.subsampled_gaussian_rdp(1.0, 0.10, 1, ORDERS) > curve)
    np.testing.assert_allclose(rdp.subsampled_gaussian_rdp(1.0, 0.05, 7, ORDERS), 7 * curve)
    # subsampling only helps
    assert np.all(curve <= rdp.gaussian_rdp(1.0, ORDERS))


# ----------------------------------------------------------------------------- Opacus
GRID = [(q, s) for q in (1e-4, 1e-3, 0.01, 0.05, 0.2) for s in (0.5, 1.0, 2.0, 5.0)]


@pytest.mark.parametrize("q,sigma", GRID)
def test_rdp_matches_opacus(q: float, sigma: float) -> None:
    ours = rdp.subsampled_gaussian_rdp(sigma, q, 1, ORDERS)
    theirs = _opacus_rdp(q, sigma, 1)
    # Opacus truncates its series at an absolute 1e-13, so compare relatively where the RDP
    # is not tiny, absolutely elsewhere (numerical integration sides with our values).
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("q,sigma", GRID)
@pytest.mark.parametrize("steps,delta", [(1000, 1e-5), (20, 1e-6)])
def test_epsilon_matches_opacus(q: float, sigma: float, steps: int, delta: float) -> None:
    ours_rdp = rdp.subsampled_gaussian_rdp(sigma, q, steps, ORDERS)
    ours = rdp.rdp_to_epsilon(ours_rdp, delta, ORDERS)[0]
    theirs = _opacus_eps(_opacus_rdp(q, sigma, steps), delta, ORDERS)
    assert ours == pytest.approx(max(theirs, 0.0), rel=1e-6, abs=1e-9)
    # same conversion formula: identical on identical curves
    assert rdp.rdp_to_epsilon(ours_rdp, delta, ORDERS)[0] == pytest.approx(
        max(_opacus_eps(ours_rdp, delta, ORDERS), 0.0), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("eps,q,steps", [(1.0, 0.01, 1000), (3.0, 0.004, 5000), (0.5, 0.02, 300)])
def test_noise_multiplier_certified_by_opacus_and_dp_accounting(eps: float, q: float,
                                                                steps: int) -> None:
    delta = 1e-5
    ours = rdp.noise_multiplier_for_epsilon(eps, delta, q, steps)
    # Opacus's own RDP analysis certifies the target (Opacus's get_noise_multiplier bisects
    # the same function to a 0.01 tolerance; ours is the exact root, rounded up)
    certified = _opacus_eps(opacus_rdp.compute_rdp(q=q, noise_multiplier=ours, steps=steps,
                                                   orders=ORDERS), delta, ORDERS)
    assert certified <= eps * (1 + 1e-9)
    assert certified == pytest.approx(eps, rel=1e-6)
    # dp-accounting's Brent calibration on integer orders finds the same root
    logging.disable(logging.WARNING)
    try:
        theirs = dpa_calibration.calibrate_dp_mechanism(
            lambda: dpa_rdp.RdpAccountant(INT_ORDERS),
            lambda z: dpa.SelfComposedDpEvent(
                dpa.PoissonSampledDpEvent(q, dpa.GaussianDpEvent(z)), steps),
            eps, delta, dpa_calibration.ExplicitBracketInterval(0.3, 20.0), tol=1e-10)
    finally:
        logging.disable(logging.NOTSET)
    assert rdp.noise_multiplier_for_epsilon(eps, delta, q, steps, INT_ORDERS) == pytest.approx(
        theirs, rel=1e-8)


# ----------------------------------------------------------------------------- dp-accounting
@pytest.mark.parametrize("q,sigma", GRID + [(0.5, 1.0), (0.9, 2.0)])
def test_integer_orders_match_dp_accounting(q: float, sigma: float) -> None:
    acc = dpa_rdp.RdpAccountant(INT_ORDERS)
    acc.compose(dpa.PoissonSampledDpEvent(q, dpa.GaussianDpEvent(sigma)), 10)
    np.testing.assert_allclose(rdp.subsampled_gaussian_rdp(sigma, q, 10, INT_ORDERS), acc._rdp,
                               rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize("q,sigma", [(1e-3, 1.0), (0.01, 1.1), (0.01, 2.0), (0.005, 0.8)])
@pytest.mark.parametrize("steps,delta", [(2000, 1e-5), (100, 1e-7)])
def test_epsilon_matches_dp_accounting(q: float, sigma: float, steps: int, delta: float) -> None:
    # dp-accounting 0.6 sums |C(alpha, i)| in its fractional-order series, an upper bound on
    # A_alpha (numerical integration sides with the signed series, see above): on the default
    # grid it can only be higher, by < 2e-5 at DP-SGD sampling rates; on integer orders the
    # two are the same computation.
    logging.disable(logging.WARNING)
    try:
        theirs = _dpa_eps(q, sigma, steps, delta, ORDERS)
    finally:
        logging.disable(logging.NOTSET)
    ours = rdp.sampled_gaussian_epsilon(sigma, q, steps, delta, ORDERS)
    assert ours <= theirs * (1 + 1e-12)
    assert ours == pytest.approx(theirs, rel=2e-5)
    assert rdp.sampled_gaussian_epsilon(sigma, q, steps, delta, INT_ORDERS) == pytest.approx(
        _dpa_eps(q, sigma, steps, delta, INT_ORDERS), rel=1e-9)


def test_conversion_matches_dp_accounting_compute_epsilon_and_delta() -> None:
    curve = rdp.subsampled_gaussian_rdp(1.0, 0.02, 500, ORDERS)
    eps, order = rdp.rdp_to_epsilon(curve, 1e-6, ORDERS)
    eps_d, order_d = dpa_rdp.compute_epsilon(ORDERS, curve, 1e-6)
    assert eps == pytest.approx(eps_d, rel=1e-12) and order == order_d
    delta, _ = rdp.rdp_to_delta(curve, eps, ORDERS)
    assert delta == pytest.approx(1e-6, rel=1e-9)
    assert delta == pytest.approx(dpa_rdp.compute_delta(ORDERS, curve, eps)[0], rel=1e-9)


def test_conversion_edges() -> None:
    zero = np.zeros(len(SMALL_ORDERS))
    assert rdp.rdp_to_epsilon(zero, 0.0, SMALL_ORDERS)[0] == 0.0
    assert rdp.rdp_to_epsilon(zero + 0.1, 0.0, SMALL_ORDERS)[0] == math.inf
    assert rdp.rdp_to_epsilon(np.full(len(SMALL_ORDERS), np.inf), 1e-5, SMALL_ORDERS)[0] == math.inf
    with pytest.raises(InvalidParameterError, match="'rdp' parameter"):
        rdp.rdp_to_epsilon([0.1, 0.2], 1e-5, SMALL_ORDERS)
    with pytest.raises(InvalidParameterError, match="'orders' parameter"):
        rdp.gaussian_rdp(1.0, [1.0, 2.0])


# ----------------------------------------------------------------------------- calibration
@settings(max_examples=15, deadline=None)
@given(
    eps=st.floats(min_value=0.1, max_value=10.0),
    delta=st.sampled_from([1e-3, 1e-5, 1e-8]),
    q=st.floats(min_value=1e-4, max_value=0.2),
    steps=st.integers(min_value=1, max_value=20_000),
)
def test_noise_multiplier_never_overshoots(eps: float, delta: float, q: float,
                                           steps: int) -> None:
    z = rdp.noise_multiplier_for_epsilon(eps, delta, q, steps, SMALL_ORDERS)
    assert rdp.sampled_gaussian_epsilon(z, q, steps, delta, SMALL_ORDERS) <= eps
    if z > 1e-2:  # tight: slightly less noise overshoots
        assert rdp.sampled_gaussian_epsilon(z * (1 - 1e-6), q, steps, delta,
                                            SMALL_ORDERS) > eps * (1 - 1e-4)


def test_noise_multiplier_unreachable_target_raises() -> None:
    with pytest.raises(InvalidParameterError, match="too small"):
        rdp.noise_multiplier_for_epsilon(1e-9, 1e-12, 1.0, 10**6, SMALL_ORDERS)
