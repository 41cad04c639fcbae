"""Fidelity metrics: closed-form cases, the mostlyai-qa binning, SDMetrics agreement."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from lookalike.evaluate import evaluate, prepare
from lookalike.evaluate import fidelity as F
from lookalike.evaluate.core import EvaluationConfig

FIDELITY_ONLY = EvaluationConfig(metrics=("fidelity", "discriminator"), discriminator_rows=1500,
                                 n_folds=3)


def test_ks_and_tvd_closed_form():
    a = np.arange(10.0)
    assert F.ks_statistic(a, a) == 0.0
    assert F.ks_statistic(a, a + 5) == pytest.approx(0.5)
    assert F.ks_statistic(a, np.array([])) == 1.0
    assert F.total_variation(np.array([3, 1]), np.array([1, 3])) == pytest.approx(0.5)
    assert F.total_variation(np.array([5, 0]), np.array([0, 7])) == pytest.approx(1.0)


def test_column_metrics_scores_and_missing():
    real = pd.DataFrame({"x": [1.0, 2, 3, 4, np.nan, 6, 7, 8, 9, 10],
                         "c": ["a"] * 5 + ["b"] * 4 + [np.nan]})
    syn = pd.DataFrame({"x": [1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10],
                        "c": ["a"] * 10})
    cols = {m["column"]: m for m in F.column_metrics(real, syn, {"x": "numeric",
                                                                 "c": "categorical"})}
    assert cols["x"]["missing_diff"] == pytest.approx(0.1)
    assert cols["x"]["score"] == pytest.approx((1 - cols["x"]["ks"]) * 0.9)
    # categorical: TVD counts missing as a value: real a .5 b .4 nan .1 vs synth a 1.0
    assert cols["c"]["tvd"] == pytest.approx(0.5)
    assert cols["c"]["categories_unseen"] == 0


def test_pair_metrics_correlation_and_associations():
    rng = np.random.default_rng(0)
    x = rng.normal(size=500)
    c = np.where(x > 0, "hi", "lo")
    real = pd.DataFrame({"x": x, "y": x, "c": c, "d": c})
    anti = pd.DataFrame({"x": x, "y": -x, "c": c, "d": np.where(c == "hi", "lo", "hi")})
    kinds = {"x": "numeric", "y": "numeric", "c": "categorical", "d": "categorical"}
    pairs, total = F.pair_metrics(real, anti, kinds)
    by = {tuple(p["columns"]): p for p in pairs}
    assert total == 6
    assert by[("x", "y")]["score"] == pytest.approx(0.0)  # rho 1 vs -1
    assert by[("x", "y")]["informative"]
    assert by[("c", "d")]["assoc_real"] == pytest.approx(1.0)  # Cramér's V of a copy
    assert by[("c", "d")]["assoc_synthetic"] == pytest.approx(1.0)
    assert by[("c", "d")]["contingency_tvd"] == pytest.approx(1.0)
    assert by[("x", "c")]["association"] == "correlation_ratio"
    assert 0.7 < by[("x", "c")]["assoc_real"] <= 1.0
    same, _ = F.pair_metrics(real, real, kinds)
    assert all(p["score"] == pytest.approx(1.0) for p in same)


def test_fidelity_score_uses_informative_pairs_only():
    cols = [{"score": 1.0}]
    pairs = [{"score": 0.5, "informative": True}, {"score": 1.0, "informative": False}]
    out = F.fidelity_score(cols, pairs)
    assert out["fidelity"] == pytest.approx(0.75)
    assert out["pair_fidelity_all"] == pytest.approx(0.75)
    assert F.fidelity_score(cols, [pairs[1]])["fidelity"] == 1.0


def test_qa_binning_follows_mostlyai_qa():
    # <= 10 distinct values: one bin per value (plus n/a)
    (codes, _), n = F.qa_bin_numeric(np.array([1.0, 2, 2, 3, np.nan]), [np.array([2.0])])
    assert n == 4 and codes.tolist() == [0, 1, 1, 2, 3]
    # many values: 10 quantile-like bins, synthetic clipped into the original range
    x = np.arange(1000.0)
    (co, cs), n = F.qa_bin_numeric(x, [np.array([-50.0, 5000.0])])
    assert n == 11 and np.bincount(co).max() <= 120
    assert cs.tolist() == [0, 9]
    # categorical: top values with >= 5 rows, the rest (other), _RARE_ its own bin (the
    # synthetic placeholder never matches the real (other) values), missing (n/a)
    s = pd.Series(["a"] * 6 + ["b"] * 4 + [None])
    (co, cs), n = F.qa_bin_categorical(s, [pd.Series(["a", "z", None, "_RARE_"])])
    assert n == 5  # a, (empty), (other), _RARE_, (n/a)
    assert co[:6].tolist() == [0] * 6 and co[6] == co[9] == 2 and co[10] == 4
    assert cs.tolist() == [0, 2, 4, 3]


def test_qa_accuracy_hand_computed():
    orig = pd.DataFrame({"c": ["a"] * 50 + ["b"] * 50})
    syn = pd.DataFrame({"c": ["a"] * 70 + ["b"] * 30})
    res = F.qa_accuracy(orig, syn, {"c": "categorical"})
    assert res["univariate"] == pytest.approx(0.8)  # 1 - (0.2 + 0.2) / 2
    assert res["bivariate"] is None and res["accuracy"] == pytest.approx(0.8)


def test_qa_accuracy_matches_mostlyai_qa_package(train, fresh):
    qa = pytest.importorskip("mostlyai.qa._accuracy")
    d = prepare(train, fresh)
    ours = F.qa_accuracy(d.train, d.synthetic, d.kinds)
    ori_bin, bins = qa.bin_data(d.train, bins=10)
    syn_bin, _ = qa.bin_data(d.synthetic, bins=bins)
    ori_bin.columns = ["tgt::" + c for c in ori_bin.columns]
    syn_bin.columns = ["tgt::" + c for c in syn_bin.columns]
    uni = qa.calculate_univariates(ori_bin, syn_bin)["accuracy"].mean()
    biv = qa.calculate_bivariates(ori_bin, syn_bin)["accuracy"].mean()
    assert ours["univariate"] == pytest.approx(uni, abs=1e-3)
    assert ours["bivariate"] == pytest.approx(biv, abs=1e-3)
    if hasattr(qa, "calculate_trivariates"):  # mostlyai-qa >= 1.5
        tri = qa.calculate_trivariates(ori_bin, syn_bin)["accuracy"].mean()
        assert ours["trivariate"] == pytest.approx(tri, abs=1e-3)


def test_real_vs_shuffled_copy_is_indistinguishable(train, shuffled):
    s = evaluate(train, shuffled, config=FIDELITY_ONLY).summary
    assert s["fidelity"] == pytest.approx(1.0, abs=1e-9)
    assert abs(s["discriminator_auc"] - 0.5) < 0.05


def test_independent_columns_drop_clearly(train, independent):
    s = evaluate(train, independent, config=FIDELITY_ONLY).summary
    assert s["column_fidelity"] == pytest.approx(1.0)  # every marginal is intact
    assert s["fidelity"] < 0.93  # ...but the relationships are gone
    assert s["pair_fidelity"] < 0.85
    assert s["discriminator_auc"] > 0.8


@pytest.mark.parametrize("variant", ["independent", "fresh"])
def test_fidelity_agrees_with_sdmetrics_quality_report(variant, train, request):
    reports = pytest.importorskip("sdmetrics.reports.single_table")
    train = train.iloc[:1500]
    synthetic = request.getfixturevalue(variant).iloc[:1500]
    d = prepare(train, synthetic)
    ours = evaluate(train, synthetic, config=EvaluationConfig(metrics=("fidelity",))).summary
    metadata = {"columns": {c: {"sdtype": "categorical" if k == "categorical" else "numerical"}
                            for c, k in d.kinds.items()}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = reports.QualityReport()
        report.generate(d.train, d.synthetic, metadata, verbose=False)
    assert ours["fidelity"] == pytest.approx(report.get_score(), abs=0.02)
