"""Event records: frozen, validated, JSON round trip."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from scipy.stats import norm

from lookalike.errors import InvalidParameterError
from lookalike.privacy.events import (
    ComposedEvent,
    GaussianEvent,
    GaussianThresholdEvent,
    LaplaceEvent,
    PrivacyEvent,
    PureDPEvent,
    SampledGaussianEvent,
    event_from_dict,
)

EVENTS: list[PrivacyEvent] = [
    GaussianEvent(2.0, 0.5, "cluster means"),
    LaplaceEvent(10.0, 1.0, "row count"),
    PureDPEvent(0.1, "median of 'age'"),
    SampledGaussianEvent(1.1, 0.01, 500, "vae epoch 1"),
    GaussianThresholdEvent(4.0, 20.0, "categories of 'city'"),
    ComposedEvent(
        (SampledGaussianEvent(1.1, 0.01, 100, "epoch 1"),
         ComposedEvent((GaussianEvent(3.0, label="step"),), count=4, label="inner")),
        count=2, label="fit",
    ),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.kind)
def test_json_round_trip(event: PrivacyEvent) -> None:
    text = json.dumps(event.to_dict())
    back = event_from_dict(json.loads(text))
    assert back == event and type(back) is type(event)
    assert PrivacyEvent.from_dict(json.loads(text)) == event
    assert type(event).from_dict(json.loads(text)) == event
    assert hash(back) == hash(event)
    assert event.describe()


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.kind)
def test_events_are_frozen(event: PrivacyEvent) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.label = "changed"  # type: ignore[misc]


def test_numpy_scalars_are_stored_as_builtin_floats() -> None:
    e = GaussianEvent(np.float32(2.0), np.float64(1.0))
    assert type(e.sigma) is float and type(e.sensitivity) is float
    json.dumps(e.to_dict())
    assert SampledGaussianEvent(1.0, 0.1, np.int64(7)).steps == 7


def test_derived_quantities() -> None:
    assert GaussianEvent(4.0, 2.0).mu == 0.5
    assert LaplaceEvent(4.0, 2.0).epsilon == 0.5
    thr = GaussianThresholdEvent(2.0, 9.0)
    assert thr.mu == 0.5
    assert thr.extra_delta == pytest.approx(norm.cdf(-4.0), rel=1e-12)  # Phi((1 - 9) / 2)


@pytest.mark.parametrize(
    "make",
    [
        lambda: GaussianEvent(0.0),
        lambda: GaussianEvent(-1.0),
        lambda: GaussianEvent(float("inf")),
        lambda: GaussianEvent(1.0, -1.0),
        lambda: LaplaceEvent(0.0),
        lambda: PureDPEvent(-0.1),
        lambda: SampledGaussianEvent(1.0, 1.5, 10),
        lambda: SampledGaussianEvent(1.0, 0.1, 0),
        lambda: SampledGaussianEvent(1.0, 0.1, 2.5),
        lambda: GaussianThresholdEvent(1.0, 0.5),
        lambda: ComposedEvent(()),
        lambda: ComposedEvent((GaussianEvent(1.0),), count=0),
        lambda: ComposedEvent(("not an event",)),  # type: ignore[arg-type]
        lambda: GaussianEvent(1.0, label=3),  # type: ignore[arg-type]
    ],
)
def test_invalid_events_raise(make) -> None:  # noqa: ANN001
    with pytest.raises(InvalidParameterError, match="parameter of"):
        make()


def test_bad_records_raise() -> None:
    with pytest.raises(InvalidParameterError, match="Unknown privacy event kind 'quantum'"):
        event_from_dict({"kind": "quantum", "epsilon": 1.0})
    with pytest.raises(InvalidParameterError, match="takes the fields"):
        event_from_dict({"kind": "gaussian", "sigma": 1.0, "noise": 2.0})
    with pytest.raises(InvalidParameterError, match="'kind' key"):
        event_from_dict({"sigma": 1.0})
    with pytest.raises(InvalidParameterError, match="list of 'events'"):
        event_from_dict({"kind": "composed", "events": 3})
    with pytest.raises(InvalidParameterError, match="describes a LaplaceEvent"):
        GaussianEvent.from_dict(LaplaceEvent(1.0).to_dict())
