"""Fixtures shared by the model tests that train small deep generators."""

from __future__ import annotations

import pandas as pd
import pytest


@pytest.fixture(scope="session")
def adult_1k(adult_train: pd.DataFrame) -> pd.DataFrame:
    """The first 1,000 training rows of UCI Adult."""
    return adult_train.iloc[:1000].reset_index(drop=True)


@pytest.fixture(scope="module")
def torch_one_thread():
    """Torch on one thread for the module's tests (fits stay reproducible and do not fight
    over a small machine's cores); the former setting is restored afterwards."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
