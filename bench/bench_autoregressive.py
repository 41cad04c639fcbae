"""Benchmark of the autoregressive generator on UCI Adult (fit time, sampling speed, quality).

Measures, on /work/shared/datasets/adult (train.csv -> synthetic, test.csv holdout):

* fit seconds, sampling rows/s (tokens only, and with decoding), peak RSS (getrusage);
* TSTR ROC AUC: LightGBM (defaults, n_jobs=2) trained on 32,561 synthetic rows, tested on
  test.csv; TRTR: the same trained on the real train.csv;
* per-column total variation distance between real and synthetic marginals (numeric
  columns binned at the real deciles), and the mean TVD over column pairs (same bins);
* optionally a DP run (``--dp-epsilon``, delta = 1/N).

Usage::

    python bench/bench_autoregressive.py [--seed 0] [--dp-epsilon 1] [--param hidden=64 ...]
    python bench/bench_autoregressive.py --json bench/results/autoregressive.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd

from lookalike.encoding import TableEncoder
from lookalike.io import read_table
from lookalike.models.autoregressive import AutoregressiveGenerator
from lookalike.models.base import EncodedData, Layout
from lookalike.schema import infer

DATA = Path("/work/shared/datasets/adult")
TARGET = "income"


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def typed(df: pd.DataFrame, numeric: list[str]) -> pd.DataFrame:
    """Numeric columns as float, missing cells as None elsewhere (read_table gives text)."""
    out = df.copy()
    for c in out.columns:
        if c in numeric:
            out[c] = pd.to_numeric(out[c]).astype(float)
        else:
            out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out


def tstr_auc(train: pd.DataFrame, test: pd.DataFrame) -> float:
    """ROC AUC on ``test`` of LightGBM trained on ``train`` (categoricals as category)."""
    import lightgbm as lgb
    from sklearn.metrics import roc_auc_score

    pos = ">50K"
    feats = [c for c in test.columns if c != TARGET]
    x_tr, x_te = train[feats].copy(), test[feats].copy()
    for c in feats:
        if not pd.api.types.is_numeric_dtype(test[c]):
            cats = sorted(set(test[c].dropna().astype(str)) | set(train[c].dropna().astype(str)))
            x_tr[c] = pd.Categorical(x_tr[c].astype("string"), categories=cats)
            x_te[c] = pd.Categorical(x_te[c].astype("string"), categories=cats)
        else:
            x_tr[c] = pd.to_numeric(x_tr[c]).astype(float)
            x_te[c] = pd.to_numeric(x_te[c]).astype(float)
    y_tr = (train[TARGET].astype(str) == pos).astype(int)
    y_te = (test[TARGET].astype(str) == pos).astype(int)
    if y_tr.nunique() < 2:
        return float("nan")
    model = lgb.LGBMClassifier(n_jobs=2, verbose=-1)
    model.fit(x_tr, y_tr)
    return float(roc_auc_score(y_te, model.predict_proba(x_te)[:, 1]))


def _binned(real: pd.Series, syn: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_numeric_dtype(real) and real.nunique() > 20:
        edges = np.unique(np.nanquantile(real.astype(float), np.linspace(0, 1, 11)))
        def cut(s: pd.Series) -> pd.Series:
            b = np.searchsorted(edges[1:-1], s.astype(float), side="right").astype(object)
            return pd.Series(np.where(s.isna(), "NA", b.astype(str)))
        return cut(real), cut(syn)
    return real.fillna("NA").astype(str), syn.fillna("NA").astype(str)


def tvd(a: pd.Series, b: pd.Series) -> float:
    p, q = a.value_counts(normalize=True), b.value_counts(normalize=True)
    return float(0.5 * p.subtract(q, fill_value=0).abs().sum())


def fidelity(real: pd.DataFrame, syn: pd.DataFrame) -> dict[str, float]:
    binned = {c: _binned(real[c], syn[c].reset_index(drop=True)) for c in real.columns}
    uni = {c: tvd(*binned[c]) for c in real.columns}
    pairs = []
    for a, b in itertools.combinations(real.columns, 2):
        ra = binned[a][0].reset_index(drop=True) + "|" + binned[b][0].reset_index(drop=True)
        sa = binned[a][1].reset_index(drop=True) + "|" + binned[b][1].reset_index(drop=True)
        pairs.append(tvd(ra, sa))
    return {"tvd_max": max(uni.values()), "tvd_mean": float(np.mean(list(uni.values()))),
            "pair_tvd_mean": float(np.mean(pairs)), "accuracy_1d": 1 - float(np.mean(list(uni.values()))),
            "accuracy_2d": 1 - float(np.mean(pairs)), **{f"tvd/{c}": v for c, v in uni.items()}}


def conditional_checks(gen: AutoregressiveGenerator, enc: TableEncoder, real: pd.DataFrame,
                       tokens: np.ndarray, layout: Layout, rng: np.random.Generator) -> dict:
    """Conditional generation: give one column's real values, compare the rest.

    For ``sex`` and ``income`` (income is last in table order, sex is late), the given
    column is fixed to the real rows' values; the mean TVD between the generated and the
    real rows over the other columns is reported, and P(relationship = Husband | Female)
    (0 in the real data).
    """
    out = {}
    for col in ("sex", "income"):
        sl = layout.column_slices[col]
        fixed = np.full_like(tokens, -1)
        fixed[:, sl] = tokens[:, sl]
        cond = enc.finish(enc.decode_tokens(gen.sample(len(tokens), rng, fixed=fixed), rng), rng)
        cond = typed(cond, [c for c in real.columns if pd.api.types.is_numeric_dtype(real[c])])
        tv = []
        for c in real.columns:
            if c == col:
                continue
            a, b = _binned(real[c], cond[c])
            pa = (a + "|" + real[col].astype(str)).value_counts(normalize=True)
            pb = (b + "|" + cond[col].astype(str)).value_counts(normalize=True)
            tv.append(float(0.5 * pa.subtract(pb, fill_value=0).abs().sum()))
        out[f"cond_tvd/{col}"] = round(float(np.mean(tv)), 4)
        if col == "sex":
            fem = cond["sex"] == "Female"
            out["p_husband_given_female"] = round(float((cond.loc[fem, "relationship"]
                                                         == "Husband").mean()), 4)
    return out


def run(params: dict, seed: int, label: str, real: pd.DataFrame, test: pd.DataFrame,
        enc: TableEncoder, tokens: np.ndarray, layout: Layout) -> dict:
    rng = np.random.default_rng(seed)
    gen = AutoregressiveGenerator(**params)
    t0, c0 = time.perf_counter(), time.process_time()
    gen.fit(EncodedData(tokens, layout), rng)
    fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
    n = len(real)
    t0, c0 = time.perf_counter(), time.process_time()
    sampled = gen.sample(n, rng)
    sample_s, sample_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0 = time.perf_counter()
    syn = enc.finish(enc.decode_tokens(sampled, rng), rng)
    decode_s = time.perf_counter() - t0
    syn = typed(syn, [c for c in real.columns if pd.api.types.is_numeric_dtype(real[c])])
    out = {
        "label": label, "params": params, "seed": seed, "fit_s": round(fit_s, 2), "fit_cpu_s": round(fit_cpu, 2),
        "epochs": gen.report_.epochs, "stop": gen.report_.stop_reason,
        "best_val_nll": gen.report_.best_val_loss,
        "hidden": gen.architecture_.hidden, "n_blocks": gen.architecture_.n_blocks,
        "n_parameters": gen.architecture_.n_parameters(),
        "sample_rows_per_s": round(n / sample_s),
        "sample_rows_per_cpu_s": round(n / sample_cpu), "decode_s": round(decode_s, 2),
        "tstr_auc": round(tstr_auc(syn, test), 4),
        "privacy": gen.privacy_events(),
        "curve": [[round(h.get("val", h["train"]), 3), round(h.get("lr", 0), 5)]
                  for h in gen.report_.history],
    }
    out.update(conditional_checks(gen, enc, real, tokens, layout, rng))
    fid = fidelity(real, syn)
    out.update({k: round(v, 4) for k, v in fid.items()})
    worst = sorted((v, k[4:]) for k, v in fid.items() if k.startswith("tvd/"))[-3:]
    out["worst"] = [f"{k}:{v:.3f}" for v, k in reversed(worst)]
    out["peak_mb"] = round(peak_mb())
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dp-epsilon", type=float, default=None)
    ap.add_argument("--no-plain", action="store_true")
    ap.add_argument("--trtr", action="store_true")
    ap.add_argument("--param", action="append", default=[], help="name=value (JSON value)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (the benchmark pins them; the library never does)")
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.v else logging.INFO,
                        format="%(asctime)s %(name)s %(message)s")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    params = {}
    for item in args.param:
        k, v = item.split("=", 1)
        params[k] = json.loads(v)
    raw = read_table(DATA / "train.csv")
    schema = infer(raw)
    numeric = [s.name for s in schema if s.kind == "numeric"]
    real = typed(raw, numeric)
    test = typed(read_table(DATA / "test.csv"), numeric)
    enc = TableEncoder(schema).fit(raw)
    tokens = enc.encode_tokens(enc.prepare(raw))
    layout = Layout(columns=tuple(enc.modelled_columns), column_slices=enc.token_slices_,
                    token_slots=tuple(enc.token_slots))
    results = []
    if args.trtr:
        results.append({"label": "trtr", "tstr_auc": round(tstr_auc(real, test), 4)})
        print(json.dumps(results[-1]))
    if not args.no_plain:
        results.append(run(params, args.seed, "plain", real, test, enc, tokens, layout))
        print(json.dumps({k: v for k, v in results[-1].items() if not k.startswith("tvd/")}))
    if args.dp_epsilon is not None:
        dp_params = {**params, "dp": {"epsilon": args.dp_epsilon, "delta": 1 / len(real)}}
        results.append(run(dp_params, args.seed, f"dp-eps{args.dp_epsilon}", real, test, enc,
                           tokens, layout))
        print(json.dumps({k: v for k, v in results[-1].items() if not k.startswith("tvd/")}))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
