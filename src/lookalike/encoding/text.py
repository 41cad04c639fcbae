"""Free-text columns.

``text_mode="categorical"`` columns are encoded by :class:`CategoricalEncoder` (rare values
merged into ``_RARE_``). ``text_mode="exclude"`` columns are not modelled at all: the
synthetic table has the column, entirely missing (so downstream code finds the columns it
expects), and fitting logs a warning naming it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lookalike.schema.spec import ColumnSpec


class ExcludedTextEncoder:
    """Placeholder for an excluded free-text column: emits missing values only."""

    kind = "text"

    def __init__(self, spec: ColumnSpec) -> None:
        self.spec = spec

    def prepare(self, values: pd.Series) -> pd.Series:
        return values

    def fit(self, values: pd.Series) -> ExcludedTextEncoder:
        self.stats_ = None
        return self

    def generate(self, n: int, rng: np.random.Generator) -> pd.Series:
        return pd.Series([None] * n, dtype=object)

    def get_state(self) -> tuple[dict, dict]:
        return {}, {}

    @classmethod
    def from_state(cls, spec: ColumnSpec, meta: dict, arrays: dict) -> ExcludedTextEncoder:
        enc = cls(spec)
        enc.stats_ = None
        return enc
