"""Encoding ceiling under differential privacy on UCI Adult.

Fits :class:`~lookalike.encoding.TableEncoder` with a DP ledger holding the encoding budget
exactly as :class:`~lookalike.Synthesizer` gives it (``epsilon_enc = share * epsilon``,
``delta_enc = share * delta``), then measures what the encoding alone loses: the real table
is encoded and decoded again (``decode(encode(real))``, token view as the autoregressive
generator uses it, and the continuous view) and compared with the real table by the
mostlyai-qa accuracy (``lookalike.evaluate.fidelity.qa_accuracy``). A generator cannot do
better than this ceiling. Decoding is exact inside a numeric column's range, so the ceiling
measures what clipping and dropped categories cost; the quality of the DP bin cuts (what a
token model has to learn) is shown per column as the largest share of real rows in one token
bin and the number of digit tokens. Also prints the ledger's spent (epsilon, delta) and, per
column, the released range, bin count, mean/std and kept categories.

``--delta 1/N`` (default) is the target setting (epsilon = 1, delta = 1/N for the whole fit);
``--delta 1/10N`` is the facade's default delta.

Usage::

    python bench/dp_encoding.py                       # epsilon_enc in 0.05, 0.1, 0.2
    python bench/dp_encoding.py --eps-enc 0.1 --seeds 0 1 2 --delta 1/10N
    python bench/dp_encoding.py --json bench/results/dp_encoding.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd

from lookalike.encoding import TableEncoder
from lookalike.encoding.categorical import CategoricalEncoder
from lookalike.encoding.numeric import NumericEncoder
from lookalike.evaluate.core import prepare
from lookalike.evaluate.fidelity import qa_accuracy
from lookalike.io import read_table
from lookalike.privacy import PrivacyLedger
from lookalike.schema import infer

DATA = Path(os.environ.get("LOOKALIKE_DATASETS", "/work/shared/datasets")) / "adult"
SHARE = 0.1  # the facade's default encoding_share


def ceiling(enc: TableEncoder, df: pd.DataFrame, view: str, seed: int) -> dict:
    """qa accuracy of decode(encode(df)) against df."""
    can = enc.prepare(df)
    rng = np.random.default_rng(seed)
    cols = enc.modelled_columns
    if view == "tokens":
        dec = enc.decode_tokens(enc.encode_tokens(can[cols]), rng)
    else:
        dec = enc.decode_continuous(enc.encode_continuous(can[cols]))
    out = enc.finish(dec, rng)
    d = prepare(df, out)
    return qa_accuracy(d.train, d.synthetic, d.kinds)


def bin_balance(enc: NumericEncoder, values: pd.Series) -> tuple[float, int]:
    """Largest share of the real rows in one token bin, and the token digits per value."""
    tok = enc.encode_tokens(enc.prepare(values))[:, 0]
    shares = np.bincount(tok) / len(tok)
    return float(shares.max()), enc.stats.n_digits


def describe(enc: TableEncoder, df: pd.DataFrame) -> list[str]:
    lines = []
    for name, e in enc.encoders.items():
        s = e.stats
        if isinstance(e, NumericEncoder):
            x = pd.to_numeric(df[name], errors="coerce")
            big, digits = bin_balance(e, df[name])
            lines.append(f"  {name:16s} numeric  [{s.lower:g}, {s.upper:g}]  bins={s.n_bins:3d}"
                         f" digits={digits} largest bin {100 * big:4.1f}%  mean={s.mean:.4g} "
                         f"std={s.std:.4g}  (real [{x.min():g}, {x.max():g}], inside "
                         f"{100 * x.between(s.lower, s.upper).mean():.1f}%, mean={x.mean():.4g} "
                         f"std={x.std():.4g})")
        elif isinstance(e, CategoricalEncoder):
            real = df[name].nunique()
            cats = list(s.categories)
            shown = ", ".join(cats[:8]) + (" ..." if len(cats) > 8 else "")
            lines.append(f"  {name:16s} categ.   kept {len(cats):2d} of {real:2d}: {shown}")
        else:
            lines.append(f"  {name:16s} {type(e).__name__}")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eps-enc", type=float, nargs="+", default=[0.05, 0.1, 0.2])
    ap.add_argument("--delta", default="1/N", choices=["1/N", "1/10N"],
                    help="total delta of the fit; the encoder gets share * delta")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    df = read_table(DATA / "train.csv")
    n = len(df)
    delta = 1.0 / n if args.delta == "1/N" else 1.0 / (10 * n)
    delta_enc = SHARE * delta
    schema = infer(df)
    results = []
    ref = TableEncoder(schema).fit(df)
    print("non-DP encoder:")
    print("\n".join(line for line in describe(ref, df) if "numeric" in line))
    for view in ("tokens", "continuous"):
        qa = ceiling(ref, df, view, 0)
        print(f"non-DP encoder, {view:10s}: univariate {qa['univariate']:.4f}  bivariate "
              f"{qa['bivariate']:.4f}  trivariate {qa['trivariate']:.4f}")
    for eps_enc in args.eps_enc:
        for seed in args.seeds:
            ledger = PrivacyLedger(eps_enc, delta_enc)
            t0 = time.perf_counter()
            enc = TableEncoder(schema).fit(df, dp_ledger=ledger,
                                           dp_rng=np.random.default_rng(seed))
            fit_s = time.perf_counter() - t0
            spent = ledger.spent
            print(f"\n== epsilon_enc={eps_enc:g} delta_enc={delta_enc:.3g} seed={seed}: "
                  f"ledger spent epsilon={spent.epsilon:.6g} ({100 * spent.epsilon / eps_enc:.1f}%"
                  f"), delta={spent.delta:.3g} [{spent.method}], {len(ledger)} events, "
                  f"fit {fit_s:.2f}s")
            print("\n".join(describe(enc, df)))
            row = {"epsilon_enc": eps_enc, "delta_enc": delta_enc, "seed": seed,
                   "spent_epsilon": spent.epsilon, "spent_delta": spent.delta,
                   "method": spent.method, "events": len(ledger)}
            for view in ("tokens", "continuous"):
                qa = ceiling(enc, df, view, seed)
                print(f"  ceiling {view:10s}: univariate {qa['univariate']:.4f}  bivariate "
                      f"{qa['bivariate']:.4f}  trivariate {qa['trivariate']:.4f}")
                row[view] = {k: qa[k] for k in ("univariate", "bivariate", "trivariate")}
                row[view]["columns"] = qa["columns"]
            results.append(row)
    print("\nsummary (token view): eps_enc seed spent% univariate bivariate")
    for r in results:
        print(f"  {r['epsilon_enc']:<6g} {r['seed']:<4d} {100 * r['spent_epsilon'] / r['epsilon_enc']:6.1f}"
              f"  {r['tokens']['univariate']:.4f}  {r['tokens']['bivariate']:.4f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
