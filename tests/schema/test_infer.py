import numpy as np
import pandas as pd
import pytest

from lookalike.errors import InvalidDataError, InvalidParameterError
from lookalike.schema import ColumnSpec, Schema, infer


def kinds(schema):
    return {c.name: (c.kind, c.dtype) for c in schema}


def test_adult_kinds(adult_small):
    s = kinds(infer(adult_small))
    assert s["age"] == ("numeric", "int")
    assert s["workclass"] == ("categorical", "string")
    assert s["income"] == ("categorical", "string")
    assert s["fnlwgt"] == ("numeric", "int")


def test_typed_frame():
    n = 40
    df = pd.DataFrame({
        "id": np.arange(1000, 1000 + n),
        "flag": [True, False] * (n // 2),
        "score": np.round(np.linspace(-3.25, 9.5, n), 3),
        "kids": [0, 1, 2, 3] * (n // 4),
        "when": pd.date_range("1960-01-01", periods=n, freq="D"),
    })
    s = infer(df)
    assert kinds(s) == {
        "id": ("identifier", "int"), "flag": ("categorical", "bool"),
        "score": ("numeric", "float"), "kids": ("categorical", "int"),
        "when": ("datetime", "datetime"),
    }
    assert s["score"].decimals == 3


def test_text_columns():
    n = 60
    df = pd.DataFrame({
        "date": [f"2021-03-{d:02d}" for d in range(1, 31)] * 2,
        "eu": [f"{d:02d}.04.1965" for d in range(1, 31)] * 2,
        "code": [f"AB-{i:04d}" for i in range(n)],
        "name": [f"Person {'x' * (i % 7)} {i}" for i in range(n)],
        "city": ["Wien", "Graz", "Linz"] * 20,
        "money": [f"{i}.50" for i in range(n)],
    })
    s = infer(df)
    assert s["date"].kind == "datetime" and s["date"].datetime_format == "%Y-%m-%d"
    assert s["eu"].datetime_format == "%d.%m.%Y"
    assert s["code"].kind == "identifier"
    assert s["name"].kind == "text" and s["name"].text_mode == "exclude"
    assert s["city"].kind == "categorical"
    assert s["money"].kind == "numeric" and s["money"].decimals == 2


def test_problems_are_all_listed():
    df = pd.DataFrame({
        "empty": [None] * 30,
        "mixed": [str(i) for i in range(29)] + ["abc"],
        "ok": ["a", "b"] * 15,
    })
    with pytest.raises(InvalidDataError) as info:
        infer(df)
    text = str(info.value)
    assert "'empty' is entirely missing" in text
    assert "'mixed' has mixed types" in text and "the first 'abc' in data row 30." in text
    assert len(info.value.problems) == 2


def test_infinite_values_are_reported():
    df = pd.DataFrame({"x": [1.0, np.inf] + [2.0] * 10})
    with pytest.raises(InvalidDataError, match="infinite"):
        infer(df)


def test_json_round_trip_and_overrides(adult_small):
    s = infer(adult_small)
    assert Schema.from_json(s.to_json()) == s
    s2 = s.with_overrides({"education-num": {"kind": "categorical"},
                           "fnlwgt": {"lower": 0, "upper": 2_000_000}})
    assert s2["education-num"].kind == "categorical"
    assert s2["fnlwgt"].upper == 2_000_000 and s2["fnlwgt"].kind == "numeric"
    with pytest.raises(InvalidParameterError, match="not in the data"):
        s.with_overrides({"nope": {"kind": "numeric"}})
    with pytest.raises(InvalidParameterError, match="kind must be one of"):
        s.with_overrides({"age": {"kind": "float"}})
    with pytest.raises(InvalidParameterError, match="unknown schema option"):
        Schema.from_dict({"columns": [{"name": "a", "kind": "numeric", "colour": 1}]})


def test_spec_validation():
    with pytest.raises(InvalidParameterError, match="text_mode"):
        ColumnSpec("t", "text", "string")
    with pytest.raises(InvalidParameterError, match="clip_quantiles"):
        ColumnSpec("x", "numeric", "float", clip_quantiles=(0.9, 0.1))
    with pytest.raises(InvalidParameterError, match="duplicate"):
        Schema((ColumnSpec("a", "numeric", "float"), ColumnSpec("a", "numeric", "float")))


def test_constant_kind_is_declared_with_its_value():
    s = Schema((ColumnSpec("a", "numeric", "float"), ColumnSpec("k", "categorical", "int")))
    declared = s.with_overrides({"k": {"kind": "constant", "value": 3}})
    assert declared["k"] == ColumnSpec("k", "constant", "int", value=3)
    assert not declared["k"].modelled and [c.name for c in declared.modelled] == ["a"]
    assert Schema.from_json(declared.to_json()) == declared
    assert ColumnSpec.from_dict({"name": "c", "kind": "constant", "value": True}).dtype == "bool"
    with pytest.raises(InvalidParameterError, match="'k': kind 'constant' needs the value"):
        s.with_overrides({"k": {"kind": "constant"}})
    with pytest.raises(InvalidParameterError, match=r"constant value 'x' is not a int"):
        s.with_overrides({"k": {"kind": "constant", "value": "x"}})
    with pytest.raises(InvalidParameterError, match="'value' is only for kind 'constant'"):
        ColumnSpec("a", "numeric", "float", value=1.0)


def free_text_frame(n_frequent: int) -> pd.DataFrame:
    """60 distinct notes over 80 rows (free text by shape); ``n_frequent`` of them occur 5
    times each, the rest once."""
    frequent = [f"note {i} about the visit" for i in range(n_frequent) for _ in range(5)]
    once = [f"unique remark number {i}" for i in range(80 - len(frequent))]
    return pd.DataFrame({"note": frequent + once, "group": ["a", "b"] * 40})


def test_free_text_mostly_unique_is_excluded_with_a_warning(caplog):
    # inference says so at INFO (a config may still declare the column); the encoder's fit
    # warns when the column stays excluded (tests/test_synthesizer.py)
    with caplog.at_level("INFO", logger="lookalike.schema.infer"):
        spec = infer(free_text_frame(3))["note"]  # 15 of 80 rows are frequent values
    assert (spec.kind, spec.text_mode, spec.modelled) == ("text", "exclude", False)
    assert ("column 'note' looks like free text (68 distinct values in 80 rows): it is "
            "excluded from modelling and written back empty. Declare it categorical to keep "
            "it.") in caplog.text


def test_repetitive_free_text_is_modelled_as_categorical(caplog):
    with caplog.at_level("WARNING", logger="lookalike.schema.infer"):
        spec = infer(free_text_frame(8))["note"]  # 40 of 80 rows: the default keeps it
    assert (spec.kind, spec.text_mode, spec.modelled) == ("text", "categorical", True)
    assert "free text" not in caplog.text
