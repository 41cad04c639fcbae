"""Identifier (key) columns: never modelled; regenerated as fresh unique values of the same shape.

* Integer keys: fresh distinct integers with as many digits as the real keys' median.
* Text keys: the shape of the most common key is kept, e.g. ``AB-1234`` -> two upper-case
  letters, a dash, four digits; characters that are the same in *every* key (a constant
  prefix such as ``N`` or ``ID-``) are kept literally. Fresh keys are drawn at random
  within that shape and are distinct within one sample.
No real key is stored in the model file.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lookalike.errors import GenerationError, InvalidDataError
from lookalike.schema.infer import shape_of
from lookalike.schema.spec import ColumnSpec

_CLASSES = {"9": string.digits, "A": string.ascii_uppercase, "a": string.ascii_lowercase}


@dataclass(frozen=True)
class IdentifierStats:
    integer: bool
    n_digits: int
    pattern: tuple[str, ...]  # per position: "9", "A", "a" (class) or "=X" (literal X)


class IdentifierEncoder:
    """Learns the shape of a key column and generates fresh keys."""

    kind = "identifier"
    stats_type = IdentifierStats

    def __init__(self, spec: ColumnSpec) -> None:
        self.spec = spec

    def prepare(self, values: pd.Series) -> pd.Series:
        return values

    def fit(self, values: pd.Series) -> IdentifierEncoder:
        present = values.dropna()
        if len(present) == 0:
            raise InvalidDataError(f"column {self.spec.name!r} is entirely missing; drop it.")
        if self.spec.dtype == "int":
            nums = pd.to_numeric(present, errors="coerce").dropna().abs()
            digits = int(np.median([len(str(int(v))) for v in nums])) if len(nums) else 6
            self.stats_ = IdentifierStats(integer=True, n_digits=max(digits, 1), pattern=())
            return self
        texts = present.astype(str)
        shapes = texts.map(shape_of)
        shape = shapes.value_counts().index[0]
        same = texts[shapes == shape]
        chars = np.array([list(v) for v in same])
        pattern = []
        for j, cls in enumerate(shape):
            column = chars[:, j]
            if len(same) > 1 and (column == column[0]).all():
                pattern.append("=" + column[0])
            elif cls in _CLASSES:
                pattern.append(cls)
            else:
                pattern.append("=" + cls)
        self.stats_ = IdentifierStats(integer=False, n_digits=0, pattern=tuple(pattern))
        return self

    def generate(self, n: int, rng: np.random.Generator) -> pd.Series:
        s = self.stats_
        if s.integer:
            lo = 10 ** (s.n_digits - 1) if s.n_digits > 1 else 0
            hi = 10**s.n_digits
            if hi - lo < n:
                lo, hi = 0, max(10 * n, hi)
            values = rng.choice(hi - lo, size=n, replace=False) + lo
            return pd.Series(values.astype(np.int64))
        capacity = 1.0
        for p in s.pattern:
            capacity *= 1 if p.startswith("=") else len(_CLASSES[p])
        if capacity < n:
            raise GenerationError(
                f"column {self.spec.name!r}: keys of shape {''.join(p[-1] for p in s.pattern)} "
                f"allow only {int(capacity)} distinct values, fewer than the {n} rows asked."
            )
        out: list[str] = []
        seen: set[str] = set()
        while len(out) < n:
            batch = self._draw(n - len(out), rng)
            for v in batch:
                if v not in seen:
                    seen.add(v)
                    out.append(v)
        return pd.Series(out, dtype=object)

    def _draw(self, n: int, rng: np.random.Generator) -> list[str]:
        cols = []
        for p in self.stats_.pattern:
            if p.startswith("="):
                cols.append(np.full(n, p[1:], dtype=object))
            else:
                alphabet = np.array(list(_CLASSES[p]), dtype=object)
                cols.append(alphabet[rng.integers(0, len(alphabet), size=n)])
        return ["".join(row) for row in zip(*cols, strict=True)] if cols else [""] * n

    def get_state(self) -> tuple[dict, dict]:
        s = self.stats_
        return {"integer": s.integer, "n_digits": s.n_digits, "pattern": list(s.pattern)}, {}

    @classmethod
    def from_state(cls, spec: ColumnSpec, meta: dict, arrays: dict) -> IdentifierEncoder:
        enc = cls(spec)
        enc.stats_ = IdentifierStats(meta["integer"], meta["n_digits"], tuple(meta["pattern"]))
        return enc
