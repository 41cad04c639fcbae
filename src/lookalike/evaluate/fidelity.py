"""Fidelity: how closely the synthetic table follows the real one, statistically.

All functions take *prepared* frames (see :func:`lookalike.evaluate.prepare`): numeric and
datetime columns as ``float64`` (datetimes in seconds), categorical columns as strings with
``NaN`` for missing, plus ``kinds`` (column -> ``numeric`` / ``categorical`` / ``datetime``).

Definitions
-----------
**Column score** (one per column, in [0, 1]):

* categorical: ``1 - TVD``, where TVD = ½ Σ |p_real(v) − p_synth(v)| over all values, with
  *missing* counted as a value of its own;
* numeric / datetime: ``(1 - KS) · (1 - |Δmissing|)``, where KS is the two-sample
  Kolmogorov–Smirnov statistic of the non-missing values and Δmissing the difference of
  missing rates. The Wasserstein distance of the values min–max normalised by the real
  column's range is reported beside it (not used in the score).

**Pair score** (one per column pair, in [0, 1]):

* numeric × numeric: ``1 - |ρ_real − ρ_synth| / 2`` with ρ the Pearson correlation of the
  rows where both are present (Spearman is reported too);
* any other pair: ``1 - TVD`` of the 2-way contingency tables, numerics cut into 10
  equal-width bins over the real range (synthetic values outside it go to the edge bins),
  categoricals as they are (the 100 most frequent real values, the rest as ``(other)``) and
  missing as its own level.

Each pair also reports an *association* for the heat map: Pearson ρ (numeric pairs),
Cramér's V (categorical pairs) or the correlation ratio η (mixed pairs), real and synthetic.

**Informative pairs**: only pairs that carry structure in the real data enter the score:
numeric pairs with |ρ_real| > 0.5, other pairs whose real contingency table has Cramér's V >
0.3 (numerics binned as above, missing as a level). Averaging over every pair would let a
generator that samples each column independently score well on a table whose columns are
mostly unrelated (on Adult: 0.96 over all pairs, 0.88 over informative ones).

**Fidelity score** = mean( mean of column scores, mean of informative-pair scores ), or the
column mean alone when no pair is informative. This is the definition of SDMetrics'
``QualityReport`` (Column Shapes = KSComplement / TVComplement, Column Pair Trends =
CorrelationSimilarity / ContingencySimilarity with its default contribution thresholds 0.5 and
0.3, overall = mean of the two), so the two agree closely on the same data (a test checks it);
ours also penalises missing-rate differences of numeric columns and bins synthetic numerics with
the real bin edges (SDMetrics bins each table with its own edges).

**QA accuracy** (as in MOSTLY AI's open-source ``mostlyai-qa`` package, ``_accuracy.py``):
the reference ("original") is the real training table, plus the holdout when one is given
(as mostlyai-qa concatenates training and holdout). Every column is discretised into at most
10 bins learned on the original:

* numeric: when it has ≤ 10 distinct values, one bin per value; otherwise the breaks are the
  distinct values found at ``k`` evenly spaced positions of the sorted values, for the
  smallest ``k ≥ 10`` giving at least 11 distinct breaks; breaks are floored to the fewest
  decimals that keep them distinct (the last break is kept), values are clipped into
  ``[first, last]`` break and cut into left-closed bins;
* datetime: the same search, without the distinct-value shortcut;
* categorical: the 10 most frequent values that occur at least 5 times get a bin each; all
  other values go to ``(other)``; missing is ``(n/a)``, the empty string ``(empty)``, and the
  rare-category placeholder ``_RARE_`` has a bin of its own (so synthetic ``_RARE_`` cells
  count as misses against the real ``(other)`` values, as in mostlyai-qa).

The synthetic table is binned with the original's bins. For a set of columns, accuracy =
``1 - ½ Σ |f_orig(b) − f_synth(b)|`` over the cells ``b`` of their joint binned distribution
(i.e. 1 − total variation distance). *Univariate* accuracy averages it over columns,
*bivariate* over all column pairs, *trivariate* over all column triples (a seeded random
10,000 of them when there are more), and the overall QA accuracy is the mean of the three
(as in mostlyai-qa ≥ 1.5). ``*_max`` values give the accuracy expected from sampling noise
alone for a same-sized sample (mostlyai-qa's ``accuracy_max``: per cell, the expected
|difference| of two binomial proportions, ``sqrt(2/π · p(1-p)(1/n₁ + 1/n₂))``).

**Discriminator AUC**: a LightGBM classifier (default hyper-parameters) learns to tell real
training rows (label 0) from synthetic rows (label 1), with k-fold cross-validation
in which identical rows always share a fold (otherwise a model that saw a row's exact copy with
the other label scores it upside down, and copied data would get an AUC far below 0.5); the
AUC of its out-of-fold scores is reported. 0.5 means the two cannot be told apart, 1.0 means
every synthetic row is recognisable.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from lookalike.evaluate._data import category_codes

log = logging.getLogger(__name__)

PAIR_BINS = 10
PAIR_MAX_LEVELS = 100
INFORMATIVE_CORRELATION = 0.5
INFORMATIVE_ASSOCIATION = 0.3
QA_BINS = 10
QA_MIN_COUNT = 5
QA_NA, QA_OTHER, QA_EMPTY = "(n/a)", "(other)", "(empty)"
#: mostlyai-qa's bin for the rare-category placeholder (``_RARE_``, as MOSTLY AI's engine and
#: lookalike emit it): a bin of its own, so a synthetic ``_RARE_`` never matches the real
#: table's ``(other)`` values
QA_RARE = "_RARE_"
_DAY = 86_400.0


# --------------------------------------------------------------------------- per column
def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov–Smirnov statistic (max |ECDF_a − ECDF_b|).

    Examples
    --------
    >>> ks_statistic(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0]))
    0.0
    """
    if len(a) == 0 or len(b) == 0:
        return 0.0 if len(a) == len(b) else 1.0
    a = np.sort(a)
    b = np.sort(b)
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / len(a)
    cdf_b = np.searchsorted(b, grid, side="right") / len(b)
    return float(np.max(np.abs(cdf_a - cdf_b)))


def total_variation(p: np.ndarray, q: np.ndarray) -> float:
    """Total variation distance ½ Σ |p − q| of two count (or frequency) vectors.

    Examples
    --------
    >>> total_variation(np.array([1, 1]), np.array([2, 0]))
    0.5
    """
    p = np.asarray(p, dtype=float)
    q = np.asarray(q, dtype=float)
    sp, sq = p.sum(), q.sum()
    if sp == 0 or sq == 0:
        return 0.0 if sp == sq else 1.0
    return float(0.5 * np.abs(p / sp - q / sq).sum())


def column_metrics(
    real: pd.DataFrame, synthetic: pd.DataFrame, kinds: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Per-column distances between real and synthetic values.

    Returns one dict per column with ``column``, ``kind``, ``score`` (see the module
    docstring), ``missing_real``, ``missing_synthetic``, ``missing_diff`` and either ``tvd``,
    ``categories_real``, ``categories_synthetic``, ``categories_unseen`` (synthetic values
    absent from the real column) for categorical columns, or ``ks`` and ``wasserstein`` for
    numeric / datetime ones.

    Examples
    --------
    >>> r = pd.DataFrame({"x": [1.0, 2, 3, 4], "c": ["a", "a", "b", "b"]})
    >>> [round(m["score"], 2) for m in column_metrics(r, r, {"x": "numeric", "c": "categorical"})]
    [1.0, 1.0]
    """
    from scipy.stats import wasserstein_distance

    out = []
    for col, kind in kinds.items():
        r, s = real[col], synthetic[col]
        miss_r, miss_s = float(r.isna().mean()), float(s.isna().mean())
        row: dict[str, Any] = {
            "column": col,
            "kind": kind,
            "missing_real": miss_r,
            "missing_synthetic": miss_s,
            "missing_diff": abs(miss_r - miss_s),
        }
        if kind == "categorical":
            (cr, cs), labels = category_codes([r, s])
            k = len(labels)
            pr = np.bincount(cr, minlength=k)
            ps = np.bincount(cs, minlength=k)
            tvd = total_variation(pr, ps)
            real_levels = set(r.dropna().unique())
            syn_levels = set(s.dropna().unique())
            row.update(
                tvd=tvd,
                score=1.0 - tvd,
                categories_real=len(real_levels),
                categories_synthetic=len(syn_levels),
                categories_unseen=len(syn_levels - real_levels),
            )
        else:
            a = r.dropna().to_numpy(dtype=float)
            b = s.dropna().to_numpy(dtype=float)
            ks = ks_statistic(a, b)
            if len(a) and len(b):
                lo, hi = float(a.min()), float(a.max())
                span = hi - lo if hi > lo else 1.0
                wass = float(wasserstein_distance((a - lo) / span, (b - lo) / span))
            else:
                wass = None
            row.update(ks=ks, wasserstein=wass, score=(1.0 - ks) * (1.0 - row["missing_diff"]))
        out.append(row)
    return out


# --------------------------------------------------------------------------- pairs
def _bin_numeric(real: np.ndarray, others: list[np.ndarray], bins: int) -> list[np.ndarray]:
    """Equal-width bins over the real range; missing -> code ``bins``."""
    finite = real[~np.isnan(real)]
    if len(finite) == 0:
        edges = np.array([0.0, 1.0])
    else:
        edges = np.histogram_bin_edges(finite, bins=bins)
    out = []
    for x in [real, *others]:
        codes = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
        codes = np.where(np.isnan(x), bins, codes)
        out.append(codes.astype(np.int64))
    return out


def _pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    ok = ~(np.isnan(x) | np.isnan(y))
    if ok.sum() < 3:
        return None
    x, y = x[ok], y[ok]
    sx, sy = x.std(), y.std()
    if sx == 0 or sy == 0:
        return None
    return float(np.clip(np.mean((x - x.mean()) * (y - y.mean())) / (sx * sy), -1.0, 1.0))


def _ranks(x: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    out = np.full(len(x), np.nan)
    ok = ~np.isnan(x)
    out[ok] = rankdata(x[ok])
    return out


def _cramers_v(table: np.ndarray) -> float | None:
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    n = table.sum()
    r, c = table.shape
    if n == 0 or min(r, c) < 2:
        return None
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    return float(math.sqrt(min(1.0, chi2 / n / (min(r, c) - 1))))


def _correlation_ratio(codes: np.ndarray, values: np.ndarray, k: int) -> float | None:
    ok = ~np.isnan(values)
    codes, values = codes[ok], values[ok]
    if len(values) < 3:
        return None
    total = float(((values - values.mean()) ** 2).sum())
    if total == 0:
        return None
    counts = np.bincount(codes, minlength=k)
    sums = np.bincount(codes, weights=values, minlength=k)
    nz = counts > 0
    means = sums[nz] / counts[nz]
    between = float((counts[nz] * (means - values.mean()) ** 2).sum())
    return float(math.sqrt(min(1.0, between / total)))


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else abs(a - b)


def pair_metrics(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    kinds: Mapping[str, str],
    *,
    max_pairs: int | None = 2000,
    rng: np.random.Generator | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Per-pair association differences and contingency-table distances.

    Returns ``(pairs, n_pairs_total)``; when there are more than ``max_pairs`` column pairs a
    seeded random subset is evaluated. Each pair dict holds ``columns``, ``kinds``,
    ``association`` (``pearson`` / ``cramers_v`` / ``correlation_ratio``), ``assoc_real``,
    ``assoc_synthetic``, ``assoc_diff``, ``contingency_tvd``, ``score`` and, for numeric
    pairs, ``spearman_real`` / ``spearman_synthetic`` / ``spearman_diff``.

    Examples
    --------
    >>> r = pd.DataFrame({"x": [1.0, 2, 3, 4, 5], "y": [2.0, 4, 6, 8, 11]})
    >>> pairs, total = pair_metrics(r, r, {"x": "numeric", "y": "numeric"})
    >>> round(pairs[0]["score"], 3), total
    (1.0, 1)
    """
    cols = list(kinds)
    all_pairs = list(itertools.combinations(range(len(cols)), 2))
    total = len(all_pairs)
    if max_pairs is not None and total > max_pairs:
        rng = rng if rng is not None else np.random.default_rng(0)
        pick = np.sort(rng.choice(total, size=max_pairs, replace=False))
        all_pairs = [all_pairs[i] for i in pick]
    # per-column preparation, once
    num = {}
    ranks = {}
    codes: dict[str, tuple[np.ndarray, np.ndarray, int]] = {}
    for col in cols:
        if kinds[col] == "categorical":
            (cr, cs), labels = category_codes([real[col], synthetic[col]], PAIR_MAX_LEVELS)
            codes[col] = (cr, cs, len(labels))
        else:
            xr = real[col].to_numpy(dtype=float)
            xs = synthetic[col].to_numpy(dtype=float)
            num[col] = (xr, xs)
            br, bs = _bin_numeric(xr, [xs], PAIR_BINS)
            codes[col] = (br, bs, PAIR_BINS + 1)
    out = []
    for i, j in all_pairs:
        a, b = cols[i], cols[j]
        ka = "categorical" if kinds[a] == "categorical" else "numeric"
        kb = "categorical" if kinds[b] == "categorical" else "numeric"
        ar, as_, na = codes[a]
        br, bs, nb = codes[b]
        cont_r = np.bincount(ar * nb + br, minlength=na * nb)
        cont_s = np.bincount(as_ * nb + bs, minlength=na * nb)
        tvd = total_variation(cont_r, cont_s)
        row: dict[str, Any] = {"columns": [a, b], "kinds": [kinds[a], kinds[b]]}
        if ka == kb == "numeric":
            pr = _pearson(num[a][0], num[b][0])
            ps = _pearson(num[a][1], num[b][1])
            for col in (a, b):
                if col not in ranks:
                    ranks[col] = (_ranks(num[col][0]), _ranks(num[col][1]))
            sr = _pearson(ranks[a][0], ranks[b][0])
            ss = _pearson(ranks[a][1], ranks[b][1])
            d = _diff(pr, ps)
            if d is None:
                d = 0.0 if pr is None and ps is None else 1.0
            row.update(
                association="pearson",
                assoc_real=pr,
                assoc_synthetic=ps,
                assoc_diff=_diff(pr, ps),
                spearman_real=sr,
                spearman_synthetic=ss,
                spearman_diff=_diff(sr, ss),
                score=1.0 - d / 2.0,
            )
        elif ka == kb == "categorical":
            vr = _cramers_v(cont_r.reshape(na, nb).astype(float))
            vs = _cramers_v(cont_s.reshape(na, nb).astype(float))
            row.update(association="cramers_v", assoc_real=vr, assoc_synthetic=vs,
                       assoc_diff=_diff(vr, vs), score=1.0 - tvd)
        else:
            c, v = (a, b) if ka == "categorical" else (b, a)
            er = _correlation_ratio(codes[c][0], num[v][0], codes[c][2])
            es = _correlation_ratio(codes[c][1], num[v][1], codes[c][2])
            row.update(association="correlation_ratio", assoc_real=er, assoc_synthetic=es,
                       assoc_diff=_diff(er, es), score=1.0 - tvd)
        row["contingency_tvd"] = tvd
        if row["association"] == "pearson":
            strength = abs(row["assoc_real"]) if row["assoc_real"] is not None else None
            row["informative"] = strength is not None and strength > INFORMATIVE_CORRELATION
        else:
            strength = (row["assoc_real"] if row["association"] == "cramers_v"
                        else _cramers_v(cont_r.reshape(na, nb).astype(float)))
            row["real_cramers_v"] = strength
            row["informative"] = strength is not None and strength > INFORMATIVE_ASSOCIATION
        out.append(row)
    return out, total


def fidelity_score(columns: list[dict[str, Any]], pairs: list[dict[str, Any]]) -> dict[str, Any]:
    """Combine column and pair scores into the overall fidelity score (module docstring).

    Only *informative* pairs enter ``pair_fidelity``; ``pair_fidelity_all`` averages every
    evaluated pair, for reference.

    Examples
    --------
    >>> pairs = [{"score": 0.7, "informative": True}, {"score": 1.0, "informative": False}]
    >>> fidelity_score([{"score": 1.0}, {"score": 0.8}], pairs)["fidelity"]
    0.8
    """
    col = float(np.mean([c["score"] for c in columns])) if columns else None
    informative = [p["score"] for p in pairs if p.get("informative", True)]
    pair = float(np.mean(informative)) if informative else None
    parts = [x for x in (col, pair) if x is not None]
    return {
        "fidelity": round(float(np.mean(parts)), 12) if parts else None,
        "column_fidelity": col,
        "pair_fidelity": pair,
        "pair_fidelity_all": float(np.mean([p["score"] for p in pairs])) if pairs else None,
        "informative_pairs": len(informative),
    }


# --------------------------------------------------------------------------- QA accuracy
def _search_bin_boundaries(values: np.ndarray, n: int) -> list[float]:
    values = np.sort(values)
    if len(values) == 0:
        return []
    breaks: list[float] = []
    for i in range(n, max(n + 1, min(1000, len(values) + 1))):
        idx = np.linspace(0, len(values) - 1, i).astype(int)
        breaks = sorted(set(values[idx].tolist()))
        if len(breaks) >= n + 1:
            break
    return breaks


def _floor(x: float, precision: int) -> float:
    return float(np.true_divide(np.floor(x * 10**precision), 10**precision))


def qa_bin_numeric(
    original: np.ndarray, others: list[np.ndarray], *, datetime: bool = False, bins: int = QA_BINS
) -> tuple[list[np.ndarray], int]:
    """Bin numeric (or datetime-as-seconds) arrays as mostlyai-qa does; NaN -> last code.

    Returns the codes of ``[original, *others]`` and the number of codes (bins + 1).
    """
    finite = original[~np.isnan(original)]
    uniq = np.unique(finite)
    if not datetime and len(uniq) <= bins:
        breaks = sorted(uniq.tolist()) + ([float(uniq.max()) + 1] if len(uniq) else [])
    elif datetime and len(uniq) == 1:
        breaks = [float(uniq[0]), float(uniq[0]) + _DAY]
    else:
        breaks = _search_bin_boundaries(finite, bins)
    breaks = sorted(set(breaks))
    if not breaks:
        breaks = [-1e10, 1e10]
    if not datetime:
        for precision in range(20):
            if len({_floor(b, precision) for b in breaks}) == len(breaks):
                breaks = [_floor(b, precision) for b in breaks[:-1]] + [breaks[-1]]
                break
    lo, hi = min(breaks), max(breaks)
    last = max(breaks[-1] + _DAY, breaks[-1]) if datetime else breaks[-1] + 1
    edges = np.array(breaks[:-1] + [last], dtype=float)
    n_bins = len(edges) - 1
    out = []
    for x in [original, *others]:
        xc = np.clip(x, lo, hi)
        codes = np.searchsorted(edges, xc, side="right") - 1
        codes = np.clip(codes, 0, max(n_bins - 1, 0))
        codes = np.where(np.isnan(x), n_bins, codes)
        out.append(codes.astype(np.int64))
    return out, n_bins + 1


def qa_bin_categorical(
    original: pd.Series, others: list[pd.Series], *, bins: int = QA_BINS
) -> tuple[list[np.ndarray], int]:
    """Bin categorical series as mostlyai-qa does: top values with ≥ 5 rows, (other), (n/a)."""

    def norm(s: pd.Series) -> pd.Series:
        t = s.astype(str).astype(object)
        t[s.isna().to_numpy()] = QA_NA
        t[(t == "").to_numpy()] = QA_EMPTY
        return t

    o = norm(original)
    counts = o.value_counts().head(bins)
    top = sorted(counts[counts >= QA_MIN_COUNT].index)
    special = [QA_EMPTY, QA_OTHER, QA_RARE, QA_NA]
    cats = [c for c in top if c not in special] + special
    index = pd.Index(cats)
    other = cats.index(QA_OTHER)
    out = []
    for s in [o, *(norm(x) for x in others)]:
        c = index.get_indexer(s.to_numpy(dtype=object))
        out.append(np.where(c < 0, other, c).astype(np.int64))
    return out, len(cats)


def _accuracy(codes_o: np.ndarray, codes_s: np.ndarray, size: int) -> tuple[float, float]:
    co = np.bincount(codes_o, minlength=size).astype(float)
    cs = np.bincount(codes_s, minlength=size).astype(float)
    n_o, n_s = co.sum(), cs.sum()
    fo, fs = co / n_o, cs / n_s
    observed = 1.0 - 0.5 * float(np.abs(fo - fs).sum())
    expected_l1 = float(np.sqrt(fo * (1 - fo) * (1 / n_o + 1 / n_s) * 2 / np.pi).sum())
    return round(observed, 5), round(1.0 - expected_l1 / 2.0, 5)


def qa_accuracy(
    original: pd.DataFrame,
    synthetic: pd.DataFrame,
    kinds: Mapping[str, str],
    *,
    max_triples: int = 10_000,
    rng: np.random.Generator | None = None,
) -> dict[str, Any]:
    """Uni-, bi- and tri-variate accuracy as defined by mostlyai-qa (module docstring).

    ``original`` is the real reference (training rows, plus holdout rows when available).
    Returns ``accuracy`` (mean of the three), ``univariate``, ``bivariate``, ``trivariate``,
    the matching ``*_max`` (sampling-noise ceiling), ``columns`` (per-column univariate
    accuracies) and ``triples_evaluated`` / ``triples_total``.

    Examples
    --------
    >>> r = pd.DataFrame({"x": np.arange(100.0), "c": ["a", "b"] * 50})
    >>> qa_accuracy(r, r, {"x": "numeric", "c": "categorical"})["univariate"]
    1.0
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    cols = list(kinds)
    codes_o: dict[str, np.ndarray] = {}
    codes_s: dict[str, np.ndarray] = {}
    sizes: dict[str, int] = {}
    for col in cols:
        if kinds[col] == "categorical":
            (co, cs), k = qa_bin_categorical(original[col], [synthetic[col]])
        else:
            (co, cs), k = qa_bin_numeric(
                original[col].to_numpy(dtype=float),
                [synthetic[col].to_numpy(dtype=float)],
                datetime=kinds[col] == "datetime",
            )
        codes_o[col], codes_s[col], sizes[col] = co, cs, k

    def joint(group: tuple[str, ...]) -> tuple[float, float]:
        jo = np.zeros(len(original), dtype=np.int64)
        js = np.zeros(len(synthetic), dtype=np.int64)
        size = 1
        for col in group:
            jo = jo * sizes[col] + codes_o[col]
            js = js * sizes[col] + codes_s[col]
            size *= sizes[col]
        return _accuracy(jo, js, size)

    uni = {col: joint((col,)) for col in cols}
    pairs = [joint(p) for p in itertools.combinations(cols, 2)]
    triples_all = list(itertools.combinations(cols, 3))
    triples = triples_all
    if len(triples_all) > max_triples:
        pick = rng.choice(len(triples_all), size=max_triples, replace=False)
        triples = [triples_all[i] for i in np.sort(pick)]
    tris = [joint(t) for t in triples]

    def mean(values: list[tuple[float, float]], i: int) -> float | None:
        return float(np.mean([v[i] for v in values])) if values else None

    u, b, t = mean(list(uni.values()), 0), mean(pairs, 0), mean(tris, 0)
    um, bm, tm = mean(list(uni.values()), 1), mean(pairs, 1), mean(tris, 1)
    overall = [x for x in (u, b, t) if x is not None]
    overall_max = [x for x in (um, bm, tm) if x is not None]
    return {
        "accuracy": float(np.mean(overall)) if overall else None,
        "univariate": u,
        "bivariate": b,
        "trivariate": t,
        "accuracy_max": float(np.mean(overall_max)) if overall_max else None,
        "univariate_max": um,
        "bivariate_max": bm,
        "trivariate_max": tm,
        "columns": {col: v[0] for col, v in uni.items()},
        "rows_original": len(original),
        "rows_synthetic": len(synthetic),
        "triples_evaluated": len(tris),
        "triples_total": len(triples_all),
    }


# --------------------------------------------------------------------------- discriminator
def lgbm_frame(
    frames: list[pd.DataFrame], kinds: Mapping[str, str]
) -> list[pd.DataFrame]:
    """Feature frames for LightGBM: numerics as float, categoricals as pandas ``category``
    with one category list shared by all frames (the values of the first frame first)."""
    out = [pd.DataFrame(index=f.index) for f in frames]
    for col, kind in kinds.items():
        if kind == "categorical":
            levels = list(pd.unique(pd.concat([f[col] for f in frames]).dropna()))
            dtype = pd.CategoricalDtype(categories=levels)
            for o, f in zip(out, frames, strict=True):
                o[col] = f[col].astype(object).astype(dtype)
        else:
            for o, f in zip(out, frames, strict=True):
                o[col] = f[col].astype(float)
    return out


def lgbm_params(random_state: int, n_jobs: int) -> dict[str, Any]:
    """LightGBM defaults, made reproducible (fixed seed, deterministic, quiet)."""
    return {
        "random_state": random_state,
        "n_jobs": n_jobs,
        "deterministic": True,
        "verbose": -1,
    }


def discriminator_auc(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    kinds: Mapping[str, str],
    *,
    n_folds: int = 5,
    max_rows: int | None = 20_000,
    random_state: int = 0,
    n_jobs: int = 1,
) -> dict[str, Any]:
    """Cross-validated AUC of a LightGBM classifier telling real from synthetic rows.

    Both tables are subsampled to the same number of rows (at most ``max_rows`` each, seeded)
    so the classes are balanced. Returns ``auc``, ``rows_per_class``, ``folds``.

    Examples
    --------
    >>> r = pd.DataFrame({"x": np.random.default_rng(0).normal(size=400)})
    >>> s = pd.DataFrame({"x": np.random.default_rng(1).normal(size=400)})
    >>> 0.3 < discriminator_auc(r, s, {"x": "numeric"}, n_folds=3)["auc"] < 0.7
    True
    """
    import lightgbm as lgb
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(random_state)
    n = min(len(real), len(synthetic))
    if max_rows is not None:
        n = min(n, max_rows)
    r = real.iloc[np.sort(rng.choice(len(real), n, replace=False))] if len(real) > n else real
    s = (
        synthetic.iloc[np.sort(rng.choice(len(synthetic), n, replace=False))]
        if len(synthetic) > n
        else synthetic
    )
    xr, xs = lgbm_frame([r.reset_index(drop=True), s.reset_index(drop=True)], kinds)
    x = pd.concat([xr, xs], ignore_index=True)
    y = np.r_[np.zeros(len(xr)), np.ones(len(xs))]
    folds = max(2, min(n_folds, n))
    oof = np.zeros(len(y))
    # identical rows share a fold: a copy of a real row is indistinguishable from it, and a
    # model that saw its twin with the other label would score it upside down (AUC < 0.5)
    both = pd.concat([r, s], ignore_index=True)
    groups = pd.factorize(pd.util.hash_pandas_object(both, index=False))[0]
    fold_of = rng.permutation(groups.max() + 1) % folds
    row_fold = fold_of[groups]
    for k in range(folds):
        test_idx = np.flatnonzero(row_fold == k)
        train_idx = np.flatnonzero(row_fold != k)
        if len(np.unique(y[train_idx])) < 2 or len(test_idx) == 0:
            continue
        model = lgb.LGBMClassifier(**lgbm_params(random_state, n_jobs))
        model.fit(x.iloc[train_idx], y[train_idx])
        oof[test_idx] = model.predict_proba(x.iloc[test_idx])[:, 1]
    return {"auc": float(roc_auc_score(y, oof)), "rows_per_class": int(n), "folds": folds}
