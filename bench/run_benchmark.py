"""Benchmark lookalike's generators and established peers on the same data, with one protocol.

Protocol, for every (dataset, generator): fit on the train split, sample as many rows as the
train split has, evaluate the synthetic table against the held-out test split with
``lookalike.evaluate`` (same seed, same configuration for every generator). Each generator fits
and samples in its own fresh Python process (threads pinned with ``--threads``), so peak memory
(``ru_maxrss`` of that process) is its own and one generator's thread pools cannot slow the
next. Peers and ours run in the same invocation, on the same machine, so time ratios are fair.

Generators
----------
* lookalike's registered generators, by name (``lookalike.models.registry.available()``);
* peers, imported lazily and skipped with a message when not installed (``pip install -e
  ".[bench]"``, or a separate venv, see ../shared/PEERS.md): ``sdv-gaussiancopula``,
  ``sdv-ctgan``, ``sdv-tvae`` (SDV, Business Source Licence: benchmarked, never a dependency)
  and ``mostlyai`` (mostlyai-engine's TabularARGN);
* ``path/to/file.py:function`` or ``package.module:function``: any
  ``function(train: DataFrame, n: int, seed: int) -> DataFrame``.

Usage
-----
::

    .venv/bin/python bench/run_benchmark.py --datasets adult --generators linear independent \\
        --peers sdv-gaussiancopula --threads 1 --report adult:linear

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
import resource
import shutil
import subprocess
import sys
import time
import tracemalloc
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
    quick runs and tests).
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
    return train, test, ds.target


# --------------------------------------------------------------------------- generators
class Runner:
    """Fit once, then sample; fit and sample are timed apart."""

    def fit(self, train: pd.DataFrame, seed: int) -> None:
        raise NotImplementedError

    def sample(self, n: int) -> pd.DataFrame:
        raise NotImplementedError


class Ours(Runner):
    """A lookalike generator through the public ``Synthesizer`` facade."""

    def __init__(self, name: str) -> None:
        self.name = name

    def fit(self, train: pd.DataFrame, seed: int) -> None:
        from lookalike import Synthesizer

        self.model = Synthesizer(generator=self.name, random_state=seed).fit(train)

    def sample(self, n: int) -> pd.DataFrame:
        return self.model.sample(n)


def _typed(train: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    """Typed frame and SDV column sdtypes, from lookalike's inferred schema."""
    from lookalike.schema import infer

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
        try:
            self.model.fit(df)
        except (TypeError, ValueError, AttributeError):  # SDV 2.x: a dict of tables
            self.model.fit({"table": df})

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


def family_of(spec: str) -> str:
    """``lookalike``, ``peer`` or ``custom``."""
    return "peer" if spec in PEERS else "custom" if ":" in spec else "lookalike"


def resolve(spec: str, *, epochs: int = 300, threads: int = 1) -> Runner:
    """The runner of a generator spec: ours, a peer, or ``module:function``."""
    family = family_of(spec)
    if family == "peer":
        return MostlyPeer(threads) if spec == "mostlyai" else SDVPeer(spec, epochs, threads)
    if family == "custom":
        return FunctionRunner(_load_function(spec))
    from lookalike.models.registry import available

    if spec not in available():
        raise SystemExit(f"unknown generator {spec!r}; lookalike has {', '.join(available())}; "
                         f"peers are {', '.join(PEERS)}")
    return Ours(spec)


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
    t0 = time.perf_counter()
    runner.fit(train, seed)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    synthetic = runner.sample(n)
    sample_s = time.perf_counter() - t0
    synthetic.to_csv(out_csv, index=False)
    return {"fit_s": round(fit_s, 3), "sample_s": round(sample_s, 3),
            "rows_synthetic": len(synthetic)}


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


# --------------------------------------------------------------------------- protocol
def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "machine": platform.machine(),
           "cpus": str(os.cpu_count())}
    for pkg in ("lookalike", "numpy", "pandas", "scikit-learn", "lightgbm", "torch", "sdv",
                "mostlyai-engine"):
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
) -> list[dict[str, Any]]:
    """Run the protocol for every dataset × generator; write the JSON files and the table.

    ``generators`` holds specs (see the module docstring) or ``(label, function)`` pairs (run
    in this process). ``config`` (an ``EvaluationConfig``) overrides the evaluation settings
    (default: lookalike's defaults, or lighter ones with ``fast``). Returns one result dict per
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
    env_versions = versions()
    results = []
    for ds_name in datasets:
        train, test, target = load_dataset(ds_name, root=root, rows=rows, seed=seed)
        train_csv = tmp / f"{ds_name}__train.csv"
        train.to_csv(train_csv, index=False)
        for item in generators:
            label, fn = (item, None) if isinstance(item, str) else item
            safe = label.replace("/", "_").replace(":", "_")
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
    head = ("| dataset | generator | fit s | sample rows/s | peak MB | fidelity | QA accuracy "
            "| discr. AUC | TSTR AUC / R² | TSTR gap | DCR share | MIA AUC | privacy |\n"
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
    lines = []
    for r in results:
        name = f"{r['generator']}" + (" (peer)" if r.get("family") == "peer" else "")
        if "skipped" in r or "error" in r:
            why = r.get("skipped") or r.get("error")
            lines.append(f"| {r['dataset']} | {name} | " + " | ".join(["—"] * 10)
                         + f" | {why} |")
            continue
        s = r["summary"]
        tstr = s.get("tstr_auc") if s.get("tstr_auc") is not None else s.get("tstr_r2")
        fit = r.get("fit_s")
        lines.append(
            f"| {r['dataset']} | {name} | {_f(fit, 1)} | {_f(r.get('sample_rows_per_s'))} "
            f"| {_f(r.get('peak_mb'), 0)} | {_f(s.get('fidelity'))} | {_f(s.get('qa_accuracy'))} "
            f"| {_f(s.get('discriminator_auc'))} | {_f(tstr)} | {_f(s.get('utility_gap'))} "
            f"| {_f(s.get('dcr_share'))} | {_f(s.get('mia_auc'))} | {r['verdict']['privacy']} |")
    note = ("\nPeak MB: max RSS of the generator's own process (in-process runs: Python heap). "
            "Custom functions do all their work in sampling. Protocol and metric definitions: "
            "bench/EVALUATION.md.\n")
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["adult"], help=", ".join(DATASETS))
    parser.add_argument("--generators", nargs="*", default=None,
                        help="lookalike generators or module:function (default: all registered)")
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
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(json.loads(args.child))))
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
                  timeout=args.timeout)
    print(markdown_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
