"""evaluate(): the metrics document, bad inputs, gates, mixed types and subsampling."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lookalike.errors import InvalidDataError, InvalidParameterError
from lookalike.evaluate import (
    SUMMARY_KEYS,
    EvaluationConfig,
    Requirement,
    check_requirements,
    evaluate,
    load_metrics,
    parse_requirements,
)


def test_document_has_every_stable_key(fresh_result):
    m = fresh_result.metrics
    assert list(m["summary"]) == list(SUMMARY_KEYS)
    assert {"format_version", "summary", "verdict", "meta", "fidelity", "utility", "privacy",
            "plots"} <= set(m)
    s = m["summary"]
    for key in ("fidelity", "qa_accuracy", "discriminator_auc", "tstr_auc", "trtr_auc",
                "utility_gap", "dcr_share", "mia_auc", "exact_copies", "identifiability",
                "k_anonymity", "regression_pvalue", "importance_spearman"):
        assert s[key] is not None, key
    # every missing summary value says why
    assert set(m["meta"]["skipped"]) == {k for k, v in s.items() if v is None}
    assert 0.9 < s["fidelity"] <= 1.0 and 0.85 < s["qa_accuracy"] <= 1.0
    assert m["verdict"]["fidelity"] == "good" and m["verdict"]["privacy"] == "pass"
    assert m["meta"]["sampling"]["real_train"] == {"rows": 3000, "used": 3000}
    assert set(m["meta"]["timings"]) >= {"prepare", "fidelity", "privacy", "total"}
    json.dumps(m, allow_nan=False)  # strictly valid JSON


def test_save_and_load_round_trip(fresh_result, tmp_path):
    paths = fresh_result.save(tmp_path / "out")
    assert paths["metrics"].name == "metrics.json" and paths["report"].exists()
    again = load_metrics(tmp_path / "out")
    assert again.summary == fresh_result.summary
    (tmp_path / "bad.json").write_text(json.dumps({"format_version": 99, "summary": {}}))
    with pytest.raises(OSError, match="newer than this lookalike"):
        load_metrics(tmp_path / "bad.json")


def test_mismatched_columns_and_empty_tables_are_clear_errors(train, fresh):
    bad = fresh.drop(columns=["age"]).assign(extra=1)
    with pytest.raises(InvalidDataError) as err:
        evaluate(train, bad)
    msg = str(err.value)
    assert "lacks column(s) ['age']" in msg and "['extra']" in msg
    with pytest.raises(InvalidDataError, match="synthetic table is empty"):
        evaluate(train, fresh.iloc[:0])
    with pytest.raises(InvalidDataError) as err:
        evaluate(train.iloc[:0], fresh.iloc[:0])
    assert len(err.value.problems) == 2
    with pytest.raises(InvalidParameterError, match="pandas DataFrame"):
        evaluate(train, "synthetic.csv")


def test_requirements_parse_and_check():
    assert [str(r) for r in parse_requirements(["fidelity>=0.9", "mia_auc < 0.55"])] == [
        "fidelity>=0.9", "mia_auc<0.55"]
    with pytest.raises(InvalidParameterError, match="unknown metric 'fidelty'"):
        Requirement.parse("fidelty>=0.9")
    with pytest.raises(InvalidParameterError, match="KEY>=NUMBER"):
        Requirement.parse("fidelity=0.9")
    with pytest.raises(InvalidParameterError, match="not a number"):
        Requirement.parse("fidelity>=high")
    summary = {"fidelity": 0.85, "dcr_share": 0.5, "mia_auc": None}
    out = check_requirements(summary, ["fidelity>=0.9", "dcr_share<=0.53", "mia_auc<=0.55"],
                             {"mia_auc": "needs a holdout"})
    assert out == ["fidelity>=0.9 failed: fidelity is 0.8500",
                   ("mia_auc<=0.55 could not be checked: mia_auc was not computed "
                   "(needs a holdout)")]


def test_mixed_types_with_datetimes_and_missing_values():
    rng = np.random.default_rng(0)
    n = 400

    def table(seed: int) -> pd.DataFrame:
        r = np.random.default_rng(seed)
        days = r.integers(0, 365, n)
        df = pd.DataFrame({
            "when": (pd.Timestamp("2024-01-01") + pd.to_timedelta(days, unit="D"))
            .strftime("%Y-%m-%d"),
            "amount": r.lognormal(3, 1, n).round(2),
            "kind": r.choice(["a", "b", "c"], n),
            "flag": r.choice([True, False], n),
        })
        df.loc[r.random(n) < 0.1, "amount"] = np.nan
        df.loc[r.random(n) < 0.05, "kind"] = None
        df["amount_big"] = df["amount"] * np.where(df["kind"] == "a", 3, 1)
        return df

    real, syn, hold = table(1), table(2), table(3)
    cfg = EvaluationConfig(regression_seeds=2, regression_rows=200, discriminator_rows=400,
                           privacy_rows=400, n_folds=3)
    res = evaluate(real, syn, hold, target="kind", config=cfg)
    kinds = res.metrics["meta"]["columns"]
    assert kinds["when"] == "datetime" and kinds["amount"] == "numeric"
    assert kinds["flag"] == "categorical"
    s = res.summary
    assert s["fidelity"] > 0.85 and 0.3 < s["discriminator_auc"] < 0.75
    assert s["tstr_auc"] is not None and s["dcr_share"] is not None
    del rng


def test_large_inputs_are_subsampled_and_say_so(train, fresh):
    cfg = EvaluationConfig(max_rows=500, metrics=("fidelity", "qa"))
    res = evaluate(train, fresh, config=cfg)
    sampling = res.metrics["meta"]["sampling"]
    assert sampling["real_train"] == {"rows": 3000, "used": 500}
    assert sampling["synthetic"] == {"rows": 3000, "used": 500}
    # the same seed gives the same numbers
    assert evaluate(train, fresh, config=cfg).summary == res.summary


def test_config_is_validated():
    with pytest.raises(InvalidParameterError, match="'privacy_rows' parameter"):
        EvaluationConfig(privacy_rows=0)
    with pytest.raises(InvalidParameterError, match="'metrics' parameter"):
        EvaluationConfig(metrics=("fidelity", "speed"))
    with pytest.raises(InvalidParameterError, match="'task' parameter"):
        evaluate(pd.DataFrame({"a": range(20)}), pd.DataFrame({"a": range(20)}), task="rank")
