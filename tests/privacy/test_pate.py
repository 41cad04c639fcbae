"""PATE's noisy vote: closed forms, exact divergences against the papers' bounds, the event."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lookalike.errors import BudgetExceededError, InvalidParameterError
from lookalike.privacy import (
    ComposedEvent,
    PrivacyLedger,
    PureDPEvent,
    event_from_dict,
    pate,
)
from lookalike.privacy.pate import NoisyMaxEvent


def test_disagreement_probability_is_the_laplace_difference_tail() -> None:
    """q(g) = P(L1 - L0 > g) for two iid Laplace(1/lam) draws (Monte Carlo, 2e6 draws)."""
    lam = 0.5
    rng = np.random.default_rng(0)
    diff = rng.laplace(0, 1 / lam, 2_000_000) - rng.laplace(0, 1 / lam, 2_000_000)
    for gap in (0, 1, 4, 10):
        assert abs((diff > gap).mean() - pate.disagreement_probability(gap, lam)) < 2e-3
    # and the noisy vote flips the plurality that often
    labels = pate.noisy_vote(np.full(200_000, 7), 10, lam, rng)  # gap 4 for "real"
    assert abs((labels == 0).mean() - pate.disagreement_probability(4, lam)) < 3e-3


def test_moments_accountant_closed_form() -> None:
    """T answers at lam, data-independent: alpha(l) = 2 lam^2 T l (l + 1), so with
    2 lam^2 T = 1/2 and log(1/delta) = 8 the best order is l = 4 and
    epsilon = (10 + 8) / 4 = 4.5 (= 2 lam^2 T + 2 sqrt(2 lam^2 T log(1/delta)))."""
    lam, answers = 0.01, 2500
    ls = np.arange(1.0, 65.0)
    alpha = answers * pate.moments_data_independent(lam, ls)
    eps, best = pate.moments_to_epsilon(alpha, ls, math.exp(-8.0))
    assert best == 4.0
    assert eps == pytest.approx(4.5, rel=1e-12)
    assert eps == pytest.approx(0.5 + 2 * math.sqrt(0.5 * 8.0), rel=1e-12)


def test_papernot_bound_equals_the_bun_steinke_bound_of_2_lam_dp() -> None:
    """2 lam^2 l (l+1) is the (2 lam)^2 / 2 zCDP bound; the ledger's PureDPEvent(2 lam) has
    it as its RDP curve, so both account T answers alike."""
    lam, orders = 0.02, np.array([2.0, 5.0, 17.0])
    ls = orders - 1.0
    papernot = pate.moments_data_independent(lam, ls) / ls
    from lookalike.privacy.rdp import pure_dp_rdp

    assert np.allclose(papernot, pure_dp_rdp(2 * lam, orders))


@pytest.mark.parametrize("lam", [0.001, 0.01, 0.1, 0.5, 2.0])
def test_exact_worst_case_is_below_papernot_and_a_quarter_of_it_for_small_lam(lam) -> None:
    orders = np.array([1.5, 2.0, 4.0, 8.0, 32.0, 256.0])
    exact = pate.noisy_max_rdp(lam, 300, orders)
    papernot = 2 * lam * lam * orders  # alpha(l) / l at l = order - 1
    assert np.all(exact <= np.minimum(papernot, 2 * lam) * (1 + 1e-12))
    if lam <= 0.01:
        assert np.allclose(exact[:4] / papernot[:4], 0.25, rtol=1e-2)


def test_exact_divergence_matches_a_direct_computation() -> None:
    """Three teachers, gap 1: the answer is Ber(P(1 + L > 0)), a neighbour's Ber(P(-1 + L > 0))
    or Ber(P(3 + L > 0)); the divergence is the larger of the two, computed here directly."""
    lam, a = 0.7, 3.0

    def p_real(delta: float) -> float:  # P(delta + L1 - L0 > 0)
        q = (2 + lam * abs(delta)) * math.exp(-lam * abs(delta)) / 4
        return 1 - q if delta >= 0 else q

    def renyi(p: float, q: float) -> float:
        return math.log(p ** a * q ** (1 - a) + (1 - p) ** a * (1 - q) ** (1 - a)) / (a - 1)

    want = max(renyi(p_real(1), p_real(-1)), renyi(p_real(1), p_real(3)),
               renyi(p_real(-1), p_real(1)), renyi(p_real(-1), p_real(-3)))
    assert pate.noisy_max_rdp(lam, 3, [a], gap=1)[0] == pytest.approx(want, rel=1e-10)
    worst = max(want, renyi(p_real(3), p_real(1)), renyi(p_real(-3), p_real(-1)))
    assert pate.noisy_max_rdp(lam, 3, [a])[0] == pytest.approx(worst, rel=1e-10)


@pytest.mark.parametrize("lam", [0.01, 0.1, 0.5, 1.0])
def test_theorem_3_bounds_the_exact_data_dependent_moments(lam) -> None:
    """Papernot et al.'s data-dependent bound is never below the exact moment l D_{l+1}."""
    k, ls = 60, np.arange(1.0, 40.0)
    for gap in range(0, k + 1, 2):
        exact = ls * pate.noisy_max_rdp(lam, k, ls + 1.0, gap=gap)
        assert np.all(exact <= pate.moments_data_dependent(lam, gap, ls) * (1 + 1e-9) + 1e-15)


def test_data_dependent_bound_is_small_for_unanimous_teachers() -> None:
    ls = np.array([4.0, 16.0])
    unanimous = pate.moments_data_dependent(0.1, 200, ls)
    tie = pate.moments_data_dependent(0.1, 0, ls)
    assert np.all(unanimous < 1e-6)
    # a tie: Theorem 3 does not apply; the data-independent bounds (and pure DP: 2 lam l)
    assert np.allclose(tie, np.minimum(pate.moments_data_independent(0.1, ls), 0.2 * ls))


def test_event_in_the_ledger() -> None:
    ledger = PrivacyLedger(1.0, 1e-5)
    event = NoisyMaxEvent(0.0015, 100, 20_000, label="votes")
    spent = ledger.spend(event)
    assert 0 < spent.epsilon <= 1.0 and spent.method == "rdp"
    # the same answers under Papernot et al.'s data-independent bound cost more
    papernot = PrivacyLedger(5.0, 1e-5).would_spend(
        ComposedEvent((PureDPEvent(2 * 0.0015),), count=20_000)).epsilon
    assert papernot > 1.5 * spent.epsilon
    with pytest.raises(BudgetExceededError, match="votes"):
        ledger.spend(NoisyMaxEvent(0.0015, 100, 20_000, label="votes"))
    again = PrivacyLedger.from_dict(ledger.to_dict())
    assert again.events == ledger.events and again.spent == ledger.spent


def test_data_dependent_event_round_trip_and_checks() -> None:
    event = NoisyMaxEvent(0.05, 4, 3, gap_counts=(0, 0, 1, 0, 2), label="votes")
    assert event.data_dependent and "not a DP guarantee" in event.describe()
    assert event_from_dict(event.to_dict()) == event
    orders = [2.0, 3.0]
    want = (pate.moments_data_dependent(0.05, 2, [1.0, 2.0]) / [1.0, 2.0]
            + 2 * pate.moments_data_dependent(0.05, 4, [1.0, 2.0]) / [1.0, 2.0])
    assert np.allclose(event.rdp_curve(orders), np.minimum(
        want, 3 * pate.noisy_max_rdp(0.05, 4, orders)))
    with pytest.raises(InvalidParameterError, match="gap_counts"):
        NoisyMaxEvent(0.05, 4, 3, gap_counts=(1, 1, 1))
    with pytest.raises(InvalidParameterError, match="lam"):
        NoisyMaxEvent(0.0, 4, 3)


@settings(max_examples=15, deadline=None)
@given(epsilon=st.floats(0.05, 8.0), k=st.integers(1, 500), iterations=st.integers(1, 400),
       queries=st.integers(2, 128))
def test_calibrated_lam_uses_the_budget_without_overshooting(epsilon, k, iterations,
                                                             queries) -> None:
    from lookalike.models.deep.pate_gan import PATEGANGenerator

    gen = PATEGANGenerator(epsilon=epsilon, iterations=iterations, queries=queries)
    ledger = PrivacyLedger(epsilon, 1e-5)
    lam, planned = gen._plan(ledger, k)
    answers = iterations * queries
    assert planned == iterations
    assert ledger.can_spend(NoisyMaxEvent(lam, k, answers))
    assert not ledger.can_spend(NoisyMaxEvent(lam * (1 + 1e-6), k, answers))
    assert ledger.spend(NoisyMaxEvent(lam, k, answers)).epsilon <= epsilon
