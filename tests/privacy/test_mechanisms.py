"""Gaussian and Laplace mechanisms: noise, events, ledger charging, secure source."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from lookalike.errors import BudgetExceededError, InvalidParameterError
from lookalike.privacy.accountant import PrivacyLedger
from lookalike.privacy.events import GaussianEvent, LaplaceEvent
from lookalike.privacy.mechanisms import gaussian_mechanism, laplace_mechanism


def test_gaussian_mechanism_shapes_and_event() -> None:
    rng = np.random.default_rng(0)
    noisy, event = gaussian_mechanism(np.zeros((3, 4)), 0.5, 2.0, rng, label="means")
    assert noisy.shape == (3, 4) and noisy.dtype == np.float64
    assert event == GaussianEvent(2.0, 0.5, "means")
    scalar, _ = gaussian_mechanism(1.5, 1.0, 1.0, rng)
    assert isinstance(scalar, float)


def test_gaussian_noise_has_the_right_distribution() -> None:
    noisy, _ = gaussian_mechanism(np.full(20_000, 5.0), 1.0, 3.0, np.random.default_rng(1))
    assert stats.kstest((noisy - 5.0) / 3.0, "norm").pvalue > 1e-3


def test_laplace_noise_has_the_right_distribution() -> None:
    noisy, event = laplace_mechanism(np.zeros(20_000), 2.0, 4.0, np.random.default_rng(2))
    assert event == LaplaceEvent(4.0, 2.0) and event.epsilon == 0.5
    assert stats.kstest(noisy / 4.0, "laplace").pvalue > 1e-3


@pytest.mark.parametrize("mechanism,dist", [(gaussian_mechanism, "norm"),
                                            (laplace_mechanism, "laplace")])
def test_secure_source(mechanism, dist: str) -> None:  # noqa: ANN001
    rng = np.random.default_rng(3)
    state = rng.bit_generator.state
    a, _ = mechanism(np.zeros(20_000), 1.0, 1.0, rng, secure=True)
    b, _ = mechanism(np.zeros(20_000), 1.0, 1.0, None, secure=True)
    assert rng.bit_generator.state == state  # the caller's stream is not used
    assert not np.array_equal(a, b)  # not reproducible
    assert np.all(np.isfinite(a))
    assert stats.kstest(a, dist).pvalue > 1e-3


def test_seeded_generator_is_reproducible() -> None:
    a, _ = gaussian_mechanism([1.0, 2.0], 1.0, 1.0, np.random.default_rng(7))
    b, _ = gaussian_mechanism([1.0, 2.0], 1.0, 1.0, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)


def test_ledger_is_charged_before_the_draw() -> None:
    ledger = PrivacyLedger(1.0, 1e-5)
    rng = np.random.default_rng(4)
    sigma = ledger.calibrate_gaussian(1.0)
    _, event = gaussian_mechanism(0.0, 1.0, sigma, rng, ledger=ledger, label="x")
    assert ledger.events == (event,)
    state = rng.bit_generator.state
    with pytest.raises(BudgetExceededError):
        laplace_mechanism(0.0, 1.0, 1.0, rng, ledger=ledger)
    assert rng.bit_generator.state == state  # refused: nothing was drawn
    assert len(ledger) == 1


@pytest.mark.parametrize(
    "call",
    [
        lambda: gaussian_mechanism(0.0, 1.0, 1.0, None),
        lambda: gaussian_mechanism(0.0, 1.0, 1.0, 42),  # type: ignore[arg-type]
        lambda: gaussian_mechanism(0.0, 1.0, 0.0, np.random.default_rng()),
        lambda: gaussian_mechanism(0.0, -1.0, 1.0, np.random.default_rng()),
        lambda: gaussian_mechanism([0.0, np.nan], 1.0, 1.0, np.random.default_rng()),
        lambda: laplace_mechanism(0.0, 1.0, -2.0, np.random.default_rng()),
    ],
)
def test_invalid_arguments(call) -> None:  # noqa: ANN001
    with pytest.raises(InvalidParameterError, match="parameter of"):
        call()
