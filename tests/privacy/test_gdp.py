"""Gaussian DP: closed forms, edge cases, round trips, calibration, dp-accounting overlap."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from lookalike.errors import InvalidParameterError
from lookalike.privacy import gdp
from lookalike.privacy.accountant import PrivacyLedger
from lookalike.privacy.events import ComposedEvent, GaussianEvent

dpa_gm = pytest.importorskip("dp_accounting.gaussian_mechanism")
pld_mech = pytest.importorskip("dp_accounting.pld.privacy_loss_mechanism")

MUS = st.floats(min_value=1e-3, max_value=30.0)
EPSILONS = st.floats(min_value=0.0, max_value=50.0)
DELTAS = st.floats(min_value=1e-15, max_value=0.5)


def _delta_direct(mu: float, eps: float) -> float:
    """Corollary 2.13 written out with scipy.stats (fine away from the tails)."""
    return norm.cdf(-eps / mu + mu / 2) - math.exp(eps) * norm.cdf(-eps / mu - mu / 2)


# ----------------------------------------------------------------------------- closed forms
def test_delta_at_epsilon_zero_is_total_variation() -> None:
    # mu = 1, eps = 0: delta = Phi(1/2) - Phi(-1/2) = 2 Phi(1/2) - 1
    assert gdp.delta_from_mu(1.0, 0.0) == pytest.approx(2 * norm.cdf(0.5) - 1, rel=1e-14)
    for mu in (0.1, 2.0, 7.0):
        assert gdp.delta_from_mu(mu, 0.0) == pytest.approx(2 * norm.cdf(mu / 2) - 1, rel=1e-12)


@pytest.mark.parametrize("mu,eps", [(0.5, 0.3), (1.0, 1.0), (2.0, 3.0), (5.0, 10.0)])
def test_delta_matches_direct_formula(mu: float, eps: float) -> None:
    assert gdp.delta_from_mu(mu, eps) == pytest.approx(_delta_direct(mu, eps), rel=1e-10)


def test_gaussian_mu_and_composition() -> None:
    assert gdp.gaussian_mu(2.0, 8.0) == 0.25
    assert gdp.compose_mu([0.3, 0.4]) == pytest.approx(0.5)
    assert gdp.compose_mu([]) == 0.0
    # k identical Gaussians with sigma equal one Gaussian with sigma / sqrt(k)
    k, sigma = 9, 6.0
    composed = gdp.compose_mu([gdp.gaussian_mu(1.0, sigma)] * k)
    assert composed == pytest.approx(gdp.gaussian_mu(1.0, sigma / math.sqrt(k)), rel=1e-14)
    assert gdp.delta_from_mu(composed, 1.0) == pytest.approx(
        gdp.delta_from_mu(1.0 / (sigma / 3.0), 1.0), rel=1e-12)


# ----------------------------------------------------------------------------- edge cases
def test_edges_of_delta() -> None:
    assert gdp.delta_from_mu(0.0, 1.0) == 0.0
    assert gdp.delta_from_mu(math.inf, 1.0) == 1.0
    assert gdp.delta_from_mu(1.0, math.inf) == 0.0
    # very large epsilon: tiny but positive and finite, no cancellation to 0 or below
    tiny = gdp.delta_from_mu(1.0, 30.0)
    assert 0.0 < tiny < 1e-100
    assert math.isfinite(gdp.log_delta_from_mu(1.0, 500.0))
    assert gdp.log_delta_from_mu(1.0, 500.0) < -1e5
    # very large mu: delta close to 1 for moderate epsilon, finite epsilon for small delta
    assert gdp.delta_from_mu(60.0, 1.0) == pytest.approx(1.0, abs=1e-12)
    eps = gdp.epsilon_from_mu(60.0, 1e-10)
    assert 1800.0 < eps < 2500.0
    assert gdp.delta_from_mu(60.0, eps) <= 1e-10


def test_epsilon_edges() -> None:
    # delta above the eps = 0 value: epsilon 0
    assert gdp.epsilon_from_mu(1.0, 0.5) == 0.0
    # epsilon -> 0 continuously as delta -> delta(0)
    d0 = gdp.delta_from_mu(1.0, 0.0)
    assert gdp.epsilon_from_mu(1.0, d0 * (1 - 1e-9)) < 1e-6
    # tiny delta
    e = gdp.epsilon_from_mu(0.5, 1e-300)
    assert math.isfinite(e) and gdp.delta_from_mu(0.5, e) <= 1e-300
    assert gdp.epsilon_from_mu(0.0, 1e-5) == 0.0
    assert gdp.epsilon_from_mu(math.inf, 1e-5) == math.inf


def test_monotonicity() -> None:
    eps = np.linspace(0.0, 20.0, 200)
    deltas = [gdp.delta_from_mu(2.0, e) for e in eps]
    assert all(a > b for a, b in zip(deltas, deltas[1:], strict=False))
    mus = np.linspace(0.05, 10.0, 200)
    deltas = [gdp.delta_from_mu(m, 1.0) for m in mus]
    assert all(a < b for a, b in zip(deltas, deltas[1:], strict=False))
    sigmas = [gdp.sigma_for_epsilon_delta(e, 1e-5) for e in (0.1, 0.5, 1.0, 2.0, 8.0)]
    assert all(a > b for a, b in zip(sigmas, sigmas[1:], strict=False))


@pytest.mark.parametrize(
    "call",
    [
        lambda: gdp.delta_from_mu(-1.0, 1.0),
        lambda: gdp.delta_from_mu(1.0, -0.1),
        lambda: gdp.epsilon_from_mu(1.0, 0.0),
        lambda: gdp.epsilon_from_mu(1.0, 1.5),
        lambda: gdp.sigma_for_epsilon_delta(1.0, 1e-5, sensitivity=0.0),
        lambda: gdp.sigma_for_epsilon_delta(1.0, 1e-5, compositions=0),
        lambda: gdp.sigma_for_epsilon_delta(float("nan"), 1e-5),
        lambda: gdp.cluster_means_delta(1.0, 0.1, 0, 4, 5),
    ],
)
def test_invalid_parameters_raise(call) -> None:  # noqa: ANN001
    with pytest.raises(InvalidParameterError, match="parameter of"):
        call()


# ----------------------------------------------------------------------------- round trips
@settings(max_examples=200, deadline=None)
@given(mu=MUS, eps=EPSILONS)
def test_round_trip_epsilon(mu: float, eps: float) -> None:
    delta = gdp.delta_from_mu(mu, eps)
    if delta < 1e-300 or delta >= gdp.delta_from_mu(mu, 0.0):
        return
    back = gdp.epsilon_from_mu(mu, delta)
    assert gdp.delta_from_mu(mu, back) <= delta
    assert gdp.delta_from_mu(mu, back) == pytest.approx(delta, rel=1e-9)
    # epsilon itself is as exact as the conditioning allows: |d delta / d eps| =
    # exp(eps) Phi(-eps/mu - mu/2), so a 1e-12 relative error in delta moves eps by
    slope = math.exp(eps + norm.logcdf(-eps / mu - mu / 2))
    assert back == pytest.approx(eps, rel=1e-9, abs=1e-12 * delta / slope + 1e-12)


@settings(max_examples=200, deadline=None)
@given(eps=st.floats(min_value=0.01, max_value=20.0), delta=DELTAS)
def test_mu_for_epsilon_delta_is_largest_feasible(eps: float, delta: float) -> None:
    mu = gdp.mu_from_epsilon_delta(eps, delta)
    assert gdp.delta_from_mu(mu, eps) <= delta
    assert gdp.delta_from_mu(mu * (1 + 1e-9), eps) > delta * (1 - 1e-6)


# ----------------------------------------------------------------------------- calibration
@settings(max_examples=200, deadline=None)
@given(
    eps=st.floats(min_value=1e-3, max_value=30.0),
    delta=DELTAS,
    sensitivity=st.floats(min_value=1e-4, max_value=1e3),
    k=st.integers(min_value=1, max_value=10_000),
)
def test_sigma_calibration_never_overshoots(eps: float, delta: float, sensitivity: float,
                                           k: int) -> None:
    sigma = gdp.sigma_for_epsilon_delta(eps, delta, sensitivity, k)
    mu = math.sqrt(k * (sensitivity / sigma) ** 2)
    assert gdp.delta_from_mu(mu, eps) <= delta
    # and it is tight: 1e-9 less noise overshoots
    mu_less = math.sqrt(k * (sensitivity / (sigma * (1 - 1e-9))) ** 2)
    assert gdp.delta_from_mu(mu_less, eps) > delta * (1 - 1e-5)
    # the ledger accepts exactly this release against exactly this budget
    ledger = PrivacyLedger(eps, delta)
    event = GaussianEvent(sigma, sensitivity)
    ledger.spend(event if k == 1 else ComposedEvent((event,), count=k))


def test_k_fold_calibration_scales_with_sqrt_k() -> None:
    one = gdp.sigma_for_epsilon_delta(1.0, 1e-5)
    assert gdp.sigma_for_epsilon_delta(1.0, 1e-5, compositions=16) == pytest.approx(4 * one,
                                                                                    rel=1e-12)
    assert gdp.sigma_for_epsilon_delta(1.0, 1e-5, sensitivity=3.0) == pytest.approx(3 * one,
                                                                                    rel=1e-12)


# ----------------------------------------------------------------------------- dp-accounting
@pytest.mark.parametrize("sigma", [0.3, 0.7, 1.0, 2.5, 10.0, 100.0])
@pytest.mark.parametrize("delta", [1e-3, 1e-5, 1e-9])
def test_epsilon_matches_dp_accounting_analytic_gaussian(sigma: float, delta: float) -> None:
    ours = gdp.epsilon_from_mu(1.0 / sigma, delta)
    theirs = dpa_gm.get_epsilon_gaussian(sigma, delta)
    assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("eps", [0.05, 0.5, 1.0, 4.0, 16.0])
@pytest.mark.parametrize("delta", [1e-3, 1e-6, 1e-10])
def test_sigma_matches_dp_accounting_analytic_gaussian(eps: float, delta: float) -> None:
    assert gdp.sigma_for_epsilon_delta(eps, delta) == pytest.approx(
        dpa_gm.get_sigma_gaussian(eps, delta), rel=1e-9)


@pytest.mark.parametrize("sigma,sensitivity", [(1.0, 1.0), (3.0, 2.0), (0.5, 0.2)])
def test_delta_matches_dp_accounting_pld_gaussian(sigma: float, sensitivity: float) -> None:
    loss = pld_mech.GaussianPrivacyLoss(sigma, sensitivity=sensitivity)
    for eps in (0.0, 0.5, 2.0, 6.0):
        theirs = loss.get_delta_for_epsilon(eps)
        ours = gdp.delta_from_mu(sensitivity / sigma, eps)
        assert ours == pytest.approx(theirs, rel=1e-6, abs=1e-15)


# ----------------------------------------------------------------------------- 3A, Eq. 7
def test_cluster_means_equation_7() -> None:
    eps, sigma, ell, c, d = 1.0, 0.05, 40, 5, 12
    mu = math.sqrt(c * d) / (ell * sigma)
    assert gdp.cluster_means_mu(sigma, ell, c, d) == pytest.approx(mu, rel=1e-14)
    expected = norm.cdf(-eps / mu + mu / 2) - math.exp(eps) * norm.cdf(-eps / mu - mu / 2)
    assert gdp.cluster_means_delta(eps, sigma, ell, c, d) == pytest.approx(expected, rel=1e-10)
    # the same as composing C * D Gaussian releases of sensitivity 1/l in the ledger
    ledger = PrivacyLedger(10.0, 0.5)
    ledger.spend(ComposedEvent((GaussianEvent(sigma, 1.0 / ell),), count=c * d))
    assert ledger.epsilon_at(expected) == pytest.approx(eps, rel=1e-9)


def test_cluster_means_monotone_and_calibrated() -> None:
    base = gdp.cluster_means_delta(1.0, 0.05, 40, 5, 12)
    assert gdp.cluster_means_delta(1.0, 0.05, 80, 5, 12) < base  # bigger clusters
    assert gdp.cluster_means_delta(1.0, 0.10, 40, 5, 12) < base  # more noise
    assert gdp.cluster_means_delta(1.0, 0.05, 40, 10, 12) > base  # more clusters
    sigma = gdp.cluster_means_sigma(1.0, 1e-6, 40, 5, 12)
    assert gdp.cluster_means_delta(1.0, sigma, 40, 5, 12) <= 1e-6
    assert sigma == gdp.sigma_for_epsilon_delta(1.0, 1e-6, 1.0 / 40, 60)
