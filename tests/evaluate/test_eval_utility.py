"""Utility metrics: TSTR / TRTR against an independent LightGBM run, tasks, bad targets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lookalike.errors import InvalidDataError
from lookalike.evaluate import EvaluationConfig, evaluate
from lookalike.evaluate import utility as U

UTILITY = EvaluationConfig(metrics=("utility", "regression"), regression_seeds=3,
                           regression_rows=400)


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    """Numbers as numbers, everything else as pandas categories (what a user would do)."""
    out = df.copy()
    for col in df:
        num = pd.to_numeric(df[col], errors="coerce")
        out[col] = num if num.notna().sum() == df[col].notna().sum() else df[col].astype(
            "category")
    return out


def test_tstr_auc_matches_an_independent_lightgbm_run(train, fresh, holdout):
    import lightgbm as lgb
    from sklearn.metrics import roc_auc_score

    res = evaluate(train, fresh, holdout, target="income",
                   config=EvaluationConfig(metrics=("utility",)))
    x_syn, x_hold = _typed(fresh), _typed(holdout)
    model = lgb.LGBMClassifier(random_state=0, n_jobs=1, verbose=-1)
    model.fit(x_syn.drop(columns="income"), fresh["income"])
    proba = model.predict_proba(x_hold.drop(columns="income"))
    auc = roc_auc_score(holdout["income"] == ">50K", proba[:, list(model.classes_).index(">50K")])
    assert res.summary["tstr_auc"] == pytest.approx(auc, abs=0.005)
    assert res.summary["utility_gap"] == pytest.approx(
        res.summary["trtr_auc"] - res.summary["tstr_auc"])
    assert 0.8 < res.summary["trtr_auc"] < 1.0
    assert res.summary["importance_spearman"] > 0.5
    assert res.metrics["meta"]["skipped"]["tstr_r2"] == "the target is a classification task"


def test_numeric_target_is_a_regression_task(train, fresh, holdout):
    res = evaluate(train, fresh, holdout, target="hours-per-week", config=UTILITY)
    s = res.summary
    assert res.metrics["meta"]["task"] == "regression"
    assert s["tstr_auc"] is None and s["tstr_r2"] is not None and s["trtr_mae"] > 0
    assert s["utility_gap"] == pytest.approx(s["trtr_r2"] - s["tstr_r2"])
    assert s["regression_mad_real"] > 0 and 0 <= s["regression_pvalue"] <= 1


def test_multiclass_target_uses_one_vs_one_auc(train, fresh, holdout):
    res = evaluate(train.iloc[:1500], fresh.iloc[:1500], holdout.iloc[:1000],
                   target="relationship", config=UTILITY)
    s = res.summary
    assert 0.6 < s["tstr_auc"] <= 1.0 and 0.6 < s["trtr_auc"] <= 1.0
    assert s["regression_pvalue"] is None
    assert "classes" in res.metrics["meta"]["skipped"]["regression_pvalue"]


def test_regression_protocol_welch_test():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=600), "c": rng.choice(list("abc"), 600)})
    df["y"] = 2 * df["x"] + (df["c"] == "a") + rng.normal(scale=0.5, size=600)
    kinds = {"x": "numeric", "c": "categorical", "y": "numeric"}
    same = U.regression_protocol(df[:400], df[:400], df[400:], "y", kinds, seeds=4, rows=200)
    assert same["mad_real_mean"] == pytest.approx(same["mad_synthetic_mean"])
    assert same["pvalue"] == 1.0
    noise = df[:400].assign(y=rng.permutation(df["y"][:400].to_numpy()))
    worse = U.regression_protocol(df[:400], noise, df[400:], "y", kinds, seeds=4, rows=200)
    assert worse["mad_synthetic_mean"] > worse["mad_real_mean"] and worse["pvalue"] < 0.01


def test_constant_or_missing_target_is_a_clear_error(train, fresh):
    const = train.assign(income="<=50K")
    with pytest.raises(InvalidDataError, match="constant"):
        evaluate(const, fresh, fresh, target="income", config=UTILITY)
    with pytest.raises(InvalidDataError, match="'nope' is not in the real table"):
        evaluate(train, fresh, fresh, target="nope", config=UTILITY)
    empty = train.assign(income=None)
    with pytest.raises(InvalidDataError, match="entirely missing"):
        evaluate(empty, fresh.assign(income=None), target="income", config=UTILITY)


def test_single_class_synthetic_target_gives_chance_auc(train, fresh, holdout):
    res = evaluate(train, fresh.assign(income="<=50K"), holdout, target="income",
                   config=EvaluationConfig(metrics=("utility",)))
    assert res.summary["tstr_auc"] == 0.5
    assert any("single class" in n for n in res.metrics["meta"]["notes"])
