"""Foundation benchmark: fit seconds, sample rows/s and peak memory on UCI Adult.

Run by hand (not in CI):  .venv/bin/python bench/bench_foundation.py [--generators linear ...]
Writes bench/results/foundation.json and bench/results/foundation.md. Each generator runs in
its own subprocess so that peak memory (ru_maxrss) is per generator.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "adult" / "train.csv"
RESULTS = ROOT / "bench" / "results"


def measure(generator: str, data: Path, n_sample: int) -> dict:
    from lookalike import Synthesizer
    from lookalike.io import read_table

    df = read_table(data)
    t0 = time.perf_counter()
    syn = Synthesizer(generator, random_state=0).fit(df)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = syn.sample(n_sample)
    sample_s = time.perf_counter() - t0
    return {
        "generator": generator,
        "rows": len(df),
        "fit_s": round(fit_s, 2),
        "sample_rows": len(out),
        "sample_s": round(sample_s, 3),
        "sample_rows_per_s": round(len(out) / sample_s),
        "copies_dropped": syn.last_sample_info_["copies_dropped"],
        "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--generators", nargs="+", default=["linear", "independent"])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--n", type=int, default=32561)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.data, args.n)))
        return
    rows = []
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")  # BLAS threads fight on a busy 2-core box
    for gen in args.generators:
        out = subprocess.run([sys.executable, __file__, "--one", gen, "--data", str(args.data),
                              "--n", str(args.n)], capture_output=True, text=True, env=env)
        if out.returncode != 0:
            print(f"{gen} failed:\n{out.stderr[-2000:]}", file=sys.stderr)
            continue
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(rows[-1])
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {"machine": platform.platform(), "cpus": os.cpu_count(), "data": str(args.data),
            "date": time.strftime("%Y-%m-%d")}
    (RESULTS / "foundation.json").write_text(json.dumps({"meta": meta, "results": rows},
                                                        indent=2) + "\n")
    lines = ["| generator | rows | fit s | sample rows/s | peak MB | copies dropped |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['generator']} | {r['rows']:,} | {r['fit_s']} | {r['sample_rows_per_s']:,} | "
              f"{r['peak_mb']} | {r['copies_dropped']} |" for r in rows]
    (RESULTS / "foundation.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
