"""One shared set of behaviours every registered generator must show (cf. scikit-learn's
``estimator_checks``): fit through the facade, sample the right table, reproducibility,
state round trip through a model file, and the privacy report."""

import json

import numpy as np
import pandas as pd
import pytest

from lookalike import Synthesizer
from lookalike.models import registry

#: small settings so each generator fits in a few seconds on a 600-row slice
FAST: dict[str, dict] = {
    "autoregressive": {"max_epochs": 3},  # no time cap: it would make refits differ
    "clustmix": {"epsilon": 5.0, "kip_steps": 20, "max_seconds": 15},
    "vae": {"max_epochs": 3},
    "gan": {"max_epochs": 3},
    "medgan": {"max_epochs": 3, "pretrain_epochs": 3},
    "dp-vae": {"epochs": 2, "epsilon": 5.0},
    "dp-gan": {"epochs": 2, "epsilon": 5.0},
    "dp-merf": {"steps": 10, "n_features": 200, "epsilon": 5.0},
    "pate-gan": {"iterations": 10, "n_teachers": 100, "epsilon": 5.0},
}


def params_for(name: str) -> dict:
    cls = registry.get(name)
    allowed = set(cls._param_names())
    return {k: v for k, v in FAST.get(name, {}).items() if k in allowed}


@pytest.fixture(scope="module")
def table(adult_train):
    return adult_train.iloc[:600].reset_index(drop=True)


@pytest.mark.parametrize("name", registry.available())
def test_generator_contract(name, table, tmp_path):
    syn = Synthesizer(name, random_state=0, target="income", **params_for(name)).fit(table)
    out = syn.sample(150, seed=1)
    assert list(out.columns) == list(table.columns) and len(out) == 150
    assert out["age"].dtype.kind in "iu"
    assert set(out["income"].dropna()) <= {"<=50K", ">50K"}
    assert syn.sample(150, seed=1).equals(out), "same seed must give the same rows"
    syn.save(tmp_path / "m")
    again = Synthesizer.load(tmp_path / "m")
    assert again.sample(150, seed=1).equals(out), "a loaded model must sample the same rows"
    report = json.loads((tmp_path / "m" / "model.json").read_text())["privacy"]
    assert report["differential_privacy"] == bool(syn.generator_.privacy_events())
    if report["differential_privacy"]:
        assert report["epsilon_spent"] is not None and report["epsilon_spent"] > 0


@pytest.mark.parametrize("name", registry.available())
def test_generator_refit_is_identical(name, table):
    a = Synthesizer(name, random_state=3, target="income", **params_for(name)).fit(table)
    b = Synthesizer(name, random_state=3, target="income", **params_for(name)).fit(table)
    pd.testing.assert_frame_equal(a.sample(100, seed=2), b.sample(100, seed=2))
    ma, aa = a.generator_.get_state()
    mb, ab = b.generator_.get_state()
    assert set(aa) == set(ab)
    for key in aa:
        np.testing.assert_array_equal(aa[key], ab[key])
