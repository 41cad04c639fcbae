"""Encoder statistics under differential privacy: every release goes on the ledger."""

import numpy as np
import pandas as pd
import pytest

from lookalike.encoding import TableEncoder
from lookalike.privacy import PrivacyLedger
from lookalike.schema import infer
from lookalike.synthesizer import dp_plan
from lookalike.errors import InvalidParameterError


def fit_dp(df, eps=1.0, delta=1e-5, schema=None, seed=0):
    ledger = PrivacyLedger(eps, delta)
    enc = TableEncoder(schema or infer(df)).fit(df, dp_ledger=ledger,
                                                dp_rng=np.random.default_rng(seed))
    return enc, ledger


def test_budget_is_respected_and_recorded(adult_small):
    enc, ledger = fit_dp(adult_small)
    spent = ledger.spent
    assert spent.epsilon <= 1.0 + 1e-9 and spent.delta <= 1e-5
    assert len(ledger) >= len(enc.modelled_columns)
    meta, _ = enc.get_state()
    assert meta["privacy"]["spent"]["epsilon"] == pytest.approx(spent.epsilon)


def test_dp_categories_drop_rare_values(adult_small):
    enc, _ = fit_dp(adult_small, eps=5.0)
    cats = enc.encoders["native-country"].stats.categories
    counts = adult_small["native-country"].value_counts()
    singles = set(counts[counts == 1].index)
    assert not singles & set(cats)
    assert "United-States" in cats and "_RARE_" in cats
    assert enc.encoders["native-country"].stats.missing_rate is None


def test_dp_numeric_bounds_are_close_with_large_budget(adult_small):
    enc, _ = fit_dp(adult_small, eps=200.0)
    s = enc.encoders["age"].stats
    assert 15 <= s.lower <= 22 and 70 <= s.upper <= 91
    can = enc.prepare(adult_small)
    out = enc.decode_tokens(enc.encode_tokens(can), np.random.default_rng(0))
    inside = can["age"].between(s.lower, s.upper)
    assert (out["age"][inside] == can["age"][inside]).all()


def test_declared_domains_cost_nothing():
    df = pd.DataFrame({"c": ["a", "b"] * 50, "x": np.arange(100) * 1.5})
    schema = infer(df).replace_column("c", categories=("a", "b"))
    enc, ledger = fit_dp(df, schema=schema)
    labels = [e.label for e in ledger.events]
    assert not any("'c'" in label for label in labels)
    assert enc.encoders["c"].stats.categories == ("a", "b")


def test_dp_parameter_checks():
    assert dp_plan(None, 100) is None
    eps, delta, share = dp_plan({"epsilon": 1.0}, 1000)
    assert (eps, delta, share) == (1.0, 1e-4, 0.1)
    for bad in ({"epsilon": 0}, {"epsilon": -1}, {"epsilon": 1, "delta": 2},
                {"epsilon": 1, "colour": 1}, {"epsilon": 1, "encoding_share": 1.5}, 3):
        with pytest.raises(InvalidParameterError):
            dp_plan(bad, 100)
