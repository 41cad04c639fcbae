"""The privacy ledger: composition, refusal before recording, calibration, persistence."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lookalike.errors import BudgetExceededError, InvalidParameterError, ModelFileError
from lookalike.privacy import gdp, rdp
from lookalike.privacy.accountant import PrivacyLedger, PrivacySpent
from lookalike.privacy.events import (
    ComposedEvent,
    GaussianEvent,
    GaussianThresholdEvent,
    LaplaceEvent,
    PureDPEvent,
    SampledGaussianEvent,
)

dpa = pytest.importorskip("dp_accounting")
dpa_rdp = pytest.importorskip("dp_accounting.rdp.rdp_privacy_accountant")

ORDERS = [1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 48.0, 64.0, 128.0, 256.0]


def test_empty_ledger() -> None:
    ledger = PrivacyLedger(1.0, 1e-6)
    assert ledger.spent == PrivacySpent(0.0, 0.0, "none")
    assert len(ledger) == 0 and ledger.events == ()
    assert ledger.remaining_epsilon == 1.0
    assert "Events (0)" in ledger.summary()
    assert "PrivacyLedger(epsilon=1" in repr(ledger)


@pytest.mark.parametrize("eps,delta", [(0.0, 1e-5), (-1.0, 0.0), (math.inf, 1e-5), (1.0, 1.0),
                                       (1.0, -1e-9), ("1", 0.0)])
def test_budget_validation(eps: object, delta: object) -> None:
    with pytest.raises(InvalidParameterError, match="parameter of PrivacyLedger"):
        PrivacyLedger(eps, delta)  # type: ignore[arg-type]


def test_gaussian_events_compose_exactly_in_gdp() -> None:
    ledger = PrivacyLedger(5.0, 1e-6)
    events = [GaussianEvent(3.0, 1.0), GaussianEvent(10.0, 2.0, "b"), GaussianEvent(0.5, 0.1)]
    for e in events:
        ledger.spend(e)
    mu = gdp.compose_mu([e.mu for e in events])
    assert ledger.spent.method == "gdp"
    assert ledger.spent.epsilon == pytest.approx(gdp.epsilon_from_mu(mu, 1e-6), rel=1e-12)
    assert ledger.spent.delta == 1e-6
    # k identical events = one ComposedEvent = one Gaussian with sigma / sqrt(k)
    a, b, c = PrivacyLedger(9.0, 1e-6), PrivacyLedger(9.0, 1e-6), PrivacyLedger(9.0, 1e-6)
    for _ in range(16):
        a.spend(GaussianEvent(8.0))
    b.spend(ComposedEvent((GaussianEvent(8.0),), count=16))
    c.spend(GaussianEvent(2.0))
    assert a.spent.epsilon == b.spent.epsilon == pytest.approx(c.spent.epsilon, rel=1e-12)


def test_spend_refuses_before_recording() -> None:
    ledger = PrivacyLedger(1.0, 1e-5)
    ledger.spend(LaplaceEvent(2.0, label="row count"))
    before = ledger.spent
    with pytest.raises(BudgetExceededError) as info:
        ledger.spend(GaussianEvent(0.5, 1.0, label="means of 'age'"))
    message = str(info.value)
    assert "'means of 'age''" in message and "Nothing was recorded" in message
    assert "sigma >=" in message and "budget epsilon=1" in message
    assert len(ledger) == 1 and ledger.spent == before
    # the suggested sigma is indeed affordable
    sigma = float(message.split("sigma >= ")[1].split(" ")[0])
    assert ledger.can_spend(GaussianEvent(sigma * (1 + 1e-5), 1.0))
    # when the budget is used up, the message says so
    ledger.spend(GaussianEvent(ledger.calibrate_gaussian(1.0), 1.0))
    with pytest.raises(BudgetExceededError, match="used up"):
        ledger.spend(PureDPEvent(1e-6))


def test_would_spend_and_can_spend_do_not_record() -> None:
    ledger = PrivacyLedger(1.0)
    assert ledger.would_spend(LaplaceEvent(4.0)).epsilon == 0.25
    assert ledger.can_spend(LaplaceEvent(1.0)) and not ledger.can_spend(LaplaceEvent(0.99))
    assert len(ledger) == 0


def test_pure_budget_refuses_gaussian_noise() -> None:
    ledger = PrivacyLedger(1.0, 0.0)
    ledger.spend(PureDPEvent(0.5))
    assert not ledger.can_spend(GaussianEvent(1e6))
    with pytest.raises(BudgetExceededError):
        ledger.calibrate_gaussian(1.0)
    assert ledger.spent == PrivacySpent(0.5, 0.0, "pure")


def test_many_laplace_releases_use_rdp_when_tighter() -> None:
    ledger = PrivacyLedger(10.0, 1e-6)
    for i in range(200):
        ledger.spend(LaplaceEvent(20.0, label=f"bin {i}"))  # 200 x epsilon 0.05: basic = 10
    spent = ledger.spent
    assert spent.method == "full rdp" and spent.epsilon < 5.0 and spent.delta == 1e-6
    curve = 200 * rdp.laplace_rdp(0.05, rdp.DEFAULT_ORDERS)
    assert spent.epsilon == pytest.approx(rdp.rdp_to_epsilon(curve, 1e-6)[0], rel=1e-12)
    acc = dpa_rdp.RdpAccountant(list(rdp.DEFAULT_ORDERS))
    acc.compose(dpa.LaplaceDpEvent(20.0), 200)
    assert spent.epsilon == pytest.approx(acc.get_epsilon(1e-6), rel=1e-9)


def test_dp_sgd_steps_compose_in_rdp() -> None:
    per_epoch = PrivacyLedger(10.0, 1e-5, orders=ORDERS)
    for epoch in range(10):
        per_epoch.spend(SampledGaussianEvent(1.1, 0.01, 100, label=f"epoch {epoch}"))
    at_once = PrivacyLedger(10.0, 1e-5, orders=ORDERS)
    at_once.spend(SampledGaussianEvent(1.1, 0.01, 1000))
    assert per_epoch.spent.method == at_once.spent.method == "rdp"
    assert per_epoch.spent.epsilon == pytest.approx(at_once.spent.epsilon, rel=1e-12)
    assert at_once.spent.epsilon == rdp.sampled_gaussian_epsilon(1.1, 0.01, 1000, 1e-5, ORDERS)
    acc = dpa_rdp.RdpAccountant(ORDERS)
    acc.compose(dpa.PoissonSampledDpEvent(0.01, dpa.GaussianDpEvent(1.1)), 1000)
    assert at_once.spent.epsilon == pytest.approx(acc.get_epsilon(1e-5), rel=1e-9)


def test_gaussian_plus_dp_sgd_adds_rdp_curves() -> None:
    ledger = PrivacyLedger(10.0, 1e-5, orders=ORDERS)
    ledger.spend(GaussianEvent(4.0, 0.5, "bounds"))
    ledger.spend(SampledGaussianEvent(1.0, 0.02, 500, "fit"))
    curve = (rdp.gaussian_rdp(8.0, ORDERS)
             + rdp.subsampled_gaussian_rdp(1.0, 0.02, 500, ORDERS))
    assert ledger.spent.method == "rdp"
    assert ledger.spent.epsilon == pytest.approx(rdp.rdp_to_epsilon(curve, 1e-5, ORDERS)[0],
                                                 rel=1e-12)


def test_pure_plus_gaussian_uses_basic_composition_of_groups() -> None:
    ledger = PrivacyLedger(3.0, 1e-5)
    ledger.spend(LaplaceEvent(10.0))  # epsilon 0.1
    ledger.spend(GaussianEvent(2.0))
    assert ledger.spent.method == "pure+gdp"
    assert ledger.spent.epsilon == pytest.approx(0.1 + gdp.epsilon_from_mu(0.5, 1e-5), rel=1e-12)


def test_threshold_event_takes_its_extra_delta_off() -> None:
    event = GaussianThresholdEvent(5.0, 25.0)
    ledger = PrivacyLedger(5.0, 1e-5)
    ledger.spend(event)
    assert ledger.spent.epsilon == pytest.approx(
        gdp.epsilon_from_mu(0.2, 1e-5 - event.extra_delta), rel=1e-12)
    # a threshold that lets a singleton through with probability > delta cannot be afforded
    assert not PrivacyLedger(100.0, 1e-5).can_spend(GaussianThresholdEvent(5.0, 2.0))


def test_spent_epsilon_never_decreases() -> None:
    ledger = PrivacyLedger(50.0, 1e-5, orders=ORDERS)
    events = [LaplaceEvent(5.0), GaussianEvent(3.0), SampledGaussianEvent(1.2, 0.01, 300),
              PureDPEvent(0.3), GaussianThresholdEvent(4.0, 30.0), GaussianEvent(1.0)]
    last = 0.0
    for e in events:
        eps = ledger.spend(e).epsilon
        assert eps >= last
        last = eps
    assert ledger.epsilon_at(1e-3) < ledger.epsilon_at(1e-5) < ledger.epsilon_at(1e-8)


def test_wrong_event_type() -> None:
    with pytest.raises(InvalidParameterError, match="privacy event"):
        PrivacyLedger(1.0).spend("gaussian")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- calibration
@settings(max_examples=40, deadline=None)
@given(
    eps=st.floats(min_value=0.05, max_value=20.0),
    delta=st.floats(min_value=1e-12, max_value=1e-2),
    sensitivity=st.floats(min_value=1e-3, max_value=100.0),
    count=st.integers(min_value=1, max_value=1000),
    prior=st.sampled_from(["none", "laplace", "gaussian", "threshold"]),
    fraction=st.floats(min_value=0.3, max_value=1.0),
)
def test_calibrate_gaussian_is_affordable_and_tight(eps: float, delta: float,
                                                    sensitivity: float, count: int, prior: str,
                                                    fraction: float) -> None:
    ledger = PrivacyLedger(eps, delta)
    if prior == "laplace":
        ledger.spend(LaplaceEvent(10.0 / eps))
    elif prior == "gaussian":
        ledger.spend(GaussianEvent(ledger.calibrate_gaussian(1.0, target_epsilon=eps / 4)))
    elif prior == "threshold":
        ledger.spend(GaussianThresholdEvent(gdp.sigma_for_epsilon_delta(eps / 4, delta / 4),
                                            1e6))
    target = max(fraction * eps, ledger.spent.epsilon * 1.01)
    if target > eps:
        return
    sigma = ledger.calibrate_gaussian(sensitivity, count=count, target_epsilon=target)

    def release(s: float) -> GaussianEvent | ComposedEvent:
        event = GaussianEvent(s, sensitivity)
        return event if count == 1 else ComposedEvent((event,), count=count)

    assert ledger.would_spend(release(sigma)).epsilon <= target
    assert ledger.would_spend(release(sigma * (1 - 1e-6))).epsilon > target  # tight
    ledger.spend(release(sigma))  # never refused
    assert ledger.spent.epsilon == pytest.approx(target, rel=1e-9)


def test_calibrate_noise_multiplier_is_affordable() -> None:
    ledger = PrivacyLedger(2.0, 1e-5, orders=ORDERS)
    ledger.spend(LaplaceEvent(20.0, label="count"))
    z = ledger.calibrate_noise_multiplier(0.01, 2000)
    assert ledger.would_spend(SampledGaussianEvent(z * (1 - 1e-6), 0.01, 2000)).epsilon > 2.0
    ledger.spend(SampledGaussianEvent(z, 0.01, 2000))
    assert ledger.spent.epsilon == pytest.approx(2.0, rel=1e-9)
    with pytest.raises(InvalidParameterError, match="target_epsilon"):
        ledger.fresh().calibrate_noise_multiplier(0.01, 10, target_epsilon=3.0)


# ----------------------------------------------------------------------------- persistence
def _full_ledger() -> PrivacyLedger:
    ledger = PrivacyLedger(20.0, 1e-5, orders=ORDERS)
    ledger.spend(LaplaceEvent(10.0, label="row count"))
    ledger.spend(ComposedEvent((PureDPEvent(0.05, "q=0.1"), PureDPEvent(0.05, "q=0.9")),
                               label="quantiles of 'age'"))
    ledger.spend(GaussianThresholdEvent(4.0, 30.0, "categories of 'city'"))
    ledger.spend(ComposedEvent((GaussianEvent(0.2, 0.02, "cluster mean"),), count=40,
                               label="cluster means"))
    ledger.spend(SampledGaussianEvent(1.0, 0.01, 1000, "vae"))
    return ledger


def test_json_round_trip() -> None:
    ledger = _full_ledger()
    record = json.loads(json.dumps(ledger.to_dict()))
    assert record["format"] == "lookalike.privacy_ledger" and record["version"] == 1
    back = PrivacyLedger.from_dict(record)
    assert back.events == ledger.events and back.orders == ledger.orders
    assert back.spent == ledger.spent
    assert back.summary() == ledger.summary()
    default = PrivacyLedger(1.0)
    assert PrivacyLedger.from_dict(default.to_dict()).orders == rdp.DEFAULT_ORDERS


def test_from_dict_refuses_bad_records() -> None:
    record = _full_ledger().to_dict()
    with pytest.raises(ModelFileError, match="version 2 is not supported"):
        PrivacyLedger.from_dict({**record, "version": 2})
    with pytest.raises(ModelFileError, match="Not a lookalike privacy ledger"):
        PrivacyLedger.from_dict({**record, "format": "pickle"})
    with pytest.raises(ModelFileError, match="Malformed"):
        PrivacyLedger.from_dict({**record, "events": [{"kind": "magic"}]})
    with pytest.raises(ModelFileError, match="Malformed"):
        PrivacyLedger.from_dict({k: v for k, v in record.items() if k != "budget"})
    with pytest.raises(ModelFileError, match="overspends"):
        PrivacyLedger.from_dict({**record, "budget": {"epsilon": 1.0, "delta": 1e-5}})


def test_fresh_ledger_has_full_budget() -> None:
    ledger = _full_ledger()
    fresh = ledger.fresh()
    assert len(fresh) == 0 and fresh.spent.epsilon == 0.0
    assert (fresh.epsilon, fresh.delta, fresh.orders) == (ledger.epsilon, ledger.delta,
                                                          ledger.orders)
    assert len(ledger) == 5  # the old ledger is untouched


def test_summary_lists_every_event() -> None:
    text = _full_ledger().summary()
    for label in ("row count", "quantiles of 'age'", "categories of 'city'", "cluster means",
                  "vae"):
        assert label in text
    assert text.startswith("Privacy ledger: budget epsilon=20, delta=1e-05")
    assert np.isfinite(float(text.split("Spent: epsilon=")[1].split(" ")[0]))
