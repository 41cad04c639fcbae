"""DP statistics: counts, quantiles, bounds, histograms, category selection, calibration."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.errors import BudgetExceededError, InvalidParameterError
from lookalike.privacy import gdp
from lookalike.privacy.accountant import PrivacyLedger
from lookalike.privacy.dp_stats import (
    PlannedRelease,
    calibrate_releases,
    consistent_counts,
    dp_bounds,
    dp_count,
    dp_histogram,
    dp_quantiles,
    dp_select_categories,
    fine_grid_edges,
    histogram_quantiles,
    log_grid_edges,
    populated_range,
)
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


# ----------------------------------------------------------------------------- Gaussian range
def test_gaussian_bounds_cover_the_data_within_a_factor_two() -> None:
    rng = np.random.default_rng(12)
    x = rng.uniform(3.0, 700.0, 5000)
    ledger = PrivacyLedger(1.0, 1e-5)
    (low, high), event = dp_bounds(x, sigma=5.0, ledger=ledger, rng=rng)
    assert event == GaussianEvent(5.0, 1.0, "bounds") and len(ledger) == 1
    assert 1.5 <= low <= 4.0 and 700.0 <= high <= 1400.0
    with pytest.raises(InvalidParameterError, match="exactly one"):
        dp_bounds(x, ledger=ledger, rng=rng)
    with pytest.raises(InvalidParameterError, match="exactly one"):
        dp_bounds(x, epsilon=1.0, sigma=1.0, ledger=ledger, rng=rng)


def test_bounds_on_a_value_grid_are_grid_values_and_keep_zero_apart() -> None:
    rng = np.random.default_rng(13)
    x = np.concatenate([np.zeros(3000), rng.integers(2000, 9000, 400).astype(float)])
    (low, high), _ = dp_bounds(x, sigma=10.0, step=1.0, ledger=PrivacyLedger(10.0, 1e-5),
                               rng=rng)
    assert low == 0.0 and high == 16383.0
    (low, high), _ = dp_bounds(np.full(500, 3.25), sigma=10.0, step=0.01,
                               ledger=PrivacyLedger(10.0, 1e-5), rng=rng)
    assert (low, high) == (2.0, 3.99)  # the octave [2, 4) on the 0.01 grid, as grid values


def test_log_grid_puts_every_grid_value_strictly_inside_a_cell() -> None:
    edges = log_grid_edges(1.0, max_exponent=10)
    values = np.arange(-1023.0, 1024.0)
    assert not np.isin(values, edges).any()
    cells = np.searchsorted(edges, values) - 1
    assert (values[cells == cells[values == 0][0]] == 0).all()  # 0 alone in its cell
    assert edges[0] == -1023.5 and edges[-1] == 1023.5
    decimal_edges = log_grid_edges(0.01, max_exponent=4)
    assert np.allclose(np.round(decimal_edges / 0.01 + 0.5), decimal_edges / 0.01 + 0.5)


def test_fine_grid_is_linear_when_narrow_and_logarithmic_when_wide() -> None:
    edges, groups = fine_grid_edges(16.0, 127.0, 1.0, cells=192)
    assert np.array_equal(edges, np.arange(15.5, 128.0))  # one cell per integer
    assert groups.tolist() == [0, 16, 48, 112]  # octaves [16, 32), [32, 64), [64, 128)
    edges, groups = fine_grid_edges(0.0, 65535.0, 1.0, cells=128)
    widths = np.diff(edges)
    assert edges[0] == -0.5 and edges[1] == 0.5  # the zero cell holds 0 only
    assert widths[-1] > 1000 and widths[1] == 1.0 and len(widths) <= 160
    assert groups[0] == 0 and groups[-1] == len(widths) and np.all(np.diff(groups) > 0)
    edges, groups = fine_grid_edges(40.5, 41.0, None, cells=64)  # far from zero, narrow
    assert len(edges) == 65 and groups.tolist() == [0, 64]


def test_histogram_counts_every_row_once_and_is_charged() -> None:
    rng = np.random.default_rng(14)
    ledger = PrivacyLedger(1000.0, 1e-5)
    x = np.array([-5.0, 0.0, 0.4, 1.0, 2.0, 2.0, 99.0])
    noisy, event = dp_histogram(x, [0.0, 1.0, 2.0, 3.0], sigma=0.05, ledger=ledger, rng=rng,
                                label="h")
    assert np.round(noisy).tolist() == [3.0, 1.0, 3.0]  # outside values in the outer cells
    assert event == GaussianEvent(0.05, 1.0, "h") and ledger.events == (event,)
    with pytest.raises(InvalidParameterError, match="'edges'"):
        dp_histogram(x, [1.0], sigma=1.0, ledger=ledger, rng=rng)
    with pytest.raises(BudgetExceededError):
        dp_histogram(x, [0.0, 1.0], sigma=1e-3, ledger=PrivacyLedger(1.0, 1e-5), rng=rng)


def test_populated_range_extends_only_into_adjacent_cells() -> None:
    edges = np.arange(8.0)
    noisy = [6.0, 0.0, 8.0, 100.0, 7.0, 0.0, 6.0]
    assert populated_range(noisy, edges, threshold=50.0) == (3.0, 4.0)
    assert populated_range(noisy, edges, threshold=50.0, extend_threshold=5.0) == (2.0, 5.0)
    assert populated_range([0.0, 1.0, 0.5], edges[:4], threshold=50.0) == (1.0, 2.0)


def test_consistent_counts_use_both_levels_and_zero_empty_groups() -> None:
    rng = np.random.default_rng(15)
    truth = np.array([0, 0, 0, 0, 50, 150, 300, 100, 20, 0, 0, 0], dtype=float)
    groups = np.array([0, 4, 8, 12])
    group_truth = np.add.reduceat(truth, groups[:-1])
    err_raw, err_both = [], []
    for _ in range(200):
        fine = truth + rng.normal(0, 20.0, truth.size)
        coarse = group_truth + rng.normal(0, 10.0, 3)
        est = consistent_counts(fine, 20.0, groups, coarse, 10.0)
        assert (est >= 0).all()
        err_raw.append(abs(fine[4:8].sum() - group_truth[1]))
        err_both.append(abs(est[4:8].sum() - group_truth[1]))
    assert np.mean(err_both) < 0.6 * np.mean(err_raw)  # the coarse total sharpens the sum
    est = consistent_counts(truth + 1.0, 1.0, groups)
    assert est[:4].sum() == 0 and est[4:8].sum() == pytest.approx(group_truth[1] + 4.0)


def test_histogram_quantiles_follow_the_cdf() -> None:
    x = np.random.default_rng(16).exponential(10.0, 20_000)
    edges = np.linspace(0.0, 100.0, 201)
    counts = np.histogram(x, edges)[0].astype(float)
    levels = [0.1, 0.5, 0.9]
    np.testing.assert_allclose(histogram_quantiles(counts, edges, levels),
                               np.quantile(x, levels), rtol=0.05)
    point_mass = histogram_quantiles([90.0, 0.0, 10.0], [-0.5, 0.5, 1.5, 2.5], [0.5, 0.95])
    assert round(point_mass[0]) == 0 and 1.5 < point_mass[1] <= 2.5
    assert histogram_quantiles([0.0, 0.0], [0.0, 1.0, 2.0], [0.5]).tolist() == [1.0]


# ----------------------------------------------------------------------------- joint calibration
def test_calibrated_releases_spend_exactly_the_budget() -> None:
    for epsilon, delta in [(0.1, 3e-6), (1.0, 1e-5), (8.0, 1e-9)]:
        ledger = PrivacyLedger(epsilon, delta)
        plan = calibrate_releases(ledger, [PlannedRelease("c1", 2.0, thresholded=True),
                                           PlannedRelease("c2", 2.0, thresholded=True),
                                           PlannedRelease("range", 1.0),
                                           PlannedRelease("hist", 0.5)])
        assert plan[0].sigma == pytest.approx(plan[2].sigma / np.sqrt(2.0))
        assert plan[3].sigma == pytest.approx(plan[2].sigma * np.sqrt(2.0))
        assert plan[0].threshold is not None and plan[2].threshold is None
        for release in plan:
            ledger.spend(release.event)
        spent = ledger.spent
        assert spent.epsilon <= epsilon and spent.epsilon == pytest.approx(epsilon, rel=1e-9)
        assert spent.delta == delta and spent.method == "gdp"
        # half of delta went to the two thresholds
        extra = sum(e.extra_delta for e in ledger.events if isinstance(e, GaussianThresholdEvent))
        assert extra == pytest.approx(delta / 2, rel=1e-6) and extra <= delta / 2


def test_calibration_uses_what_is_left_and_any_accountant() -> None:
    from lookalike.privacy.events import SampledGaussianEvent

    ledger = PrivacyLedger(2.0, 1e-5)
    ledger.spend(LaplaceEvent(2.0, label="count"))
    ledger.spend(SampledGaussianEvent(3.0, 0.01, 100, label="sgd"))  # forces RDP
    plan = calibrate_releases(ledger, [PlannedRelease("a"), PlannedRelease("b", 3.0)])
    for release in plan:
        ledger.spend(release.event)
    assert ledger.spent.epsilon == pytest.approx(2.0, rel=1e-9) and ledger.spent.epsilon <= 2.0
    assert calibrate_releases(PrivacyLedger(1.0, 1e-5), []) == ()
    with pytest.raises(BudgetExceededError, match="delta"):
        calibrate_releases(PrivacyLedger(1.0), [PlannedRelease("a")])
    with pytest.raises(BudgetExceededError):
        calibrate_releases(ledger, [PlannedRelease("more")])  # nothing left
    with pytest.raises(InvalidParameterError, match="'weight'"):
        calibrate_releases(PrivacyLedger(1.0, 1e-5), [PlannedRelease("a", 0.0)])


def test_selection_with_caller_calibrated_noise() -> None:
    ledger = PrivacyLedger(1.0, 1e-5)
    column = ["a"] * 900 + ["b"] * 40 + ["c"] * 2
    kept, event = dp_select_categories(column, sigma=5.0, threshold=30.0, ledger=ledger,
                                       rng=np.random.default_rng(17), label="cats")
    assert list(kept) == ["a", "b"] and event == GaussianThresholdEvent(5.0, 30.0, "cats")
    for bad in ({"sigma": 5.0}, {"epsilon": 1.0, "delta": 1e-5, "sigma": 5.0},
                {"sigma": 5.0, "threshold": 30.0, "delta": 1e-5}):
        with pytest.raises(InvalidParameterError, match="either"):
            dp_select_categories(column, ledger=ledger, rng=np.random.default_rng(0), **bad)
