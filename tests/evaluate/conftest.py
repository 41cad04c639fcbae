"""Fixtures for the evaluation tests: small Adult slices and synthetic stand-ins.

The stand-ins have known answers: ``fresh`` (real rows the "generator" never saw) is what a
perfect generator would produce, ``shuffled`` (the training rows in another order) is a perfect
copy, ``independent`` (each column permuted on its own) keeps every marginal but no
relationship, and ``copies30`` copies 30% of its rows from the training table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lookalike.evaluate import EvaluationConfig

FAST = EvaluationConfig(
    regression_seeds=3,
    regression_rows=500,
    discriminator_rows=1500,
    privacy_rows=2000,
    n_folds=3,
)


@pytest.fixture(scope="session")
def fast_config() -> EvaluationConfig:
    return FAST


@pytest.fixture(scope="session")
def train(adult_train: pd.DataFrame) -> pd.DataFrame:
    return adult_train.iloc[:3000].reset_index(drop=True)


@pytest.fixture(scope="session")
def holdout(adult_test: pd.DataFrame) -> pd.DataFrame:
    return adult_test.iloc[:2000].reset_index(drop=True)


@pytest.fixture(scope="session")
def fresh(adult_train: pd.DataFrame) -> pd.DataFrame:
    return adult_train.iloc[10_000:13_000].reset_index(drop=True)


@pytest.fixture(scope="session")
def shuffled(train: pd.DataFrame) -> pd.DataFrame:
    return train.sample(frac=1.0, random_state=0).reset_index(drop=True)


@pytest.fixture(scope="session")
def independent(train: pd.DataFrame) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame({c: train[c].to_numpy()[rng.permutation(len(train))] for c in train})


@pytest.fixture(scope="session")
def copies30(train: pd.DataFrame, fresh: pd.DataFrame) -> pd.DataFrame:
    copied = train.sample(n=900, random_state=2)
    return pd.concat([copied, fresh.iloc[:2100]]).sample(frac=1.0, random_state=3).reset_index(
        drop=True)


@pytest.fixture(scope="session")
def fresh_result(train, fresh, holdout):
    """One full evaluation (every metric group) shared by the tests that only read it."""
    from lookalike.evaluate import evaluate

    return evaluate(train, fresh, holdout, target="income",
                    quasi_identifiers=["age", "sex", "race"], config=FAST)
