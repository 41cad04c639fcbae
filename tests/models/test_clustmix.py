"""Tests of the ClustMix (3A) generator: NTK, constrained clustering, accounting, noise, state.

Small synthetic tables only (the Adult numbers live in bench/bench_clustmix.py).
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import pytest

from lookalike.encoding.base import Segment
from lookalike.errors import InvalidDataError, InvalidParameterError, NotFittedError
from lookalike.models.base import EncodedData, Layout
from lookalike.models.clustmix import ClustMix
from lookalike.models.clustmix import release as rel
from lookalike.models.clustmix.constrained_gmm import (
    constrained_kmeans,
    fit_constrained_gmm,
    min_size_assign,
)
from lookalike.models.clustmix.ntk import arccos_kernel, relu_ntk, relu_ntk_numpy
from lookalike.privacy import (
    PrivacyLedger,
    cluster_means_mu,
    compose_mu,
    epsilon_from_mu,
    event_from_dict,
)


# --------------------------------------------------------------------------- fixtures
def make_data(n: int = 2000, seed: int = 0, minority: float = 0.3) -> EncodedData:
    """Three numeric columns, one 3-way category and a 2-class target, like the facade's."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < minority).astype(int)
    num = rng.normal(0, 1, (n, 3)) + y[:, None] * np.array([1.5, -1.0, 0.5])
    num = np.clip(num, -3.5, 3.5)
    cat = np.where(rng.random(n) < 0.2 + 0.5 * y, 0, rng.integers(1, 3, n))
    values = np.column_stack([num, np.eye(3)[cat], np.eye(2)[y]])
    segs = (Segment("a", "numeric", 0, 1), Segment("b", "numeric", 1, 2),
            Segment("c", "numeric", 2, 3), Segment("cat", "softmax", 3, 6),
            Segment("y", "softmax", 6, 8))
    layout = Layout(columns=("a", "b", "c", "cat", "y"),
                    column_slices={"a": slice(0, 1), "b": slice(1, 2), "c": slice(2, 3),
                                   "cat": slice(3, 6), "y": slice(6, 8)},
                    segments=segs, target="y")
    return EncodedData(values=values, layout=layout)


FAST = {"epsilon": 1.0, "delta": 1e-4, "kip_steps": 5, "max_seconds": 5.0, "sigma_max": 0.1,
        "lloyd_iters": 4}


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data() -> EncodedData:
    return make_data()


@pytest.fixture(scope="module")
def strict_fit(data: EncodedData) -> ClustMix:
    return ClustMix(accounting="strict", **FAST).fit(data, np.random.default_rng(0))


@pytest.fixture(scope="module")
def paper_fit(data: EncodedData) -> ClustMix:
    return ClustMix(accounting="paper", **FAST).fit(data, np.random.default_rng(0))


# --------------------------------------------------------------------------- NTK
def test_arccos_kernel_known_values_and_monte_carlo() -> None:
    e = np.eye(3)
    assert np.allclose(arccos_kernel(e, e), np.where(np.eye(3) > 0, 1.0, 1.0 / math.pi))
    assert np.allclose(arccos_kernel(e, e, degree=0), np.where(np.eye(3) > 0, 1.0, 0.5))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 5))
    w = rng.normal(size=(200_000, 5))
    h = x @ w.T
    mc1 = 2.0 * (np.maximum(h, 0) @ np.maximum(h, 0).T) / len(w)
    mc0 = 2.0 * ((h > 0).astype(float) @ (h > 0).T) / len(w)
    assert np.allclose(mc1, arccos_kernel(x, x, 1), rtol=0.03, atol=0.02)
    assert np.allclose(mc0, arccos_kernel(x, x, 0), atol=0.01)


def test_ntk_depth1_equals_wide_network_tangent_kernel() -> None:
    """Empirical NTK of f(x) = sqrt(2/m) a.relu(W x / sqrt(D)) at width 200k vs closed form."""
    rng = np.random.default_rng(1)
    d, m = 4, 200_000
    x = rng.normal(size=(3, d))
    w = rng.normal(size=(m, d))
    a = rng.normal(size=m)
    h = x @ w.T / math.sqrt(d)
    grad_a = math.sqrt(2.0 / m) * np.maximum(h, 0)                         # (3, m)
    ntk_a = grad_a @ grad_a.T
    step = (h > 0) * a                                                      # (3, m)
    ntk_w = (2.0 / m) * (step @ step.T) * (x @ x.T / d)
    closed = relu_ntk_numpy(x, x, depth=1)
    assert np.allclose(ntk_a + ntk_w, closed, rtol=0.03, atol=0.02)


def test_ntk_torch_matches_numpy_and_depth2_wide_network() -> None:
    import torch

    rng = np.random.default_rng(2)
    x = rng.random((5, 6))
    k_t = relu_ntk(torch.as_tensor(x), torch.as_tensor(x), depth=3, bias=0.1)
    assert np.allclose(k_t.numpy(), relu_ntk_numpy(x, x, depth=3, bias=0.1), rtol=1e-4)
    # depth 2: empirical NTK of a finite network, averaged over initialisations
    d, m = 6, 1024
    xt = torch.as_tensor(x[:3])
    est = np.zeros((3, 3))
    for seed in range(4):
        gen = torch.Generator().manual_seed(seed)
        w1 = torch.randn(m, d, generator=gen, dtype=torch.float64, requires_grad=True)
        w2 = torch.randn(m, m, generator=gen, dtype=torch.float64, requires_grad=True)
        w3 = torch.randn(m, generator=gen, dtype=torch.float64, requires_grad=True)
        jac = []
        for i in range(3):
            h1 = math.sqrt(2.0) * torch.relu(w1 @ xt[i] / math.sqrt(d))
            h2 = math.sqrt(2.0) * torch.relu(w2 @ h1 / math.sqrt(m))
            out = w3 @ h2 / math.sqrt(m)
            g = torch.autograd.grad(out, (w1, w2, w3))
            jac.append(torch.cat([t.reshape(-1) for t in g]))
        jm = torch.stack(jac)
        est += (jm @ jm.T).numpy() / 4
    assert np.allclose(est, relu_ntk_numpy(x[:3], x[:3], depth=2), rtol=0.1, atol=0.05)


def test_dp_kip_per_row_gradients_match_autograd() -> None:
    import torch
    from torch.func import grad, vmap

    from lookalike.models.clustmix.kip import _krr_weights, centred_onehot, per_row_gradients

    gen = torch.Generator().manual_seed(0)
    x = torch.rand(7, 5, generator=gen, dtype=torch.float64)
    y = torch.as_tensor(centred_onehot(np.array([0, 1, 1, 0, 1, 0, 0]), 2))
    s = torch.rand(3, 5, generator=gen, dtype=torch.float64)
    a = _krr_weights(s, torch.as_tensor(centred_onehot(np.array([0, 1, 0]), 2)), ridge=0.01,
                     depth=2, bias=0.01).detach()

    def row_loss(sv, xv, yv):
        r = relu_ntk(xv[None], sv, depth=2, bias=0.01)[0] @ a - yv
        return (r * r).sum()

    ref = vmap(grad(row_loss), in_dims=(None, 0, 0))(s, x, y)
    p, q, _, _ = per_row_gradients(s, a, x, y, depth=2, bias=0.01)
    mine = p[:, :, None] * x[:, None, :] + q[:, :, None] * s[None, :, :]
    assert torch.allclose(ref, mine, atol=1e-12)


# --------------------------------------------------------------------------- clustering
def test_min_size_assign_respects_l_min() -> None:
    rng = np.random.default_rng(0)
    for _ in range(100):
        n, k = int(rng.integers(5, 80)), int(rng.integers(1, 6))
        ell = int(rng.integers(1, n // k + 1))
        labels = min_size_assign(rng.random((n, k)) ** 3, ell)
        assert np.bincount(labels, minlength=k).min() >= ell
    with pytest.raises(InvalidParameterError, match="l_min=5"):
        min_size_assign(np.zeros((8, 2)), 5)


def test_constrained_gmm_respects_l_min_and_falls_back() -> None:
    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(0, 0.05, (300, 2)), rng.normal(1, 0.05, (40, 2))]
    free = fit_constrained_gmm(x, 2, 30, np.random.default_rng(0))
    assert free.method == "gmm" and np.bincount(free.labels).min() >= 30
    tight = fit_constrained_gmm(x, 2, 100, np.random.default_rng(0))  # natural size 40 < 100
    assert tight.method == "constrained_kmeans"
    assert np.bincount(tight.labels, minlength=2).min() >= 100
    km = constrained_kmeans(x, 4, 80, np.random.default_rng(1))
    assert np.bincount(km.labels, minlength=4).min() >= 80


# --------------------------------------------------------------------------- accounting
def _events(gen: ClustMix) -> list:
    return [event_from_dict(e) for e in gen.privacy_events()[0]["ledger"]["events"]]


def test_strict_mode_spends_at_most_epsilon_and_composes_in_gdp(strict_fit: ClustMix) -> None:
    record = strict_fit.privacy_events()[0]
    assert record["accounting"] == "strict" and record["composition"] == "gdp"
    events = _events(strict_fit)
    labels = [e.label for e in events]
    assert any("class totals" in lab for lab in labels)
    assert sum("Lloyd iteration" in lab for lab in labels) == 2 * strict_fit.lloyd_iters
    assert sum("KIP step" in lab for lab in labels) == 5
    assert any("final release" in lab for lab in labels)
    mu = compose_mu(e.mu for e in events)
    assert mu == pytest.approx(record["mu"], rel=1e-6)          # the whole budget is used
    eps = epsilon_from_mu(mu, record["delta"])
    assert eps <= 1.0 + 1e-12
    assert record["epsilon"] == pytest.approx(eps, rel=1e-6)
    ledger = PrivacyLedger.from_dict(record["ledger"])           # re-checked from scratch
    assert ledger.spent.epsilon <= 1.0


def test_paper_mode_mu_is_theorem_2(paper_fit: ClustMix) -> None:
    record = paper_fit.privacy_events()[0]
    th = record["theorem2"]
    c, d, ell, sigma = th["n_clusters"], th["n_features"], th["l_min"], th["sigma_max"]
    assert d == 6 and sigma == 0.1
    assert th["mu"] == pytest.approx(math.sqrt(c * d) / (ell * sigma), rel=1e-12)
    assert th["mu"] == pytest.approx(cluster_means_mu(sigma, ell, c, d), rel=1e-12)
    events = _events(paper_fit)
    assert len(events) == c
    assert compose_mu(e.mu for e in events) == pytest.approx(th["mu"], rel=1e-8)
    assert record["epsilon"] <= 1.0 and "release step only" in record["scope"]
    assert np.bincount(paper_fit.cluster_class_).min() >= 1


def test_noise_scale_matches_recorded_sigma() -> None:
    rng = np.random.default_rng(0)
    u = rng.random((4000, 3))
    labels = np.repeat(np.arange(400), 10)
    centre = np.full(3, 0.5)
    ledger = PrivacyLedger(1e6, 0.5)
    stats = rel.release_sums(u, labels, 400, centre, sigma_sum=2.0, sigma_count=3.0,
                             row_bound=1.0, rng=rng, ledger=ledger, label="t")
    exact = np.array([(u[labels == k] - centre).sum(0) for k in range(400)])
    sig = {e.label: e.sigma for e in ledger.events}
    assert np.std(stats.sums - exact) == pytest.approx(sig["t: cluster sums"], rel=0.05)
    assert np.std(stats.counts - 10) == pytest.approx(sig["t: cluster counts"], rel=0.1)
    # paper mode: mean noise sigma_t = sigma_max * l_min / l per cluster
    labels = np.repeat(np.arange(40), np.r_[np.full(20, 50), np.full(20, 150)])
    ledger = PrivacyLedger(1e6, 0.5)
    means, sigmas = rel.release_paper(u, labels, 40, sigma_max=0.2, l_min=50, rng=rng,
                                      ledger=ledger)
    exact = np.array([u[labels == k].mean(0) for k in range(40)])
    resid = (means - exact) / np.array(sigmas)[:, None]
    assert np.std(resid) == pytest.approx(1.0, rel=0.15)
    assert [e.sigma for e in ledger.events] == sigmas
    assert sigmas[0] == pytest.approx(0.2) and sigmas[-1] == pytest.approx(0.2 / 3)


# --------------------------------------------------------------------------- state & sampling
def test_state_round_trip_gives_identical_samples(strict_fit: ClustMix, data: EncodedData) -> None:
    meta, arrays = strict_fit.get_state()
    import json
    meta = json.loads(json.dumps(meta, allow_nan=False))
    clone = ClustMix.from_state(strict_fit.get_params(), meta, arrays, data.layout)
    a = strict_fit.sample(300, np.random.default_rng(5))
    b = clone.sample(300, np.random.default_rng(5))
    assert np.array_equal(a, b)
    assert clone.privacy_events() == strict_fit.privacy_events()


def test_determinism_and_sample_shape(data: EncodedData, strict_fit: ClustMix) -> None:
    again = ClustMix(accounting="strict", **FAST).fit(data, np.random.default_rng(0))
    assert np.array_equal(again.means_, strict_fit.means_)
    out = again.sample(500, np.random.default_rng(1))
    assert out.shape == (500, 8)
    assert np.all(out[:, 3:6].sum(1) == 1) and np.all(out[:, 6:8].sum(1) == 1)
    assert np.all(np.abs(out[:, :3]) <= 4.0)
    assert 0 < out[:, 7].mean() < 1                     # both classes are generated
    with pytest.raises(NotFittedError):
        ClustMix().sample(3, np.random.default_rng(0))


def test_facade_fit_sample_save_load(tmp_path) -> None:
    from lookalike import Synthesizer

    rng = np.random.default_rng(0)
    n = 1500
    df = pd.DataFrame({"x": rng.normal(50, 10, n).round(1), "k": rng.choice(list("abc"), n),
                       "t": rng.choice(["no", "yes"], n, p=[0.7, 0.3])})
    syn = Synthesizer("clustmix", random_state=0, target="t", epsilon=1.0, delta=1 / n,
                      kip="off").fit(df)
    out = syn.sample(200)
    assert list(out.columns) == ["x", "k", "t"] and set(out["t"]) <= {"no", "yes"}
    report = syn.privacy_report()
    assert report["differential_privacy"] and report["epsilon_spent"] <= 1.0
    syn.save(tmp_path / "m")
    loaded = Synthesizer.load(tmp_path / "m")
    assert loaded.sample(50, seed=3).equals(syn.sample(50, seed=3))
    # end-to-end DP: the encoder's statistics are DP too, and the two spends add up
    e2e = Synthesizer("clustmix", random_state=0, target="t", kip="off",
                      dp={"epsilon": 1.0, "delta": 1 / n}).fit(df)
    report = e2e.privacy_report()
    assert report["encoding_ledger"] is not None and report["epsilon_spent"] <= 1.0 + 1e-9
    assert e2e.generator_.umap_.bound == 2.0
    assert len(e2e.sample(100)) == 100


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("params, match", [
    ({"epsilon": -1.0}, r"The 'epsilon' parameter of ClustMix must be a float in \(0, inf\); got -1.0"),
    ({"epsilon": 0.0}, r"'epsilon' parameter of ClustMix must be a float in \(0, inf\)"),
    ({"delta": 0.0}, r"'delta' parameter of ClustMix must be a float in \(0, 1\) or None"),
    ({"delta": 1.5}, r"'delta' parameter of ClustMix must be a float in \(0, 1\) or None"),
    ({"accounting": "loose"}, r"'accounting' parameter of ClustMix must be one of"),
    ({"alpha": 2.0}, r"'alpha' parameter of ClustMix must be a float in \[0, 1\]"),
])
def test_bad_parameters(params: dict, match: str, data: EncodedData) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        ClustMix(**params).fit(data, np.random.default_rng(0))


def test_no_feature_columns_is_an_error() -> None:
    d = make_data(200)
    only_target = EncodedData(d.values[:, 6:8], Layout(
        columns=("y",), column_slices={"y": slice(0, 2)},
        segments=(Segment("y", "softmax", 0, 2),), target="y"))
    with pytest.raises(InvalidDataError, match="no feature column"):
        ClustMix(**FAST).fit(only_target, np.random.default_rng(0))


def test_numeric_target_is_an_error(data: EncodedData) -> None:
    layout = Layout(columns=data.layout.columns, column_slices=data.layout.column_slices,
                    segments=data.layout.segments, target="a")
    with pytest.raises(InvalidParameterError, match="target must be categorical"):
        ClustMix(**FAST).fit(EncodedData(data.values, layout), np.random.default_rng(0))


@pytest.mark.parametrize("accounting", ["strict", "paper"])
def test_small_class_dropped_with_warning_or_raises(accounting: str,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    d = make_data(2000, minority=0.01)          # ~20 rows of class 1: below l_min
    with caplog.at_level(logging.WARNING):
        gen = ClustMix(accounting=accounting, **FAST).fit(d, np.random.default_rng(0))
    assert "class 1 of the target is too small" in caplog.text
    assert set(gen.cluster_class_.tolist()) == {0}
    assert gen.sample(100, np.random.default_rng(0))[:, 7].sum() == 0
    with pytest.raises(InvalidDataError, match=r"class\(es\) \[1\]"):
        ClustMix(accounting=accounting, small_class="raise", **FAST).fit(
            d, np.random.default_rng(0))
    with pytest.raises(InvalidDataError, match="no class of the table is large enough"):
        ClustMix(accounting=accounting, **FAST).fit(make_data(60), np.random.default_rng(0))


def test_values_outside_declared_bounds(data: EncodedData) -> None:
    values = data.values.copy()
    values[0, 1] = 9.0                          # a standardised value beyond feature_bound=4
    bad = EncodedData(values, data.layout)
    with pytest.raises(InvalidDataError, match=r"column\(s\) \['b'\].*feature_bound"):
        ClustMix(out_of_bounds="raise", **FAST).fit(bad, np.random.default_rng(0))
    gen = ClustMix(accounting="paper", kip="off", **{k: v for k, v in FAST.items()
                                                     if k != "kip_steps"})
    gen.fit(bad, np.random.default_rng(0))      # clipped: the fit works and stays in range
    assert np.abs(gen.sample(200, np.random.default_rng(0))[:, :3]).max() <= 4.0
    nan = values.copy()
    nan[1, 0] = np.nan
    with pytest.raises(InvalidDataError, match="finite"):
        ClustMix(**FAST).fit(EncodedData(nan, data.layout), np.random.default_rng(0))


def test_secure_noise_is_not_reproducible_but_spends_the_same(data: EncodedData) -> None:
    params = dict(FAST, accounting="paper", kip="off", secure_noise=True)
    a = ClustMix(**params).fit(data, np.random.default_rng(0))
    b = ClustMix(**params).fit(data, np.random.default_rng(0))
    assert not np.array_equal(a.means_, b.means_)      # noise from the OS, not the seed
    assert a.privacy_events()[0]["epsilon"] == b.privacy_events()[0]["epsilon"]
