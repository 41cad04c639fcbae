"""Privacy: does the synthetic table reveal the real rows it was trained on?

All functions take *prepared* frames (see :func:`lookalike.evaluate.prepare`). The holdout
table (real rows the generator never saw) is the yardstick: a synthetic table that is no closer
to its training rows than to unseen real rows has not memorised them.

Distance
--------
Rows are compared in an encoded space learned on the real training table (one-hot + scaled,
Euclidean):

* numeric and datetime values -> their empirical CDF in the training column (each training
  value at its mid-rank in [0, 1], values in between linearly interpolated, values outside the
  training range running linearly to 0 / 1 over one more range width), so a column's
  contribution does not depend on its unit or skew; a missing value -> 0 plus a
  missing-indicator coordinate set to 1 (only for columns with missing values);
* categorical values -> one-hot over the 20 most frequent training values, scaled by 1/√2 so
  that two different values are at distance 1 (other values -> all zeros, at 1/√2 from any
  frequent value).

Nearest neighbours are found with scikit-learn's ``NearestNeighbors`` (a KD-tree for up to 15
encoded dimensions, otherwise exact brute force in chunks bounded by scikit-learn's
``working_memory``), never a full n × m distance matrix. To keep DCR comparisons fair, the
training and holdout sets are subsampled (seeded) to the same size, and the synthetic table to
at most as many rows.

Metrics
-------
* **DCR** (distance to closest record): for each synthetic row, the distance to its nearest
  training row; the same for each holdout row is the baseline (``dcr_holdout_to_train``).
* **DCR share**: share of synthetic rows closer to a training row than to a holdout row (ties
  count ½, as in mostlyai-qa). 0.5 means no memorisation; above ~0.53 deserves a look.
  ``share_se`` = 0.5 / √n is its standard error when there is no memorisation.
* **Median DCR ratio**: median DCR(synthetic→train) / median DCR(synthetic→holdout); 1 is
  ideal, values well below 1 mean synthetic rows sit closer to training rows.
* **NNDR** (nearest-neighbour distance ratio): distance to the nearest over the second nearest
  training row (0 when the nearest is an exact copy of a unique row, 1 when the two nearest are
  equally far); median and 10th percentile, with the holdout→train values as baseline.
* **Exact copies**: synthetic rows identical (on every evaluated column) to some training row;
  the share of holdout rows identical to a training row is the natural baseline (real tables
  contain duplicates). The same on the user's quasi-identifier columns.
* **Identifiability** (Yoon et al., ADS-GAN, IEEE JBHI 2020, eq. 2): share of real training
  rows whose nearest synthetic row is closer than their nearest *other* real training row,
  with each column weighted by the inverse of its entropy (numeric columns: entropy of 20
  quantile bins). An independent sample of the same size gives about 0.5; the same computation
  with the holdout in place of the synthetic table is reported as the baseline.
* **Membership inference**: an attacker who holds the synthetic table (up to twice the
  privacy sample size, seeded) scores candidate rows; members are training rows, non-members
  holdout rows (equal numbers). Two attacks:
  *distance* (score = −distance to the nearest synthetic row) and *density ratio* (a LightGBM
  classifier trained to tell synthetic rows from a separate half of the holdout estimates
  p_synthetic(x) / p_real(x), as in DOMIAS, van Breugel et al. 2023). Each reports its ROC AUC
  and the true-positive rate at 1% false-positive rate; ``mia_auc`` is the higher AUC of the
  two (0.5 = the attacker learns nothing); ``auc_se_null`` is an AUC's standard error when the
  attacker learns nothing (Mann–Whitney), to judge small samples.
* **k-anonymity** of the synthetic table over the quasi-identifiers (the smallest number of
  synthetic rows sharing one combination) and **singling out**: synthetic rows whose
  quasi-identifier combination matches exactly one real training row.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from lookalike.errors import InvalidDataError
from lookalike.evaluate.fidelity import lgbm_frame, lgbm_params

log = logging.getLogger(__name__)

ONE_HOT_LEVELS = 20
KD_TREE_MAX_DIM = 15
WORKING_MEMORY_MB = 256
_INV_SQRT2 = 1.0 / np.sqrt(2.0)


class DistanceEncoder:
    """Encode prepared rows for nearest-neighbour search (see the module docstring).

    Parameters
    ----------
    kinds : evaluated column -> kind.
    weights : optional column -> weight multiplying that column's coordinates.

    Examples
    --------
    >>> df = pd.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["a", "b", "a"]})
    >>> enc = DistanceEncoder({"x": "numeric", "c": "categorical"}).fit(df)
    >>> enc.transform(df).shape
    (3, 3)
    """

    def __init__(self, kinds: Mapping[str, str], weights: Mapping[str, float] | None = None):
        self.kinds = dict(kinds)
        self.weights = dict(weights or {})

    def fit(self, train: pd.DataFrame, *others: pd.DataFrame) -> DistanceEncoder:
        """Learn CDFs and category lists on ``train``; ``others`` only decide which columns
        need a missing indicator."""
        self.knots_: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.levels_: dict[str, pd.Index] = {}
        self.indicator_: dict[str, bool] = {}
        for col, kind in self.kinds.items():
            if kind == "categorical":
                self.levels_[col] = pd.Index(train[col].value_counts().index[:ONE_HOT_LEVELS])
            else:
                x = train[col].to_numpy(dtype=float)
                self.knots_[col] = _cdf_knots(x[~np.isnan(x)])
                self.indicator_[col] = any(f[col].isna().any() for f in (train, *others))
        return self

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Encoded float32 matrix, one row per row of ``frame``."""
        blocks = []
        for col, kind in self.kinds.items():
            w = float(self.weights.get(col, 1.0))
            if kind == "categorical":
                levels = self.levels_[col]
                idx = levels.get_indexer(frame[col].to_numpy(dtype=object))
                block = np.zeros((len(frame), len(levels)), dtype=np.float32)
                ok = idx >= 0
                block[np.flatnonzero(ok), idx[ok]] = _INV_SQRT2 * w
                blocks.append(block)
            else:
                xs, ys = self.knots_[col]
                x = frame[col].to_numpy(dtype=float)
                miss = np.isnan(x)
                cdf = np.interp(np.where(miss, 0.0, x), xs, ys) if len(xs) else np.zeros(len(x))
                cdf = np.where(miss, 0.0, cdf) * w
                blocks.append(cdf[:, None].astype(np.float32))
                if self.indicator_[col]:
                    blocks.append((miss * w)[:, None].astype(np.float32))
        if not blocks:
            return np.zeros((len(frame), 0), dtype=np.float32)
        return np.hstack(blocks)


def _cdf_knots(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Knots of the training column's empirical CDF, linearly interpolated.

    Each distinct training value sits at its mid-rank ``(rows below + ties / 2) / n``; values in
    between are interpolated (so unseen values do not collapse onto a grid), and the CDF runs
    linearly from 0 at ``min - range`` to 1 at ``max + range`` outside the training range.
    """
    if len(values) == 0:
        return np.array([]), np.array([])
    uniq, counts = np.unique(values, return_counts=True)
    mid = (np.cumsum(counts) - counts / 2.0) / len(values)
    span = float(uniq[-1] - uniq[0]) or 1.0
    xs = np.r_[uniq[0] - span, uniq, uniq[-1] + span]
    ys = np.r_[0.0, mid, 1.0]
    return xs, ys


def nearest_distances(
    reference: np.ndarray, query: np.ndarray, k: int = 1, n_jobs: int = 1
) -> np.ndarray:
    """Distances (``len(query)`` × ``k``) from each query row to its ``k`` nearest reference rows.

    Uses a KD-tree for low-dimensional data and chunked brute force otherwise, so memory stays
    bounded whatever the table sizes.

    Examples
    --------
    >>> ref = np.array([[0.0], [1.0], [3.0]])
    >>> nearest_distances(ref, np.array([[0.9]]), k=2).round(2).tolist()
    [[0.1, 0.9]]
    """
    import sklearn
    from sklearn.neighbors import NearestNeighbors

    k = min(k, len(reference))
    algorithm = "kd_tree" if reference.shape[1] <= KD_TREE_MAX_DIM else "brute"
    from threadpoolctl import threadpool_limits

    with sklearn.config_context(working_memory=WORKING_MEMORY_MB), threadpool_limits(n_jobs):
        nn = NearestNeighbors(n_neighbors=k, algorithm=algorithm, n_jobs=n_jobs).fit(reference)
        dist, _ = nn.kneighbors(query, return_distance=True)
    return np.maximum(dist.astype(np.float64), 0.0)


def _row_hashes(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    sub = frame[list(columns)].copy()
    for col in sub.columns:
        if pd.api.types.is_numeric_dtype(sub[col].dtype):  # numbers and booleans
            sub[col] = sub[col].astype(float).fillna(-1.2345e308)
        else:  # text: object, or pandas 3's default string dtype
            sub[col] = sub[col].astype(object).where(sub[col].notna(), "\x00<NA>")
    return pd.util.hash_pandas_object(sub, index=False).to_numpy()


def exact_copies(
    train: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame | None = None,
    columns: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Count synthetic rows equal to a training row on ``columns`` (default: all).

    Returns ``count``, ``share``, and (with a holdout) ``holdout_count`` / ``holdout_share``:
    the same for holdout rows, the natural rate of coincidences.

    Examples
    --------
    >>> t = pd.DataFrame({"a": ["x", "y"], "b": [1.0, 2.0]})
    >>> exact_copies(t, t.iloc[[0, 0, 1]])["count"]
    3
    """
    columns = list(columns) if columns is not None else list(train.columns)
    known = np.unique(_row_hashes(train, columns))
    hits = np.isin(_row_hashes(synthetic, columns), known, assume_unique=False)
    out: dict[str, Any] = {"columns": columns, "count": int(hits.sum()),
                           "share": float(hits.mean()) if len(hits) else 0.0}
    if holdout is not None:
        h = np.isin(_row_hashes(holdout, columns), known)
        out["holdout_count"] = int(h.sum())
        out["holdout_share"] = float(h.mean()) if len(h) else 0.0
    return out


def quasi_identifier_risk(
    train: pd.DataFrame, synthetic: pd.DataFrame, quasi_identifiers: Sequence[str]
) -> dict[str, Any]:
    """k-anonymity of the synthetic table and singling-out counts over ``quasi_identifiers``.

    Returns ``k_anonymity`` (smallest synthetic class size), ``singling_out`` (synthetic rows
    whose combination matches exactly one real training row), ``singling_out_share`` and
    ``unique_real_combinations``.

    Examples
    --------
    >>> t = pd.DataFrame({"zip": ["1", "1", "2"], "age": [30.0, 30.0, 40.0]})
    >>> quasi_identifier_risk(t, t, ["zip", "age"])["singling_out"]
    1
    """
    qi = list(quasi_identifiers)
    real_h = pd.Series(_row_hashes(train, qi))
    syn_h = pd.Series(_row_hashes(synthetic, qi))
    real_counts = real_h.value_counts()
    unique_real = set(real_counts.index[real_counts == 1].tolist())
    single = syn_h.isin(unique_real).to_numpy()
    syn_counts = syn_h.value_counts()
    return {
        "columns": qi,
        "k_anonymity": int(syn_counts.min()) if len(syn_counts) else None,
        "synthetic_classes": len(syn_counts),
        "singling_out": int(single.sum()),
        "singling_out_share": float(single.mean()) if len(single) else 0.0,
        "unique_real_combinations": len(unique_real),
    }


def entropy_weights(train: pd.DataFrame, kinds: Mapping[str, str]) -> dict[str, float]:
    """Inverse-entropy column weights of ADS-GAN's identifiability score."""
    weights = {}
    for col, kind in kinds.items():
        s = train[col]
        if kind == "categorical":
            counts = s.astype(object).where(s.notna(), "\x00<NA>").value_counts().to_numpy()
        else:
            x = s.to_numpy(dtype=float)
            x = x[~np.isnan(x)]
            if len(x) == 0:
                counts = np.array([1])
            else:
                edges = np.unique(np.quantile(x, np.linspace(0, 1, 21)))
                codes = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, None)
                counts = np.bincount(codes)
                counts = np.r_[counts, int(s.isna().sum())]
        p = counts[counts > 0] / counts.sum()
        h = float(-(p * np.log(p)).sum())
        weights[col] = 1.0 / h if h > 1e-12 else 1.0
    total = sum(weights.values())
    return {c: w * len(weights) / total for c, w in weights.items()}


def _auc_se_null(n1: int, n2: int) -> float:
    """Standard error of an AUC when the scores carry no signal (Mann–Whitney null)."""
    return math.sqrt((n1 + n2 + 1) / (12.0 * n1 * n2)) if n1 and n2 else 0.5


def _tpr_at_fpr(y: np.ndarray, score: np.ndarray, fpr_max: float = 0.01) -> float:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(y, score)
    ok = fpr <= fpr_max
    return float(tpr[ok].max()) if ok.any() else 0.0


def _attack(y: np.ndarray, score: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score

    return {"auc": float(roc_auc_score(y, score)), "tpr_at_1pct_fpr": _tpr_at_fpr(y, score)}


def _hist(values: list[np.ndarray], bins: int = 40) -> dict[str, Any]:
    finite = np.concatenate([v[np.isfinite(v)] for v in values if len(v)])
    hi = float(np.quantile(finite, 0.995)) if len(finite) else 1.0
    edges = np.linspace(0.0, hi if hi > 0 else 1.0, bins + 1)
    return {
        "edges": [float(e) for e in edges],
        "counts": [np.histogram(np.clip(v, 0, edges[-1]), edges)[0].tolist() for v in values],
    }


def privacy_metrics(
    train: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame | None,
    kinds: Mapping[str, str],
    *,
    quasi_identifiers: Sequence[str] | None = None,
    max_rows: int | None = 10_000,
    random_state: int = 0,
    n_jobs: int = 1,
) -> dict[str, Any]:
    """Every privacy metric of the module docstring, in one dict.

    Sections: ``dcr``, ``exact_copies``, ``quasi_identifiers`` (when given),
    ``identifiability``, ``mia`` (needs a holdout) and ``rows`` (sizes used); plus
    ``histogram`` (DCR histograms for the report) and ``skipped`` (metric -> reason).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> t = pd.DataFrame({"x": rng.normal(size=300)})
    >>> h = pd.DataFrame({"x": rng.normal(size=300)})
    >>> s = pd.DataFrame({"x": rng.normal(size=300)})
    >>> 0.4 < privacy_metrics(t, s, h, {"x": "numeric"})["dcr"]["share"] < 0.6
    True
    """
    rng = np.random.default_rng(random_state)
    cols = list(kinds)
    skipped: dict[str, str] = {}
    out: dict[str, Any] = {}
    if quasi_identifiers:
        unknown = [c for c in quasi_identifiers if c not in train.columns]
        if unknown:
            raise InvalidDataError(
                f"quasi-identifier column(s) {unknown} are not evaluated columns; "
                f"choose among {cols}."
            )
    out["exact_copies"] = exact_copies(train, synthetic, holdout, cols)
    if quasi_identifiers:
        qi = exact_copies(train, synthetic, holdout, quasi_identifiers)
        qi.update(quasi_identifier_risk(train, synthetic, quasi_identifiers))
        out["quasi_identifiers"] = qi
    else:
        skipped["quasi_identifiers"] = "no quasi-identifier columns given (--quasi-identifier)"

    # equal-sized training and holdout samples, synthetic at most as many
    n = len(train) if holdout is None else min(len(train), len(holdout))
    if max_rows is not None:
        n = min(n, max_rows)

    def take(df: pd.DataFrame, m: int) -> pd.DataFrame:
        if len(df) <= m:
            return df.reset_index(drop=True)
        return df.iloc[np.sort(rng.choice(len(df), m, replace=False))].reset_index(drop=True)

    tr = take(train, n)
    ho = take(holdout, n) if holdout is not None else None
    # the attacker of the membership-inference test holds more of the synthetic table
    sy_attack = take(synthetic, 2 * n)
    sy = sy_attack if len(sy_attack) <= n else take(sy_attack, n)
    out["rows"] = {"train": len(tr), "holdout": 0 if ho is None else len(ho), "synthetic": len(sy),
                   "synthetic_attack": len(sy_attack)}
    enc = DistanceEncoder(kinds).fit(train, synthetic, *([holdout] if holdout is not None else []))
    e_tr, e_sy = enc.transform(tr), enc.transform(sy)
    e_ho = enc.transform(ho) if ho is not None else None

    d_st = nearest_distances(e_tr, e_sy, k=2, n_jobs=n_jobs)
    dcr_st = d_st[:, 0]
    nndr = _nndr(d_st)
    dcr: dict[str, Any] = {
        "synthetic_to_train_median": float(np.median(dcr_st)),
        "synthetic_to_train_mean": float(np.mean(dcr_st)),
        "synthetic_to_train_p05": float(np.quantile(dcr_st, 0.05)),
        "nndr_median": float(np.median(nndr)),
        "nndr_p10": float(np.quantile(nndr, 0.10)),
    }
    hist_values = [dcr_st]
    if e_ho is not None:
        dcr_sh = nearest_distances(e_ho, e_sy, k=1, n_jobs=n_jobs)[:, 0]
        d_ht = nearest_distances(e_tr, e_ho, k=2, n_jobs=n_jobs)
        dcr_ht = d_ht[:, 0]
        nndr_h = _nndr(d_ht)
        med_sh = float(np.median(dcr_sh))
        dcr.update(
            share=float(np.mean(dcr_st < dcr_sh) + 0.5 * np.mean(dcr_st == dcr_sh)),
            share_se=0.5 / math.sqrt(len(dcr_st)),
            synthetic_to_holdout_median=med_sh,
            holdout_to_train_median=float(np.median(dcr_ht)),
            holdout_to_train_p05=float(np.quantile(dcr_ht, 0.05)),
            median_ratio=(float(np.median(dcr_st)) / med_sh) if med_sh > 0 else None,
            nndr_holdout_median=float(np.median(nndr_h)),
            nndr_holdout_p10=float(np.quantile(nndr_h, 0.10)),
        )
        hist_values += [dcr_sh, dcr_ht]
    else:
        for key in ("dcr_share", "dcr_median_ratio", "mia_auc"):
            skipped[key] = "needs a holdout table (--holdout): real rows the generator never saw"
    out["dcr"] = dcr
    out["histogram"] = _hist(hist_values)
    out["histogram"]["series"] = ["synthetic → train", "synthetic → holdout",
                                  "holdout → train"][: len(hist_values)]

    # identifiability (ADS-GAN), weighted encoding
    weights = entropy_weights(train, kinds)
    wenc = DistanceEncoder(kinds, weights).fit(train, synthetic,
                                               *([holdout] if holdout is not None else []))
    w_tr, w_sy = wenc.transform(tr), wenc.transform(sy)
    r_real = nearest_distances(w_tr, w_tr, k=2, n_jobs=n_jobs)[:, -1]
    r_syn = nearest_distances(w_sy, w_tr, k=1, n_jobs=n_jobs)[:, 0]
    ident: dict[str, Any] = {"score": float(np.mean(r_syn < r_real))}
    if ho is not None:
        r_hol = nearest_distances(wenc.transform(ho), w_tr, k=1, n_jobs=n_jobs)[:, 0]
        ident["holdout_baseline"] = float(np.mean(r_hol < r_real))
    out["identifiability"] = ident

    if ho is not None and e_ho is not None:
        out["mia"] = _membership_inference(
            tr, ho, sy_attack, e_tr, e_ho, enc.transform(sy_attack), kinds, rng, random_state,
            n_jobs,
        )
    out["skipped"] = skipped
    return out


def _nndr(d: np.ndarray) -> np.ndarray:
    if d.shape[1] < 2:
        return np.ones(len(d))
    d1, d2 = d[:, 0], d[:, 1]
    return np.where(d2 > 0, d1 / np.where(d2 > 0, d2, 1.0), 1.0)


def _membership_inference(
    tr: pd.DataFrame,
    ho: pd.DataFrame,
    sy: pd.DataFrame,
    e_tr: np.ndarray,
    e_ho: np.ndarray,
    e_sy: np.ndarray,
    kinds: Mapping[str, str],
    rng: np.random.Generator,
    random_state: int,
    n_jobs: int,
) -> dict[str, Any]:
    import lightgbm as lgb

    # holdout halves: one is the attacker's real reference, the other the non-members
    perm = rng.permutation(len(ho))
    half = len(ho) // 2
    ref_idx, non_idx = perm[:half], perm[half:]
    m = len(non_idx)
    mem_idx = rng.choice(len(tr), size=min(m, len(tr)), replace=False)
    y = np.r_[np.ones(len(mem_idx)), np.zeros(len(non_idx))]

    # distance attack: closer to a synthetic row -> more likely a member
    cand = np.vstack([e_tr[mem_idx], e_ho[non_idx]])
    dist = nearest_distances(e_sy, cand, k=1, n_jobs=n_jobs)[:, 0]
    distance = _attack(y, -dist)

    # density-ratio attack: p_synthetic(x) / p_real(x) from a classifier
    x_syn, x_ref, x_mem, x_non = lgbm_frame(
        [sy, ho.iloc[ref_idx].reset_index(drop=True),
         tr.iloc[mem_idx].reset_index(drop=True), ho.iloc[non_idx].reset_index(drop=True)],
        kinds,
    )
    x_fit = pd.concat([x_syn, x_ref], ignore_index=True)
    y_fit = np.r_[np.ones(len(x_syn)), np.zeros(len(x_ref))]
    model = lgb.LGBMClassifier(**lgbm_params(random_state, n_jobs))
    model.fit(x_fit, y_fit, sample_weight=np.r_[np.full(len(x_syn), len(x_ref) / len(x_syn)),
                                                np.ones(len(x_ref))])
    p = model.predict_proba(pd.concat([x_mem, x_non], ignore_index=True))[:, 1]
    density = _attack(y, p / np.clip(1 - p, 1e-9, None))
    best = "distance" if distance["auc"] >= density["auc"] else "density_ratio"
    chosen = distance if best == "distance" else density
    return {
        "auc": chosen["auc"],
        "tpr_at_1pct_fpr": chosen["tpr_at_1pct_fpr"],
        "strongest_attack": best,
        "distance": distance,
        "density_ratio": density,
        "auc_se_null": _auc_se_null(len(mem_idx), len(non_idx)),
        "members": len(mem_idx),
        "non_members": len(non_idx),
        "reference_rows": len(ref_idx),
    }
