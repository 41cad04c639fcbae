"""Round trips of every encoder kind through both views, and the privacy protections."""

import numpy as np
import pandas as pd
import pytest

from lookalike.encoding import Protection, TableEncoder
from lookalike.schema import infer

NO_PROTECTION = Protection(rare_k=1, clip_quantiles=(0.0, 1.0))


def roundtrip(df, protection=NO_PROTECTION, schema=None):
    schema = schema or infer(df, rare_k=protection.rare_k)
    enc = TableEncoder(schema, protection).fit(df)
    canonical = enc.prepare(df)
    rng = np.random.default_rng(0)
    cont = enc.finish(enc.decode_continuous(enc.encode_continuous(canonical)), rng)
    tok = enc.finish(enc.decode_tokens(enc.encode_tokens(canonical), rng), rng)
    return enc, cont, tok


def assert_same(a: pd.Series, b: pd.Series):
    a = a.reset_index(drop=True)
    b = b.reset_index(drop=True)
    both_missing = a.isna() & b.isna()
    assert ((a == b) | both_missing).all(), pd.DataFrame({"in": a, "out": b})[~((a == b) | both_missing)]


def test_numeric_round_trip_exact():
    rng = np.random.default_rng(1)
    n = 500
    df = pd.DataFrame({
        "int": rng.integers(-5000, 900000, n),
        "neg": np.round(rng.normal(-20, 5, n), 3),
        "small": rng.integers(0, 40, n).astype(float),
    })
    df.loc[::7, "small"] = np.nan
    df["small"] = df["small"].astype("Int64")
    _, cont, tok = roundtrip(df)
    for col in df.columns:
        assert_same(df[col], cont[col])
        assert_same(df[col], tok[col])
    assert cont["int"].dtype == np.int64 and str(tok["small"].dtype) == "Int64"
    assert cont["small"].isna().sum() == df["small"].isna().sum()


def test_full_precision_float_round_trip():
    x = np.random.default_rng(2).normal(size=300) * np.pi
    df = pd.DataFrame({"x": x})
    enc, cont, tok = roundtrip(df, schema=infer(df).replace_column("x", decimals=None))
    np.testing.assert_allclose(cont["x"], x, rtol=1e-12)
    step = enc.encoders["x"].stats.step
    assert np.abs(tok["x"] - x).max() <= step


def test_categorical_round_trip_unicode_missing_and_types():
    n = 200
    df = pd.DataFrame({
        "city": (["Zürich", "東京", "São Paulo", "Wien"] * 50)[:n],
        "flag": ([True, False] * 100)[:n],
        "level": ([1, 2, 3] * 67)[:n],
    })
    df.loc[::9, "city"] = None
    _, cont, tok = roundtrip(df)
    for col in df.columns:
        assert_same(df[col], cont[col])
        assert_same(df[col], tok[col])
    assert cont["flag"].dtype == bool and cont["level"].dtype == np.int64


def test_datetime_round_trip_before_1970_and_times():
    days = pd.to_datetime("1931-02-27") + pd.to_timedelta(np.arange(0, 40000, 97), unit="D")
    stamps = pd.to_datetime("1965-06-30 23:59:58") + pd.to_timedelta(
        np.arange(len(days)) * 7919, unit="s")
    df = pd.DataFrame({"day": days.strftime("%d/%m/%Y"), "ts": stamps})
    df.loc[::11, "day"] = None
    enc, cont, tok = roundtrip(df)
    assert enc.schema["day"].datetime_format == "%d/%m/%Y"
    assert_same(df["day"], cont["day"])
    assert_same(df["day"], tok["day"])
    assert_same(df["ts"], cont["ts"])
    assert_same(df["ts"], tok["ts"])


def test_rare_categories_are_never_emitted():
    df = pd.DataFrame({
        "job": ["a"] * 50 + ["b"] * 30 + ["rare1"] * 2 + ["rare2"] * 3,
        "kids": [0] * 40 + [1] * 40 + [7] * 5,
        "n": list(range(85)),
    })
    schema = infer(df).replace_column("kids", kind="categorical", dtype="int")
    enc, cont, tok = roundtrip(df, Protection(rare_k=5), schema=schema)
    assert set(cont["job"]) == {"a", "b", "_RARE_"}
    assert enc.encoders["job"].stats.n_rare_merged == 5
    assert "rare1" not in str(enc.get_state()[0])
    assert set(cont["kids"]) == {0, 1, 7}
    df2 = df.assign(kids=[0] * 40 + [1] * 42 + [9] * 3)
    _, cont2, _ = roundtrip(df2, Protection(rare_k=5), schema=schema)
    assert set(cont2["kids"]) == {0, 1}  # 9 merged into the nearest frequent value


def test_extremes_are_clipped_to_k_th_value():
    x = np.concatenate([np.arange(1, 101), [10_000]])
    df = pd.DataFrame({"x": x})
    enc, cont, tok = roundtrip(df, Protection(rare_k=5, clip_quantiles=(0.0, 1.0)))
    stats = enc.encoders["x"].stats
    assert stats.upper == 97 and stats.lower == 5
    assert cont["x"].max() == 97 and tok["x"].min() == 5
    assert "10000" not in str(enc.get_state())


def test_declared_bounds_and_categories():
    df = pd.DataFrame({"x": np.arange(50.0) * 2, "c": ["a", "b"] * 25})
    schema = infer(df).replace_column("x", lower=0, upper=80)
    with pytest.raises(Exception, match="outside the declared bounds"):
        TableEncoder(schema).fit(df)
    schema = infer(df).replace_column("c", categories=("a",))
    with pytest.raises(Exception, match="not in the declared categories"):
        TableEncoder(schema).fit(df)


def test_state_round_trip(adult_small):
    enc = TableEncoder(infer(adult_small)).fit(adult_small)
    meta, arrays = enc.get_state()
    enc2 = TableEncoder.from_state(enc.schema, meta, arrays)
    can = enc.prepare(adult_small)
    np.testing.assert_array_equal(enc.encode_tokens(can), enc2.encode_tokens(can))
    np.testing.assert_array_equal(enc.encode_continuous(can), enc2.encode_continuous(can))
    assert enc.segments == enc2.segments and enc.token_slots == enc2.token_slots


def test_identifiers_regenerated_fresh():
    df = pd.DataFrame({"key": [f"N{i:05d}X" for i in range(100)], "v": ["a", "b"] * 50})
    enc = TableEncoder(infer(df)).fit(df)
    out = enc.finish(enc.decode_tokens(enc.encode_tokens(enc.prepare(df)),
                                       np.random.default_rng(0)), np.random.default_rng(1))
    keys = out["key"]
    assert keys.is_unique and keys.str.match(r"^N\d{5}X$").all()
    assert "N00001X" not in str(enc.get_state())
