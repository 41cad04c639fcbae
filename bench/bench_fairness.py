"""Fair generation on UCI Adult: parity gap of income across sex, before and after.

Fits the autoregressive generator on Adult's train split, then samples as many rows plainly
and with ``fairness={"target": "income", "sensitive": "sex"}`` (conditional tilting, see
``lookalike.fairness``). Reports, for the real train split and both samples: the parity gap
(largest difference of P(income = y | sex) between the sexes), the >50K rate per sex, the
share of women, TSTR ROC AUC (LightGBM trained on the table, tested on the real test split)
(against the real, unfair, test labels).

Usage: ``python bench/bench_fairness.py [--seed 0] [--json bench/results/fairness.json]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "adult"


def main() -> None:
    import torch

    sys.path.insert(0, str(ROOT / "bench"))
    from bench_autoregressive import tstr_auc, typed

    from lookalike import Synthesizer
    from lookalike.fairness import parity_gap
    from lookalike.io import read_table
    from lookalike.schema import infer

    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    raw = read_table(DATA / "train.csv")
    numeric = [s.name for s in infer(raw) if s.kind == "numeric"]
    real, test = typed(raw, numeric), typed(read_table(DATA / "test.csv"), numeric)
    t0 = time.perf_counter()
    syn = Synthesizer("autoregressive", random_state=args.seed, target="income").fit(raw)
    fit_s = time.perf_counter() - t0
    tables = {"real": real,
              "synthetic": typed(syn.sample(len(raw), seed=1), numeric),
              "fair synthetic": typed(syn.sample(len(raw), seed=1, fairness="sex"), numeric)}
    rows = []
    for name, df in tables.items():
        gap = parity_gap(df, "income", "sex")
        rates = {g: round(r.get(">50K", 0.0), 4) for g, r in gap["rates"].items()}
        row = {"table": name, "parity_gap": round(gap["gap"], 4), "rate_>50K": rates,
               "women": round(float((df["sex"] == "Female").mean()), 4),
               "tstr_auc": round(tstr_auc(df, test), 4)}
        rows.append(row)
        print(json.dumps(row))
    out = {"fit_s": round(fit_s, 1), "seed": args.seed, "rows": rows,
           "note": "TSTR AUC against the real (unfair) test labels"}
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    lines = ["| table | parity gap | P(>50K given male) | P(>50K given female) | women | TSTR AUC |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['table']} | {r['parity_gap']:.3f} | {r['rate_>50K'].get('Male', 0):.3f} "
                     f"| {r['rate_>50K'].get('Female', 0):.3f} | {r['women']:.3f} "
                     f"| {r['tstr_auc']:.3f} |")
    print("\n".join(lines))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
