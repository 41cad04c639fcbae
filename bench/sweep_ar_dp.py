"""Parameter sweep of the autoregressive generator under DP on UCI Adult, one process per run.

Each run fits ``Synthesizer(generator="autoregressive", dp={"epsilon": E, "delta": 1/N},
**params)`` on train.csv through the facade (the DP encoder included, so the whole fit is
private), samples as many rows, and scores them with lookalike's mostlyai-qa accuracy
(:func:`lookalike.evaluate.fidelity.qa_accuracy`, reference = the training rows, as
mostlyai-qa's own accuracy) and the TSTR ROC AUC of ``bench_autoregressive.tstr_auc``
(LightGBM on the synthetic rows, tested on test.csv), for the default (calibrated) sample
and for ``sample(calibrate=False)``. Runs go in parallel, one thread each.

Usage::

    python bench/sweep_ar_dp.py --grid '[{}, {"learning_rate": 0.04}]' --seeds 0 1 \\
        --jobs 2 --out bench/results/ar_dp_sweep.jsonl [--keep-synthetic DIR]

Each line of the output is one run: the parameters, seed, fit CPU seconds, spent epsilon,
QA accuracy (overall, uni-, bi-, trivariate, per column) and TSTR AUC.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = Path("/work/shared/datasets/adult")


def _one(job: dict[str, Any]) -> dict[str, Any]:
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)
    sys.path.insert(0, str(HERE))
    import bench_autoregressive as B
    from lookalike import Synthesizer
    from lookalike.evaluate.fidelity import qa_accuracy
    from lookalike.io import read_table
    from lookalike.schema import infer

    data = Path(job["data"])
    raw = read_table(data / "train.csv")
    schema = infer(raw)
    numeric = [s.name for s in schema if s.kind == "numeric"]
    real = B.typed(raw, numeric)
    test = B.typed(read_table(data / "test.csv"), numeric)
    params = dict(job["params"])
    dp = {"epsilon": job["epsilon"], "delta": 1.0 / len(real)}
    for key in ("encoding_share", "pair_share"):  # keys of the dp dict, swept like the others
        if key in params:
            dp[key] = params.pop(key)
    pool = params.pop("calibration_pool", None)  # sampling, not a generator parameter
    t0 = time.process_time()
    synth = Synthesizer(generator="autoregressive", dp=dp, random_state=job["seed"], **params)
    synth.fit(raw)
    fit_cpu = time.process_time() - t0
    kinds = {s.name: ("numeric" if s.kind == "numeric" else "categorical") for s in schema}
    raw_rows = synth.sample(len(real), seed=job["seed"], calibrate=False)
    raw_t = B.typed(raw_rows.astype(object).where(raw_rows.notna(), None), numeric)
    qa_raw = qa_accuracy(real, raw_t, kinds)
    if pool is not None:
        from lookalike import synthesizer_sampling

        synthesizer_sampling.CALIBRATION_MIN_POOL = pool
        synthesizer_sampling.CALIBRATION_MAX_POOL = pool
    syn = synth.sample(len(real), seed=job["seed"])
    syn_t = B.typed(syn.astype(object).where(syn.notna(), None), numeric)
    qa = qa_accuracy(real, syn_t, kinds)
    out = {
        "params": job["params"], "seed": job["seed"], "epsilon": job["epsilon"],
        "fit_cpu_s": round(fit_cpu, 1),
        "epsilon_spent": synth.privacy_report().get("epsilon_spent")
        if hasattr(synth, "privacy_report") else None,
        "qa_accuracy": qa["accuracy"], "qa_univariate": qa["univariate"],
        "qa_bivariate": qa["bivariate"], "qa_trivariate": qa["trivariate"],
        "qa_columns": qa["columns"],
        "tstr_auc": B.tstr_auc(syn_t, test),
        "uncalibrated": {"qa_accuracy": qa_raw["accuracy"], "qa_univariate": qa_raw["univariate"],
                         "qa_bivariate": qa_raw["bivariate"],
                         "qa_trivariate": qa_raw["trivariate"], "qa_columns": qa_raw["columns"],
                         "tstr_auc": B.tstr_auc(raw_t, test)},
    }
    if job.get("keep"):
        keep = Path(job["keep"])
        keep.mkdir(parents=True, exist_ok=True)
        syn.to_csv(keep / f"run{job['index']}_seed{job['seed']}.csv", index=False)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", required=True, help="JSON list of parameter dicts")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--epsilon", type=float, default=1.0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, required=True, help="JSON-lines output")
    ap.add_argument("--keep-synthetic", type=Path, default=None)
    args = ap.parse_args(argv)
    grid = json.loads(args.grid)
    jobs = [{"params": p, "seed": s, "epsilon": args.epsilon, "data": str(args.data),
             "index": i, "keep": str(args.keep_synthetic) if args.keep_synthetic else None}
            for i, p in enumerate(grid) for s in args.seeds]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(max_workers=args.jobs) as pool, args.out.open("a") as fh:
        futures = {pool.submit(_one, j): j for j in jobs}
        for fut in as_completed(futures):
            job = futures[fut]
            try:
                row = fut.result()
            except Exception as exc:  # noqa: BLE001 - a failed run is a result
                row = {"params": job["params"], "seed": job["seed"],
                       "error": f"{type(exc).__name__}: {exc}"}
            fh.write(json.dumps(row) + "\n")
            fh.flush()
            print(json.dumps({k: v for k, v in row.items() if k != "qa_columns"}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
