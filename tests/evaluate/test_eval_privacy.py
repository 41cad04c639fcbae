"""Privacy metrics: encoder and neighbour search, copies, QI risk, memorisation detection."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lookalike.evaluate import EvaluationConfig, evaluate
from lookalike.evaluate import privacy as P

PRIVACY = EvaluationConfig(metrics=("privacy",), privacy_rows=2000)


def test_distance_encoder_is_scale_free_and_one_hot():
    df = pd.DataFrame({"x": [1.0, 10.0, 100.0, np.nan], "c": ["a", "b", "a", "a"]})
    enc = P.DistanceEncoder({"x": "numeric", "c": "categorical"}).fit(df)
    m = enc.transform(df)
    assert m.shape == (4, 4)  # cdf, missing indicator, a, b
    assert m[:3, 0].tolist() == pytest.approx([1 / 6, 3 / 6, 5 / 6])  # mid-rank CDF
    # unseen values are interpolated, beyond the range the CDF runs on to 1 over one range
    between = enc.transform(pd.DataFrame({"x": [55.0, 150.0, 1e6], "c": ["a"] * 3}))[:, 0]
    assert between.tolist() == pytest.approx([4 / 6, 5 / 6 + 50 / 99 / 6, 1.0], abs=1e-6)
    assert m[3, :2].tolist() == [0.0, 1.0]
    # two different categories are exactly 1 apart
    assert np.linalg.norm(m[0, 2:] - m[1, 2:]) == pytest.approx(1.0)


@pytest.mark.parametrize("dim", [3, 40])  # KD-tree and chunked brute force
def test_nearest_distances_match_brute_force(dim):
    rng = np.random.default_rng(dim)
    ref = rng.random((300, dim)).astype(np.float32)
    query = rng.random((50, dim)).astype(np.float32)
    got = P.nearest_distances(ref, query, k=2)
    full = np.sqrt(((query[:, None, :] - ref[None, :, :]) ** 2).sum(-1))
    assert got == pytest.approx(np.sort(full, axis=1)[:, :2], abs=1e-5)


def test_exact_copies_and_quasi_identifier_risk():
    train = pd.DataFrame({"zip": ["1", "1", "2", "3"], "age": [30.0, 30.0, 40.0, np.nan],
                          "dx": ["x", "y", "x", "y"]})
    syn = pd.DataFrame({"zip": ["1", "2", "3", "9"], "age": [30.0, 40.0, np.nan, 50.0],
                        "dx": ["x", "y", "y", "x"]})
    ex = P.exact_copies(train, syn, holdout=train.iloc[:1])
    assert ex["count"] == 2 and ex["share"] == 0.5  # rows 0 and 2 (missing equals missing)
    assert ex["holdout_share"] == 1.0
    # pandas' string dtype (the default for text in pandas 3) counts the same
    as_string = {"zip": "string", "dx": "string"}
    assert P.exact_copies(train.astype(as_string), syn.astype(as_string))["count"] == 2
    qi = P.quasi_identifier_risk(train, syn, ["zip", "age"])
    assert qi["k_anonymity"] == 1
    assert qi["singling_out"] == 2  # (2, 40) and (3, nan) each match one real person
    assert qi["unique_real_combinations"] == 2


def test_fresh_rows_show_no_memorisation(fresh_result):
    s = fresh_result.summary
    assert 0.44 < s["dcr_share"] < 0.56
    assert s["mia_auc"] < 0.56
    assert abs(s["identifiability"] - s["identifiability_holdout"]) < 0.05
    assert s["exact_copies"] == 0
    assert s["k_anonymity"] >= 1 and s["qi_copy_share"] > 0.5
    assert fresh_result.verdict["privacy"] == "pass"


def test_copying_30_percent_of_training_rows_is_flagged(train, copies30, holdout):
    res = evaluate(train, copies30, holdout, config=PRIVACY)
    s = res.summary
    assert s["exact_copy_share"] == pytest.approx(0.3, abs=0.01)
    assert s["dcr_share"] > 0.6
    assert s["mia_auc"] > 0.6
    assert s["mia_tpr_at_1pct_fpr"] > 0.2
    assert s["identifiability"] > s["identifiability_holdout"] + 0.04
    assert res.verdict["privacy"] == "fail"
    assert res.check(["dcr_share<=0.53", "mia_auc<=0.55"]) != []


def test_without_holdout_the_holdout_metrics_say_why(train, copies30):
    res = evaluate(train, copies30, config=PRIVACY)
    assert res.summary["dcr_share"] is None and res.summary["mia_auc"] is None
    assert "holdout" in res.metrics["meta"]["skipped"]["dcr_share"]
    assert res.summary["exact_copies"] == 900
    assert res.verdict["privacy"] == "fail"  # the copies alone fail it
    assert res.check(["mia_auc<=0.55"])[0].startswith("mia_auc<=0.55 could not be checked")
