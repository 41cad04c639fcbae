"""``evaluate()``: fidelity, utility and privacy of a synthetic table, as one JSON document.

The result (``EvaluationResult.metrics``, written as ``metrics.json``) has these top-level
sections; the keys below are stable (new keys may be added, none renamed or removed without a
change of ``format_version``):

``format_version``
    ``1``.
``summary``
    A flat mapping of headline numbers (``null`` when not computed; ``meta.skipped`` says
    why). These are the keys ``--require`` accepts:

    ========================  ==============================================================
    fidelity                  overall fidelity score in [0, 1] (:mod:`.fidelity`)
    column_fidelity           mean per-column score (1 − KS or 1 − TVD)
    pair_fidelity             mean score of informative pairs (correlation / contingency)
    qa_accuracy               mostlyai-qa overall accuracy = mean of the three below
    qa_univariate             mostlyai-qa univariate accuracy
    qa_bivariate              mostlyai-qa bivariate accuracy
    qa_trivariate             mostlyai-qa trivariate accuracy
    discriminator_auc         cross-validated real-vs-synthetic LightGBM AUC (0.5 = ideal)
    tstr_auc, trtr_auc        ROC AUC on the holdout, trained on synthetic / on real
    tstr_accuracy             accuracy on the holdout, trained on synthetic (classification)
    trtr_accuracy             accuracy on the holdout, trained on real (classification)
    tstr_r2, trtr_r2          R² on the holdout (regression)
    tstr_mae, trtr_mae        mean absolute error on the holdout (regression)
    utility_gap               TRTR − TSTR of the AUC (classification) or R² (regression)
    importance_spearman       rank correlation of real- and synthetic-trained importances
    regression_mad_real       mean holdout MAD of ElasticNetCV fits on real rows
    regression_mad_synthetic  mean holdout MAD of ElasticNetCV fits on synthetic rows
    regression_pvalue         Welch t-test p-value comparing the two MAD distributions
    dcr_share                 share of synthetic rows closer to train than holdout (0.5 ideal)
    dcr_median_ratio          median DCR to train / median DCR to holdout (1 ideal)
    dcr_median                median distance of synthetic rows to their closest train row
    nndr_median               median nearest / second-nearest train distance ratio
    exact_copies              synthetic rows identical to a training row (count)
    exact_copy_share          the same as a share of synthetic rows
    exact_copy_share_holdout  share of holdout rows identical to a training row (baseline)
    qi_copies                 synthetic rows whose quasi-identifiers match a training row
    qi_copy_share             the same as a share
    k_anonymity               smallest synthetic class size over the quasi-identifiers
    singling_out              synthetic rows matching exactly one real row on the QIs
    singling_out_share        the same as a share
    identifiability           ADS-GAN identifiability score (≈ 0.5 for a fresh sample)
    identifiability_holdout   the same with the holdout in place of the synthetic table
    mia_auc                   membership-inference AUC, strongest attack (0.5 = ideal)
    mia_tpr_at_1pct_fpr       its true-positive rate at 1% false-positive rate
    ========================  ==============================================================

``verdict``
    ``fidelity`` / ``utility`` (``good``, ``fair``, ``poor`` or ``unknown``), ``privacy``
    (``pass``, ``warn``, ``fail`` or ``unknown``) and ``privacy_reasons`` (sentences).
``meta``
    ``lookalike_version``, ``created``, ``random_state``, ``target``, ``task``, ``columns``
    (evaluated column -> kind), ``excluded`` (column -> reason), ``rows`` (rows given per
    table), ``sampling`` (per table: rows given and rows used after the global cap),
    ``sample_sizes`` (rows each metric used), ``skipped`` (summary key -> reason),
    ``notes``, ``timings`` (seconds per step), ``config``.
``fidelity``
    ``columns`` (list, see :func:`.fidelity.column_metrics`), ``pairs`` (list, see
    :func:`.fidelity.pair_metrics`), ``pairs_total``, ``qa`` (:func:`.fidelity.qa_accuracy`),
    ``discriminator`` (:func:`.fidelity.discriminator_auc`).
``utility``
    ``tstr`` (:func:`.utility.tstr`) and ``regression`` (:func:`.utility.regression_protocol`).
``privacy``
    :func:`.privacy.privacy_metrics` without its histogram.
``plots``
    Compact data behind the report's figures: ``columns`` (binned distributions),
    ``association`` (real and synthetic association matrices), ``dcr`` (DCR histograms).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lookalike.errors import InvalidDataError, InvalidParameterError
from lookalike.evaluate import _data
from lookalike.schema.spec import Schema

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
ProgressCallback = Callable[[str, int, int], None]

SUMMARY_KEYS: tuple[str, ...] = (
    "fidelity", "column_fidelity", "pair_fidelity",
    "qa_accuracy", "qa_univariate", "qa_bivariate", "qa_trivariate",
    "discriminator_auc",
    "tstr_auc", "trtr_auc", "tstr_accuracy", "trtr_accuracy",
    "tstr_r2", "trtr_r2", "tstr_mae", "trtr_mae",
    "utility_gap", "importance_spearman",
    "regression_mad_real", "regression_mad_synthetic", "regression_pvalue",
    "dcr_share", "dcr_median_ratio", "dcr_median", "nndr_median",
    "exact_copies", "exact_copy_share", "exact_copy_share_holdout",
    "qi_copies", "qi_copy_share", "k_anonymity", "singling_out", "singling_out_share",
    "identifiability", "identifiability_holdout",
    "mia_auc", "mia_tpr_at_1pct_fpr",
)  # fmt: skip

METRIC_GROUPS: tuple[str, ...] = (
    "fidelity", "qa", "discriminator", "utility", "regression", "privacy",
)  # fmt: skip

_NEEDS_HOLDOUT = "needs a holdout table (--holdout): real rows the generator never saw"
_NEEDS_TARGET = "needs a target column (--target)"


@dataclass(frozen=True)
class EvaluationConfig:
    """Sizes and switches of an evaluation; defaults keep Adult (32k rows) under a minute.

    Parameters
    ----------
    max_rows : rows kept per table before anything else (seeded subsample); larger tables are
        subsampled and the report says by how much.
    discriminator_rows : rows per class for the real-vs-synthetic discriminator.
    privacy_rows : rows per table for distance-based privacy metrics.
    utility_rows : training rows for TSTR / TRTR.
    regression_seeds, regression_rows : repetitions and rows per fit of the regression
        protocol.
    max_pairs, max_triples : column pairs / triples evaluated (seeded subset beyond).
    n_folds : cross-validation folds of the discriminator.
    n_jobs : threads for LightGBM, BLAS and nearest-neighbour search. More than one helps
        only on an otherwise idle machine: when cores are shared, OpenMP spin-waiting can make
        LightGBM ten times slower with 2 threads than with 1.
    metrics : which groups to compute, among ``fidelity``, ``qa``, ``discriminator``,
        ``utility``, ``regression``, ``privacy``.

    Examples
    --------
    >>> EvaluationConfig(regression_seeds=5).regression_seeds
    5
    """

    max_rows: int = 500_000
    discriminator_rows: int = 10_000
    privacy_rows: int = 10_000
    utility_rows: int = 100_000
    regression_seeds: int = 30
    regression_rows: int = 2_000
    max_pairs: int = 2_000
    max_triples: int = 10_000
    n_folds: int = 5
    n_jobs: int = 1
    metrics: tuple[str, ...] = METRIC_GROUPS

    def __post_init__(self) -> None:
        for name in ("max_rows", "discriminator_rows", "privacy_rows", "utility_rows",
                     "regression_seeds", "regression_rows", "max_pairs", "max_triples",
                     "n_jobs"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidParameterError(
                    f"The '{name}' parameter of EvaluationConfig must be an int >= 1; "
                    f"got {value!r}."
                )
        if not isinstance(self.n_folds, int) or self.n_folds < 2:
            raise InvalidParameterError(
                f"The 'n_folds' parameter of EvaluationConfig must be an int >= 2; "
                f"got {self.n_folds!r}."
            )
        unknown = [m for m in self.metrics if m not in METRIC_GROUPS]
        if unknown:
            raise InvalidParameterError(
                f"The 'metrics' parameter of EvaluationConfig names unknown group(s) {unknown}; "
                f"choose among {list(METRIC_GROUPS)}."
            )


@dataclass(frozen=True)
class EvaluationResult:
    """What :func:`evaluate` returns: the metrics document and helpers around it.

    Examples
    --------
    >>> res = EvaluationResult({"summary": {"fidelity": 0.95}})
    >>> res.summary["fidelity"]
    0.95
    """

    metrics: dict[str, Any]

    @property
    def summary(self) -> dict[str, Any]:
        """The flat headline numbers (see the module docstring)."""
        return self.metrics.get("summary", {})

    @property
    def verdict(self) -> dict[str, Any]:
        return self.metrics.get("verdict", {})

    def to_json(self, indent: int | None = 2) -> str:
        """The metrics document as JSON text (NaN and infinities become ``null``)."""
        return json.dumps(_jsonable(self.metrics), indent=indent, ensure_ascii=False)

    def check(self, requirements: Iterable[str | Requirement]) -> list[str]:
        """Failed requirements, as sentences (empty when all hold). See :func:`check_requirements`."""
        return check_requirements(self.summary, requirements, self.metrics.get("meta", {}))

    def save(self, directory: str | Path, *, html: bool = True) -> dict[str, Path]:
        """Write ``metrics.json`` (and ``report.html``) into ``directory``; return the paths."""
        from lookalike.evaluate.report import render_html

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"metrics": _write_text(out / "metrics.json", self.to_json())}
        if html:
            paths["report"] = _write_text(out / "report.html", render_html(self.metrics))
        return paths


def _write_text(path: Path, text: str) -> Path:
    try:
        from lookalike.io import write_text_atomic

        return write_text_atomic(path, text)
    except ImportError:  # pragma: no cover - io is part of the package
        path.write_text(text, encoding="utf-8")
        return path


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    return obj


# --------------------------------------------------------------------------- requirements
_REQ = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|>|<)\s*([-+0-9.eE]+)\s*$")
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
}


@dataclass(frozen=True)
class Requirement:
    """One gate on a summary key, such as ``fidelity>=0.9``.

    Examples
    --------
    >>> Requirement.parse("mia_auc<=0.55").holds(0.52)
    True
    """

    key: str
    op: str
    value: float

    @classmethod
    def parse(cls, text: str) -> Requirement:
        """Parse ``key>=x``, ``key<=x``, ``key>x`` or ``key<x`` (``key`` a summary key)."""
        m = _REQ.match(text)
        if not m:
            raise InvalidParameterError(
                f"cannot read requirement {text!r}: write it as KEY>=NUMBER (or <=, >, <), "
                "e.g. fidelity>=0.9."
            )
        key, op, raw = m.groups()
        if key not in SUMMARY_KEYS:
            raise InvalidParameterError(
                f"unknown metric {key!r} in requirement {text!r}; known metrics: "
                f"{', '.join(SUMMARY_KEYS)}."
            )
        try:
            value = float(raw)
        except ValueError:
            raise InvalidParameterError(
                f"requirement {text!r}: {raw!r} is not a number."
            ) from None
        return cls(key, op, value)

    def holds(self, actual: float) -> bool:
        return _OPS[self.op](actual, self.value)

    def __str__(self) -> str:
        return f"{self.key}{self.op}{self.value:g}"


def parse_requirements(texts: Iterable[str]) -> list[Requirement]:
    """Parse several requirements; raises on the first malformed or unknown one."""
    return [Requirement.parse(t) for t in texts]


def check_requirements(
    summary: Mapping[str, Any],
    requirements: Iterable[str | Requirement],
    meta: Mapping[str, Any] | None = None,
) -> list[str]:
    """Return a sentence for each requirement that fails (or could not be checked).

    Examples
    --------
    >>> check_requirements({"fidelity": 0.8}, ["fidelity>=0.9"])
    ['fidelity>=0.9 failed: fidelity is 0.8000']
    """
    skipped = (meta or {}).get("skipped", {})
    failures = []
    for req in requirements:
        r = req if isinstance(req, Requirement) else Requirement.parse(req)
        actual = summary.get(r.key)
        if actual is None or (isinstance(actual, float) and not math.isfinite(actual)):
            why = skipped.get(r.key, "it was not computed")
            failures.append(f"{r} could not be checked: {r.key} was not computed ({why})")
        elif not r.holds(float(actual)):
            failures.append(f"{r} failed: {r.key} is {float(actual):.4f}")
    return failures


# --------------------------------------------------------------------------- verdicts
def _grade(value: float | None, good: float, fair: float, higher_is_better: bool = True) -> str:
    if value is None:
        return "unknown"
    if not higher_is_better:
        value, good, fair = -value, -good, -fair
    return "good" if value >= good else "fair" if value >= fair else "poor"


def privacy_verdict(summary: Mapping[str, Any]) -> tuple[str, list[str]]:
    """``pass`` / ``warn`` / ``fail`` / ``unknown`` with the reasons (thresholds below).

    * exact copies beyond the holdout's natural rate: warn above 0.5 points, fail above 5;
    * DCR share: warn above 0.53, fail above 0.60;
    * membership-inference AUC: warn above 0.55, fail above 0.60;
    * identifiability above its holdout baseline: warn above 5 points.

    Examples
    --------
    >>> privacy_verdict({"dcr_share": 0.7, "mia_auc": 0.5})[0]
    'fail'
    """
    level = {"pass": 0, "warn": 1, "fail": 2}
    worst = "pass"
    reasons: list[str] = []

    def flag(status: str, text: str) -> None:
        nonlocal worst
        reasons.append(text)
        if level[status] > level[worst]:
            worst = status

    copies = summary.get("exact_copy_share")
    base = summary.get("exact_copy_share_holdout") or 0.0
    if copies is not None:
        excess = copies - base
        if excess > 0.05:
            flag("fail", f"{copies:.1%} of synthetic rows are exact copies of training rows "
                         f"(real holdout rows: {base:.1%}).")
        elif excess > 0.005:
            flag("warn", f"{copies:.1%} of synthetic rows are exact copies of training rows "
                         f"(real holdout rows: {base:.1%}).")
    share = summary.get("dcr_share")
    if share is not None:
        if share > 0.60:
            flag("fail", f"DCR share {share:.3f}: synthetic rows sit much closer to training "
                         "rows than to unseen rows (memorisation).")
        elif share > 0.53:
            flag("warn", f"DCR share {share:.3f}: synthetic rows sit somewhat closer to "
                         "training rows than to unseen rows.")
    mia = summary.get("mia_auc")
    if mia is not None:
        if mia > 0.60:
            flag("fail", f"membership-inference AUC {mia:.3f}: an attacker can tell which "
                         "rows were in the training data.")
        elif mia > 0.55:
            flag("warn", f"membership-inference AUC {mia:.3f}: an attacker learns a little "
                         "about which rows were in the training data.")
    ident, ident_base = summary.get("identifiability"), summary.get("identifiability_holdout")
    if ident is not None and ident_base is not None and ident - ident_base > 0.05:
        flag("warn", f"identifiability {ident:.3f} exceeds the fresh-sample baseline "
                     f"{ident_base:.3f}.")
    if share is None and mia is None and worst == "pass":
        return "unknown", reasons + ["no holdout table: DCR share and membership inference "
                                     "were not computed."]
    if not reasons:
        reasons.append("no sign of memorisation: synthetic rows are as far from training rows "
                       "as unseen real rows are.")
    return worst, reasons


# --------------------------------------------------------------------------- plots data
def _plot_columns(train: pd.DataFrame, synthetic: pd.DataFrame, kinds: Mapping[str, str],
                  scores: Mapping[str, float]) -> list[dict[str, Any]]:
    out = []
    for col, kind in kinds.items():
        r, s = train[col], synthetic[col]
        item: dict[str, Any] = {"column": col, "kind": kind, "score": scores.get(col),
                                "missing_real": float(r.isna().mean()),
                                "missing_synthetic": float(s.isna().mean())}
        if kind == "categorical":
            top = list(r.value_counts().index[:12])
            shares = []
            for series in (r, s):
                vc = series.value_counts(normalize=False)
                n = max(len(series), 1)
                vals = [float(vc.get(v, 0)) / n for v in top]
                other = 1.0 - sum(vals) - float(series.isna().mean())
                shares.append(vals + [max(other, 0.0), float(series.isna().mean())])
            item.update(labels=[str(v) for v in top] + ["(other)", "(missing)"],
                        real=shares[0], synthetic=shares[1])
        else:
            a = r.dropna().to_numpy(dtype=float)
            b = s.dropna().to_numpy(dtype=float)
            if len(a) == 0:
                continue
            lo, hi = np.quantile(a, [0.005, 0.995])
            if hi <= lo:
                lo, hi = float(a.min()) - 0.5, float(a.max()) + 0.5
            edges = np.linspace(lo, hi, 31)
            hr = np.histogram(np.clip(a, lo, hi), edges)[0] / max(len(a), 1)
            hs = np.histogram(np.clip(b, lo, hi), edges)[0] / max(len(b), 1) if len(b) else \
                np.zeros(30)
            item.update(edges=[float(e) for e in edges], real=hr.tolist(), synthetic=hs.tolist())
        out.append(item)
    return out


def _plot_association(cols: Sequence[str], pairs: list[dict[str, Any]]) -> dict[str, Any]:
    idx = {c: i for i, c in enumerate(cols)}
    k = len(cols)
    real = [[1.0 if i == j else None for j in range(k)] for i in range(k)]
    syn = [[1.0 if i == j else None for j in range(k)] for i in range(k)]
    for p in pairs:
        i, j = idx[p["columns"][0]], idx[p["columns"][1]]
        for mat, key in ((real, "assoc_real"), (syn, "assoc_synthetic")):
            mat[i][j] = mat[j][i] = p.get(key)
    return {"columns": list(cols), "real": real, "synthetic": syn}


# --------------------------------------------------------------------------- evaluate
def prepare(
    real_train: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame | None = None,
    schema: Schema | None = None,
    target: str | None = None,
    *,
    max_rows: int | None = None,
    random_state: int = 0,
) -> _data.PreparedData:
    """Check the inputs and bring them to one representation (see ``_data``'s docstring).

    Raises :class:`~lookalike.errors.InvalidDataError` listing every problem: mismatched
    columns, empty tables, a missing or entirely-missing target, a constant target.

    Examples
    --------
    >>> df = pd.DataFrame({"x": np.arange(20.0), "c": list("ab") * 10})
    >>> prepare(df, df).kinds
    {'x': 'numeric', 'c': 'categorical'}
    """
    _data.check_inputs(real_train, synthetic, holdout, target)
    real_train = real_train.rename(columns=str)
    synthetic = synthetic.rename(columns=str)[list(real_train.columns)]
    if holdout is not None:
        holdout = holdout.rename(columns=str)[list(real_train.columns)]
    schema = _data.resolve_schema(real_train, schema)
    kinds, excluded = _data.evaluation_kinds(schema, list(real_train.columns))
    if target is not None and target not in kinds:
        raise InvalidDataError(
            f"target column {target!r} is {excluded.get(target, 'not evaluated')}: choose a "
            "numeric or categorical target."
        )
    if not kinds:
        raise InvalidDataError(
            "no column can be evaluated: every column is an identifier or excluded text."
        )
    rng = np.random.default_rng(random_state)
    tables = {"real_train": real_train, "synthetic": synthetic, "holdout": holdout}
    sampling = {}
    for name, table in list(tables.items()):
        if table is None:
            continue
        used = _data.subsample(table, max_rows, rng)
        sampling[name] = {"rows": int(len(table)), "used": int(len(used))}
        tables[name] = used
    coerced, notes = _data.coerce_tables(tables, kinds, schema)
    if target is not None:
        from lookalike.evaluate.utility import check_target

        check_target(coerced["real_train"][target], target)
    assert coerced["real_train"] is not None and coerced["synthetic"] is not None
    return _data.PreparedData(
        train=coerced["real_train"],
        synthetic=coerced["synthetic"],
        holdout=coerced["holdout"],
        kinds=kinds,
        excluded=excluded,
        target=target,
        notes=notes,
        sampling=sampling,
    )


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("lookalike")
    except Exception:  # noqa: BLE001 - not installed (running from a checkout)
        return "unknown"


def evaluate(
    real_train: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame | None = None,
    schema: Schema | None = None,
    target: str | None = None,
    *,
    quasi_identifiers: Sequence[str] | None = None,
    task: str = "auto",
    config: EvaluationConfig | None = None,
    random_state: int = 0,
    progress: ProgressCallback | None = None,
) -> EvaluationResult:
    """Measure how faithful, useful and private ``synthetic`` is with respect to ``real_train``.

    Parameters
    ----------
    real_train : the real table the generator was fitted on.
    synthetic : the generated table (same columns).
    holdout : real rows the generator never saw (e.g. the test split). Utility and the
        holdout-based privacy metrics (DCR share, membership inference) need it; without it
        they are reported as skipped.
    schema : the column kinds; inferred from ``real_train`` when not given.
    target : column to predict for utility metrics (TSTR / TRTR, regression protocol).
    quasi_identifiers : columns an attacker could know (age, zip...), for copy, k-anonymity
        and singling-out counts.
    task : ``auto``, ``classification`` or ``regression`` (for the target).
    config : sizes and switches (:class:`EvaluationConfig`).
    random_state : seed of every subsample and model; the same inputs give the same numbers.
    progress : called as ``progress(step_description, steps_done, steps_total)``.

    Returns
    -------
    EvaluationResult whose ``metrics`` follow the layout of this module's docstring.

    Examples
    --------
    >>> import lookalike.evaluate as ev
    >>> res = ev.evaluate(train, synth, holdout=test, target="income")  # doctest: +SKIP
    >>> res.summary["fidelity"], res.verdict["privacy"]  # doctest: +SKIP
    (0.97, 'pass')
    """
    cfg = config if config is not None else EvaluationConfig()
    if task not in ("auto", "classification", "regression"):
        raise InvalidParameterError(
            f"The 'task' parameter must be 'auto', 'classification' or 'regression'; "
            f"got {task!r}."
        )
    from threadpoolctl import threadpool_limits

    # BLAS / OpenMP pools spin-wait: more threads than cfg.n_jobs only slow a shared machine
    with threadpool_limits(limits=cfg.n_jobs):
        return _evaluate(real_train, synthetic, holdout, schema, target, quasi_identifiers,
                         task, cfg, random_state, progress)


def _evaluate(
    real_train: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame | None,
    schema: Schema | None,
    target: str | None,
    quasi_identifiers: Sequence[str] | None,
    task: str,
    cfg: EvaluationConfig,
    random_state: int,
    progress: ProgressCallback | None,
) -> EvaluationResult:
    groups = set(cfg.metrics)
    timings: dict[str, float] = {}
    skipped: dict[str, str] = {}
    steps = ["prepare"]
    if "fidelity" in groups:
        steps.append("fidelity")
    if "qa" in groups:
        steps.append("qa")
    if "discriminator" in groups:
        steps.append("discriminator")
    has_utility = target is not None and holdout is not None
    if "utility" in groups and has_utility:
        steps.append("utility")
    if "regression" in groups and has_utility:
        steps.append("regression")
    if "privacy" in groups:
        steps.append("privacy")
    labels = {
        "prepare": "checking and aligning tables",
        "fidelity": "column and pair statistics",
        "qa": "uni/bi/tri-variate accuracy",
        "discriminator": "real-vs-synthetic discriminator",
        "utility": "train-synthetic-test-real models",
        "regression": "regression protocol",
        "privacy": "distances and attacks",
    }
    done = 0

    def step(name: str) -> None:
        if progress is not None:
            progress(labels[name], done, len(steps))
        log.info("evaluate: %s", labels[name])

    t_all = time.perf_counter()
    t0 = time.perf_counter()
    step("prepare")
    data = prepare(real_train, synthetic, holdout, schema, target,
                   max_rows=cfg.max_rows, random_state=random_state)
    if quasi_identifiers:
        bad = [c for c in quasi_identifiers if c not in data.kinds]
        if bad:
            raise InvalidDataError(
                f"quasi-identifier column(s) {bad} are not evaluated columns; choose among "
                f"{data.columns}."
            )
    timings["prepare"] = time.perf_counter() - t0
    done += 1
    rng = np.random.default_rng(random_state)
    summary: dict[str, Any] = {k: None for k in SUMMARY_KEYS}
    sample_sizes: dict[str, Any] = {}
    fid: dict[str, Any] = {}
    plots: dict[str, Any] = {}
    tr, sy, ho, kinds = data.train, data.synthetic, data.holdout, data.kinds

    from lookalike.evaluate import fidelity as F

    if "fidelity" in groups:
        t0 = time.perf_counter()
        step("fidelity")
        columns = F.column_metrics(tr, sy, kinds)
        pairs, total = F.pair_metrics(tr, sy, kinds, max_pairs=cfg.max_pairs, rng=rng)
        scores = F.fidelity_score(columns, pairs)
        summary.update(fidelity=scores["fidelity"], column_fidelity=scores["column_fidelity"],
                       pair_fidelity=scores["pair_fidelity"])
        fid.update(score=scores, columns=columns, pairs=pairs, pairs_total=total)
        plots["columns"] = _plot_columns(tr, sy, kinds, {c["column"]: c["score"] for c in columns})
        plots["association"] = _plot_association(list(kinds), pairs)
        timings["fidelity"] = time.perf_counter() - t0
        done += 1
    if "qa" in groups:
        t0 = time.perf_counter()
        step("qa")
        original = tr if ho is None else pd.concat([tr, ho], ignore_index=True)
        qa = F.qa_accuracy(original, sy, kinds, max_triples=cfg.max_triples, rng=rng)
        fid["qa"] = qa
        summary.update(qa_accuracy=qa["accuracy"], qa_univariate=qa["univariate"],
                       qa_bivariate=qa["bivariate"], qa_trivariate=qa["trivariate"])
        timings["qa"] = time.perf_counter() - t0
        done += 1
    if "discriminator" in groups:
        t0 = time.perf_counter()
        step("discriminator")
        disc = F.discriminator_auc(tr, sy, kinds, n_folds=cfg.n_folds,
                                   max_rows=cfg.discriminator_rows,
                                   random_state=random_state, n_jobs=cfg.n_jobs)
        fid["discriminator"] = disc
        summary["discriminator_auc"] = disc["auc"]
        sample_sizes["discriminator_rows_per_class"] = disc["rows_per_class"]
        timings["discriminator"] = time.perf_counter() - t0
        done += 1

    util: dict[str, Any] = {}
    task_used = None
    utility_keys = ("tstr_auc", "trtr_auc", "tstr_accuracy", "trtr_accuracy", "tstr_r2",
                    "trtr_r2", "tstr_mae", "trtr_mae", "utility_gap", "importance_spearman",
                    "regression_mad_real", "regression_mad_synthetic", "regression_pvalue")
    if target is None:
        for k in utility_keys:
            skipped[k] = _NEEDS_TARGET
    elif holdout is None:
        for k in utility_keys:
            skipped[k] = _NEEDS_HOLDOUT
    if "utility" in groups and has_utility:
        from lookalike.evaluate import utility as U

        t0 = time.perf_counter()
        step("utility")
        assert ho is not None and target is not None
        res = U.tstr(tr, sy, ho, target, kinds, task=task, max_rows=cfg.utility_rows,
                     random_state=random_state, n_jobs=cfg.n_jobs)
        util["tstr"] = res
        task_used = res["task"]
        for side in ("tstr", "trtr"):
            for metric, value in res[side].items():
                summary[f"{side}_{metric}"] = value
        summary["utility_gap"] = res["gap"]
        summary["importance_spearman"] = res["feature_importance"]["spearman"]
        sample_sizes["utility_train_rows"] = {"real": res["rows_real"],
                                              "synthetic": res["rows_synthetic"]}
        sample_sizes["utility_test_rows"] = res["rows_holdout"]
        data.notes.extend(res["notes"])
        timings["utility"] = time.perf_counter() - t0
        done += 1
    if "regression" in groups and has_utility:
        from lookalike.evaluate import utility as U

        t0 = time.perf_counter()
        step("regression")
        assert ho is not None and target is not None
        n_done = done

        def sub_progress(i: int, n: int) -> None:
            if progress is not None:
                progress(f"{labels['regression']} ({i}/{n} seeds)", n_done, len(steps))

        reg = U.regression_protocol(tr, sy, ho, target, kinds, seeds=cfg.regression_seeds,
                                    rows=cfg.regression_rows, random_state=random_state,
                                    progress=sub_progress)
        util["regression"] = reg
        if "skipped" in reg:
            for k in ("regression_mad_real", "regression_mad_synthetic", "regression_pvalue"):
                skipped[k] = reg["skipped"]
        else:
            summary.update(regression_mad_real=reg["mad_real_mean"],
                           regression_mad_synthetic=reg["mad_synthetic_mean"],
                           regression_pvalue=reg["pvalue"])
            sample_sizes["regression_rows_per_fit"] = reg["rows"]
        timings["regression"] = time.perf_counter() - t0
        done += 1

    priv: dict[str, Any] = {}
    if "privacy" in groups:
        from lookalike.evaluate import privacy as P

        t0 = time.perf_counter()
        step("privacy")
        priv = P.privacy_metrics(tr, sy, ho, kinds, quasi_identifiers=quasi_identifiers,
                                 max_rows=cfg.privacy_rows, random_state=random_state,
                                 n_jobs=cfg.n_jobs)
        hist = priv.pop("histogram")
        plots["dcr"] = hist
        skipped.update(priv.pop("skipped"))
        sample_sizes["privacy_rows"] = priv["rows"]
        dcr, ex = priv["dcr"], priv["exact_copies"]
        summary.update(
            dcr_share=dcr.get("share"),
            dcr_median_ratio=dcr.get("median_ratio"),
            dcr_median=dcr["synthetic_to_train_median"],
            nndr_median=dcr["nndr_median"],
            exact_copies=ex["count"],
            exact_copy_share=ex["share"],
            exact_copy_share_holdout=ex.get("holdout_share"),
            identifiability=priv["identifiability"]["score"],
            identifiability_holdout=priv["identifiability"].get("holdout_baseline"),
        )
        if "quasi_identifiers" in priv:
            q = priv["quasi_identifiers"]
            summary.update(qi_copies=q["count"], qi_copy_share=q["share"],
                           k_anonymity=q["k_anonymity"], singling_out=q["singling_out"],
                           singling_out_share=q["singling_out_share"])
        else:
            for k in ("qi_copies", "qi_copy_share", "k_anonymity", "singling_out",
                      "singling_out_share"):
                skipped[k] = skipped.get("quasi_identifiers", "no quasi-identifiers given")
        if "mia" in priv:
            summary.update(mia_auc=priv["mia"]["auc"],
                           mia_tpr_at_1pct_fpr=priv["mia"]["tpr_at_1pct_fpr"])
        else:
            skipped["mia_tpr_at_1pct_fpr"] = _NEEDS_HOLDOUT
        if holdout is None:
            skipped["exact_copy_share_holdout"] = _NEEDS_HOLDOUT
            skipped["identifiability_holdout"] = _NEEDS_HOLDOUT
        timings["privacy"] = time.perf_counter() - t0
        done += 1
    for group, keys in (
        ("fidelity", ("fidelity", "column_fidelity", "pair_fidelity")),
        ("qa", ("qa_accuracy", "qa_univariate", "qa_bivariate", "qa_trivariate")),
        ("discriminator", ("discriminator_auc",)),
        ("privacy", tuple(k for k in SUMMARY_KEYS[SUMMARY_KEYS.index("dcr_share"):])),
    ):
        if group not in groups:
            for k in keys:
                skipped.setdefault(k, f"the {group} metrics were switched off")
    for k in ("utility", "regression"):
        if k not in groups:
            for key in utility_keys:
                if (k == "regression") == key.startswith("regression"):
                    skipped.setdefault(key, f"the {k} metrics were switched off")
    if progress is not None:
        progress("done", len(steps), len(steps))
    timings["total"] = time.perf_counter() - t_all
    summary = {k: _jsonable(v) for k, v in summary.items()}
    for k, v in summary.items():
        if v is None and k not in skipped:
            skipped[k] = "not applicable to this data"

    status, reasons = privacy_verdict(summary)
    gap_metric = util.get("tstr", {}).get("gap_metric", "auc")
    verdict = {
        "fidelity": _grade(summary["fidelity"], 0.9, 0.8),
        "utility": _grade(summary["utility_gap"], 0.02, 0.05, higher_is_better=False),
        "utility_metric": gap_metric,
        "privacy": status,
        "privacy_reasons": reasons,
    }
    meta = {
        "lookalike_version": _version(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "random_state": random_state,
        "target": target,
        "task": task_used,
        "quasi_identifiers": list(quasi_identifiers) if quasi_identifiers else [],
        "columns": dict(kinds),
        "excluded": dict(data.excluded),
        "rows": {name: s["rows"] for name, s in data.sampling.items()},
        "sampling": data.sampling,
        "sample_sizes": sample_sizes,
        "skipped": {k: skipped[k] for k in SUMMARY_KEYS if k in skipped},
        "notes": list(data.notes),
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "config": asdict(cfg),
    }
    metrics = {
        "format_version": FORMAT_VERSION,
        "summary": summary,
        "verdict": verdict,
        "meta": meta,
        "fidelity": fid,
        "utility": util,
        "privacy": priv,
        "plots": plots,
    }
    log.info("evaluate: done in %.1f s", timings["total"])
    return EvaluationResult(_jsonable(metrics))


def load_metrics(path: str | Path) -> EvaluationResult:
    """Read a ``metrics.json`` written by :meth:`EvaluationResult.save`.

    Raises :class:`~lookalike.errors.InputFileError` when the file is missing, not JSON, or of
    a newer format than this version of lookalike understands.
    """
    from lookalike.errors import InputFileError

    p = Path(path)
    if p.is_dir():
        p = p / "metrics.json"
    if not p.exists():
        raise InputFileError(f"{p}: no such file; run `lookalike evaluate` first.")
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputFileError(f"{p}: not a readable metrics.json ({exc}).") from exc
    if not isinstance(doc, dict) or "summary" not in doc:
        raise InputFileError(f"{p}: not a lookalike metrics.json (no 'summary' section).")
    version = doc.get("format_version", FORMAT_VERSION)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise InputFileError(
            f"{p}: metrics format {version!r} is newer than this lookalike understands "
            f"({FORMAT_VERSION}); upgrade lookalike."
        )
    return EvaluationResult(doc)
