"""Benchmark of the deep generators on UCI Adult: fit seconds and TSTR ROC AUC.

Every generator is fitted through the facade on the 32,561 training rows and samples as
many rows; LightGBM (``n_jobs=1``, defaults otherwise) is trained on the synthetic rows,
with categorical columns as pandas ``category`` dtype, and scored (ROC AUC) on the real
test split. Torch runs on one thread (pin threads: see PEERS.md).

Usage::

    python bench/bench_deep.py                      # all generators -> bench/results/deep.*
    python bench/bench_deep.py --only gan --params '{"max_epochs": 50}' --out /tmp/x

References (PEERS.md, same machine type): SDV TVAE 293 s / TSTR 0.882, SDV CTGAN 1,810 s /
0.881, train-on-real 0.927. 3A paper (Table 1, Adult, epsilon = 1): DP-GAN 0.511, PATE-GAN
0.732, DP-MERF 0.650.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "adult"
TARGET = "income"

#: name -> (generator, parameters); delta = 1/N as in the 3A paper's table
def configs(n: int) -> dict[str, tuple[str, dict]]:
    dp = {"epsilon": 1.0, "delta": 1.0 / n}
    return {
        "vae": ("vae", {}),
        "gan": ("gan", {}),
        "dp-vae": ("dp-vae", {"dp": dp}),
        "dp-gan": ("dp-gan", {"dp": dp}),
        "dp-merf": ("dp-merf", {"dp": dp}),
    }


def tstr_auc(synth: pd.DataFrame, test: pd.DataFrame, target: str = TARGET) -> float:
    """ROC AUC on ``test`` of LightGBM trained on ``synth`` (categories as category dtype)."""
    import lightgbm
    from sklearn.metrics import roc_auc_score

    positive = sorted(test[target].unique())[-1]
    features = [c for c in test.columns if c != target]
    cats = [c for c in features if test[c].dtype == object]

    def prep(df: pd.DataFrame) -> pd.DataFrame:
        x = df[features].copy()
        for c in cats:
            x[c] = pd.Categorical(x[c].astype(str), categories=sorted(
                set(test[c].astype(str)) | set(synth[c].astype(str))))
        return x

    y = (synth[target].astype(str) == positive).astype(int)
    if y.nunique() < 2:
        return 0.5
    model = lightgbm.LGBMClassifier(n_jobs=1, verbose=-1).fit(prep(synth), y)
    proba = model.predict_proba(prep(test))[:, 1]
    return float(roc_auc_score((test[target] == positive).astype(int), proba))


def run_one(name: str, generator: str, params: dict, train: pd.DataFrame,
            test: pd.DataFrame, seed: int = 0) -> dict:
    from lookalike import Synthesizer

    t0, c0 = time.perf_counter(), time.process_time()
    syn = Synthesizer(generator, random_state=seed, target=TARGET, **params).fit(train)
    fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
    t1 = time.perf_counter()
    synth = syn.sample(len(train))
    sample_s = time.perf_counter() - t1
    report = getattr(syn.generator_, "report_", {}) or {}
    privacy = syn.privacy_report()
    row = {
        "name": name, "generator": generator, "params": params, "seed": seed,
        "fit_seconds": round(fit_s, 1), "fit_cpu_seconds": round(fit_cpu, 1),
        "sample_seconds": round(sample_s, 1),
        "tstr_auc": round(tstr_auc(synth, test), 4),
        "epochs": report.get("epochs"), "best_epoch": report.get("best_epoch"),
        "stop_reason": report.get("stop_reason"),
        "epsilon_spent": privacy["epsilon_spent"], "delta_spent": privacy["delta_spent"],
        "target_share_synth": round(float((synth[TARGET] == ">50K").mean()), 4),
    }
    logging.getLogger("bench").info("%s", row)
    return row


def write(rows: list[dict], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    meta = {"machine": platform.platform(), "torch_threads": 1,
            "note": "2-core machine shared with other jobs: timings are indicative"}
    (out / "deep.json").write_text(json.dumps({"meta": meta, "results": rows}, indent=2))
    lines = ["# Deep generators on Adult (fit through the facade, 32,561 rows)", "",
             f"{meta['note']}; torch on 1 thread.", "",
             "| generator | fit s | TSTR AUC | epochs (best) | stop | epsilon spent |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        eps = "-" if r["epsilon_spent"] is None else f"{r['epsilon_spent']:.3f}"
        lines.append(f"| {r['name']} | {r['fit_seconds']} | {r['tstr_auc']:.3f} | "
                     f"{r['epochs']} ({r['best_epoch']}) | {r['stop_reason']} | {eps} |")
    lines += ["", "References: SDV TVAE 293 s / 0.882, SDV CTGAN 1,810 s / 0.881 (PEERS.md); "
              "3A paper Table 1 at epsilon=1: DP-GAN 0.511, PATE-GAN 0.732, DP-MERF 0.650; "
              "train-on-real 0.927."]
    (out / "deep.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    import torch

    torch.set_num_threads(1)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--params", default="{}", help="JSON parameters for --only runs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args()
    train = pd.read_csv(DATA / "train.csv")
    test = pd.read_csv(DATA / "test.csv")
    rows = []
    for name, (generator, params) in configs(len(train)).items():
        if args.only and name not in args.only:
            continue
        params = {**params, **json.loads(args.params)}
        rows.append(run_one(name, generator, params, train, test, args.seed))
        write(rows, Path(args.out))


if __name__ == "__main__":
    main()
