"""Independent marginals: a baseline that samples every token slot from its own marginal.

It keeps each column's distribution (bins, digits and categories, with additive smoothing
of ``alpha``) and nothing of how columns relate, which makes it the reference point
"no structure learned" for evaluation and tests, and a fast generator for schema checks.

>>> gen = IndependentMarginals(alpha=0.0)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from lookalike._validation import Interval
from lookalike.models.base import BaseGenerator, EncodedData


class IndependentMarginals(BaseGenerator):
    """Each token slot drawn independently from its training frequencies."""

    name = "independent"
    view = "tokens"
    _parameter_constraints: ClassVar[dict] = {"alpha": Interval(float, 0, None, "both")}
    sample_options = frozenset({"fixed"})

    def __init__(self, *, alpha: float = 0.0) -> None:
        self.alpha = alpha

    def _fit(self, data: EncodedData, rng: np.random.Generator) -> None:
        probs = []
        for j, slot in enumerate(data.layout.token_slots):
            counts = np.bincount(data.values[:, j], minlength=slot.cardinality).astype(float)
            counts += self.alpha
            probs.append(counts / counts.sum())
        self.probs_ = probs

    def _sample(self, n: int, rng: np.random.Generator, **options: Any) -> np.ndarray:
        out = np.empty((n, len(self.probs_)), dtype=np.int64)
        for j, p in enumerate(self.probs_):
            cdf = np.cumsum(p)
            out[:, j] = np.minimum(np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right"),
                                   len(p) - 1)
        fixed = options.get("fixed")
        if fixed is not None:
            out = np.where(fixed >= 0, fixed, out)
        return out

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"n_slots": len(self.probs_)}, {f"p{j}": p for j, p in enumerate(self.probs_)}

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.probs_ = [np.asarray(arrays[f"p{j}"], dtype=float) for j in range(meta["n_slots"])]
