"""The compact data behind the report's figures, stored in ``metrics.json["plots"]``.

Keeping binned counts (not rows) in the metrics document lets ``lookalike report`` redraw the
page from ``metrics.json`` alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

TOP_CATEGORIES = 12
NUMERIC_BINS = 30


def column_distributions(
    train: pd.DataFrame,
    synthetic: pd.DataFrame,
    kinds: Mapping[str, str],
    scores: Mapping[str, float],
) -> list[dict[str, Any]]:
    """Per column: shares of the top categories (+ other, missing), or a 30-bin histogram
    over the real 0.5–99.5% quantile range (values beyond go to the edge bins).

    Examples
    --------
    >>> df = pd.DataFrame({"c": ["a", "b", "a"]})
    >>> column_distributions(df, df, {"c": "categorical"}, {})[0]["labels"]
    ['a', 'b', '(other)', '(missing)']
    """
    out = []
    for col, kind in kinds.items():
        r, s = train[col], synthetic[col]
        item: dict[str, Any] = {"column": col, "kind": kind, "score": scores.get(col),
                                "missing_real": float(r.isna().mean()),
                                "missing_synthetic": float(s.isna().mean())}
        if kind == "categorical":
            top = list(r.value_counts().index[:TOP_CATEGORIES])
            shares = []
            for series in (r, s):
                counts = series.value_counts()
                n = max(len(series), 1)
                vals = [float(counts.get(v, 0)) / n for v in top]
                missing = float(series.isna().mean())
                shares.append(vals + [max(1.0 - sum(vals) - missing, 0.0), missing])
            item.update(labels=[str(v) for v in top] + ["(other)", "(missing)"],
                        real=shares[0], synthetic=shares[1])
        else:
            a = r.dropna().to_numpy(dtype=float)
            b = s.dropna().to_numpy(dtype=float)
            if len(a) == 0:
                continue
            lo, hi = (float(q) for q in np.quantile(a, [0.005, 0.995]))
            if hi <= lo:
                lo, hi = float(a.min()) - 0.5, float(a.max()) + 0.5
            edges = np.linspace(lo, hi, NUMERIC_BINS + 1)
            real = np.histogram(np.clip(a, lo, hi), edges)[0] / len(a)
            syn = (np.histogram(np.clip(b, lo, hi), edges)[0] / len(b)) if len(b) else \
                np.zeros(NUMERIC_BINS)
            item.update(edges=edges.tolist(), real=real.tolist(), synthetic=syn.tolist())
        out.append(item)
    return out


def association_matrices(cols: Sequence[str], pairs: list[dict[str, Any]]) -> dict[str, Any]:
    """Real and synthetic association matrices (``None`` for pairs not evaluated).

    Examples
    --------
    >>> p = [{"columns": ["a", "b"], "assoc_real": 0.5, "assoc_synthetic": 0.4}]
    >>> association_matrices(["a", "b"], p)["real"]
    [[1.0, 0.5], [0.5, 1.0]]
    """
    idx = {c: i for i, c in enumerate(cols)}
    k = len(cols)
    real: list[list[float | None]] = [[1.0 if i == j else None for j in range(k)] for i in range(k)]
    syn: list[list[float | None]] = [[1.0 if i == j else None for j in range(k)] for i in range(k)]
    for p in pairs:
        i, j = idx[p["columns"][0]], idx[p["columns"][1]]
        for mat, key in ((real, "assoc_real"), (syn, "assoc_synthetic")):
            mat[i][j] = mat[j][i] = p.get(key)
    return {"columns": list(cols), "real": real, "synthetic": syn}
