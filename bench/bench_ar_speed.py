"""Fit time and end-to-end sampling speed of the autoregressive generator on UCI Adult.

Fits ``Synthesizer("autoregressive", random_state=0)`` on Adult's train split (torch on one
thread), then times ``sample(n)`` through the facade (tokens, decoding and the exact-copy
guard) for n = 32,561 and 200,000 with ``n_jobs`` = 1 and 2 sampling threads (best of 3),
and ``sample(n, calibrate=True)`` with 2 threads (with the pool it chose); last, a second fit
with ``n_threads=2`` (torch on both cores; the default is one thread, see the generator's
``n_threads``).
Run it on an otherwise idle machine: the figures are wall times.

Usage: ``python bench/bench_ar_speed.py [--json bench/results/autoregressive_speed.json]``
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "adult" / "train.csv"


def main() -> None:
    import torch

    from lookalike import Synthesizer
    from lookalike.io import read_table

    ap = argparse.ArgumentParser()
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    raw = read_table(DATA)
    t, c = time.perf_counter(), time.process_time()
    syn = Synthesizer("autoregressive", random_state=0).fit(raw)
    out = {"rows": len(raw), "fit_wall_s": round(time.perf_counter() - t, 1),
           "fit_cpu_s": round(time.process_time() - c, 1)}
    for jobs in (1, 2):
        syn.generator_.n_jobs = jobs
        syn.sample(1000, seed=0)  # warm-up
        for n in (32_561, 200_000):
            best = min(_timed(syn, n, seed) for seed in range(3))
            out[f"rows_per_s/n={n}/n_jobs={jobs}"] = round(n / best)
    for n in (32_561, 200_000):  # calibrated to the stored training statistics, 2 threads
        best = min(_timed(syn, n, seed, calibrate=True) for seed in range(3))
        out[f"calibrated_rows_per_s/n={n}/n_jobs=2"] = round(n / best)
        out[f"calibrated_pool/n={n}"] = syn.last_sample_info_["calibration"]["pool"]
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    t, c = time.perf_counter(), time.process_time()  # both cores for torch (n_threads=2)
    Synthesizer("autoregressive", random_state=0, n_threads=2).fit(raw)
    out["fit_wall_s/n_threads=2"] = round(time.perf_counter() - t, 1)
    out["fit_cpu_s/n_threads=2"] = round(time.process_time() - c, 1)
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


def _timed(syn, n: int, seed: int, **options) -> float:
    t = time.perf_counter()
    syn.sample(n, seed=seed, **options)
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
