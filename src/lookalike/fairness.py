"""Demographic parity: measuring it, and generating data where it holds.

Fair generation (``Synthesizer.sample(n, fairness={"target": ..., "sensitive": ...})``)
makes a categorical *target* statistically independent of a categorical *sensitive* column
in the synthetic data, while the other columns keep their learned joint distribution with
the sensitive column:

1. draw rows ``(x, s, y)`` from the model as usual;
2. ask the model for ``p(y | x, s)``, the full conditional of the target given every other
   column (any-order autoregressive models give it directly);
3. tilt it per sensitive group: ``p'(y | x, s) ∝ p(y | x, s) · w[s, y]``, with the weights
   ``w`` chosen so that the mean of ``p'(y | x, s)`` over the rows of every group ``s``
   equals the model's overall target distribution ``q(y)`` (the mean of ``p(y | x, s)`` over
   all rows). The weights are found by iterative proportional fitting (one multiplicative
   update per group and category; the fixed point is the minimum-KL tilt, an exponential
   family in ``(s, y)``: Csiszár 1975, "I-divergence geometry of probability distributions
   and minimization problems", Ann. Probab. 3(1), Theorem 3.3);
4. draw ``y`` from ``p'``.

``x`` and ``s`` are untouched, so ``p(x, s)`` is the model's; only the target changes, and
within a group it still follows the other columns (a model trained on the fair data still
learns from ``x``). This is *demographic parity* of the data (``P(y | s) = P(y)``), the
notion of Kamiran and Calders 2012 ("Data preprocessing techniques for classification
without discrimination", Knowl. Inf. Syst. 33), obtained by conditional tilting rather than
by relabelling or reweighting real rows. It does not make ``y`` independent of proxies of
``s`` inside ``x``: a downstream model can still reconstruct ``s`` from them.

:func:`parity_gap` measures it: for every target category, the largest difference of
``P(y | s)`` between two sensitive groups; the gap is the largest of those.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lookalike.errors import InvalidParameterError

#: multiplicative-update iterations of the tilt, and the tolerance on the group means
MAX_ITERATIONS = 500
TOLERANCE = 1e-6


def parity_tilt(probs: np.ndarray, groups: np.ndarray, *,
                target: np.ndarray | None = None, n_groups: int | None = None) -> np.ndarray:
    """Weights ``w`` (n_groups, K) such that ``p' ∝ probs · w[groups]`` has, in every group,
    mean ``target`` (default: the mean of ``probs`` over all rows).

    ``probs`` (n, K) are row-wise distributions, ``groups`` (n,) integer group codes in
    ``[0, n_groups)`` (default: up to the largest code). Groups without rows get weights of
    one.

    Examples
    --------
    >>> p = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.2, 0.8]])
    >>> w = parity_tilt(p, np.array([0, 0, 1, 1]))
    >>> tilted = p * w[[0, 0, 1, 1]]
    >>> tilted /= tilted.sum(axis=1, keepdims=True)
    >>> np.round(tilted[:2].mean(axis=0), 4).tolist(), np.round(tilted[2:].mean(axis=0), 4).tolist()
    ([0.55, 0.45], [0.55, 0.45])
    """
    probs = np.asarray(probs, dtype=np.float64)
    groups = np.asarray(groups, dtype=np.int64)
    n, k = probs.shape
    goal = probs.mean(axis=0) if target is None else np.asarray(target, dtype=np.float64)
    if n_groups is None:
        n_groups = int(groups.max()) + 1 if n else 0
    w = np.ones((n_groups, k))
    counts = np.bincount(groups, minlength=n_groups).astype(np.float64)
    present = counts > 0
    for _ in range(MAX_ITERATIONS):
        tilted = probs * w[groups]
        tilted /= tilted.sum(axis=1, keepdims=True)
        means = np.zeros((n_groups, k))
        np.add.at(means, groups, tilted)
        means[present] /= counts[present, None]
        if np.abs(means[present] - goal).max() < TOLERANCE:
            break
        ratio = np.where(means > 0, goal / np.where(means > 0, means, 1.0), 1.0)
        w[present] *= ratio[present]
        w /= w.max(axis=1, keepdims=True)  # scale does not matter; keep it bounded
    return w


def parity_gap(df: pd.DataFrame, target: str, sensitive: str) -> dict[str, Any]:
    """Demographic parity of ``target`` across the groups of ``sensitive`` in ``df``.

    Returns ``gap`` (the largest difference, over target categories, of ``P(target = y |
    sensitive = s)`` between two groups), ``rates`` ({group: {category: share}}) and
    ``group_sizes``. Missing values count as a category / group of their own.

    Examples
    --------
    >>> df = pd.DataFrame({"y": ["a", "a", "b", "b"], "s": ["m", "m", "f", "m"]})
    >>> round(parity_gap(df, "y", "s")["gap"], 3)
    0.667
    """
    for col in (target, sensitive):
        if col not in df.columns:
            raise InvalidParameterError(
                f"parity_gap: column {col!r} is not in the table; columns are "
                f"{list(df.columns)}.")
    y = df[target].astype(object).where(df[target].notna(), "<missing>").astype(str)
    s = df[sensitive].astype(object).where(df[sensitive].notna(), "<missing>").astype(str)
    table = pd.crosstab(s, y, normalize="index")
    gap = float((table.max(axis=0) - table.min(axis=0)).max()) if len(table) > 1 else 0.0
    return {"gap": gap,
            "rates": {g: {c: float(v) for c, v in row.items()} for g, row in table.iterrows()},
            "group_sizes": {g: int(v) for g, v in s.value_counts().items()}}
