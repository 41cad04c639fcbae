"""Benchmark lookalike's generators and established peers on the same data, with one protocol.

Protocol, for every (dataset, generator): fit on the train split, sample as many rows as the
train split has, evaluate the synthetic table against the held-out test split with
``lookalike.evaluate`` (same seed, same configuration for every generator). Each generator fits
and samples in its own fresh Python process (threads pinned with ``--threads``), so peak memory
(``ru_maxrss`` of that process) is its own and one generator's thread pools cannot slow the
next. Peers and ours run in the same invocation, on the same machine, so time ratios are fair.

Generators
----------
* lookalike's registered generators, by name (``lookalike.models.registry.available()``),
  optionally followed by a JSON object of ``Synthesizer`` keyword arguments, e.g.
  ``'autoregressive{"dp": {"epsilon": 1}}'`` or ``'linear{"n_components": 3}'`` (quote it for
  the shell): the generator is built as ``Synthesizer(generator=name, random_state=seed,
  **kwargs)``. The spec as given is the generator's label in the table and the JSON; file
  names use a sanitised form (``linear_n_components_3``);
* peers, imported lazily and skipped with a message when not installed (``pip install -e
  ".[bench]"``, or a separate venv, see ../shared/PEERS.md): ``sdv-gaussiancopula``,
  ``sdv-ctgan``, ``sdv-tvae`` (SDV, Business Source Licence: benchmarked, never a dependency)
  and ``mostlyai`` (mostlyai-engine's TabularARGN);
* ``path/to/file.py:function`` or ``package.module:function``: any
  ``function(train: DataFrame, n: int, seed: int) -> DataFrame``.

Third-party scores
------------------
Besides ``lookalike.evaluate``, every synthetic table is scored by two third-party packages
when they are importable (the ``bench`` extra; a note is logged and the columns show — when
not), see :func:`third_party_scores`:

* mostlyai-qa (tested with 1.10.11): ``mostlyai.qa.report(syn_tgt_data=, trn_tgt_data=,
  hol_tgt_data=)`` after ``mostlyai.qa.set_random_state(seed)``, on all rows, columns typed
  from lookalike's schema of the train split; its overall accuracy
  (``metrics.accuracy.overall``), DCR share (``metrics.distances.dcr_share``) and discriminator
  AUC (``metrics.similarity.discriminator_auc_training_synthetic``). The report embeds string
  values with the model2vec model shipped inside the package (no download); as the package
  does, the embedding-based metrics use min(#synthetic, #train, #holdout) rows of each.
  About a minute on Adult on 1 thread.
* SDMetrics: ``sdmetrics.reports.single_table.QualityReport`` (the classic single-table score:
  mean of Column Shapes and Column Pair Trends over all columns and pairs) of synthetic against
  the train split, metadata from lookalike's schema; ``get_score()``.

Usage
-----
::

    .venv/bin/python bench/run_benchmark.py --datasets adult --generators linear independent \\
        --peers sdv-gaussiancopula --threads 1 --report adult:linear
    .venv-bench/bin/python bench/run_benchmark.py --datasets adult --peers \\
        --generators 'linear{"n_components": 3}' --rows 3000 --fast --out /tmp/rb

The benchmark venv (peers and third-party scorers next to lookalike)::

    python3 -m venv .venv-bench
    .venv-bench/bin/pip install -c constraints.txt torch==2.13.0
    .venv-bench/bin/pip install -c constraints.txt -e ".[bench]"
    .venv-bench/bin/pip install -c constraints.txt mostlyai-engine
    .venv-bench/bin/pip uninstall -y torchvision torchaudio   # see ../shared/PEERS.md

Writes ``bench/results/<dataset>__<generator>.json`` (timings, the evaluation summary and
verdicts, library versions), ``bench/results/benchmark.md`` (one table for the invocation) and,
with ``--report``, the full evaluation report of a pair plus a headless-Chromium screenshot
``bench/results/<dataset>__<generator>_report.png``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import logging
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATASETS_DIR = Path(os.environ.get("LOOKALIKE_DATASETS", ROOT.parent / "shared" / "datasets"))
RESULTS = ROOT / "bench" / "results"
PEERS = ("sdv-gaussiancopula", "sdv-ctgan", "sdv-tvae", "mostlyai")
TORCH_VERSION = "2.13.0"

log = logging.getLogger("bench")

GeneratorFn = Callable[[pd.DataFrame, int, int], pd.DataFrame]


@dataclass(frozen=True)
class Dataset:
    """A benchmark table: a given train/test split, or one file split 70/30 with a seed."""

    name: str
    target: str | None
    train: str | None = None
    test: str | None = None
    data: str | None = None


DATASETS: dict[str, Dataset] = {
    "adult": Dataset("adult", "income", train="adult/train.csv", test="adult/test.csv"),
    "wine": Dataset("wine", "Type", data="wine/data.csv"),
    "glass": Dataset("glass", "Type", data="glass/data.csv"),
    "thyroid": Dataset("thyroid", "Diagnosis", data="thyroid/data.csv"),
    "PimaIndiansDiabetes": Dataset("PimaIndiansDiabetes", "diabetes",
                                   data="PimaIndiansDiabetes/data.csv"),
    "BostonHousing": Dataset("BostonHousing", "medv", data="BostonHousing/data.csv"),
    "Ionosphere": Dataset("Ionosphere", "Class", data="Ionosphere/data.csv"),
    "Satellite": Dataset("Satellite", "classes", data="Satellite/data.csv"),
    "titanic": Dataset("titanic", "Survived", data="titanic/data.csv"),
    "covertype": Dataset("covertype", "Cover_Type", data="covertype/data.csv"),
}


def load_dataset(name: str, *, root: Path = DATASETS_DIR, rows: int | None = None,
                 seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, str | None]:
    """Return (train, test, target) as read by ``lookalike.io.read_table`` (text cells).

    ``rows`` keeps the first ``rows`` training rows and as many test rows at most (a slice for
    quick runs and tests). Columns constant in the training rows (Ionosphere's ``V2``,
    covertype's ``Soil_Type7`` and ``Soil_Type15``) are dropped for every generator.
    """
    from lookalike.io import read_table

    if name not in DATASETS:
        raise SystemExit(f"unknown dataset {name!r}; choose among {', '.join(DATASETS)}")
    ds = DATASETS[name]
    if ds.data is not None:
        full = read_table(root / ds.data)
        order = np.random.default_rng(seed).permutation(len(full))
        cut = round(0.7 * len(full))
        train = full.iloc[np.sort(order[:cut])].reset_index(drop=True)
        test = full.iloc[np.sort(order[cut:])].reset_index(drop=True)
    else:
        assert ds.train is not None and ds.test is not None
        train, test = read_table(root / ds.train), read_table(root / ds.test)
    if rows is not None:
        train, test = train.iloc[:rows].reset_index(drop=True), test.iloc[:rows].reset_index(
            drop=True)
    constant = [c for c in train.columns if train[c].nunique(dropna=False) <= 1]
    if constant:  # no information, and lookalike refuses undeclared constant columns
        log.info("%s: dropping constant column(s) %s for every generator", name, constant)
        train, test = train.drop(columns=constant), test.drop(columns=constant)
    return train, test, ds.target


# --------------------------------------------------------------------------- generators
class Runner:
    """Fit once, then sample; fit and sample are timed apart."""

    def fit(self, train: pd.DataFrame, seed: int) -> None:
        raise NotImplementedError

    def sample(self, n: int) -> pd.DataFrame:
        raise NotImplementedError


class Ours(Runner):
    """A lookalike generator through the public ``Synthesizer`` facade; the spec's
    ``"sample"`` key, if any, holds keyword arguments of ``sample()`` (e.g.
    ``autoregressive{"sample": {"calibrate": true}}``)."""

    def __init__(self, name: str, params: dict[str, Any] | None = None) -> None:
        self.name, self.params = name, dict(params or {})
        self.sample_kwargs = dict(self.params.pop("sample", None) or {})

    def fit(self, train: pd.DataFrame, seed: int) -> None:
        from lookalike import Synthesizer

        kwargs = {"random_state": seed, **self.params}
        self.model = Synthesizer(generator=self.name, **kwargs).fit(train)

    def sample(self, n: int) -> pd.DataFrame:
        return self.model.sample(n, **self.sample_kwargs)


def _typed(train: pd.DataFrame,
           schema: Any = None) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    """Typed frame and SDV column sdtypes, from lookalike's schema (inferred from ``train``
    unless given: pass the train split's schema to type a synthetic or holdout table alike)."""
    from lookalike.schema import infer

    if schema is None:
        schema = infer(train)
    out = pd.DataFrame(index=train.index)
    columns: dict[str, dict[str, Any]] = {}
    for spec in schema:
        col = train[spec.name]
        if spec.kind == "numeric":
            out[spec.name] = pd.to_numeric(col, errors="coerce")
            columns[spec.name] = {"sdtype": "numerical"}
        elif spec.kind == "datetime":
            out[spec.name] = pd.to_datetime(col, format=spec.datetime_format, errors="coerce")
            columns[spec.name] = {"sdtype": "datetime"}
        elif spec.kind == "identifier":
            out[spec.name] = col
            columns[spec.name] = {"sdtype": "id"}
        else:
            out[spec.name] = col
            columns[spec.name] = {"sdtype": "categorical"}
    return out, columns


class SDVPeer(Runner):
    """SDV's GaussianCopula, CTGAN or TVAE with column types declared explicitly."""

    def __init__(self, kind: str, epochs: int, threads: int) -> None:
        self.kind, self.epochs, self.threads = kind, epochs, threads

    def fit(self, train: pd.DataFrame, seed: int) -> None:
        import torch
        from sdv.metadata import Metadata
        from sdv.single_table import (
            CTGANSynthesizer,
            GaussianCopulaSynthesizer,
            TVAESynthesizer,
        )

        torch.set_num_threads(self.threads)
        torch.manual_seed(seed)  # peers seed globally; this runs in its own process
        np.random.seed(seed)
        df, columns = _typed(train)
        metadata = Metadata.load_from_dict({"tables": {"table": {"columns": columns}}})
        cls = {"sdv-gaussiancopula": GaussianCopulaSynthesizer, "sdv-ctgan": CTGANSynthesizer,
               "sdv-tvae": TVAESynthesizer}[self.kind]
        kwargs = {} if self.kind == "sdv-gaussiancopula" else {"epochs": self.epochs}
        self.model = cls(metadata, **kwargs)
        import sdv

        if int(sdv.__version__.split(".")[0]) >= 2:  # SDV 2.x: a dict of tables
            self.model.fit({"table": df})
        else:
            self.model.fit(df)

    def sample(self, n: int) -> pd.DataFrame:
        out = self.model.sample(num_rows=n)
        return out["table"] if isinstance(out, dict) else out


class MostlyPeer(Runner):
    """mostlyai-engine's TabularARGN with its defaults."""

    def __init__(self, threads: int) -> None:
        self.threads = threads

    def fit(self, train: pd.DataFrame, seed: int) -> None:
        import torch
        from mostlyai.engine import TabularARGN

        torch.set_num_threads(self.threads)
        torch.manual_seed(seed)
        df, _ = _typed(train)
        self.model = TabularARGN()
        self.model.fit(df)

    def sample(self, n: int) -> pd.DataFrame:
        return self.model.sample(n_samples=n)


class FunctionRunner(Runner):
    """``function(train, n, seed) -> DataFrame``: all of its time counts as sampling."""

    def __init__(self, fn: GeneratorFn) -> None:
        self.fn = fn

    def fit(self, train: pd.DataFrame, seed: int) -> None:
        self.train, self.seed = train, seed

    def sample(self, n: int) -> pd.DataFrame:
        return self.fn(self.train, n, self.seed)


def _load_function(spec: str) -> GeneratorFn:
    target, _, attr = spec.rpartition(":")
    if target.endswith(".py"):
        module_spec = importlib.util.spec_from_file_location(Path(target).stem, target)
        if module_spec is None or module_spec.loader is None:
            raise SystemExit(f"cannot import {target}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_spec.name] = module
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    return getattr(module, attr)


def split_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``'name{"key": value}'`` -> ``("name", {"key": value})``; a plain name has no kwargs."""
    brace = spec.find("{")
    if brace < 0:
        return spec, {}
    name, text = spec[:brace].strip(), spec[brace:]
    try:
        params = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"generator spec {spec!r}: {text!r} is not a JSON object ({exc})")
    if not isinstance(params, dict):
        raise SystemExit(f"generator spec {spec!r}: the parameters must be a JSON object")
    return name, params


def safe_name(label: str) -> str:
    """A file-name form of a generator label (``/`` and ``:`` become ``_``; JSON parameters
    become ``key_value`` runs of ``[A-Za-z0-9._=-]``)."""
    name, params = (label, "") if "{" not in label else (label[:label.find("{")],
                                                         label[label.find("{"):])
    safe = name.strip().replace("/", "_").replace(":", "_")
    compact = re.sub(r"[^A-Za-z0-9._=-]+", "_", params).strip("_")
    return f"{safe}_{compact}" if compact else safe


def family_of(spec: str) -> str:
    """``lookalike``, ``peer`` or ``custom``."""
    name, _ = split_spec(spec) if "{" in spec else (spec, {})
    return "peer" if name in PEERS else "custom" if ":" in name else "lookalike"


def resolve(spec: str, *, epochs: int = 300, threads: int = 1) -> Runner:
    """The runner of a generator spec: ours (with parameters), a peer, or ``module:function``."""
    family = family_of(spec)
    name, params = split_spec(spec)
    if params and family != "lookalike":
        raise SystemExit(f"generator spec {spec!r}: parameters are for lookalike generators only")
    if family == "peer":
        return MostlyPeer(threads) if spec == "mostlyai" else SDVPeer(spec, epochs, threads)
    if family == "custom":
        return FunctionRunner(_load_function(spec))
    from lookalike.models.registry import available

    if name not in available():
        raise SystemExit(f"unknown generator {name!r}; lookalike has {', '.join(available())}; "
                         f"peers are {', '.join(PEERS)}")
    return Ours(name, params)


def peer_missing(spec: str) -> str | None:
    """Why a peer cannot run here (not installed), or ``None``."""
    module = "mostlyai" if spec == "mostlyai" else "sdv"
    if importlib.util.find_spec(module) is None:
        return f"{module} is not installed (pip install -e '.[bench]', see ../shared/PEERS.md)"
    if spec == "mostlyai" and importlib.util.find_spec("mostlyai.engine") is None:
        return "mostlyai-engine is not installed"
    return None


# --------------------------------------------------------------------------- one fit
def timed_run(runner: Runner, train: pd.DataFrame, n: int, seed: int,
              out_csv: Path) -> dict[str, Any]:
    """Fit, then sample ``n`` rows, each timed; write the rows to ``out_csv``."""
    t0, c0 = time.perf_counter(), _cpu_seconds()
    runner.fit(train, seed)
    fit_s, fit_cpu = time.perf_counter() - t0, _cpu_seconds() - c0
    t0, c0 = time.perf_counter(), _cpu_seconds()
    synthetic = runner.sample(n)
    sample_s, sample_cpu = time.perf_counter() - t0, _cpu_seconds() - c0
    synthetic.to_csv(out_csv, index=False)
    return {"fit_s": round(fit_s, 3), "sample_s": round(sample_s, 3),
            "fit_cpu_s": round(fit_cpu, 3), "sample_cpu_s": round(sample_cpu, 3),
            "rows_synthetic": len(synthetic)}


def _cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (user + system): with one
    thread, the wall time it would take on an idle core, whatever else the machine runs."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _child(job: dict[str, Any]) -> dict[str, Any]:
    """Run one fit + sample in this (fresh) process; peak memory is this process's."""
    from lookalike.io import read_table

    train = read_table(job["train_csv"])
    runner = resolve(job["spec"], epochs=job["epochs"], threads=job["threads"])
    res = timed_run(runner, train, job["n"], job["seed"], Path(job["out_csv"]))
    res["peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return res


def _pinned_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
        env[var] = str(threads)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [env.get("PYTHONPATH")])])
    return env


def run_isolated(job: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
    """Run :func:`_child` for ``job`` in a new Python process with pinned threads."""
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child",
                           json.dumps(job)], capture_output=True, text=True,
                          env=_pinned_env(job["threads"]), timeout=timeout, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"error": " | ".join(tail) or f"exit code {proc.returncode}"}
    return json.loads(lines[-1])


def run_in_process(runner: Runner, train: pd.DataFrame, n: int, seed: int,
                   out_csv: Path) -> dict[str, Any]:
    """Fit + sample here (peak memory: Python heap by tracemalloc, not RSS)."""
    tracemalloc.start()
    try:
        res = timed_run(runner, train, n, seed, out_csv)
        res["peak_mb"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
        res["peak_mb_kind"] = "python heap (in-process)"
    finally:
        tracemalloc.stop()
    return res


# --------------------------------------------------------------------------- third-party scores
def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # the parent package is missing
        return False


def _num(v: Any) -> float | None:
    return None if v is None else round(float(v), 4)


def third_party_scores(train: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame,
                       seed: int, *, threads: int = 1) -> dict[str, Any]:
    """Score ``synthetic`` with mostlyai-qa and SDMetrics, each when importable.

    Returns ``{"mostlyai_qa": {...}, "sdmetrics": {...}}`` with the packages that are
    installed (``{}`` when neither is, with a logged note). A scorer that fails records
    ``{"error": ...}`` instead of stopping the benchmark. All three tables are typed with the
    schema lookalike infers from ``train`` (as the SDV peers are fed).

    mostlyai-qa: the public ``mostlyai.qa.report(syn_tgt_data=, trn_tgt_data=, hol_tgt_data=)``
    on all rows, seeded with ``mostlyai.qa.set_random_state(seed)`` (the package draws from
    NumPy's global generator); the HTML report goes to a temporary folder and is discarded. It
    needs no network: its string embedder (model2vec potion-base-8M) ships inside the package.
    Its embedding metrics (discriminator AUC, DCR share) use min(#synthetic, #train, #holdout)
    rows of each table, as the package decides. SDMetrics: the single-table ``QualityReport``
    of ``synthetic`` against ``train`` with sdtypes from the same schema.
    """
    from lookalike.schema import infer

    have_qa, have_sdm = _importable("mostlyai.qa"), _importable("sdmetrics")
    if not (have_qa or have_sdm):
        log.info("third-party scores skipped: neither mostlyai-qa nor sdmetrics is installed "
                 "(pip install -e '.[bench]')")
        return {}
    from importlib.metadata import version

    from threadpoolctl import threadpool_limits

    schema = infer(train)
    columns = [spec.name for spec in schema]
    trn, metadata = _typed(train, schema)
    syn, _ = _typed(synthetic[columns], schema)
    hol, _ = _typed(holdout[columns], schema)
    out: dict[str, Any] = {}
    if not have_qa:
        log.info("mostlyai-qa is not installed: its scores are skipped")
    else:
        t0 = time.perf_counter()
        try:
            import joblib
            from mostlyai import qa

            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the embedder is local anyway
            qa_log = logging.getLogger("mostlyai.qa")
            level = qa_log.level
            qa_log.setLevel(logging.WARNING)
            try:
                with (tempfile.TemporaryDirectory() as folder, warnings.catch_warnings(),
                      threadpool_limits(threads), joblib.parallel_config(n_jobs=threads)):
                    warnings.simplefilter("ignore")
                    qa.set_random_state(seed)
                    _, metrics = qa.report(syn_tgt_data=syn, trn_tgt_data=trn,
                                           hol_tgt_data=hol,
                                           report_path=Path(folder) / "qa-report.html")
            finally:
                qa_log.setLevel(level)
            if metrics is None:
                raise ValueError("mostlyai-qa returned no metrics (too few rows)")
            acc, sim, dist = metrics.accuracy, metrics.similarity, metrics.distances
            out["mostlyai_qa"] = {
                "version": version("mostlyai-qa"),
                "api": "mostlyai.qa.report(syn_tgt_data, trn_tgt_data, hol_tgt_data)",
                "accuracy": _num(acc.overall),
                "accuracy_univariate": _num(acc.univariate),
                "accuracy_bivariate": _num(acc.bivariate),
                "accuracy_trivariate": _num(acc.trivariate),
                "accuracy_max": _num(acc.overall_max),
                "dcr_share": _num(dist.dcr_share),
                "ims_training": _num(dist.ims_training),
                "ims_holdout": _num(dist.ims_holdout),
                "discriminator_auc": _num(sim.discriminator_auc_training_synthetic),
                "discriminator_auc_holdout": _num(sim.discriminator_auc_training_holdout),
                "embedding_rows": min(len(syn), len(trn), len(hol)),
                "seconds": round(time.perf_counter() - t0, 1),
            }
        except Exception as exc:  # noqa: BLE001 - a failing scorer is a result
            log.error("mostlyai-qa scoring failed: %s: %s", type(exc).__name__, exc)
            out["mostlyai_qa"] = {"error": f"{type(exc).__name__}: {exc}"}
    if not have_sdm:
        log.info("sdmetrics is not installed: its quality score is skipped")
    else:
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings(), threadpool_limits(threads):
                warnings.simplefilter("ignore")  # the single-table report is deprecated
                from sdmetrics.reports.single_table import QualityReport

                quality = QualityReport()
                quality.generate(trn, syn, {"columns": metadata}, verbose=False)
            props = quality.get_properties().set_index("Property")["Score"]
            out["sdmetrics"] = {
                "version": version("sdmetrics"),
                "api": "sdmetrics.reports.single_table.QualityReport().generate(train, "
                       "synthetic, metadata).get_score()",
                "quality": _num(quality.get_score()),
                "column_shapes": _num(props.get("Column Shapes")),
                "column_pair_trends": _num(props.get("Column Pair Trends")),
                "seconds": round(time.perf_counter() - t0, 1),
            }
        except Exception as exc:  # noqa: BLE001
            log.error("sdmetrics scoring failed: %s: %s", type(exc).__name__, exc)
            out["sdmetrics"] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


# --------------------------------------------------------------------------- protocol
def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "machine": platform.machine(),
           "cpus": str(os.cpu_count())}
    for pkg in ("lookalike", "numpy", "pandas", "scikit-learn", "lightgbm", "torch", "sdv",
                "mostlyai-engine", "mostlyai-qa", "sdmetrics"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    return out


def run(
    datasets: Sequence[str],
    generators: Sequence[str | tuple[str, GeneratorFn]],
    *,
    out: Path = RESULTS,
    root: Path = DATASETS_DIR,
    rows: int | None = None,
    seed: int = 0,
    threads: int = 1,
    epochs: int = 300,
    isolate: bool = True,
    fast: bool = False,
    report: Sequence[str] = (),
    timeout: float | None = None,
    config: Any = None,
    third_party: bool = True,
) -> list[dict[str, Any]]:
    """Run the protocol for every dataset × generator; write the JSON files and the table.

    ``generators`` holds specs (see the module docstring) or ``(label, function)`` pairs (run
    in this process). ``config`` (an ``EvaluationConfig``) overrides the evaluation settings
    (default: lookalike's defaults, or lighter ones with ``fast``). ``third_party`` adds
    :func:`third_party_scores` (when the packages are installed). Returns one result dict per
    pair.
    """
    from lookalike.evaluate import EvaluationConfig, evaluate

    out = Path(out)
    tmp = out / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    if config is not None:
        cfg = config
    elif fast:
        cfg = EvaluationConfig(regression_seeds=5, regression_rows=1000, privacy_rows=3000,
                               discriminator_rows=3000, n_folds=3, n_jobs=threads)
    else:
        cfg = EvaluationConfig(n_jobs=threads)
    for item in generators:
        if isinstance(item, str):
            split_spec(item)  # a malformed spec fails here, before anything is fitted
    env_versions = versions()
    results = []
    for ds_name in datasets:
        train, test, target = load_dataset(ds_name, root=root, rows=rows, seed=seed)
        train_csv = tmp / f"{ds_name}__train.csv"
        train.to_csv(train_csv, index=False)
        for item in generators:
            label, fn = (item, None) if isinstance(item, str) else item
            safe = safe_name(label)
            res: dict[str, Any] = {"dataset": ds_name, "generator": label,
                                   "rows_train": len(train), "rows_test": len(test),
                                   "target": target, "seed": seed, "threads": threads}
            family = "custom" if fn is not None else family_of(label)
            res["family"] = family
            why = peer_missing(label) if family == "peer" else None
            if why:
                log.warning("skipping %s: %s", label, why)
                res["skipped"] = why
                results.append(res)
                continue
            out_csv = tmp / f"{ds_name}__{safe}.csv"
            log.info("%s / %s: fit and sample %d rows", ds_name, label, len(train))
            if fn is None and isolate:
                timing = run_isolated({"spec": label, "train_csv": str(train_csv),
                                       "n": len(train), "seed": seed, "threads": threads,
                                       "epochs": epochs, "out_csv": str(out_csv)}, timeout)
            else:
                runner = FunctionRunner(fn) if fn is not None else resolve(
                    label, epochs=epochs, threads=threads)
                try:
                    timing = run_in_process(runner, train, len(train), seed, out_csv)
                except Exception as exc:  # noqa: BLE001 - a failing generator is a result
                    timing = {"error": f"{type(exc).__name__}: {exc}"}
            res.update(timing)
            if "error" in timing:
                log.error("%s / %s failed: %s", ds_name, label, timing["error"])
                results.append(res)
                _write_json(out / f"{ds_name}__{safe}.json", res)
                continue
            sample_s = res.get("sample_s")
            res["sample_rows_per_s"] = round(res["rows_synthetic"] / sample_s) if sample_s else None
            from lookalike.io import read_table

            synthetic = read_table(out_csv)
            t0 = time.perf_counter()
            ev = evaluate(train, synthetic, test, target=target, config=cfg, random_state=seed)
            res["evaluate_s"] = round(time.perf_counter() - t0, 2)
            res["summary"] = ev.summary
            res["verdict"] = ev.verdict
            if third_party:
                t0 = time.perf_counter()
                res["third_party"] = third_party_scores(train, synthetic, test, seed,
                                                        threads=threads)
                res["third_party_s"] = round(time.perf_counter() - t0, 2)
            res["versions"] = env_versions
            if f"{ds_name}:{label}" in report:
                folder = out / "reports" / f"{ds_name}__{safe}"
                ev.save(folder)
                png = screenshot(folder / "report.html", out / f"{ds_name}__{safe}_report.png")
                res["report"] = str(folder.relative_to(out))
                res["screenshot"] = png.name if png else None
            _write_json(out / f"{ds_name}__{safe}.json", res)
            results.append(res)
    (out / "benchmark.md").write_text(markdown_table(results), encoding="utf-8")
    return results


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(doc, indent=2, default=str), encoding="utf-8")


def _f(v: Any, digits: int = 3) -> str:
    if v is None:
        return "—"
    if isinstance(v, int):
        return f"{v:,}"
    return f"{v:,.{digits}f}"


def markdown_table(results: Sequence[dict[str, Any]]) -> str:
    """One markdown table for an invocation (skipped or failed generators say why)."""
    head = ("| dataset | generator | fit s | fit CPU s | sample rows/s | peak MB | fidelity | QA accuracy "
            "| discr. AUC | TSTR AUC / R² | TSTR gap | DCR share | MIA AUC "
            "| QA acc (mostlyai-qa) | DCR share (mostlyai-qa) | discr. AUC (mostlyai-qa) "
            "| SDMetrics quality | privacy |\n"
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
            "---|\n")
    lines = []
    for r in results:
        name = f"{r['generator']}" + (" (peer)" if r.get("family") == "peer" else "")
        if "skipped" in r or "error" in r:
            why = r.get("skipped") or r.get("error")
            lines.append(f"| {r['dataset']} | {name} | " + " | ".join(["—"] * 15)
                         + f" | {why} |")
            continue
        s = r["summary"]
        tstr = s.get("tstr_auc") if s.get("tstr_auc") is not None else s.get("tstr_r2")
        fit = r.get("fit_s")
        tp = r.get("third_party") or {}
        qa, sdm = tp.get("mostlyai_qa") or {}, tp.get("sdmetrics") or {}
        lines.append(
            f"| {r['dataset']} | {name} | {_f(fit, 1)} | {_f(r.get('fit_cpu_s'), 1)} "
            f"| {_f(r.get('sample_rows_per_s'))} "
            f"| {_f(r.get('peak_mb'), 0)} | {_f(s.get('fidelity'))} | {_f(s.get('qa_accuracy'))} "
            f"| {_f(s.get('discriminator_auc'))} | {_f(tstr)} | {_f(s.get('utility_gap'))} "
            f"| {_f(s.get('dcr_share'))} | {_f(s.get('mia_auc'))} | {_f(qa.get('accuracy'))} "
            f"| {_f(qa.get('dcr_share'))} | {_f(qa.get('discriminator_auc'))} "
            f"| {_f(sdm.get('quality'))} | {r['verdict']['privacy']} |")
    note = ("\nfit CPU s: CPU seconds of the fit (user + system; with one thread, about the wall "
            "time on an idle core). Peak MB: max RSS of the generator's own process (in-process runs: Python heap). "
            "Custom functions do all their work in sampling. Protocol and metric definitions: "
            "bench/EVALUATION.md. Columns marked (mostlyai-qa) and SDMetrics quality are "
            "computed by those packages themselves (run_benchmark.third_party_scores); — where "
            "the package is not installed.\n")
    return head + "\n".join(lines) + "\n" + note


CHROMIUM = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def screenshot(html: Path, png: Path, *, width: int = 1280, height: int = 2400) -> Path | None:
    """Screenshot ``html`` with headless Chromium; ``None`` when no browser is installed."""
    binary = next((b for b in map(shutil.which, CHROMIUM) if b), None)
    if binary is None:
        log.warning("no chromium binary: skipping the screenshot of %s", html)
        return None
    profile = png.parent / "tmp" / "chromium-profile"
    cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}",
           f"--screenshot={png}", f"--window-size={width},{height}", html.resolve().as_uri()]
    subprocess.run(cmd, capture_output=True, timeout=180, check=False)
    return png if png.exists() else None


def collect(folders: Sequence[Path]) -> list[dict[str, Any]]:
    """The result documents (``<dataset>__<generator>.json``) in ``folders``, ours first."""
    docs = []
    for folder in folders:
        for path in sorted(Path(folder).glob("*__*.json")):
            doc = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(doc, dict) and "generator" in doc and "dataset" in doc:
                docs.append(doc)
    order = {"lookalike": 0, "custom": 1, "peer": 2}
    return sorted(docs, key=lambda d: (d["dataset"], order.get(d.get("family", ""), 3)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["adult"], help=", ".join(DATASETS))
    parser.add_argument("--generators", nargs="*", default=None,
                        help="lookalike generators, optionally with JSON Synthesizer kwargs "
                        "('linear{\"n_components\": 3}'), or module:function "
                        "(default: all registered)")
    parser.add_argument("--peers", nargs="*", default=list(PEERS),
                        help="peers to include when installed (default: all); --peers alone: none")
    parser.add_argument("--rows", type=int, default=None, help="slice of the train split")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="threads per generator "
                        "(PEERS.md: more than 1 on a shared machine makes timings meaningless)")
    parser.add_argument("--epochs", type=int, default=300, help="CTGAN / TVAE epochs")
    parser.add_argument("--fast", action="store_true", help="lighter evaluation settings")
    parser.add_argument("--no-isolate", action="store_true", help="run generators in-process")
    parser.add_argument("--report", nargs="*", default=[], metavar="DATASET:GENERATOR",
                        help="also save the HTML report and a screenshot of these pairs")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per generator")
    parser.add_argument("--no-third-party", action="store_true",
                        help="skip the mostlyai-qa and SDMetrics scores")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--collect", nargs="+", type=Path, default=None, metavar="DIR",
                        help="run nothing: write one table (OUT/benchmark.md) from the result "
                        "JSON files of earlier runs in these folders")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(json.loads(args.child))))
        return 0
    if args.collect:
        results = collect(args.collect)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "benchmark.md").write_text(markdown_table(results), encoding="utf-8")
        print(markdown_table(results))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    for var, value in _pinned_env(args.threads).items():
        if var.endswith("_THREADS"):
            os.environ[var] = value
    if args.generators is None:
        from lookalike.models.registry import available

        args.generators = available()
    results = run(args.datasets, [*args.generators, *args.peers], out=args.out, rows=args.rows,
                  seed=args.seed, threads=args.threads, epochs=args.epochs,
                  isolate=not args.no_isolate, fast=args.fast, report=args.report,
                  timeout=args.timeout, third_party=not args.no_third_party)
    print(markdown_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
