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
    ``notes``, ``timings`` (wall seconds per step), ``cpu_seconds`` (CPU seconds of this
    process per step: comparable across busy and idle machines), ``config``.
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
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lookalike.errors import InputFileError, InvalidDataError, InvalidParameterError
from lookalike.evaluate import _data
from lookalike.evaluate.gates import (
    SUMMARY_KEYS,
    Requirement,
    check_requirements,
    grade,
    privacy_verdict,
)
from lookalike.schema.spec import Schema

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
ProgressCallback = Callable[[str, int, int], None]
METRIC_GROUPS: tuple[str, ...] = (
    "fidelity", "qa", "discriminator", "utility", "regression", "privacy",
)  # fmt: skip
_STEP_LABELS = {
    "prepare": "checking and aligning tables",
    "fidelity": "column and pair statistics",
    "qa": "uni/bi/tri-variate accuracy",
    "discriminator": "real-vs-synthetic discriminator",
    "utility": "train-synthetic-test-real models",
    "regression": "regression protocol",
    "privacy": "distances and attacks",
}
_GROUP_KEYS: dict[str, tuple[str, ...]] = {
    "fidelity": ("fidelity", "column_fidelity", "pair_fidelity"),
    "qa": ("qa_accuracy", "qa_univariate", "qa_bivariate", "qa_trivariate"),
    "discriminator": ("discriminator_auc",),
    "utility": ("tstr_auc", "trtr_auc", "tstr_accuracy", "trtr_accuracy", "tstr_r2", "trtr_r2",
                "tstr_mae", "trtr_mae", "utility_gap", "importance_spearman"),
    "regression": ("regression_mad_real", "regression_mad_synthetic", "regression_pvalue"),
    "privacy": SUMMARY_KEYS[SUMMARY_KEYS.index("dcr_share"):],
}
_HOLDOUT_KEYS = ("dcr_share", "dcr_median_ratio", "exact_copy_share_holdout",
                 "identifiability_holdout", "mia_auc", "mia_tpr_at_1pct_fpr")
_QI_KEYS = ("qi_copies", "qi_copy_share", "k_anonymity", "singling_out", "singling_out_share")
_NEEDS_HOLDOUT = "needs a holdout table (--holdout): real rows the generator never saw"
_NEEDS_TARGET = "needs a target column (--target)"
_NO_QI = "needs quasi-identifier columns (--quasi-identifier)"


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
        if not isinstance(self.n_folds, int) or isinstance(self.n_folds, bool) or self.n_folds < 2:
            raise InvalidParameterError(
                f"The 'n_folds' parameter of EvaluationConfig must be an int >= 2; "
                f"got {self.n_folds!r}."
            )
        unknown = [m for m in self.metrics if m not in METRIC_GROUPS]
        if unknown or isinstance(self.metrics, str):
            raise InvalidParameterError(
                f"The 'metrics' parameter of EvaluationConfig must be a tuple of groups among "
                f"{list(METRIC_GROUPS)}; got {self.metrics!r}."
            )


@dataclass(frozen=True)
class EvaluationResult:
    """What :func:`evaluate` returns: the metrics document and helpers around it.

    Examples
    --------
    >>> res = EvaluationResult({"summary": {"fidelity": 0.95}})
    >>> res.summary["fidelity"], res.check(["fidelity>=0.9"])
    (0.95, [])
    """

    metrics: dict[str, Any]

    @property
    def summary(self) -> dict[str, Any]:
        """The flat headline numbers (see the module docstring)."""
        return self.metrics.get("summary", {})

    @property
    def verdict(self) -> dict[str, Any]:
        """Plain-language grades: ``fidelity``, ``utility``, ``privacy`` and reasons."""
        return self.metrics.get("verdict", {})

    def to_json(self, indent: int | None = 2) -> str:
        """The metrics document as JSON text (NaN and infinities become ``null``)."""
        return json.dumps(_jsonable(self.metrics), indent=indent, ensure_ascii=False)

    def check(self, requirements: Iterable[str | Requirement]) -> list[str]:
        """Sentences for the requirements that fail (empty when all hold); see
        :func:`lookalike.evaluate.gates.check_requirements`."""
        skipped = self.metrics.get("meta", {}).get("skipped", {})
        return check_requirements(self.summary, requirements, skipped)

    def save(self, directory: str | Path, *, html: bool = True) -> dict[str, Path]:
        """Write ``metrics.json`` (and ``report.html``) into ``directory``; return the paths."""
        from lookalike.evaluate.report import render_html
        from lookalike.io import write_text_atomic

        out = Path(directory)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputFileError(f"{out}: cannot create the output folder ({exc}).") from exc
        paths = {"metrics": write_text_atomic(out / "metrics.json", self.to_json())}
        if html:
            paths["report"] = write_text_atomic(out / "report.html", render_html(self.metrics))
        return paths


def _jsonable(obj: Any) -> Any:
    """Plain JSON types: numpy scalars unwrapped, NaN / inf -> None, tuples -> lists."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    return obj


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
    >>> df = pd.DataFrame({"x": np.arange(20.0) / 3, "c": list("ab") * 10})
    >>> prepare(df, df).kinds
    {'x': 'numeric', 'c': 'categorical'}
    """
    _data.check_inputs(real_train, synthetic, holdout, target)
    real_train = real_train.rename(columns=str)
    synthetic = synthetic.rename(columns=str)[list(real_train.columns)]
    if holdout is not None:
        holdout = holdout.rename(columns=str)[list(real_train.columns)]
    # subsample first: inferring a schema on 10 million rows would dominate the run
    rng = np.random.default_rng(random_state)
    tables: dict[str, pd.DataFrame | None] = {
        "real_train": real_train, "synthetic": synthetic, "holdout": holdout}
    sampling = {}
    for name, table in list(tables.items()):
        if table is not None:
            tables[name] = _data.subsample(table, max_rows, rng)
            sampling[name] = {"rows": len(table), "used": len(tables[name])}
    real_used = tables["real_train"]
    assert real_used is not None
    schema = _data.resolve_schema(real_used, schema)
    kinds, excluded = _data.evaluation_kinds(schema, list(real_train.columns))
    if target is not None and target not in kinds:
        raise InvalidDataError(
            f"target column {target!r} is not evaluated ({excluded.get(target)}): choose a "
            "numeric or categorical target."
        )
    if not kinds:
        raise InvalidDataError(
            "no column can be evaluated: every column is an identifier or excluded text."
        )
    coerced, notes = _data.coerce_tables(tables, kinds, schema)
    train, syn = coerced["real_train"], coerced["synthetic"]
    assert train is not None and syn is not None
    if target is not None:
        from lookalike.evaluate.utility import check_target

        check_target(train[target], target)
    return _data.PreparedData(train=train, synthetic=syn, holdout=coerced["holdout"],
                              kinds=kinds, excluded=excluded, target=target, notes=notes,
                              sampling=sampling)


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
        they are reported as skipped, with the reason.
    schema : the column kinds; inferred from ``real_train`` when not given.
    target : column to predict for utility metrics (TSTR / TRTR, regression protocol).
    quasi_identifiers : columns an attacker could know (age, zip...), for copy, k-anonymity
        and singling-out counts.
    task : ``auto``, ``classification`` or ``regression`` (for the target; ``auto``:
        classification for a categorical target or a numeric one with ≤ 10 integer values).
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
    if not isinstance(cfg, EvaluationConfig):
        raise InvalidParameterError(
            f"The 'config' parameter must be an EvaluationConfig; got {type(cfg).__name__}."
        )
    if task not in ("auto", "classification", "regression"):
        raise InvalidParameterError(
            f"The 'task' parameter must be 'auto', 'classification' or 'regression'; "
            f"got {task!r}."
        )
    from threadpoolctl import threadpool_limits

    # BLAS / OpenMP pools spin-wait: more threads than cfg.n_jobs only slow a shared machine
    with threadpool_limits(limits=cfg.n_jobs):
        run = _Run(cfg, random_state, progress, target, holdout is not None)
        return run.execute(real_train, synthetic, holdout, schema, quasi_identifiers, task)


class _Run:
    """One evaluation: the steps, their timings and the document they fill."""

    def __init__(self, cfg: EvaluationConfig, random_state: int,
                 progress: ProgressCallback | None, target: str | None,
                 has_holdout: bool) -> None:
        self.cfg = cfg
        self.target = target
        self.random_state = random_state
        self.progress = progress
        self.rng = np.random.default_rng(random_state)
        self.groups = set(cfg.metrics)
        self.summary: dict[str, Any] = {k: None for k in SUMMARY_KEYS}
        self.skipped: dict[str, str] = {}
        self.timings: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.sample_sizes: dict[str, Any] = {}
        self.doc: dict[str, Any] = {"fidelity": {}, "utility": {}, "privacy": {}, "plots": {}}
        for group, keys in _GROUP_KEYS.items():
            if group not in self.groups:
                for k in keys:
                    self.skipped[k] = f"the {group} metrics were switched off"
        needs_model = ("utility", "regression")
        for group in needs_model:
            for k in _GROUP_KEYS[group]:
                if target is None:
                    self.skipped.setdefault(k, _NEEDS_TARGET)
                elif not has_holdout:
                    self.skipped.setdefault(k, _NEEDS_HOLDOUT)
        if not has_holdout:
            for k in _HOLDOUT_KEYS:
                self.skipped.setdefault(k, _NEEDS_HOLDOUT)
        self.steps = ["prepare"] + [
            g for g in METRIC_GROUPS
            if g in self.groups and not (g in needs_model and (target is None or not has_holdout))
        ]
        self.done = 0

    def _step(self, name: str, fn: Callable[[], None]) -> None:
        if self.progress is not None:
            self.progress(_STEP_LABELS[name], self.done, len(self.steps))
        log.info("evaluate: %s", _STEP_LABELS[name])
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        self.timings[name] = round(time.perf_counter() - t0, 3)
        self.cpu[name] = round(time.process_time() - c0, 3)
        self.done += 1

    def execute(self, real_train: pd.DataFrame, synthetic: pd.DataFrame,
                holdout: pd.DataFrame | None, schema: Schema | None,
                quasi_identifiers: Sequence[str] | None, task: str) -> EvaluationResult:
        t_all, c_all = time.perf_counter(), time.process_time()
        self.qi = list(quasi_identifiers or [])
        self.task = task

        def prep() -> None:
            self.data = prepare(real_train, synthetic, holdout, schema, self.target,
                                max_rows=self.cfg.max_rows, random_state=self.random_state)
            bad = [c for c in self.qi if c not in self.data.kinds]
            if bad:
                raise InvalidDataError(
                    f"quasi-identifier column(s) {bad} are not evaluated columns; choose among "
                    f"{self.data.columns}."
                )

        self._step("prepare", prep)
        for name in self.steps[1:]:
            self._step(name, getattr(self, f"_{name}"))
        if self.progress is not None:
            self.progress("done", len(self.steps), len(self.steps))
        self.timings["total"] = round(time.perf_counter() - t_all, 3)
        self.cpu["total"] = round(time.process_time() - c_all, 3)
        log.info("evaluate: done in %.1f s", self.timings["total"])
        return EvaluationResult(_jsonable(self._document()))

    # ----------------------------------------------------------------- steps
    def _fidelity(self) -> None:
        from lookalike.evaluate import _plotdata
        from lookalike.evaluate import fidelity as F

        d = self.data
        columns = F.column_metrics(d.train, d.synthetic, d.kinds)
        pairs, total = F.pair_metrics(d.train, d.synthetic, d.kinds,
                                      max_pairs=self.cfg.max_pairs, rng=self.rng)
        score = F.fidelity_score(columns, pairs)
        self.summary.update({k: score[k] for k in _GROUP_KEYS["fidelity"]})
        if score["pair_fidelity"] is None:
            self.skipped["pair_fidelity"] = "no column pair is associated in the real data"
        self.doc["fidelity"].update(score=score, columns=columns, pairs=pairs, pairs_total=total)
        self.doc["plots"]["columns"] = _plotdata.column_distributions(
            d.train, d.synthetic, d.kinds, {c["column"]: c["score"] for c in columns})
        self.doc["plots"]["association"] = _plotdata.association_matrices(d.columns, pairs)

    def _qa(self) -> None:
        from lookalike.evaluate import fidelity as F

        d = self.data
        original = d.train if d.holdout is None else pd.concat([d.train, d.holdout],
                                                                ignore_index=True)
        qa = F.qa_accuracy(original, d.synthetic, d.kinds, max_triples=self.cfg.max_triples,
                           rng=self.rng)
        self.doc["fidelity"]["qa"] = qa
        self.summary.update(qa_accuracy=qa["accuracy"], qa_univariate=qa["univariate"],
                            qa_bivariate=qa["bivariate"], qa_trivariate=qa["trivariate"])

    def _discriminator(self) -> None:
        from lookalike.evaluate import fidelity as F

        d = self.data
        disc = F.discriminator_auc(d.train, d.synthetic, d.kinds, n_folds=self.cfg.n_folds,
                                   max_rows=self.cfg.discriminator_rows,
                                   random_state=self.random_state, n_jobs=self.cfg.n_jobs)
        self.doc["fidelity"]["discriminator"] = disc
        self.summary["discriminator_auc"] = disc["auc"]
        self.sample_sizes["discriminator_rows_per_class"] = disc["rows_per_class"]

    def _utility(self) -> None:
        from lookalike.evaluate import utility as U

        d = self.data
        assert d.holdout is not None and d.target is not None
        res = U.tstr(d.train, d.synthetic, d.holdout, d.target, d.kinds, task=self.task,
                     max_rows=self.cfg.utility_rows, random_state=self.random_state,
                     n_jobs=self.cfg.n_jobs)
        self.doc["utility"]["tstr"] = res
        for side in ("tstr", "trtr"):
            for metric, value in res[side].items():
                self.summary[f"{side}_{metric}"] = value
        self.summary["utility_gap"] = res["gap"]
        self.summary["importance_spearman"] = res["feature_importance"]["spearman"]
        other = ("tstr_r2", "trtr_r2", "tstr_mae", "trtr_mae") if res["task"] == "classification" \
            else ("tstr_auc", "trtr_auc", "tstr_accuracy", "trtr_accuracy")
        for k in other:
            self.skipped[k] = f"the target is a {res['task']} task"
        self.sample_sizes["utility_train_rows"] = {"real": res["rows_real"],
                                                   "synthetic": res["rows_synthetic"]}
        self.sample_sizes["utility_test_rows"] = res["rows_holdout"]
        d.notes.extend(res["notes"])

    def _regression(self) -> None:
        from lookalike.evaluate import utility as U

        d = self.data
        assert d.holdout is not None and d.target is not None
        label = _STEP_LABELS["regression"]

        def sub(i: int, n: int) -> None:
            if self.progress is not None:
                self.progress(f"{label} ({i}/{n} seeds)", self.done, len(self.steps))

        reg = U.regression_protocol(d.train, d.synthetic, d.holdout, d.target, d.kinds,
                                    seeds=self.cfg.regression_seeds,
                                    rows=self.cfg.regression_rows,
                                    random_state=self.random_state, progress=sub)
        self.doc["utility"]["regression"] = reg
        if "skipped" in reg:
            for k in _GROUP_KEYS["regression"]:
                self.skipped[k] = reg["skipped"]
            return
        self.summary.update(regression_mad_real=reg["mad_real_mean"],
                            regression_mad_synthetic=reg["mad_synthetic_mean"],
                            regression_pvalue=reg["pvalue"])
        self.sample_sizes["regression_rows_per_fit"] = reg["rows"]

    def _privacy(self) -> None:
        from lookalike.evaluate import privacy as P

        d = self.data
        priv = P.privacy_metrics(d.train, d.synthetic, d.holdout, d.kinds,
                                 quasi_identifiers=self.qi or None,
                                 max_rows=self.cfg.privacy_rows,
                                 random_state=self.random_state, n_jobs=self.cfg.n_jobs)
        self.doc["plots"]["dcr"] = priv.pop("histogram")
        priv.pop("skipped")
        self.doc["privacy"] = priv
        self.sample_sizes["privacy_rows"] = priv["rows"]
        dcr, ex, ident = priv["dcr"], priv["exact_copies"], priv["identifiability"]
        self.summary.update(
            dcr_share=dcr.get("share"),
            dcr_median_ratio=dcr.get("median_ratio"),
            dcr_median=dcr["synthetic_to_train_median"],
            nndr_median=dcr["nndr_median"],
            exact_copies=ex["count"],
            exact_copy_share=ex["share"],
            exact_copy_share_holdout=ex.get("holdout_share"),
            identifiability=ident["score"],
            identifiability_holdout=ident.get("holdout_baseline"),
        )
        if "mia" in priv:
            self.summary.update(mia_auc=priv["mia"]["auc"],
                                mia_tpr_at_1pct_fpr=priv["mia"]["tpr_at_1pct_fpr"])
        if "quasi_identifiers" in priv:
            q = priv["quasi_identifiers"]
            self.summary.update(qi_copies=q["count"], qi_copy_share=q["share"],
                                k_anonymity=q["k_anonymity"], singling_out=q["singling_out"],
                                singling_out_share=q["singling_out_share"])
        else:
            for k in _QI_KEYS:
                self.skipped[k] = _NO_QI
        if dcr.get("share") is not None and dcr.get("median_ratio") is None:
            self.skipped["dcr_median_ratio"] = "the median distance to holdout rows is 0"

    # ----------------------------------------------------------------- document
    def _document(self) -> dict[str, Any]:
        d = self.data
        summary = {k: _jsonable(v) for k, v in self.summary.items()}
        skipped = dict(self.skipped)
        for k, v in summary.items():
            if v is None:
                skipped.setdefault(k, "not computed for this data")
            else:
                skipped.pop(k, None)
        priv = self.doc["privacy"]
        noise = {"dcr_share": priv.get("dcr", {}).get("share_se", 0.0),
                 "mia_auc": priv.get("mia", {}).get("auc_se_null", 0.0)}
        status, reasons = privacy_verdict(summary, noise)
        tstr = self.doc["utility"].get("tstr", {})
        verdict = {
            "fidelity": grade(summary["fidelity"], 0.9, 0.8),
            "utility": grade(summary["utility_gap"], 0.02, 0.05, higher_is_better=False),
            "utility_metric": tstr.get("gap_metric"),
            "privacy": status,
            "privacy_reasons": reasons,
        }
        meta = {
            "lookalike_version": _version(),
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "random_state": self.random_state,
            "target": d.target,
            "task": tstr.get("task"),
            "quasi_identifiers": self.qi,
            "columns": dict(d.kinds),
            "excluded": dict(d.excluded),
            "rows": {name: s["rows"] for name, s in d.sampling.items()},
            "sampling": d.sampling,
            "sample_sizes": self.sample_sizes,
            "skipped": {k: skipped[k] for k in SUMMARY_KEYS if k in skipped},
            "notes": list(d.notes),
            "timings": self.timings,
            "cpu_seconds": self.cpu,
            "config": asdict(self.cfg),
        }
        return {"format_version": FORMAT_VERSION, "summary": summary, "verdict": verdict,
                "meta": meta, **self.doc}


def load_metrics(path: str | Path) -> EvaluationResult:
    """Read a ``metrics.json`` written by :meth:`EvaluationResult.save` (or its folder).

    Raises :class:`~lookalike.errors.InputFileError` when the file is missing, not JSON, or of
    a newer format than this version of lookalike understands.

    Examples
    --------
    >>> load_metrics("report/").summary["fidelity"]  # doctest: +SKIP
    0.97
    """
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
