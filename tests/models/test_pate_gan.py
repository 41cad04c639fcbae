"""Tests of ``pate-gan``: fit / sample / save / load, the privacy record and ledger, the
budget checks, both accountants and reproducibility, on 1,000 Adult rows and few
iterations (through the facade)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from lookalike import Synthesizer
from lookalike.errors import InvalidParameterError
from lookalike.privacy import NoisyMaxEvent, PrivacyLedger

torch = pytest.importorskip("torch")

TINY = {"iterations": 20, "queries": 32, "n_teachers": 100, "teacher_batch": 8,
        "fake_batch": 64, "student_dims": (32,), "generator_dims": (32,), "embedding_dim": 16,
        "batch_size": 64}


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def fitted(adult_1k: pd.DataFrame) -> Synthesizer:
    return Synthesizer("pate-gan", random_state=0, target="income", epsilon=1.0,
                       **TINY).fit(adult_1k)


def test_fit_sample_save_load_round_trip(fitted: Synthesizer, adult_1k: pd.DataFrame,
                                         tmp_path) -> None:
    out = fitted.sample(300, seed=4)
    assert list(out.columns) == list(adult_1k.columns) and len(out) == 300
    assert set(out["income"].dropna()) <= {"<=50K", ">50K"}
    assert fitted.generator_.report_["iterations"] == 20
    fitted.save(tmp_path / "model")
    loaded = Synthesizer.load(tmp_path / "model")
    pd.testing.assert_frame_equal(out, loaded.sample(300, seed=4))
    gen = fitted.generator_
    meta, arrays = gen.get_state()
    again = type(gen).from_state(gen.get_params(), meta, arrays, gen.layout_)
    assert np.array_equal(gen.sample(200, np.random.default_rng(1)),
                          again.sample(200, np.random.default_rng(1)))
    assert again.privacy_events() == gen.privacy_events()


def test_spent_epsilon_within_target_and_in_the_ledger(fitted: Synthesizer) -> None:
    report = fitted.privacy_report()
    assert report["differential_privacy"]
    event = report["events"][0]
    assert 0 < event["epsilon"] <= 1.0 + 1e-12
    assert event["delta"] == pytest.approx(1 / (10 * 1000))
    assert event["guarantee"] == "(epsilon, delta)-differential privacy"
    assert event["answers"] == 20 * 32 and event["n_teachers"] == 100
    ledger = PrivacyLedger.from_dict(event["ledger"])  # recomputed, not trusted
    votes = [e for e in ledger.events if isinstance(e, NoisyMaxEvent)]
    assert len(votes) == 1 and votes[0].queries == 640 and not votes[0].data_dependent
    assert votes[0].lam == pytest.approx(event["lam"])
    assert ledger.spent.epsilon == pytest.approx(event["epsilon"])
    # the calibrated noise uses (almost) all the budget; the moments accountant of the
    # paper (Abadi et al.'s tail bound) is never tighter than the ledger's conversion
    assert event["epsilon"] > 0.99
    assert event["epsilon_moments_accountant"] >= event["epsilon"]


def test_conditions_on_the_target(fitted: Synthesizer) -> None:
    gen = fitted.generator_
    seg = next(s for s in gen.layout_.segments if s.column == "income")
    rows = gen.sample(200, np.random.default_rng(0), conditions={"income": 1})
    assert (rows[:, seg.start:seg.stop].argmax(axis=1) == 1).all()


@pytest.mark.parametrize("epsilon", [0.0, -1.0, math.inf, "1"])
def test_bad_epsilon_is_refused(epsilon: object, adult_1k: pd.DataFrame) -> None:
    with pytest.raises(InvalidParameterError, match="'epsilon' parameter of PATEGANGenerator"):
        Synthesizer("pate-gan", epsilon=epsilon, **TINY).fit(adult_1k.iloc[:200])


def test_bad_parameters_are_refused(adult_1k: pd.DataFrame) -> None:
    with pytest.raises(InvalidParameterError, match="accountant"):
        Synthesizer("pate-gan", accountant="paper", **TINY).fit(adult_1k.iloc[:200])
    with pytest.raises(InvalidParameterError, match="dp"):
        Synthesizer("pate-gan", dp={"eps": 1.0}, **TINY).fit(adult_1k.iloc[:200])


def test_fit_is_reproducible_with_a_seed(adult_1k: pd.DataFrame) -> None:
    params = {**TINY, "iterations": 5}
    a = Synthesizer("pate-gan", random_state=7, target="income", **params).fit(adult_1k)
    b = Synthesizer("pate-gan", random_state=7, target="income", **params).fit(adult_1k)
    pd.testing.assert_frame_equal(a.sample(200, seed=1), b.sample(200, seed=1))
    c = Synthesizer("pate-gan", random_state=8, target="income", **params).fit(adult_1k)
    assert not a.sample(200, seed=1).equals(c.sample(200, seed=1))


def test_given_lam_shortens_training_to_the_budget(adult_1k: pd.DataFrame) -> None:
    syn = Synthesizer("pate-gan", random_state=0, target="income", epsilon=1.0,
                      **{**TINY, "lam": 0.02}).fit(adult_1k)
    event = syn.privacy_report()["events"][0]
    assert event["lam"] == 0.02 and event["epsilon"] <= 1.0
    done = syn.generator_.report_["iterations"]
    assert 0 < done < 20 and event["answers"] == done * 32


def test_data_dependent_accountant_is_not_reported_as_dp(adult_1k: pd.DataFrame) -> None:
    syn = Synthesizer("pate-gan", random_state=0, target="income", epsilon=1.0,
                      accountant="data-dependent", **{**TINY, "lam": 0.05,
                                                      "iterations": 60}).fit(adult_1k)
    report = syn.privacy_report()
    event = report["events"][0]
    assert not report["differential_privacy"] and report["epsilon_spent"] is None
    assert event["epsilon"] is None and "not a differential-privacy" in event["guarantee"]
    assert 0 < event["epsilon_data_dependent"] <= 1.0
    votes = [e for e in PrivacyLedger.from_dict(event["ledger"]).events
             if isinstance(e, NoisyMaxEvent)]
    assert votes[0].data_dependent and sum(votes[0].gap_counts) == event["answers"]
    assert syn.generator_.report_["stop_reason"] == "budget"  # stopped before overspending
    # the same answers never cost less under the data-independent accountant
    ledger = PrivacyLedger(100.0, event["delta"])
    independent = ledger.would_spend(NoisyMaxEvent(0.05, 100, event["answers"])).epsilon
    assert ledger.would_spend(votes[0]).epsilon <= independent
