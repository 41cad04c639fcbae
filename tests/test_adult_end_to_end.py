"""Issue 'Foundation', done means: train + generate on all of Adult's training split."""

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from lookalike.cli import app
from lookalike.schema import infer


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    data = _adult_train_path()
    tmp = tmp_path_factory.mktemp("adult")
    runner = CliRunner()
    res = runner.invoke(app, ["train", str(data), "-o", str(tmp / "model"), "--seed", "1"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["generate", str(tmp / "model"), "-n", "32561",
                              "-o", str(tmp / "synthetic.csv"), "--seed", "2"])
    assert res.exit_code == 0, res.output
    return pd.read_csv(data, dtype=str), pd.read_csv(tmp / "synthetic.csv", dtype=str)


def test_same_columns_kinds_and_domains(run):
    real, synth = run
    assert list(synth.columns) == list(real.columns) and len(synth) == 32561
    real_schema, synth_schema = infer(real), infer(synth)
    assert [(c.kind, c.dtype) for c in real_schema] == [(c.kind, c.dtype) for c in synth_schema]
    for spec in real_schema:
        r, s = real[spec.name].dropna(), synth[spec.name].dropna()
        if spec.kind == "numeric":
            rv, sv = r.astype(float), s.astype(float)
            assert rv.min() <= sv.min() and sv.max() <= rv.max(), spec.name
            assert (sv == sv.round()).all(), f"{spec.name} must stay integer"
        else:
            assert set(s) <= set(r) | {"_RARE_"}, spec.name


def test_missing_rates_within_one_point(run):
    real, synth = run
    for col in real.columns:
        assert abs(real[col].isna().mean() - synth[col].isna().mean()) <= 0.01, col


def test_no_rare_categories_and_no_copies(run):
    real, synth = run
    for col in ("workclass", "education", "occupation", "native-country", "race"):
        counts = real[col].value_counts()
        rare = set(counts[counts < 5].index)
        assert not rare & set(synth[col].dropna()), col
    key = lambda df: set(map(tuple, df.fillna("").to_numpy()))  # noqa: E731
    assert not key(real) & key(synth)


def test_income_relation_is_kept(run):
    real, synth = run

    def rate(df):
        return (df["income"] == ">50K").groupby(df["sex"]).mean()

    np.testing.assert_allclose(rate(synth), rate(real), atol=0.08)


def _adult_train_path():
    from pathlib import Path

    path = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "adult" / "train.csv"
    if not path.exists():
        pytest.skip(f"dataset {path} is not available")
    return path
