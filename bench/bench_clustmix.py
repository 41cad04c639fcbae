"""Reproduce the 3A paper's Adult table with ClustMix: TSTR ROC AUC in both accounting modes.

Protocol (Madl et al. 2023, arXiv:2307.01875: Adult, epsilon = 1, delta = 1/N; the paper
reports AUC 0.863 for ClustMix and 0.931 for real data):

* data: /work/shared/datasets/adult/train.csv (N = 32,561) -> synthetic (N rows), through
  the facade: ``Synthesizer("clustmix", target="income", epsilon=..., delta=1/N,
  accounting=...)`` with the copy guard and rare-category protection on (defaults);
* utility: LightGBM (default parameters, one thread) trained on the synthetic rows, ROC AUC
  on the real test.csv (TSTR); TRTR = the same trained on the real train.csv;
* hyperparameters (``sigma_max``, ``lloyd_iters`` and ``kip`` for strict; ``sigma_max``,
  ``alpha``, ``ridge`` and ``kip`` for paper) are chosen at epsilon = 1 on the *training
  data only*, as the paper does: fit on 80 % of train.csv, score TSTR AUC on the other 20 %
  (one seed per candidate, a small coordinate-wise search, see ``search``). Note that
  tuning on the private data is itself not covered by either mode's guarantee (as in the
  paper); the default parameters' scores are reported too;
* the chosen settings are then run at epsilon = 0.1, 1 and 10 with ``--seeds`` seeds each
  (fit on the full train.csv, scored on test.csv); mean, sd, fit seconds and spent epsilon.

Writes bench/results/clustmix.json and bench/results/clustmix.md.

Usage::

    nice -n 10 python bench/bench_clustmix.py [--seeds 3] [--no-search] [--quick]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DATA = Path("/work/shared/datasets/adult")
OUT = Path(__file__).resolve().parent / "results"
TARGET = "income"
POSITIVE = ">50K"
PAPER = {"clustmix_auc": 0.863, "real_auc": 0.931, "epsilon": 1.0}

log = logging.getLogger("bench_clustmix")


def tstr_auc(train: pd.DataFrame, test: pd.DataFrame) -> float:
    """ROC AUC on ``test`` of LightGBM (defaults, one thread) trained on ``train``."""
    import lightgbm as lgb
    from sklearn.metrics import roc_auc_score

    feats = [c for c in test.columns if c != TARGET]
    x_tr, x_te = train[feats].copy(), test[feats].copy()
    for c in feats:
        if pd.api.types.is_numeric_dtype(test[c]):
            x_tr[c] = pd.to_numeric(x_tr[c]).astype(float)
            x_te[c] = pd.to_numeric(x_te[c]).astype(float)
        else:
            cats = sorted(set(test[c].dropna().astype(str)) | set(train[c].dropna().astype(str)))
            x_tr[c] = pd.Categorical(x_tr[c].astype("string"), categories=cats)
            x_te[c] = pd.Categorical(x_te[c].astype("string"), categories=cats)
    y_tr = (train[TARGET].astype(str) == POSITIVE).astype(int)
    y_te = (test[TARGET].astype(str) == POSITIVE).astype(int)
    if y_tr.nunique() < 2:
        return float("nan")
    model = lgb.LGBMClassifier(n_jobs=1, verbose=-1)
    model.fit(x_tr, y_tr)
    return float(roc_auc_score(y_te, model.predict_proba(x_te)[:, 1]))


def run(train: pd.DataFrame, test: pd.DataFrame, params: dict[str, Any], epsilon: float,
        seed: int) -> dict[str, Any]:
    """Fit through the facade on ``train``, sample len(train) rows, TSTR on ``test``."""
    from lookalike import Synthesizer

    t0 = time.perf_counter()
    syn = Synthesizer("clustmix", random_state=seed, target=TARGET, epsilon=epsilon,
                      delta=1.0 / len(train), **params).fit(train)
    fit_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    synth = syn.sample(len(train))
    sample_s = time.perf_counter() - t1
    record = syn.generator_.privacy_events()[0]
    info = syn.generator_.info_
    return {"auc": tstr_auc(synth, test), "fit_seconds": fit_s, "sample_seconds": sample_s,
            "epsilon_spent": syn.privacy_report()["epsilon_spent"], "mu": record["mu"],
            "n_clusters": info["n_clusters"], "l_min": info["l_min"],
            "copies_dropped": syn.last_sample_info_["copies_dropped"]}


#: Coordinate-wise search: each stage tries its values with the best settings so far.
SEARCH: dict[str, list[tuple[str, list[Any]]]] = {
    "strict": [("sigma_max", [0.02, 0.03, 0.05]), ("lloyd_iters", [4, 8]),
               ("kip", ["off", "on"])],
    "paper": [("sigma_max", [0.05, 0.1, 0.2]), ("kip", ["off", "on"]),
              ("alpha", [0.25, 0.5, 0.9]), ("ridge", [1e-3, 1e-2, 1e-1])],
}
START = {"strict": {"sigma_max": 0.03, "lloyd_iters": 8, "kip": "on"},
         "paper": {"sigma_max": 0.1, "kip": "on", "alpha": 0.5, "ridge": 1e-2}}
#: Ablations at epsilon = 1 (strict mode, chosen settings with one change each).
ABLATIONS = {"one cluster per class (n_clusters=2)": {"n_clusters": 2},
             "no KIP": {"kip": "off"}, "no jitter": {"jitter": False},
             "end-to-end DP (facade dp=, 10% of the budget to DP encoder statistics)":
                 {"dp": {"epsilon": 1.0}}}


def search(mode: str, train: pd.DataFrame) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Coordinate-wise search at epsilon=1 on an 80/20 split of the training data only."""
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(train))
    cut = int(0.8 * len(train))
    fit_part = train.iloc[idx[:cut]].reset_index(drop=True)
    val_part = train.iloc[idx[cut:]].reset_index(drop=True)
    best = dict(START[mode], accounting=mode)
    tried: dict[str, float] = {}
    trail = []
    for name, values in SEARCH[mode]:
        if name == "alpha" and best.get("kip") == "off":
            continue
        scores = {}
        for v in values:
            cand = dict(best, **{name: v})
            key = json.dumps(cand, sort_keys=True)
            if key not in tried:
                res = run(fit_part, val_part, cand, 1.0, seed=0)
                tried[key] = res["auc"]
                trail.append({"params": cand, "val_auc": res["auc"],
                              "fit_seconds": res["fit_seconds"]})
                log.info("search %s %s -> val AUC %.4f (%.0f s)", mode, cand, res["auc"],
                         res["fit_seconds"])
            scores[v] = tried[key]
        best[name] = max(scores, key=scores.get)
    return best, trail


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    aucs = np.array([r["auc"] for r in rows])
    return {"auc_mean": float(aucs.mean()), "auc_sd": float(aucs.std()),
            "aucs": aucs.round(4).tolist(),
            "fit_seconds": float(np.mean([r["fit_seconds"] for r in rows])),
            "sample_seconds": float(np.mean([r["sample_seconds"] for r in rows])),
            "epsilon_spent": float(max(r["epsilon_spent"] for r in rows)),
            "mu": rows[0]["mu"], "n_clusters": [r["n_clusters"] for r in rows],
            "l_min": rows[0]["l_min"],
            "copies_dropped": int(sum(r["copies_dropped"] for r in rows))}


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# ClustMix (3A) on UCI Adult: TSTR ROC AUC",
        "",
        (f"LightGBM (defaults) trained on {result['n_train']} synthetic rows, tested on the "
         f"real test split ({result['n_test']} rows); delta = 1/N. Mean ± sd over "
         f"{result['seeds']} seeds. Paper (Madl et al. 2023): ClustMix "
         f"{PAPER['clustmix_auc']}, real data {PAPER['real_auc']} at epsilon = 1."),
        "",
        f"Real data (TRTR): **{result['trtr_auc']:.4f}**",
        "",
        "| mode | epsilon | TSTR AUC | fit s | epsilon spent | clusters | l_min |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for mode in ("strict", "paper"):
        for eps, s in result["modes"][mode]["table"].items():
            lines.append(
                f"| {mode} | {eps} | {s['auc_mean']:.4f} ± {s['auc_sd']:.4f} | "
                f"{s['fit_seconds']:.1f} | {s['epsilon_spent']:.4f} | "
                f"{min(s['n_clusters'])}-{max(s['n_clusters'])} | {s['l_min']} |")
    lines += ["", "Defaults (no search), epsilon = 1:", ""]
    for mode in ("strict", "paper"):
        d = result["modes"][mode].get("defaults")
        if d:
            lines.append(f"- {mode}: {d['auc_mean']:.4f} ± {d['auc_sd']:.4f}")
    abl = result["modes"]["strict"].get("ablations", {})
    if abl:
        lines += ["", "Ablations, strict mode, epsilon = 1 (chosen settings, one change each):",
                  ""]
        for label, a in abl.items():
            lines.append(f"- {label}: {a['auc_mean']:.4f} ± {a['auc_sd']:.4f} "
                         f"(epsilon spent {a['epsilon_spent']:.4f})")
    lines += ["", ("Chosen hyperparameters (search at epsilon = 1 on an 80/20 split of the "
                   "training data only):"), ""]
    for mode in ("strict", "paper"):
        lines.append(f"- {mode}: `{json.dumps(result['modes'][mode]['params'])}`")
    lines += [
        "",
        ("`paper`: Theorem 2's epsilon of the release step only (clustering, class sizes and "
         "KIP treated as data-independent, as in the paper). `strict`: every data access is a "
         "Gaussian mechanism, composed in Gaussian DP; the encoder's statistics (standardisation "
         "constants, clipping quantiles, category lists) and the copy guard are outside "
         "both."),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--no-search", action="store_true", help="use START settings")
    parser.add_argument("--quick", action="store_true", help="1 seed, epsilon=1 only")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("lookalike").setLevel(logging.WARNING)
    import torch

    torch.set_num_threads(1)
    from lookalike.io import read_table

    train = read_table(DATA / "train.csv")
    test = read_table(DATA / "test.csv")
    seeds = 1 if args.quick else args.seeds
    epsilons = [1.0] if args.quick else [0.1, 1.0, 10.0]
    result: dict[str, Any] = {"n_train": len(train), "n_test": len(test), "seeds": seeds,
                              "paper": PAPER, "trtr_auc": tstr_auc(train, test), "modes": {}}
    log.info("TRTR AUC %.4f", result["trtr_auc"])
    for mode in ("strict", "paper"):
        params, trail = (dict(START[mode], accounting=mode), []) if args.no_search else \
            search(mode, train)
        table = {}
        for eps in epsilons:
            rows = [run(train, test, params, eps, seed) for seed in range(seeds)]
            table[str(eps)] = summarise(rows)
            log.info("%s eps=%g: AUC %.4f ± %.4f", mode, eps, table[str(eps)]["auc_mean"],
                     table[str(eps)]["auc_sd"])
        entry: dict[str, Any] = {"params": params, "search": trail, "table": table}
        if not args.quick:
            rows = [run(train, test, {"accounting": mode}, 1.0, seed) for seed in range(seeds)]
            entry["defaults"] = summarise(rows)
            if mode == "strict":
                entry["ablations"] = {}
                for label, change in ABLATIONS.items():
                    change = dict(change)
                    if "dp" in change:
                        change["dp"] = dict(change["dp"], delta=1.0 / len(train))
                    rows = [run(train, test, dict(params, **change), 1.0, seed)
                            for seed in range(seeds)]
                    entry["ablations"][label] = summarise(rows)
                    log.info("ablation %s: AUC %.4f", label,
                             entry["ablations"][label]["auc_mean"])
        result["modes"][mode] = entry
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "clustmix.json").write_text(json.dumps(result, indent=2) + "\n")
    (OUT / "clustmix.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
