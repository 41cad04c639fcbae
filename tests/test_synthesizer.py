"""The Synthesizer facade: API conventions, reproducibility, model files, bad input."""

import hashlib
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lookalike import Synthesizer
from lookalike.errors import (
    GenerationError,
    InvalidDataError,
    InvalidParameterError,
    ModelFileError,
    NotFittedError,
)


@pytest.fixture(scope="module")
def fitted(adult_small):
    return Synthesizer("independent", random_state=0).fit(adult_small)


def test_params_and_not_fitted():
    syn = Synthesizer("independent", random_state=3, alpha=0.5)
    assert syn.get_params()["alpha"] == 0.5 and syn.get_params()["random_state"] == 3
    assert syn.set_params(rare_k=7).rare_k == 7
    with pytest.raises(NotFittedError, match="not fitted"):
        syn.sample(5)
    assert issubclass(NotFittedError, ValueError) and issubclass(NotFittedError, AttributeError)


def test_sample_shape_types_and_streams(fitted, adult_small):
    a = fitted.sample(500, seed=1)
    assert list(a.columns) == list(adult_small.columns) and len(a) == 500
    assert a["age"].dtype == np.int64
    assert fitted.sample(500, seed=1).equals(a)
    b, c = fitted.sample(200), fitted.sample(200)
    assert not b.equals(c)  # the model's own stream moves on between calls


def test_save_load_same_samples_and_safe_files(fitted, tmp_path):
    fitted.save(tmp_path / "m")
    files = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert files == ["arrays.safetensors", "guard.safetensors", "model.json", "schema.json"]
    loaded = Synthesizer.load(tmp_path / "m")
    assert loaded.sample(300, seed=4).equals(fitted.sample(300, seed=4))
    model = json.loads((tmp_path / "m" / "model.json").read_text())
    assert model["training_data"]["n_rows"] == 3000
    assert model["privacy"]["differential_privacy"] is False
    assert "summary" in model["model_card"]
    fitted.save(tmp_path / "m.zip", include_guard=False)
    z = Synthesizer.load(tmp_path / "m.zip")
    assert z.guard_ is None and len(z.sample(10, seed=1)) == 10


def test_crafted_pickle_is_refused(fitted, tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (Path.touch, (marker,))

    fitted.save(tmp_path / "m")
    (tmp_path / "m" / "arrays.safetensors").write_bytes(pickle.dumps(Evil()))
    (tmp_path / "m" / "model.pkl").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(ModelFileError, match="not a valid safetensors"):
        Synthesizer.load(tmp_path / "m")
    assert not marker.exists()


def test_newer_and_corrupted_model_files(fitted, tmp_path):
    fitted.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    meta["format_version"] = 99
    (tmp_path / "m" / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="newer lookalike"):
        Synthesizer.load(tmp_path / "m")
    (tmp_path / "m" / "model.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        Synthesizer.load(tmp_path / "m")
    with pytest.raises(ModelFileError, match="no such model"):
        Synthesizer.load(tmp_path / "absent")


SCRIPT = """
import hashlib, sys
from pathlib import Path
from lookalike import Synthesizer
from lookalike.io import read_table
df = read_table(sys.argv[1]).iloc[:1500]
syn = Synthesizer({gen!r}, random_state=11).fit(df)
syn.save(sys.argv[2])
h = hashlib.sha256()
for p in sorted(Path(sys.argv[2]).iterdir()):
    h.update(p.read_bytes())
h.update(syn.sample(700).to_csv().encode())
print(h.hexdigest())
"""


@pytest.mark.parametrize("generator", ["independent", "linear"])
def test_bit_for_bit_reproducible_across_processes(tmp_path, generator):
    data = str(_adult_train_path())
    digests = []
    for i in range(2):
        out = subprocess.run(
            [sys.executable, "-c", SCRIPT.format(gen=generator), data, str(tmp_path / f"m{i}")],
            capture_output=True, text=True, check=True,
        )
        digests.append(out.stdout.strip())
    assert digests[0] == digests[1] and len(digests[0]) == 64


def test_balance_and_weights(fitted):
    b = fitted.sample(1000, seed=2, balance="income")
    assert b["income"].value_counts().tolist() == [500, 500]
    w = fitted.sample(1000, seed=2, weights={"sex": {"Female": 0.7}})
    assert (w["sex"] == "Female").sum() == 700
    with pytest.raises(InvalidParameterError, match="does not exist"):
        fitted.sample(10, balance="nope")
    with pytest.raises(InvalidParameterError, match="not categorical"):
        fitted.sample(10, balance="age")
    with pytest.raises(InvalidParameterError, match="add up to"):
        fitted.sample(10, weights={"sex": {"Female": 0.7, "Male": 0.6}})
    with pytest.raises(InvalidParameterError, match="not a category"):
        fitted.sample(10, weights={"sex": {"Other": 0.1}})
    with pytest.raises(InvalidParameterError, match="needs the Synthesizer's 'target'"):
        fitted.sample(10, balance="target")


@pytest.mark.parametrize("n", [0, -3, 2.5, True])
def test_bad_n(fitted, n):
    with pytest.raises(InvalidParameterError, match="n must be a positive integer"):
        fitted.sample(n)


def test_copy_guard_drops_copies_and_reports():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.choice(list("xyz"), 400), "b": rng.choice(list("pq"), 400),
                       "c": rng.integers(0, 3, 400)})
    syn = Synthesizer("independent", random_state=0).fit(df)
    with pytest.raises(GenerationError, match="copy_guard='rare'"):
        syn.sample(50)
    loose = Synthesizer("independent", random_state=0, copy_guard="off").fit(df)
    assert len(loose.sample(50)) == 50
    df2 = pd.DataFrame({"a": rng.choice(list("xyz"), 400), "v": rng.normal(size=400).round(2)})
    syn2 = Synthesizer("independent", random_state=0).fit(df2)
    out = syn2.sample(2000)
    real = set(map(tuple, df2.astype(str).to_numpy()))
    assert not any(tuple(r) in real for r in out.astype(str).to_numpy())


def test_bad_tables(tmp_path):
    one = pd.DataFrame({"a": [1.0], "b": ["x"]})
    with pytest.raises(InvalidDataError, match=r"1 row\(s\)"):
        Synthesizer("independent").fit(one)
    wide = pd.DataFrame(np.arange(60.0).reshape(6, 10) * 1.5,
                        columns=[f"c{i}" for i in range(10)])
    with pytest.raises(InvalidDataError, match="more columns .* than rows"):
        Synthesizer("independent").fit(wide)
    ok = pd.DataFrame({"a": np.arange(40.0) * 3, "b": ["x", "y"] * 20})
    with pytest.raises(InvalidDataError, match="target column 'income' is not in the table"):
        Synthesizer("independent", target="income").fit(ok)
    const = ok.assign(k="same")
    with pytest.raises(InvalidDataError, match="'k' holds one value"):
        Synthesizer("independent", random_state=1).fit(const)
    with pytest.raises(InvalidParameterError, match="Unknown generator 'nope'"):
        Synthesizer("nope").fit(ok)
    with pytest.raises(InvalidParameterError, match="Unknown parameter"):
        Synthesizer("independent", colour=3).fit(ok)
    with pytest.raises(InvalidParameterError, match="'alpha' parameter of IndependentMarginals"):
        Synthesizer("independent", alpha=-1.0).fit(ok)


def test_conditional_needs_support(adult_small):
    syn = Synthesizer("independent", random_state=0).fit(adult_small)
    out = syn.sample(seed_data=pd.DataFrame({"sex": ["Female"] * 5, "age": [61, 62, 63, 64, 99]}))
    assert out["sex"].tolist() == ["Female"] * 5 and out["age"].tolist() == [61, 62, 63, 64, 99]
    with pytest.raises(InvalidDataError, match="not modelled columns"):
        syn.sample(seed_data=pd.DataFrame({"colour": ["red"]}))


def test_fingerprint_is_not_data(fitted, tmp_path):
    fitted.save(tmp_path / "m")
    text = (tmp_path / "m" / "model.json").read_text()
    assert "Holand-Netherlands" not in text
    digest = json.loads(text)["training_data"]["sha256"]
    assert len(digest) == 64 and hashlib.sha256 is not None


def test_constant_and_all_missing_columns():
    ok = pd.DataFrame({"a": np.arange(40.0) * 3, "b": ["x", "y"] * 20, "k": ["same"] * 40})
    with pytest.raises(InvalidDataError) as err:
        Synthesizer("independent", random_state=0).fit(ok)
    assert err.value.problems == [(
        "column 'k' holds one value ('same') in every row: there is nothing to learn from it. "
        "Drop the column, or declare it constant so that every synthetic row gets the value "
        'verbatim (config file: {"columns": {"k": {"kind": "constant", "value": "same"}}}).')]
    with pytest.raises(InvalidDataError, match="'gone' is entirely missing: drop it"):
        Synthesizer("independent").fit(ok.assign(gone=None))
    # a column with one value and missing cells is not constant: the missing rate is learned
    Synthesizer("independent", random_state=0).fit(ok.assign(k=["same"] * 39 + [None]))


def test_declared_constant_columns_are_written_back_verbatim(tmp_path):
    from lookalike.schema import infer

    df = pd.DataFrame({"a": np.arange(40.0) * 3, "b": ["x", "y"] * 20, "k": ["same"] * 40,
                       "n": ["7.5"] * 40, "i": [3] * 40})
    schema = infer(df).with_overrides({"k": {"kind": "constant", "value": "same"},
                                       "n": {"kind": "constant", "value": "7.5"},
                                       "i": {"kind": "constant", "value": 3}})
    assert [(schema[c].kind, schema[c].dtype) for c in "kni"] == [
        ("constant", "string"), ("constant", "float"), ("constant", "int")]
    syn = Synthesizer("independent", random_state=0).fit(df, schema=schema)
    assert syn.encoder_.modelled_columns == ["a", "b"]  # the generator never sees them
    out = syn.sample(50, seed=1)
    assert list(out.columns) == list(df.columns)
    assert (out["k"] == "same").all() and (out["n"] == 7.5).all() and (out["i"] == 3).all()
    assert out["n"].dtype == np.float64 and out["i"].dtype == np.int64
    syn.save(tmp_path / "m")
    assert Synthesizer.load(tmp_path / "m").sample(50, seed=1).equals(out)
    with pytest.raises(InvalidDataError, match=r"'k' is declared constant \('same'\) but 1 "
                                               r"row\(s\) hold something else \(e.g. 'x'\)"):
        Synthesizer("independent").fit(df.assign(k=["same"] * 39 + ["x"]), schema=schema)


def _adult_train_path():
    from pathlib import Path

    path = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "adult" / "train.csv"
    if not path.exists():
        pytest.skip(f"dataset {path} is not available")
    return path


def test_copy_guard_per_sample_call(fitted):
    assert fitted.sample(20, seed=1).equals(fitted.sample(20, seed=1, copy_guard="all"))
    fitted.sample(20, seed=1, copy_guard="off")
    assert fitted.last_sample_info_["guard"] == "off"
    with pytest.raises(InvalidParameterError, match="must be 'off' or this model's own mode"):
        fitted.sample(20, copy_guard="rare")


def test_fit_from_a_file_names_it_in_data_errors(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"a": np.arange(30.0) * 2, "k": ["x"] * 30}).to_csv(path, index=False)
    with pytest.raises(InvalidDataError) as err:
        Synthesizer("independent").fit(path)
    assert str(err.value).startswith(f"{path}: column 'k' holds one value ('x')")
    assert err.value.source == str(path)


def test_free_text_end_to_end(caplog):
    """Excluded free text comes back empty (with a warning); free text modelled as
    categorical (by inference or declared) never emits a value seen fewer than rare_k
    times: those become _RARE_."""
    from lookalike.schema import infer

    frequent = [f"note {i} about the visit" for i in range(8) for _ in range(5)]
    notes = frequent + [f"unique remark number {i}" for i in range(40)]
    df = pd.DataFrame({"note": notes, "x": np.arange(80.0) * 1.5})
    syn = Synthesizer("independent", random_state=0).fit(df)
    assert syn.schema_["note"].text_mode == "categorical"
    out = syn.sample(400, seed=1)["note"]
    assert set(out) <= set(frequent) | {"_RARE_"} and (out == "_RARE_").mean() > 0.3
    sparse = df.assign(note=notes[:15] + [f"unique remark number {i}" for i in range(65)])
    with caplog.at_level("WARNING"):
        syn = Synthesizer("independent", random_state=0, copy_guard="off").fit(sparse)
    assert ("column 'note' is free text and excluded: it comes back empty. Declare it "
            "categorical in the config to keep it.") in caplog.text
    assert syn.sample(50, seed=1)["note"].isna().all()
    declared = infer(sparse).with_overrides({"note": {"text_mode": "categorical"}})
    out = Synthesizer("independent", random_state=0).fit(sparse, schema=declared).sample(
        300, seed=1)["note"]
    assert set(out) <= {"note 0 about the visit", "note 1 about the visit",
                        "note 2 about the visit", "_RARE_"}
