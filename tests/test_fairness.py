"""Fair generation (demographic parity by conditional tilting) and the parity measure."""

import numpy as np
import pandas as pd
import pytest

from lookalike import Synthesizer
from lookalike.errors import InvalidParameterError
from lookalike.fairness import parity_gap, parity_tilt


def test_tilt_equalises_group_means_and_keeps_the_overall_mean():
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 3, 2000)
    logits = rng.normal(size=(2000, 4)) + groups[:, None] * np.array([0.0, 0.5, 1.0, -1.0])
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    w = parity_tilt(probs, groups)
    tilted = probs * w[groups]
    tilted /= tilted.sum(axis=1, keepdims=True)
    goal = probs.mean(axis=0)
    for g in range(3):
        assert np.allclose(tilted[groups == g].mean(axis=0), goal, atol=1e-5)
    # already fair: the weights are (up to scale) one, and the rows are unchanged
    flat = np.tile([0.25, 0.25, 0.5], (30, 1))
    w = parity_tilt(flat, np.arange(30) % 2)
    assert np.allclose(w / w[:, :1], 1.0)


def test_tilt_keeps_the_ranking_within_a_group():
    """The tilt is a per-group reweighting of categories: rows of a group keep their order
    of P(y = k) (a model trained on fair data still learns from the other columns)."""
    rng = np.random.default_rng(1)
    p1 = rng.uniform(0.05, 0.95, 500)
    probs = np.column_stack([1 - p1, p1])
    groups = (p1 > 0.5).astype(int) | rng.integers(0, 2, 500)
    w = parity_tilt(probs, groups)
    tilted = probs * w[groups]
    tilted /= tilted.sum(axis=1, keepdims=True)
    for g in (0, 1):
        rows = groups == g
        order = np.argsort(p1[rows])
        assert np.all(np.diff(tilted[rows, 1][order]) >= -1e-12)


def test_parity_gap():
    df = pd.DataFrame({"y": ["a", "b"] * 50, "s": ["m"] * 50 + ["f"] * 50})
    assert parity_gap(df, "y", "s")["gap"] == 0.0
    df = pd.DataFrame({"y": ["a"] * 50 + ["b"] * 50, "s": ["m"] * 50 + ["f"] * 50})
    out = parity_gap(df, "y", "s")
    assert out["gap"] == 1.0 and out["group_sizes"] == {"m": 50, "f": 50}
    with pytest.raises(InvalidParameterError, match="'z' is not in the table"):
        parity_gap(df, "z", "s")


@pytest.fixture(scope="module")
def fitted(adult_small):
    return Synthesizer("autoregressive", random_state=0, target="income", max_epochs=8,
                       hidden=32).fit(adult_small)


def test_fair_sample_removes_the_parity_gap(fitted, adult_small):
    real_gap = parity_gap(adult_small, "income", "sex")["gap"]
    assert real_gap > 0.15  # women earn >50K far less often in Adult
    plain = fitted.sample(20_000, seed=1)
    fair = fitted.sample(20_000, seed=1, fairness={"target": "income", "sensitive": "sex"})
    assert parity_gap(plain, "income", "sex")["gap"] > 0.1
    assert parity_gap(fair, "income", "sex")["gap"] < 0.04
    # the other columns are drawn as usual: sex and the features keep their shares
    assert abs((fair["sex"] == "Female").mean() - (plain["sex"] == "Female").mean()) < 0.03
    # the overall rate of the target is kept
    assert abs((fair["income"] == ">50K").mean() - (plain["income"] == ">50K").mean()) < 0.03
    # ... and within a group it still follows the features (education predicts income)
    women = fair[fair["sex"] == "Female"]
    rate = women.groupby(women["education"].isin(["Bachelors", "Masters", "Doctorate"]))[
        "income"].apply(lambda s: (s == ">50K").mean())
    assert rate[True] > rate[False] + 0.02  # 0.05 measured; sd of the difference ~0.012
    info = fitted.last_sample_info_["fairness"]
    assert info["target"] == "income" and info["sensitive"] == "sex"
    # the short form uses the Synthesizer's target; a seed makes it reproducible
    again = fitted.sample(500, seed=2, fairness="sex")
    pd.testing.assert_frame_equal(again, fitted.sample(500, seed=2, fairness="sex"))


def test_fairness_bad_input(fitted, adult_small):
    with pytest.raises(InvalidParameterError, match="not categorical"):
        fitted.sample(10, fairness={"target": "income", "sensitive": "age"})
    with pytest.raises(InvalidParameterError, match="does not exist"):
        fitted.sample(10, fairness={"target": "income", "sensitive": "gender"})
    with pytest.raises(InvalidParameterError, match="both 'sex'"):
        fitted.sample(10, fairness={"target": "sex", "sensitive": "sex"})
    with pytest.raises(InvalidParameterError, match="must be"):
        fitted.sample(10, fairness={"sensitiv": "sex"})
    with pytest.raises(InvalidParameterError, match="cannot be combined"):
        fitted.sample(10, fairness="sex", balance="sex")
    lin = Synthesizer("independent", random_state=0).fit(adult_small.iloc[:500])
    with pytest.raises(InvalidParameterError, match="needs a target column"):
        lin.sample(10, fairness="sex")
    with pytest.raises(InvalidParameterError, match="cannot. Use generator='autoregressive'"):
        lin.sample(10, fairness={"target": "income", "sensitive": "sex"})
