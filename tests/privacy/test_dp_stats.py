"""DP statistics: counts, quantiles, bounds, category selection."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.errors import BudgetExceededError, InvalidParameterError
from lookalike.privacy import gdp
from lookalike.privacy.accountant import PrivacyLedger
from lookalike.privacy.dp_stats import dp_bounds, dp_count, dp_quantiles, dp_select_categories
from lookalike.privacy.events import (
    ComposedEvent,
    GaussianEvent,
    GaussianThresholdEvent,
    LaplaceEvent,
    PureDPEvent,
)


# ----------------------------------------------------------------------------- count
def test_dp_count_laplace_and_gaussian() -> None:
    ledger = PrivacyLedger(2.0, 1e-5)
    rng = np.random.default_rng(0)
    n, event = dp_count(10_000, epsilon=1.0, ledger=ledger, rng=rng)
    assert isinstance(n, int) and abs(n - 10_000) < 30 and event == LaplaceEvent(1.0, 1.0,
                                                                                 "row count")
    n, event = dp_count(10_000, sigma=5.0, ledger=ledger, rng=rng, label="n")
    assert abs(n - 10_000) < 40 and event == GaussianEvent(5.0, 1.0, "n")
    assert len(ledger) == 2
    assert dp_count(0, epsilon=0.5, ledger=PrivacyLedger(1.0), rng=rng)[0] >= 0


def test_dp_count_argument_errors() -> None:
    ledger, rng = PrivacyLedger(1.0), np.random.default_rng(0)
    with pytest.raises(InvalidParameterError, match="exactly one"):
        dp_count(10, ledger=ledger, rng=rng)
    with pytest.raises(InvalidParameterError, match="exactly one"):
        dp_count(10, epsilon=1.0, sigma=1.0, ledger=ledger, rng=rng)
    with pytest.raises(InvalidParameterError, match="'n' parameter"):
        dp_count(-1, epsilon=1.0, ledger=ledger, rng=rng)
    with pytest.raises(BudgetExceededError):
        dp_count(10, epsilon=2.0, ledger=ledger, rng=rng)
    assert len(ledger) == 0


# ----------------------------------------------------------------------------- quantiles
def test_quantiles_approach_truth_with_large_epsilon() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(50.0, 10.0, 4001)
    levels = [0.1, 0.25, 0.5, 0.75, 0.9]
    ledger = PrivacyLedger(1e4)
    q, event = dp_quantiles(x, levels, (0.0, 100.0), epsilon=1e4, ledger=ledger, rng=rng)
    truth = np.quantile(x, levels)
    np.testing.assert_allclose(q, truth, atol=0.1)
    assert isinstance(event, ComposedEvent) and len(event.events) == 5
    assert all(isinstance(e, PureDPEvent) and e.epsilon == 2e3 for e in event.events)
    assert ledger.spent.epsilon == pytest.approx(1e4)


def test_quantiles_small_epsilon_stay_in_bounds_and_sorted() -> None:
    rng = np.random.default_rng(2)
    x = rng.exponential(3.0, 50)
    for _ in range(20):
        q, _ = dp_quantiles(x, [0.9, 0.1, 0.5], (-5.0, 5.0), epsilon=0.01,
                            ledger=PrivacyLedger(0.01), rng=rng)
        assert np.all((q >= -5.0) & (q <= 5.0))
        assert q[1] <= q[2] <= q[0]  # monotone in the level, in the caller's order


def test_quantiles_moderate_epsilon_accuracy() -> None:
    rng = np.random.default_rng(3)
    x = rng.uniform(0.0, 1.0, 10_000)
    errors = [abs(dp_quantiles(x, [0.5], (0.0, 1.0), epsilon=1.0, ledger=PrivacyLedger(1.0),
                               rng=rng)[0][0] - np.median(x)) for _ in range(20)]
    assert np.median(errors) < 0.01


def test_quantiles_edge_cases() -> None:
    rng = np.random.default_rng(4)
    q, _ = dp_quantiles([], [0.5], (2.0, 3.0), epsilon=1.0, ledger=PrivacyLedger(1.0), rng=rng)
    assert 2.0 <= q[0] <= 3.0
    q, _ = dp_quantiles([1.0, 2.0], [0.5], (4.0, 4.0), epsilon=1.0, ledger=PrivacyLedger(1.0),
                        rng=rng)
    assert q[0] == 4.0
    with pytest.raises(InvalidParameterError, match="'bounds' parameter"):
        dp_quantiles([1.0], [0.5], (3.0, 1.0), epsilon=1.0, ledger=PrivacyLedger(1.0), rng=rng)
    with pytest.raises(InvalidParameterError, match="'values' parameter"):
        dp_quantiles([1.0, np.nan], [0.5], (0.0, 1.0), epsilon=1.0, ledger=PrivacyLedger(1.0),
                     rng=rng)
    with pytest.raises(InvalidParameterError, match="'quantiles' parameter"):
        dp_quantiles([1.0], [1.5], (0.0, 1.0), epsilon=1.0, ledger=PrivacyLedger(1.0), rng=rng)


def test_quantiles_secure_source() -> None:
    x = np.arange(1000.0)
    q, _ = dp_quantiles(x, [0.5], (0.0, 1000.0), epsilon=5.0, ledger=PrivacyLedger(5.0),
                        secure=True)
    assert abs(q[0] - 500.0) < 20.0


# ----------------------------------------------------------------------------- bounds
def test_bounds_cover_the_data_within_a_factor_two() -> None:
    rng = np.random.default_rng(5)
    x = rng.uniform(3.0, 700.0, 5000)
    ledger = PrivacyLedger(1.0)
    (low, high), event = dp_bounds(x, epsilon=0.5, ledger=ledger, rng=rng)
    assert event == LaplaceEvent(2.0, 1.0, "bounds") and ledger.spent.epsilon == 0.5
    # outer edges of populated log2 bins: at most a factor 2 beyond the data, and only a
    # sparse tail (here [3, 4), ~7 rows, below the noise threshold of ~18) is cut off
    assert 1.5 <= low <= 4.0 and 700.0 <= high <= 1400.0
    assert np.mean((x < low) | (x > high)) < 0.01


def test_bounds_signed_and_small_values() -> None:
    rng = np.random.default_rng(6)
    x = np.concatenate([rng.uniform(-40.0, -0.01, 3000), rng.uniform(0.0, 0.2, 3000)])
    (low, high), _ = dp_bounds(x, epsilon=1.0, ledger=PrivacyLedger(1.0), rng=rng)
    assert -80.0 <= low <= -40.0 and 0.2 <= high <= 0.4


def test_bounds_ignore_a_few_outliers_and_never_invent_empty_bins() -> None:
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.normal(100.0, 5.0, 2000), [1e12]])  # one extreme row
    for _ in range(20):
        (low, high), _ = dp_bounds(x, epsilon=1.0, ledger=PrivacyLedger(1.0), rng=rng)
        assert 32.0 <= low <= 100.0 and 100.0 <= high <= 256.0


def test_bounds_with_no_populated_bin_fall_back_to_the_fullest() -> None:
    (low, high), _ = dp_bounds([5.0], epsilon=0.01, ledger=PrivacyLedger(1.0),
                               rng=np.random.default_rng(8))
    assert low < high


# ----------------------------------------------------------------------------- categories
def test_singletons_are_never_selected() -> None:
    rng = np.random.default_rng(9)
    column = ["common"] * 2000 + [f"id-{i}" for i in range(2000)]  # 2000 unique values
    ledger = PrivacyLedger(10.0, 1e-4)
    for _ in range(3):
        kept, event = dp_select_categories(column, epsilon=1.0, delta=1e-5, ledger=ledger,
                                           rng=rng)
        assert list(kept) == ["common"]
        assert abs(kept["common"] - 2000) < 50
    assert isinstance(event, GaussianThresholdEvent)
    # the per-singleton release probability is at most delta / 2
    assert event.extra_delta <= 0.5e-5
    # and the standalone release is (1, 1e-5)-DP
    assert gdp.delta_from_mu(event.mu, 1.0) + event.extra_delta <= 1e-5


def test_selection_keeps_well_supported_categories_sorted() -> None:
    rng = np.random.default_rng(10)
    column = ["a"] * 500 + ["b"] * 900 + ["c"] * 60 + ["d"] * 3
    kept, _ = dp_select_categories(column, epsilon=2.0, delta=1e-6,
                                   ledger=PrivacyLedger(2.0, 1e-6), rng=rng)
    assert list(kept) == ["b", "a", "c"]


def test_selection_charged_against_the_whole_budget() -> None:
    ledger = PrivacyLedger(1.0, 1e-5)
    dp_select_categories(["x"] * 100, epsilon=1.0, delta=1e-5, ledger=ledger,
                         rng=np.random.default_rng(11))
    assert ledger.spent.epsilon <= 1.0
    with pytest.raises(BudgetExceededError):
        dp_select_categories(["x"] * 100, epsilon=0.1, delta=1e-6, ledger=ledger,
                             rng=np.random.default_rng(11))
    with pytest.raises(InvalidParameterError, match="'delta' parameter"):
        dp_select_categories(["x"], epsilon=1.0, delta=0.0, ledger=PrivacyLedger(1.0, 1e-5),
                             rng=np.random.default_rng(11))
