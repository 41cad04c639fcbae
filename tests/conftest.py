"""Shared fixtures: small slices of the real datasets in ../shared/datasets."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(
    __import__("os").environ.get("LOOKALIKE_DATASETS", ROOT.parent / "shared" / "datasets")
)


def dataset_path(*parts: str) -> Path:
    path = DATASETS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"dataset {path} is not available")
    return path


@pytest.fixture(scope="session")
def adult_train() -> pd.DataFrame:
    from lookalike.io import read_table

    return read_table(dataset_path("adult", "train.csv"))


@pytest.fixture(scope="session")
def adult_small(adult_train: pd.DataFrame) -> pd.DataFrame:
    return adult_train.iloc[:3000].reset_index(drop=True)


@pytest.fixture(scope="session")
def adult_test() -> pd.DataFrame:
    from lookalike.io import read_table

    return read_table(dataset_path("adult", "test.csv"))
