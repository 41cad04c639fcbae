"""Utility: is a model trained on the synthetic table as good as one trained on the real one?

All functions take *prepared* frames (see :func:`lookalike.evaluate.prepare`) and need a
holdout table: real rows the generator never saw, used as the test set.

Definitions
-----------
**TSTR / TRTR** (train on synthetic / real, test on real): a LightGBM model with its default
hyper-parameters (seeded, deterministic) is fitted on the synthetic table and, separately, on
the real training table, to predict the target from every other evaluated column; both are
scored on the holdout. For a categorical target: ROC AUC (binary: of the second class in sorted
order; multi-class: one-vs-one macro average, ``sklearn.metrics.roc_auc_score(...,
multi_class="ovo")``) and accuracy. For a numeric target: MAE and R². The *utility gap* is
TRTR − TSTR of the AUC (classification) or of R² (regression): 0 means the synthetic table is
as useful as the real one for this task.

**Regression protocol** (the Linear Encoding paper): for each of ``seeds`` seeds, draw
``rows`` rows (without replacement) of the real training table and of the synthetic table,
fit scikit-learn's ``ElasticNetCV`` (the glmnet model: elastic-net penalty, λ chosen by
k-fold cross-validation) on each, and measure the mean absolute deviation
``MAD = mean |y − ŷ|`` on the holdout. The two MAD distributions (real-trained vs
synthetic-trained) are compared with Welch's unequal-variance t-test; a large p-value means no
detectable loss. Features are one-hot encoded categoricals (the 50 most frequent real values)
and standardised numerics (missing -> the real mean). A numeric target is used as is; a binary
categorical target as a 0/1 indicator of its second class (a linear probability model);
multi-class targets are skipped.

**Feature-importance agreement**: Spearman rank correlation between the gain importances of
the TRTR and TSTR LightGBM models (1 = the synthetic data ranks the drivers of the target in
the same order).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from lookalike.errors import InvalidDataError
from lookalike.evaluate.fidelity import lgbm_frame, lgbm_params

log = logging.getLogger(__name__)

ONE_HOT_LEVELS = 50


def infer_task(real: pd.Series, kind: str) -> str:
    """``classification`` for a categorical target, or a numeric one holding at most 10
    distinct integer values; ``regression`` otherwise.

    Examples
    --------
    >>> infer_task(pd.Series([0.0, 1.0, 1.0]), "numeric")
    'classification'
    """
    if kind == "categorical":
        return "classification"
    values = real.dropna().to_numpy(dtype=float)
    if len(np.unique(values)) <= 10 and np.all(np.mod(values, 1) == 0):
        return "classification"
    return "regression"


def check_target(train: pd.Series, name: str) -> None:
    """Raise :class:`InvalidDataError` when the real target cannot support a model."""
    values = train.dropna()
    if len(values) == 0:
        raise InvalidDataError(
            f"target column {name!r} is entirely missing in the real table: choose a column "
            "with values."
        )
    if values.nunique() < 2:
        raise InvalidDataError(
            f"target column {name!r} is constant in the real table (every value is "
            f"{values.iloc[0]!r}): there is nothing to predict; choose another target."
        )


def _labels(series: pd.Series, classes: list[str]) -> np.ndarray:
    index = pd.Index(classes)
    return index.get_indexer(series.astype(str).to_numpy(dtype=object))


def _fit_predict_classifier(
    x_train: pd.DataFrame,
    y_train: np.ndarray,
    x_test: pd.DataFrame,
    n_classes: int,
    random_state: int,
    n_jobs: int,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Class probabilities (n_test × n_classes) and gain importances (None if no model)."""
    import lightgbm as lgb

    present = np.unique(y_train)
    proba = np.zeros((len(x_test), n_classes))
    if len(present) < 2:
        proba[:, present[0]] = 1.0
        return proba, None
    model = lgb.LGBMClassifier(**lgbm_params(random_state, n_jobs))
    model.fit(x_train, y_train)
    proba[:, model.classes_] = model.predict_proba(x_test)
    return proba, model.booster_.feature_importance(importance_type="gain")


def _classification_scores(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, roc_auc_score

    present = np.unique(y)
    acc = float(accuracy_score(y, proba.argmax(axis=1)))
    if len(present) < 2:
        return {"auc": None, "accuracy": acc}
    if proba.shape[1] == 2:
        auc = float(roc_auc_score(y, proba[:, 1]))
    else:
        p = proba[:, present]
        sums = p.sum(axis=1, keepdims=True)
        p = np.where(sums > 0, p / np.where(sums > 0, sums, 1), 1.0 / len(present))
        if len(present) == 2:
            auc = float(roc_auc_score(y == present[1], p[:, 1]))
        else:
            auc = float(roc_auc_score(y, p, multi_class="ovo", average="macro", labels=present))
    return {"auc": auc, "accuracy": acc}


def _spearman(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
    from scipy.stats import spearmanr

    if a is None or b is None or np.std(a) == 0 or np.std(b) == 0:
        return None
    return float(spearmanr(a, b).statistic)


def tstr(
    train: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame,
    target: str,
    kinds: Mapping[str, str],
    *,
    task: str = "auto",
    max_rows: int | None = 100_000,
    random_state: int = 0,
    n_jobs: int = 1,
) -> dict[str, Any]:
    """Train-synthetic-test-real vs train-real-test-real with LightGBM (module docstring).

    Returns ``task``, ``tstr`` and ``trtr`` (each ``{"auc", "accuracy"}`` or
    ``{"mae", "r2"}``), ``gap``, ``classes`` (classification), ``feature_importance``
    (``{"spearman", "features", "real", "synthetic"}``) and ``notes``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"x": rng.normal(size=600)})
    >>> df["y"] = np.where(df["x"] + rng.normal(size=600) > 0, "a", "b")
    >>> k = {"x": "numeric", "y": "categorical"}
    >>> res = tstr(df[:300], df[:300], df[300:], "y", k)
    >>> res["gap"]
    0.0
    """
    from sklearn.metrics import mean_absolute_error, r2_score

    check_target(train[target], target)
    if task == "auto":
        task = infer_task(train[target], kinds[target])
    notes: list[str] = []
    rng = np.random.default_rng(random_state)
    frames = {}
    for name, df in (("real", train), ("synthetic", synthetic), ("holdout", holdout)):
        keep = df[target].notna()
        if (~keep).any():
            notes.append(f"{int((~keep).sum())} {name} row(s) with a missing target were dropped.")
        df = df[keep].reset_index(drop=True)
        if name != "holdout" and max_rows is not None and len(df) > max_rows:
            df = df.iloc[np.sort(rng.choice(len(df), max_rows, replace=False))]
            df = df.reset_index(drop=True)
        frames[name] = df
    if len(frames["synthetic"]) == 0:
        raise InvalidDataError(
            f"every synthetic row has a missing target {target!r}: the synthetic table cannot "
            "train a model."
        )
    features = {c: k for c, k in kinds.items() if c != target}
    if not features:
        raise InvalidDataError(
            f"the table has no column besides the target {target!r} to predict it from."
        )
    x_real, x_syn, x_hold = lgbm_frame(
        [frames["real"], frames["synthetic"], frames["holdout"]], features
    )
    out: dict[str, Any] = {"task": task, "target": target, "rows_real": len(x_real),
                           "rows_synthetic": len(x_syn), "rows_holdout": len(x_hold)}
    if task == "classification":
        classes = sorted(
            set(frames["real"][target].astype(str)) | set(frames["holdout"][target].astype(str))
        )
        syn_y = frames["synthetic"][target].astype(str)
        unseen = sorted(set(syn_y) - set(classes))
        if unseen:
            notes.append(f"synthetic target values not in the real data were dropped: {unseen[:5]}")
            keep = syn_y.isin(classes).to_numpy()
            x_syn, frames["synthetic"] = x_syn[keep], frames["synthetic"][keep]
        y_real = _labels(frames["real"][target], classes)
        y_syn = _labels(frames["synthetic"][target], classes)
        y_hold = _labels(frames["holdout"][target], classes)
        if len(np.unique(y_syn)) < 2:
            notes.append(
                "the synthetic target has a single class: the synthetic-trained model predicts "
                "it for every row (AUC 0.5)."
            )
        p_real, imp_real = _fit_predict_classifier(
            x_real, y_real, x_hold, len(classes), random_state, n_jobs)
        p_syn, imp_syn = _fit_predict_classifier(
            x_syn, y_syn, x_hold, len(classes), random_state, n_jobs)
        out["classes"] = classes
        out["trtr"] = _classification_scores(y_hold, p_real)
        out["tstr"] = _classification_scores(y_hold, p_syn)
        if out["tstr"]["auc"] is None and len(np.unique(y_syn)) < 2:
            out["tstr"]["auc"] = 0.5
        key = "auc"
    else:
        import lightgbm as lgb

        y_real = frames["real"][target].to_numpy(dtype=float)
        y_syn = frames["synthetic"][target].to_numpy(dtype=float)
        y_hold = frames["holdout"][target].to_numpy(dtype=float)
        res = {}
        imps = {}
        for name, x, y in (("trtr", x_real, y_real), ("tstr", x_syn, y_syn)):
            model = lgb.LGBMRegressor(**lgbm_params(random_state, n_jobs)).fit(x, y)
            pred = model.predict(x_hold)
            res[name] = {"mae": float(mean_absolute_error(y_hold, pred)),
                         "r2": float(r2_score(y_hold, pred))}
            imps[name] = model.booster_.feature_importance(importance_type="gain")
        out.update(res)
        imp_real, imp_syn = imps["trtr"], imps["tstr"]
        key = "r2"
    a, b = out["trtr"][key], out["tstr"][key]
    out["gap"] = None if a is None or b is None else float(a - b)
    out["gap_metric"] = key
    names = list(x_real.columns)
    out["feature_importance"] = {
        "spearman": _spearman(imp_real, imp_syn),
        "features": names,
        "real": None if imp_real is None else [float(v) for v in imp_real],
        "synthetic": None if imp_syn is None else [float(v) for v in imp_syn],
    }
    out["notes"] = notes
    return out


class _LinearDesign:
    """One-hot + standardised design matrix, learned on the real training table."""

    def __init__(self, frame: pd.DataFrame, kinds: Mapping[str, str]) -> None:
        self.kinds = dict(kinds)
        self.levels: dict[str, pd.Index] = {}
        self.stats: dict[str, tuple[float, float]] = {}
        for col, kind in self.kinds.items():
            if kind == "categorical":
                top = frame[col].value_counts().index[:ONE_HOT_LEVELS]
                self.levels[col] = pd.Index(top)
            else:
                x = frame[col].to_numpy(dtype=float)
                mu = float(np.nanmean(x)) if np.isfinite(x).any() else 0.0
                sd = float(np.nanstd(x)) if np.isfinite(x).any() else 1.0
                self.stats[col] = (mu, sd if sd > 0 else 1.0)

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        blocks = []
        for col, kind in self.kinds.items():
            if kind == "categorical":
                idx = self.levels[col].get_indexer(frame[col].to_numpy(dtype=object))
                block = np.zeros((len(frame), len(self.levels[col])))
                ok = idx >= 0
                block[np.flatnonzero(ok), idx[ok]] = 1.0
            else:
                mu, sd = self.stats[col]
                x = frame[col].to_numpy(dtype=float)
                block = ((np.where(np.isnan(x), mu, x) - mu) / sd)[:, None]
            blocks.append(block)
        return np.hstack(blocks) if blocks else np.zeros((len(frame), 0))


def regression_protocol(
    train: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame,
    target: str,
    kinds: Mapping[str, str],
    *,
    seeds: int = 30,
    rows: int = 2_000,
    l1_ratio: float = 0.5,
    n_alphas: int = 30,
    cv: int = 5,
    random_state: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Repeated ElasticNetCV fits on real vs synthetic, Welch's t-test on holdout MAD.

    Returns ``mad_real_mean``, ``mad_synthetic_mean``, their standard deviations, ``t``,
    ``pvalue``, ``seeds``, ``rows``, ``response`` and the per-seed ``mad_real`` /
    ``mad_synthetic`` lists; or ``{"skipped": reason}`` for a multi-class target.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"x": rng.normal(size=400)})
    >>> df["y"] = 2 * df["x"] + rng.normal(size=400)
    >>> k = {"x": "numeric", "y": "numeric"}
    >>> res = regression_protocol(df[:200], df[:200], df[200:], "y", k, seeds=3, rows=100)
    >>> res["mad_real_mean"] == res["mad_synthetic_mean"]
    True
    """
    import warnings

    from scipy.stats import ttest_ind
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import ElasticNetCV
    from sklearn.model_selection import KFold

    check_target(train[target], target)
    kind = kinds[target]
    if kind == "categorical":
        classes = sorted(set(train[target].dropna().astype(str)))
        if len(classes) > 2:
            return {"skipped": f"target {target!r} has {len(classes)} classes; the linear "
                               "protocol needs a numeric or binary target."}
        positive = classes[1]

        def response(df: pd.DataFrame) -> np.ndarray:
            return (df[target].astype(str) == positive).to_numpy(dtype=float)

        response_desc = f"1 if {target} == {positive!r} else 0"
    else:

        def response(df: pd.DataFrame) -> np.ndarray:
            return df[target].to_numpy(dtype=float)

        response_desc = f"{target} (numeric)"
    frames = {n: d[d[target].notna()].reset_index(drop=True)
              for n, d in (("real", train), ("synthetic", synthetic), ("holdout", holdout))}
    features = {c: k for c, k in kinds.items() if c != target}
    design = _LinearDesign(frames["real"], features)
    x = {n: design.transform(d) for n, d in frames.items()}
    y = {n: response(d) for n, d in frames.items()}
    rng = np.random.default_rng(random_state)
    mads: dict[str, list[float]] = {"real": [], "synthetic": []}
    for s in range(seeds):
        seed = int(rng.integers(0, 2**31 - 1))
        for name in ("real", "synthetic"):
            n = len(y[name])
            idx = np.random.default_rng(seed).choice(n, size=min(rows, n), replace=False)
            xs, ys = x[name][idx], y[name][idx]
            if np.std(ys) == 0:
                pred = np.full(len(y["holdout"]), ys[0] if len(ys) else 0.0)
            else:
                model = ElasticNetCV(
                    l1_ratio=l1_ratio,
                    alphas=n_alphas,
                    cv=KFold(n_splits=min(cv, len(ys)), shuffle=True, random_state=seed),
                    max_iter=2000,
                    tol=1e-3,
                    precompute=True,
                )
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    model.fit(xs, ys)
                pred = model.predict(x["holdout"])
            mads[name].append(float(np.mean(np.abs(y["holdout"] - pred))))
        if progress is not None:
            progress(s + 1, seeds)
    a, b = np.array(mads["real"]), np.array(mads["synthetic"])
    if np.allclose(a, b) or (a.std() == 0 and b.std() == 0):
        t_stat, pvalue = 0.0, 1.0
    else:
        res = ttest_ind(a, b, equal_var=False)
        t_stat, pvalue = float(res.statistic), float(res.pvalue)
    return {
        "response": response_desc,
        "seeds": seeds,
        "rows": min(rows, len(y["real"])),
        "l1_ratio": l1_ratio,
        "mad_real_mean": float(a.mean()),
        "mad_synthetic_mean": float(b.mean()),
        "mad_real_std": float(a.std(ddof=1)) if len(a) > 1 else 0.0,
        "mad_synthetic_std": float(b.std(ddof=1)) if len(b) > 1 else 0.0,
        "t": t_stat,
        "pvalue": pvalue,
        "mad_real": mads["real"],
        "mad_synthetic": mads["synthetic"],
    }
