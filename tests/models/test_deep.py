"""Tests of the deep generators (vae, gan, medgan, dp-vae, dp-gan, dp-merf).

Every generator is fitted once, tiny (1,000 Adult rows, one or two epochs, small layers),
through the facade; the tests then check shapes, marginals, conditions, privacy reports,
state round trips, determinism and the fault cases.
"""

from __future__ import annotations

import logging
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from lookalike import Synthesizer
from lookalike.encoding.base import Segment
from lookalike.errors import GenerationError, InvalidDataError, InvalidParameterError
from lookalike.models import registry
from lookalike.models.base import EncodedData, Layout
from lookalike.models.deep.normalizer import ModeNormalizer

torch = pytest.importorskip("torch")

TINY = {
    "vae": {"max_epochs": 2, "hidden_dims": (32,), "latent_dim": 8, "batch_size": 200},
    "gan": {"max_epochs": 2, "generator_dims": (32,), "discriminator_dims": (32,),
            "embedding_dim": 16, "batch_size": 200, "eval_rows": 200},
    "medgan": {"pretrain_epochs": 2, "max_epochs": 2, "code_dim": 16, "noise_dim": 16,
               "discriminator_dims": (32,), "batch_size": 200},
    "dp-vae": {"epsilon": 1.0, "epochs": 1, "hidden_dims": (32,), "latent_dim": 8,
               "batch_size": 200},
    "dp-gan": {"epsilon": 1.0, "epochs": 1, "generator_dims": (32,),
               "discriminator_dims": (32,), "embedding_dim": 16, "batch_size": 200},
    "dp-merf": {"epsilon": 1.0, "steps": 30, "n_features": 100, "hidden_dims": (32,),
                "batch_size": 200},
}
DEEP = list(TINY)
DP = ["dp-vae", "dp-gan", "dp-merf"]


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def fitted(adult_1k: pd.DataFrame) -> dict[str, Synthesizer]:
    return {name: Synthesizer(name, random_state=0, target="income", **params).fit(adult_1k)
            for name, params in TINY.items()}


def _view(syn: Synthesizer, df: pd.DataFrame) -> tuple[np.ndarray, Layout]:
    enc = syn.encoder_
    values = enc.encode_continuous(enc.prepare(df))
    return values, syn.generator_.layout_


# -- registry and imports ---------------------------------------------------------------------
def test_registered_and_import_lookalike_stays_light() -> None:
    for name in DEEP:
        assert name in registry.available()
    code = "import sys, lookalike, lookalike.models.deep; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# -- normaliser ---------------------------------------------------------------------------------
def test_normalizer_round_trip_and_layout() -> None:
    rng = np.random.default_rng(0)
    n = 600
    bimodal = np.concatenate([rng.normal(-2, 0.1, n // 2), rng.normal(3, 0.5, n // 2)])
    cat = np.eye(3)[rng.integers(0, 3, n)]
    angle = rng.uniform(0, 2 * np.pi, n)
    values = np.column_stack([bimodal, np.zeros(n), cat, np.sin(angle), np.cos(angle)])
    segments = [Segment("x", "numeric", 0, 1), Segment("const", "numeric", 1, 2),
                Segment("c", "softmax", 2, 5), Segment("d", "cyclic", 5, 7, role="day")]
    norm = ModeNormalizer(segments).fit(values, rng)
    z = norm.transform(values, rng)
    assert [b.role for b in norm.blocks_] == ["alpha", "mode", "plain", "value", "cyclic"]
    assert norm.blocks_[1].width >= 2  # both modes found
    assert np.allclose(norm.inverse(z), values, atol=1e-9)
    meta, arrays = norm.get_state()
    again = ModeNormalizer.from_state(segments, meta, arrays)
    assert np.allclose(again.inverse(z), values, atol=1e-9)
    plain = ModeNormalizer(segments, mode_specific=False).fit(values, rng)
    assert np.array_equal(plain.transform(values, rng), values)



def test_normalizer_spikes_and_discrete_columns_decode_exactly() -> None:
    """A value many rows share (Adult's capital-gain = 0) is an atom: a mode with sigma 0
    that decodes to exactly that value whatever alpha the generator outputs. Before, the
    spike was a narrow Gaussian mode and half of the generated zeros came back as small
    non-zero amounts."""
    rng = np.random.default_rng(0)
    n = 2000
    spiky = np.where(rng.random(n) < 0.9, -0.15, rng.normal(2.0, 1.0, n))
    discrete = rng.integers(1, 8, n).astype(float)  # 7 distinct values: all atoms
    values = np.column_stack([spiky, discrete])
    segments = [Segment("gain", "numeric", 0, 1), Segment("level", "numeric", 1, 2)]
    norm = ModeNormalizer(segments).fit(values, rng)
    gain, level = norm.modes_
    assert (gain["stds"] == 0).sum() == 1 and -0.15 in gain["means"][gain["stds"] == 0]
    assert (level["stds"] == 0).all() and sorted(level["means"]) == list(range(1, 8))
    z = norm.transform(values, rng)
    assert np.allclose(norm.inverse(z), values, atol=1e-9)
    spike_rows = values[:, 0] == -0.15
    mb = norm.blocks_[1]
    atom = int(np.flatnonzero(gain["stds"] == 0)[0])
    assert (z[spike_rows, mb.start + atom] == 1).all()  # every spike row on the atom
    noisy = z.copy()  # a generator's imprecise alpha: the atoms still decode exactly
    for block in norm.blocks_:
        if block.role == "alpha":
            noisy[:, block.start] = rng.uniform(-1, 1, n)
    back = norm.inverse(noisy)
    assert (back[spike_rows, 0] == -0.15).all()
    assert np.array_equal(back[:, 1], values[:, 1])
    meta, arrays = norm.get_state()
    assert np.array_equal(ModeNormalizer.from_state(segments, meta, arrays).inverse(noisy), back)
    off = ModeNormalizer(segments, atom_share=None, max_atoms=0).fit(values, rng)
    assert (off.modes_[0]["stds"] > 0).all()  # the previous behaviour, on request

# -- fit and sample through the facade ------------------------------------------------------------
@pytest.mark.parametrize("name", DEEP)
def test_samples_shape_and_marginals(name: str, fitted: dict, adult_1k: pd.DataFrame) -> None:
    syn = fitted[name]
    out = syn.sample(400, seed=1)
    assert out.shape == (400, adult_1k.shape[1])
    assert list(out.columns) == list(adult_1k.columns)
    age = pd.to_numeric(adult_1k["age"])  # read_table keeps text; the schema types it
    assert out["age"].between(age.min(), age.max()).all()
    assert set(out["sex"]) <= set(adult_1k["sex"])
    if name in ("vae", "gan", "medgan"):  # marginals roughly kept, even after two epochs
        assert abs(out["age"].mean() - age.mean()) < 0.5 * age.std()
        share = (out["sex"] == "Male").mean()
        assert abs(share - (adult_1k["sex"] == "Male").mean()) < 0.3


@pytest.mark.parametrize("name", DEEP)
def test_conditions_are_respected(name: str, fitted: dict) -> None:
    syn = fitted[name]
    rich = syn.encoder_.encoders["income"].stats.vocabulary.index(">50K")
    out = syn.sample(150, seed=2, conditions={"income": rich})
    assert (out["income"] == ">50K").all()
    female = syn.encoder_.encoders["sex"].stats.vocabulary.index("Female")
    out = syn.sample(60, seed=3, conditions={"sex": female, "income": rich})
    assert (out["sex"] == "Female").all() and (out["income"] == ">50K").all()


def test_per_row_conditions_on_the_generator(fitted: dict) -> None:
    gen = fitted["gan"].generator_
    seg = next(s for s in gen.layout_.segments if s.column == "income")
    codes = np.array([0, 1] * 50)
    view = gen.sample(100, np.random.default_rng(0), conditions={"income": codes})
    assert np.array_equal(view[:, seg.start:seg.stop].argmax(axis=1), codes)


@pytest.mark.parametrize("bad", [{"nope": 1}, {"income": 7}, {"age": 1}, [1, 2],
                                 {"income": np.array([0, 1])}])
def test_bad_conditions(bad: object, fitted: dict) -> None:
    with pytest.raises(InvalidParameterError, match="conditions"):
        fitted["vae"].sample(10, conditions=bad)


def test_impossible_conditions_raise(fitted: dict) -> None:
    from lookalike.models.deep.common import fill_conditional

    layout = fitted["vae"].generator_.layout_

    def draw(m: int, rng: np.random.Generator, codes: dict) -> np.ndarray:
        return np.zeros((m, layout.width))  # every group always at its first category

    with pytest.raises(GenerationError, match="could not be generated"):
        fill_conditional(5, np.random.default_rng(0), {"sex": np.ones(5, dtype=np.int64)},
                         draw, layout)


# -- privacy --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", DP)
def test_dp_reports_epsilon_within_target(name: str, fitted: dict) -> None:
    report = fitted[name].privacy_report()
    assert report["differential_privacy"]
    event = report["events"][0]
    assert 0 < event["epsilon"] <= 1.0 + 1e-9
    assert event["delta"] == pytest.approx(1 / (10 * 1000))
    noise = event.get("noise_multiplier", event.get("sigma"))
    assert noise is not None and noise > 0
    assert event["ledger"]["budget"]["epsilon"] == 1.0


def test_dp_sgd_epsilon_agrees_with_opacus(fitted: dict) -> None:
    from opacus.accountants import RDPAccountant

    event = fitted["dp-vae"].privacy_report()["events"][0]
    acc = RDPAccountant()
    acc.history = [(event["noise_multiplier"], event["sample_rate"], event["steps"])]
    ours = event["epsilon"]
    theirs = acc.get_epsilon(delta=event["delta"])
    assert abs(ours - theirs) < 0.05 * theirs + 0.02  # different order grids


def test_facade_dp_budget_covers_encoder_and_training(adult_1k: pd.DataFrame) -> None:
    syn = Synthesizer("dp-merf", random_state=0, target="income",
                      dp={"epsilon": 2.0}, steps=10, n_features=50,
                      hidden_dims=(16,)).fit(adult_1k)
    report = syn.privacy_report()
    assert report["encoding_ledger"] is not None
    assert report["epsilon_spent"] <= 2.0 + 1e-9


@pytest.mark.parametrize("name", DP)
@pytest.mark.parametrize("epsilon", [0.0, -1.0, math.inf, "1"])
def test_bad_epsilon(name: str, epsilon: object, adult_1k: pd.DataFrame) -> None:
    with pytest.raises(InvalidParameterError, match="epsilon"):
        Synthesizer(name, epsilon=epsilon).fit(adult_1k.iloc[:100])


def test_bad_delta_and_dp(adult_1k: pd.DataFrame) -> None:
    with pytest.raises(InvalidParameterError, match="delta"):
        Synthesizer("dp-vae", delta=1.5).fit(adult_1k.iloc[:100])
    with pytest.raises(InvalidParameterError, match="dp"):
        Synthesizer("dp-gan", dp={"eps": 1}).fit(adult_1k.iloc[:100])


# -- state and determinism --------------------------------------------------------------------------
@pytest.mark.parametrize("name", DEEP)
def test_state_round_trip_gives_identical_samples(name: str, fitted: dict) -> None:
    gen = fitted[name].generator_
    meta, arrays = gen.get_state()
    again = type(gen).from_state(gen.get_params(), meta, arrays, gen.layout_)
    a = gen.sample(300, np.random.default_rng(5))
    b = again.sample(300, np.random.default_rng(5))
    assert np.array_equal(a, b)
    assert again.privacy_events() == gen.privacy_events()


def test_save_load_through_the_facade(fitted: dict, tmp_path) -> None:
    syn = fitted["gan"]
    syn.save(tmp_path / "model")
    loaded = Synthesizer.load(tmp_path / "model")
    pd.testing.assert_frame_equal(syn.sample(200, seed=9), loaded.sample(200, seed=9))


def test_fit_is_deterministic(adult_1k: pd.DataFrame) -> None:
    params = {**TINY["gan"], "max_epochs": 1}
    a = Synthesizer("gan", random_state=3, **params).fit(adult_1k).sample(200, seed=0)
    b = Synthesizer("gan", random_state=3, **params).fit(adult_1k).sample(200, seed=0)
    pd.testing.assert_frame_equal(a, b)


# -- faults -----------------------------------------------------------------------------------------
def test_tiny_table_is_refused(adult_1k: pd.DataFrame) -> None:
    tiny = adult_1k.iloc[:20]
    tiny = tiny.loc[:, tiny.nunique(dropna=False) > 1]  # constant columns are refused first
    with pytest.raises(InvalidDataError, match="at least 50"):
        Synthesizer("vae", random_state=0).fit(tiny)


def _layout(segments: list[Segment]) -> Layout:
    cols = tuple(dict.fromkeys(s.column for s in segments))
    return Layout(columns=cols, column_slices={c: slice(0, 1) for c in cols},
                  segments=tuple(segments))


def test_nan_and_inf_in_the_view_are_refused() -> None:
    values = np.random.default_rng(0).normal(size=(80, 2))
    values[3, 1] = np.nan
    values[4, 1] = np.inf
    layout = _layout([Segment("a", "numeric", 0, 1), Segment("b", "numeric", 1, 2)])
    gen = registry.get("gan")(max_epochs=1)
    with pytest.raises(InvalidDataError, match=r"2 NaN or infinite value\(s\) in column\(s\) \['b'\]"):
        gen.fit(EncodedData(values, layout), np.random.default_rng(0))


def test_too_many_categories_are_refused() -> None:
    from lookalike.models.deep.common import MAX_CATEGORIES

    k = MAX_CATEGORIES + 1
    values = np.eye(k)[np.arange(60) % k]
    layout = _layout([Segment("code", "softmax", 0, k)])
    with pytest.raises(InvalidDataError, match=f"'code' has {k} categories.*rare_k"):
        registry.get("vae")().fit(EncodedData(values, layout), np.random.default_rng(0))


def test_degenerate_columns_are_reproduced(adult_1k: pd.DataFrame, caplog) -> None:
    """Encoded columns with one value (the facade refuses constant input columns unless
    declared, but rare-value merging or DP selection can still leave one category) come
    back as that value."""
    from lookalike.encoding import TableEncoder
    from lookalike.schema import infer

    df = adult_1k[["age", "sex", "income"]].copy()
    df["constant_number"] = "7.5"
    df["constant_text"] = "same"
    enc = TableEncoder(infer(df)).fit(df)
    layout = Synthesizer("vae")._layout(enc, "continuous")
    data = EncodedData(enc.encode_continuous(enc.prepare(df)), layout)
    with caplog.at_level(logging.INFO, logger="lookalike.models.deep"):
        gen = registry.get("vae")(**TINY["vae"]).fit(data, np.random.default_rng(0))
    rng = np.random.default_rng(0)
    out = enc.finish(enc.decode_continuous(gen.sample(100, rng)), rng)
    assert (out["constant_number"] == 7.5).all() and (out["constant_text"] == "same").all()
    assert "constant" in caplog.text


def test_diverging_gan_restores_and_warns(adult_1k: pd.DataFrame, monkeypatch, caplog) -> None:
    from lookalike.models.deep import gan

    calls = {"n": 0}
    real_loss = gan.critic_loss

    def exploding(d_real, d_fake):  # noqa: ANN001, ANN202
        calls["n"] += 1
        loss = real_loss(d_real, d_fake)
        return loss * float("nan") if calls["n"] > 4 else loss

    monkeypatch.setattr(gan, "critic_loss", exploding)
    params = {**TINY["gan"], "max_epochs": 5}
    with caplog.at_level(logging.WARNING, logger="lookalike.models.deep.gan"):
        syn = Synthesizer("gan", random_state=0, **params).fit(adult_1k)
    assert syn.generator_.report_["stop_reason"] == "diverged"
    assert "diverged" in caplog.text and "restored" in caplog.text
    out = syn.sample(50, seed=0)
    assert out["age"].notna().all()
