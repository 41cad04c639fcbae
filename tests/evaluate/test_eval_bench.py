"""bench/run_benchmark.py: the protocol runs end to end on a small slice."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lookalike.evaluate import SUMMARY_KEYS, EvaluationConfig

BENCH = Path(__file__).resolve().parents[2] / "bench" / "run_benchmark.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("run_benchmark", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["run_benchmark"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def shuffle_columns(train: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """A trivial generator: every column resampled on its own."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({c: train[c].to_numpy()[rng.integers(0, len(train), n)] for c in train})


def test_harness_runs_ours_and_custom_generators_and_skips_missing_peers(bench, tmp_path,
                                                                         adult_train):
    from lookalike.models.registry import available

    gens = [("shuffle-columns", shuffle_columns), "sdv-ctgan"]
    if "independent" in available():
        gens.append("independent")  # in its own process, as the real benchmark runs it
    cfg = EvaluationConfig(metrics=("fidelity", "utility", "privacy"), privacy_rows=600)
    results = bench.run(["adult"], gens, out=tmp_path, rows=600, config=cfg)
    by = {r["generator"]: r for r in results}
    r = by["shuffle-columns"]
    assert r["rows_synthetic"] == 600 and r["sample_rows_per_s"] > 0 and r["peak_mb"] > 0
    assert list(r["summary"]) == list(SUMMARY_KEYS)
    saved = json.loads((tmp_path / "adult__shuffle-columns.json").read_text())
    assert saved["summary"]["fidelity"] == pytest.approx(r["summary"]["fidelity"])
    if bench.peer_missing("sdv-ctgan"):
        assert "not installed" in by["sdv-ctgan"]["skipped"]
    if "independent" in by:
        assert "error" not in by["independent"], by["independent"].get("error")
        assert by["independent"]["peak_mb"] > 50  # RSS of its own process
    table = (tmp_path / "benchmark.md").read_text()
    assert "| adult | shuffle-columns |" in table and "DCR share" in table
