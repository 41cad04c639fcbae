"""Constant columns (``kind="constant"``): declared by the user, never modelled.

A column that holds one value in every row teaches a generator nothing, and under
differential privacy its value would be a data-derived release. By default fitting such a
column is an error (:meth:`lookalike.Synthesizer.fit` names the column, its value and the
fix); declaring it in the schema or config (``{kind: constant, value: ...}``) makes the value
public metadata, like declared categories or bounds: it costs no privacy budget, and every
synthetic row gets it verbatim, cast to the column's dtype. Fitting checks that the training
column holds exactly the declared value in every row (no other value, no missing cell).

>>> import pandas as pd
>>> from lookalike.schema import ColumnSpec
>>> enc = ConstantEncoder(ColumnSpec("country", "constant", "string", value="AT"))
>>> enc.fit(pd.Series(["AT"] * 3)).generate(2, None).tolist()
['AT', 'AT']
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lookalike.errors import InvalidDataError
from lookalike.schema.spec import ColumnSpec


def _same(values: pd.Series, value: Any, dtype: str) -> pd.Series:
    """Which cells of ``values`` equal ``value`` under the column's dtype (missing -> False)."""
    if dtype in ("int", "float"):
        return pd.to_numeric(values, errors="coerce") == float(value)
    if dtype == "bool":
        def truth(v: Any) -> str:
            return {"1": "true", "0": "false"}.get(str(v).lower(), str(v).lower())

        return values.map(lambda v: not pd.isna(v) and truth(v) == truth(value)).astype(bool)
    return values.map(lambda v: not pd.isna(v) and str(v) == str(value)).astype(bool)


class ConstantEncoder:
    """Emits the declared value of a constant column in every row."""

    kind = "constant"

    def __init__(self, spec: ColumnSpec) -> None:
        self.spec = spec

    def prepare(self, values: pd.Series) -> pd.Series:
        return values

    def fit(self, values: pd.Series) -> ConstantEncoder:
        spec = self.spec
        differ = ~_same(values, spec.value, spec.dtype)
        if differ.any():
            bad = values[differ]
            example = "a missing cell" if pd.isna(bad.iloc[0]) else repr(bad.iloc[0])
            raise InvalidDataError(
                f"column {spec.name!r} is declared constant ({spec.value!r}) but "
                f"{int(differ.sum())} row(s) hold something else (e.g. {example}): remove the "
                "declaration to model the column, or fix the data.")
        self.stats_ = None
        return self

    def generate(self, n: int, rng: np.random.Generator | None) -> pd.Series:
        value, dtype = self.spec.value, self.spec.dtype
        if dtype == "int":
            return pd.Series(np.full(n, int(float(value)), dtype=np.int64))
        if dtype == "float":
            return pd.Series(np.full(n, float(value)))
        if dtype == "bool":
            return pd.Series(np.full(n, str(value).lower() in ("true", "1")))
        return pd.Series([str(value)] * n, dtype=object)

    def get_state(self) -> tuple[dict, dict]:
        return {}, {}

    @classmethod
    def from_state(cls, spec: ColumnSpec, meta: dict, arrays: dict) -> ConstantEncoder:
        enc = cls(spec)
        enc.stats_ = None
        return enc
