"""Seeds of the autoregressive generator under DP on UCI Adult, scored as mostlyai-qa does.

One run per (seed, parameters): ``Synthesizer(generator="autoregressive", dp={"epsilon": 1,
"delta": 1/N, ...})`` fitted on the benchmark's Adult train split through the facade (the
DP encoder and the 2-way marginals included), then two calibrated samples of N rows (sample
seeds 0 and 1); the printed ``qa`` is the mean of their QA accuracy from
:func:`lookalike.evaluate.fidelity.qa_accuracy` against train + test concatenated, typed as
``run_benchmark`` types them - the same reference, binning and ``_RARE_`` bin as
mostlyai-qa's ``report`` (equal to the package's figure on the same rows: 0.9530 vs 0.953).
It needs neither mostlyai-qa nor a GPU, and is quicker than ``run_benchmark.py`` (no
embeddings, discriminator or TSTR), so several seeds fit into a session.

Usage::

    python bench/ar_dp_seeds.py --seeds 0 1 2 --params '{"pair_share": 0}' --tag nopairs \\
        --jobs 2 --out bench/results/ar_dp_seeds.jsonl

``--params`` may hold generator parameters and the ``dp`` keys ``encoding_share`` and
``pair_share``. One JSON line per run: seed, tag, parameters, fit CPU seconds, QA accuracy
(overall, uni-, bi-, trivariate) and the spent epsilon.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def run(job: dict[str, Any]) -> dict[str, Any]:
    import warnings

    import numpy as np
    import pandas as pd
    import torch

    sys.path.insert(0, str(HERE))
    from run_benchmark import _typed, load_dataset

    from lookalike import Synthesizer
    from lookalike.evaluate import fidelity
    from lookalike.schema import infer

    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    train, test, _ = load_dataset("adult")
    schema = infer(train)
    cols = [s.name for s in schema]
    kinds = {s.name: s.kind if s.kind in ("numeric", "datetime") else "categorical"
             for s in schema}
    trn, _ = _typed(train, schema)
    hol, _ = _typed(test[cols], schema)
    reference = pd.concat([trn, hol], ignore_index=True)  # as mostlyai-qa's report
    params = dict(job["params"])
    dp = {"epsilon": 1.0, "delta": 1.0 / len(train)}
    for key in ("encoding_share", "pair_share"):
        if key in params:
            dp[key] = params.pop(key)
    t0 = time.process_time()
    synth = Synthesizer(generator="autoregressive", dp=dp, random_state=job["seed"],
                        n_threads=1, **params).fit(train)
    fit_cpu = time.process_time() - t0
    scores = []
    for sample_seed in (0, 1):
        syn, _ = _typed(synth.sample(len(train), seed=sample_seed)[cols], schema)
        q = fidelity.qa_accuracy(reference, syn, kinds)
        scores.append([q[k] for k in ("accuracy", "univariate", "bivariate", "trivariate")])
    mean = np.mean(scores, axis=0).round(4).tolist()
    return {"seed": job["seed"], "tag": job["tag"], "params": job["params"],
            "fit_cpu_s": round(fit_cpu, 1), "qa": mean[0], "qa_univariate": mean[1],
            "qa_bivariate": mean[2], "qa_trivariate": mean[3],
            "epsilon_spent": synth.privacy_report()["epsilon_spent"]}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--params", default="{}", help="JSON dict of parameters")
    ap.add_argument("--tag", default="")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    params = json.loads(args.params)
    jobs = [{"seed": s, "params": params, "tag": args.tag} for s in args.seeds]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(args.jobs) as ex, args.out.open("a") as out:
        for result in ex.map(run, jobs):
            line = json.dumps(result)
            print(line, flush=True)
            out.write(line + "\n")


if __name__ == "__main__":
    main()
