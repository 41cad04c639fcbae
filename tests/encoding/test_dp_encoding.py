"""Encoder statistics under differential privacy: every release goes on the ledger."""

import numpy as np
import pandas as pd
import pytest

from lookalike.config import load_config
from lookalike.encoding import TableEncoder
from lookalike.errors import InvalidParameterError
from lookalike.privacy import GaussianEvent, GaussianThresholdEvent, PrivacyLedger
from lookalike.schema import Schema, infer
from lookalike.synthesizer import dp_plan


def fit_dp(df, eps=1.0, delta=1e-5, schema=None, seed=0):
    ledger = PrivacyLedger(eps, delta)
    enc = TableEncoder(schema or infer(df)).fit(df, dp_ledger=ledger,
                                                dp_rng=np.random.default_rng(seed))
    return enc, ledger


def facade_budget(n_rows, epsilon=1.0):
    """The encoding budget Synthesizer(dp={"epsilon": epsilon}) gives the encoder."""
    eps, delta, share = dp_plan({"epsilon": epsilon}, n_rows)
    return eps * share, delta * share


def test_budget_is_respected_and_recorded(adult_small):
    enc, ledger = fit_dp(adult_small)
    spent = ledger.spent
    assert spent.epsilon <= 1.0 and spent.delta <= 1e-5
    assert len(ledger) >= len(enc.modelled_columns)
    meta, _ = enc.get_state()
    assert meta["privacy"]["spent"]["epsilon"] == pytest.approx(spent.epsilon)
    # every release is labelled with what it released and which column
    for event in ledger.events:
        assert isinstance(event, GaussianEvent | GaussianThresholdEvent)
        assert any(f"'{c}'" in event.label for c in enc.modelled_columns), event.label
        assert event.label.split()[0] in ("range", "histogram", "categories")


@pytest.mark.parametrize("epsilon", [1.0, 2.0, 10.0])
def test_the_whole_encoding_budget_is_used_and_never_exceeded(adult_train, epsilon):
    eps_enc, delta_enc = facade_budget(len(adult_train), epsilon)
    _, ledger = fit_dp(adult_train, eps_enc, delta_enc)
    spent = ledger.spent  # composed by the ledger itself (Gaussian DP here)
    assert spent.method == "gdp" and len(ledger) == 9 + 2 * 6
    assert spent.epsilon <= eps_enc and spent.epsilon == pytest.approx(eps_enc, rel=1e-9)
    assert spent.delta <= delta_enc


def test_a_skipped_release_leaves_budget_unspent_never_overspent(adult_small):
    # on 3000 rows capital-loss is 0 in every populated cell: its range is [0, 0] and its
    # histogram is not released; the rest of the budget is left (the facade hands it on)
    eps_enc, delta_enc = facade_budget(len(adult_small), 1.0)
    enc, ledger = fit_dp(adult_small, eps_enc, delta_enc)
    s = enc.encoders["capital-loss"].stats
    assert s.lower == s.upper == 0
    assert "histogram of 'capital-loss'" not in [e.label for e in ledger.events]
    assert 0.9 * eps_enc < ledger.spent.epsilon < eps_enc


def test_dp_categories_drop_rare_values(adult_small):
    enc, _ = fit_dp(adult_small, eps=5.0)
    cats = enc.encoders["native-country"].stats.categories
    counts = adult_small["native-country"].value_counts()
    singles = set(counts[counts == 1].index)
    assert not singles & set(cats)
    assert "United-States" in cats and "_RARE_" in cats
    assert enc.encoders["native-country"].stats.missing_rate is None


def test_categories_with_a_few_hundred_rows_survive_the_facade_budget(adult_train):
    eps_enc, _ = facade_budget(len(adult_train), 1.0)  # epsilon 0.1 for encoding
    enc, ledger = fit_dp(adult_train, eps_enc, 0.1 / len(adult_train))  # delta = 1/N
    thresholds = [e.threshold for e in ledger.events if isinstance(e, GaussianThresholdEvent)]
    assert len(thresholds) == 9 and max(thresholds) < 700
    for name in ("workclass", "education", "occupation", "race", "marital-status"):
        counts = adult_train[name].value_counts()
        kept = set(enc.encoders[name].stats.categories)
        assert set(counts[counts >= 1000].index) <= kept, name
        assert not set(counts[counts < 100].index) & kept, name


def test_dp_numeric_bounds_are_close_with_large_budget(adult_small):
    enc, _ = fit_dp(adult_small, eps=200.0)
    s = enc.encoders["age"].stats
    # the log-grid range finder gives the populated octaves [16, 128) or tighter
    assert 15 <= s.lower <= 22 and 70 <= s.upper <= 127
    can = enc.prepare(adult_small)
    out = enc.decode_tokens(enc.encode_tokens(can), np.random.default_rng(0))
    inside = can["age"].between(s.lower, s.upper)
    assert inside.all()
    assert (out["age"][inside] == can["age"][inside]).all()
    # with noise negligible against the rows, the range is trimmed to the clip quantiles
    enc, _ = fit_dp(adult_small, eps=1e5)
    s = enc.encoders["age"].stats
    top = np.sort(adult_small["age"].astype(float))[-3:]  # 0.1% of 3000 rows
    assert s.lower == 17 and top[0] - 3 <= s.upper <= top[-1]


def test_point_mass_and_heavy_tail_survive(adult_train):
    """capital-gain: 0 for 92% of the rows, a long positive tail: both must survive."""
    eps_enc, _ = facade_budget(len(adult_train), 1.0)
    for seed in range(3):
        enc, _ = fit_dp(adult_train, eps_enc, 0.1 / len(adult_train), seed=seed)
        e = enc.encoders["capital-gain"]
        s = e.stats
        assert s.lower == 0 and s.upper >= 7000
        x = adult_train["capital-gain"].astype(float)
        tokens = e.encode_tokens(e.prepare(x))
        assert len(np.unique(tokens[x == 0, 0])) == 1  # zero is a bin of its own
        assert not set(tokens[x > 0, 0]) & set(tokens[x == 0, 0])
        out = e.decode_tokens(tokens, np.random.default_rng(0))
        assert ((out > 0) == (x > 0)).all()  # the 8% positive tail is kept as such
        assert s.n_bins >= 3
        # and every numeric column keeps almost all of its rows inside its range
        for name in ("age", "fnlwgt", "education-num", "hours-per-week", "capital-loss"):
            st = enc.encoders[name].stats
            assert adult_train[name].astype(float).between(st.lower, st.upper).mean() > 0.96


def test_declared_domains_cost_nothing():
    df = pd.DataFrame({"c": ["a", "b"] * 50, "x": np.arange(100) * 1.5,
                       "n": np.arange(100) % 37, "w": np.arange(100) * 1000})
    schema = infer(df).replace_column("c", categories=("a", "b"))
    schema = schema.replace_column("n", lower=0, upper=200)  # 201 values: a bin each
    schema = schema.replace_column("w", lower=0, upper=10**6)
    enc, ledger = fit_dp(df, schema=schema)
    labels = [e.label for e in ledger.events]
    assert not any("'c'" in label or "'n'" in label for label in labels)
    assert "histogram of 'w'" in labels and "range of 'w'" not in labels
    assert "range of 'x'" in labels and "histogram of 'x'" in labels
    assert enc.encoders["c"].stats.categories == ("a", "b")
    # nothing about a free column is learned from the data: uniform reference shares
    assert enc.encoders["c"].stats.frequencies == (0.5, 0.5)
    assert enc.encoders["c"].stats.missing_rate is None
    n = enc.encoders["n"].stats
    assert (n.lower, n.upper, n.n_bins, n.missing_rate) == (0, 200, 201, None)
    assert (enc.encoders["w"].stats.lower, enc.encoders["w"].stats.upper) == (0, 10**6)
    assert ledger.spent.epsilon == pytest.approx(1.0, rel=1e-9)


def test_declared_constant_costs_nothing():
    df = pd.DataFrame({"x": np.arange(100) * 1.5, "k": ["same"] * 100})
    schema = infer(df).with_overrides({"k": {"kind": "constant", "value": "same"}})
    enc, ledger = fit_dp(df, schema=schema)
    assert not any("'k'" in e.label for e in ledger.events)
    assert enc.modelled_columns == ["x"]
    assert enc.finish(enc.prepare(df)[["x"]], np.random.default_rng(0))["k"].eq("same").all()


def test_declared_domains_from_a_config_file(tmp_path, adult_small):
    path = tmp_path / "config.yaml"
    path.write_text(
        "columns:\n"
        "  age: {lower: 0, upper: 120}\n"
        "  workclass: {categories: [Private, Self-emp-not-inc, Self-emp-inc, Federal-gov,\n"
        "              Local-gov, State-gov, Without-pay, Never-worked]}\n"
        "  capital-gain: {lower: 0}\n",
        encoding="utf-8")
    schema = infer(adult_small).with_overrides(load_config(path).columns)
    assert Schema.from_json(schema.to_json()) == schema  # JSON round trip of the domains
    assert schema["age"].upper == 120 and len(schema["workclass"].categories) == 8
    enc, ledger = fit_dp(adult_small, schema=schema)
    labels = [e.label for e in ledger.events]
    assert not any("'age'" in label or "'workclass'" in label for label in labels)
    assert "range of 'capital-gain'" in labels  # only the upper side is learned
    assert enc.encoders["capital-gain"].stats.lower == 0
    assert enc.encoders["age"].stats.upper == 120
    assert len(enc.encoders["workclass"].stats.categories) == 8


def test_datetime_range_under_dp():
    rng = np.random.default_rng(0)
    days = rng.integers(0, 3 * 365, 2000)
    df = pd.DataFrame({"when": pd.Timestamp("2019-01-01") + pd.to_timedelta(days, "D"),
                       "x": rng.normal(size=2000)})
    enc, ledger = fit_dp(df, eps=2.0)
    s = enc.encoders["when"].stats
    assert pd.Timestamp(s.lower).year in (2018, 2019) and pd.Timestamp(s.upper).year in (2021,
                                                                                          2022)
    assert "range of 'when'" in [e.label for e in ledger.events]
    ns = df["when"].astype("datetime64[ns]").astype("int64")  # pandas 3 makes these [us]
    assert abs(s.mean_days - ns.mean() / 86_400e9) < 200
    schema = infer(df).replace_column("when", lower="2018-01-01", upper="2023-01-01")
    enc, ledger = fit_dp(df, eps=2.0, schema=schema)
    assert not any("'when'" in e.label for e in ledger.events)
    assert pd.Timestamp(enc.encoders["when"].stats.lower) == pd.Timestamp("2018-01-01")


def test_dp_encoder_state_round_trip(adult_small):
    enc, ledger = fit_dp(adult_small, eps=1.0)
    meta, arrays = enc.get_state()
    back = TableEncoder.from_state(enc.schema, meta, arrays)
    assert back.privacy_ == ledger.to_dict()
    assert [e["label"] for e in back.privacy_["events"]] == [e.label for e in ledger.events]
    assert PrivacyLedger.from_dict(back.privacy_).spent == ledger.spent
    can = enc.prepare(adult_small)
    np.testing.assert_array_equal(back.encode_tokens(can), enc.encode_tokens(can))
    for name in enc.modelled_columns:
        assert back.encoders[name].get_state()[0] == enc.encoders[name].get_state()[0]


def test_dp_parameter_checks():
    assert dp_plan(None, 100) is None
    eps, delta, share = dp_plan({"epsilon": 1.0}, 1000)
    assert (eps, delta, share) == (1.0, 1e-4, 0.1)
    for bad in ({"epsilon": 0}, {"epsilon": -1}, {"epsilon": 1, "delta": 2},
                {"epsilon": 1, "colour": 1}, {"epsilon": 1, "encoding_share": 1.5}, 3):
        with pytest.raises(InvalidParameterError):
            dp_plan(bad, 100)
