"""The whole-fit privacy ledger (encoder + DP-SGD in one RDP account) and DP calibration of
samples (raking a generated pool to the encoder's released marginals)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from lookalike import Synthesizer
from lookalike.errors import InvalidParameterError
from lookalike.privacy import PrivacyLedger, gdp
from lookalike.privacy.events import GaussianEvent
from lookalike.synthesizer import encoding_ledger
from lookalike.synthesizer_sampling import (
    CALIBRATION_MAX_POOL,
    CALIBRATION_MIN_POOL,
    pool_size,
    pps_systematic,
    rake,
)

pytest.importorskip("torch")
FAST = {"max_epochs": 2, "hidden": 16}


@pytest.fixture(scope="module")
def dp_model(adult_small: pd.DataFrame) -> Synthesizer:
    return Synthesizer(generator="autoregressive", dp={"epsilon": 1.0}, random_state=0,
                       **FAST).fit(adult_small)


def _opacus_epsilon(mu_encoder: float, sigma: float, q: float, steps: int,
                    delta: float) -> float:
    """Encoder Gaussian (RDP alpha mu^2 / 2) + Opacus's sampled-Gaussian RDP, converted by
    Opacus (Balle et al. 2020), at Opacus's default orders."""
    from opacus.accountants.analysis.rdp import compute_rdp, get_privacy_spent
    from opacus.accountants.rdp import RDPAccountant

    orders = np.array(RDPAccountant.DEFAULT_ALPHAS, dtype=float)
    curve = compute_rdp(q=q, noise_multiplier=sigma, steps=steps, orders=orders)
    curve = curve + orders * mu_encoder ** 2 / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eps, _ = get_privacy_spent(orders=orders, rdp=curve, delta=delta)
    return float(eps)


def test_joint_ledger_matches_opacus_composition() -> None:
    """The ledger's composed epsilon of a Gaussian release + DP-SGD agrees with composing the
    same RDP curves by hand through Opacus (an established accountant)."""
    mu, q, steps, delta = 0.1, 1 / 16, 640, 1e-5
    ledger = PrivacyLedger(1.0, delta)
    ledger.spend(GaussianEvent(1 / mu, 1.0))
    sigma = ledger.calibrate_noise_multiplier(q, steps)
    eps_opacus = _opacus_epsilon(mu, sigma, q, steps, delta)
    # the ledger reports the tightest of its valid bounds: never above Opacus's, and close
    assert ledger.would_spend(_sgd(sigma, q, steps)).epsilon <= 1.0 + 1e-9
    assert eps_opacus == pytest.approx(1.0, abs=0.03)


def _sgd(sigma: float, q: float, steps: int):
    from lookalike.privacy.events import SampledGaussianEvent

    return SampledGaussianEvent(sigma, q, steps)


def test_encoding_ledger_joint_gives_sqrt_share_of_mu() -> None:
    eps, delta, share = 1.0, 1e-5, 0.2
    ledger = encoding_ledger(eps, delta, share, joint=True)
    mu_total = gdp.mu_from_epsilon_delta(eps, delta)
    # all of the encoder's Gaussian budget at its Gaussian delta is sqrt(share) * mu
    assert gdp.mu_from_epsilon_delta(ledger.epsilon, ledger.delta / 2) == pytest.approx(
        math.sqrt(share) * mu_total, rel=1e-6)
    split = encoding_ledger(eps, delta, share, joint=False)
    assert (split.epsilon, split.delta) == pytest.approx((eps * share, delta * share))
    # the joint encoder budget is the larger one (more accurate statistics)
    assert gdp.mu_from_epsilon_delta(ledger.epsilon, ledger.delta / 2) > \
        gdp.mu_from_epsilon_delta(split.epsilon, split.delta / 2)


def test_autoregressive_composes_encoder_and_dp_sgd_in_one_ledger(dp_model) -> None:
    report = dp_model.privacy_report()
    (event,) = report["events"]
    assert report["epsilon_spent"] == pytest.approx(1.0, abs=1e-6)
    assert report["epsilon_spent"] <= 1.0 + 1e-9
    assert event["epsilon_total"] == report["epsilon_spent"]
    ledger = PrivacyLedger.from_dict(event["ledger"])
    events = event["ledger"]["events"]
    sgd = [e for e in events if e["kind"] == "sampled_gaussian"]
    assert len(sgd) == 1 and sgd[0]["noise_multiplier"] == event["noise_multiplier"]
    assert sgd[0]["steps"] == event["steps"]
    assert len(events) > 1  # the encoder's releases come first, in the same ledger
    assert ledger.spent.epsilon == pytest.approx(report["epsilon_spent"])
    # DP-SGD alone spends less than the whole fit; the split would have left it 0.8
    assert event["epsilon"] < report["epsilon_spent"]
    assert report["delta_spent"] <= 1 / (10 * 3000) + 1e-15


def test_prv_accountant_keeps_the_split(adult_small) -> None:
    syn = Synthesizer(generator="autoregressive", dp={"epsilon": 1.0}, random_state=0,
                      accountant="prv", **FAST).fit(adult_small.iloc[:1500])
    report = syn.privacy_report()
    (event,) = report["events"]
    assert "epsilon_total" not in event
    enc = report["encoding_ledger"]["spent"]["epsilon"]
    assert report["epsilon_spent"] == pytest.approx(enc + event["epsilon"])
    assert report["epsilon_spent"] <= 1.0 + 1e-9


def test_dp_marginals_are_released_shares(dp_model, adult_small) -> None:
    targets = dp_model.encoder_.dp_marginals()
    assert {"sex", "income", "age"} <= set(targets)
    groups, shares = targets["sex"]
    vocab = dp_model.encoder_.encoders["sex"].stats.vocabulary
    real = adult_small["sex"].value_counts(normalize=True)
    for token, g in enumerate(groups):
        if g >= 0:  # a released noisy share, close to the real one at n = 3000, epsilon = 1
            assert shares[g] == pytest.approx(real[vocab[token]], abs=0.05)
    assert shares.sum() == pytest.approx(1.0)
    age_groups, age_shares = targets["age"]
    assert np.all(np.diff(age_groups[age_groups >= 0]) >= 0)  # adjacent bins, in order
    assert age_shares.sum() == pytest.approx(1.0) and np.all(age_shares >= 0)


def test_dp_bin_cuts_sit_on_histogram_cells(dp_model) -> None:
    """Under DP every quantile bin of a wide numeric column ends on a released histogram
    cell edge, so each bin has an exact released share to calibrate to (before, fnlwgt's
    interpolated cuts left it with no calibration target at all)."""
    enc = dp_model.encoder_.encoders["fnlwgt"]
    n_bins = len(enc.stats.bin_starts) - 1
    groups, shares = enc.dp_marginal()
    assert n_bins > 8 and len(shares) == n_bins
    assert groups[:n_bins].tolist() == list(range(n_bins))


def test_calibration_moves_marginals_to_the_release(dp_model) -> None:
    raw = dp_model.sample(3000, seed=1, calibrate=False)
    cal = dp_model.sample(3000, seed=1)
    info = dp_model.last_sample_info_["calibration"]
    assert info["pool"] == 9000 and 0 < info["effective_rows"] <= 9000
    enc = dp_model.encoder_
    err_raw = err_cal = 0.0
    for col, (groups, shares) in enc.dp_marginals().items():
        for frame, acc in ((raw, "raw"), (cal, "cal")):
            codes = enc.encoders[col].encode_tokens(enc.encoders[col].prepare(frame[col]))[:, 0]
            g = groups[codes]
            got = np.bincount(g[g >= 0], minlength=len(shares)) / max((g >= 0).sum(), 1)
            err = 0.5 * np.abs(got - shares).sum()
            if acc == "raw":
                err_raw += err
            else:
                err_cal += err
    assert err_cal < 0.75 * err_raw  # a 2-epoch model: far off, a pool of 3n fixes part
    assert len(cal) == 3000 and list(cal.columns) == list(raw.columns)
    # reproducible, and the copy guard still holds for the kept rows
    assert dp_model.sample(3000, seed=1).equals(cal)
    assert dp_model.last_sample_info_["copies_dropped"] >= 0


def test_calibrate_needs_targets(adult_small) -> None:
    """The independent baseline stores no calibration targets: calibrate=True is refused."""
    syn = Synthesizer(generator="independent", random_state=0).fit(adult_small.iloc[:500])
    with pytest.raises(InvalidParameterError, match="differential privacy"):
        syn.sample(10, calibrate=True)
    assert len(syn.sample(10, calibrate=False)) == 10


def test_rake_matches_targets_and_leaves_unconstrained_rows() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 3, 5000)
    b = (a + rng.integers(0, 2, 5000)) % 3  # dependent on a
    targets = {"a": (np.array([0, 1, -1]), np.array([0.7, 0.3])),
               "b": (np.array([0, 1, 2]), np.array([0.2, 0.3, 0.5]))}
    w = rake({"a": a, "b": b}, targets)
    constrained = a < 2
    share_a = np.bincount(a[constrained], weights=w[constrained], minlength=2)[:2]
    assert share_a / share_a.sum() == pytest.approx([0.7, 0.3], abs=1e-3)
    share_b = np.bincount(b, weights=w, minlength=3) / w.sum()
    assert share_b == pytest.approx([0.2, 0.3, 0.5], abs=1e-3)


def test_pps_systematic_inclusion_probabilities() -> None:
    w = np.array([1.0, 1.0, 2.0, 4.0, 100.0])
    hits = np.zeros(5)
    rng = np.random.default_rng(0)
    for _ in range(4000):
        rows = pps_systematic(w, 2, rng)
        assert len(set(rows.tolist())) == 2
        hits[rows] += 1
    # the heavy row is always in; the other slot goes by weight 1:1:2:4
    assert hits[4] == 4000
    assert hits[:4] / 4000 == pytest.approx([0.125, 0.125, 0.25, 0.5], abs=0.03)


def test_dp_priors_start_the_heads_at_the_released_marginals(dp_model) -> None:
    enc = dp_model.encoder_
    priors = enc.dp_slot_priors()
    slot = enc.token_slices_["sex"].start
    assert slot in priors and priors[slot].sum() == pytest.approx(1.0)
    groups, shares = enc.dp_marginals()["sex"]
    for token, g in enumerate(groups):
        if g >= 0:
            assert priors[slot][token] == pytest.approx(shares[g], rel=1e-3)
    from lookalike.models.autoregressive.model import ARNet
    from lookalike.random import torch_generator

    gen = dp_model.generator_
    net = ARNet(gen.architecture_, torch_generator(np.random.default_rng(0)))
    net.init_output_bias_from(priors)
    g, j = net.head_of_slot[slot]
    card = gen.architecture_.cardinalities[slot]
    bias = net.heads[g].bias[j, :card].detach().numpy()
    assert np.exp(bias) == pytest.approx(priors[slot], rel=1e-5)


# -- 2-way marginals (lookalike.encoding.pairs) ------------------------------------------
def test_pair_marginals_span_the_columns_and_are_accounted(dp_model) -> None:
    """PAIR_TREES spanning trees of 2-way tables are released; their Gaussian events are on
    the fit's ledger at sigma = sqrt(k / share) / mu, and the whole fit still meets
    epsilon."""
    from lookalike.encoding.pairs import PAIR_TREES
    from lookalike.synthesizer import JOINT_PAIR_SHARE

    enc = dp_model.encoder_
    cols = set(enc.dp_marginals())
    pairs = enc.calibration_pairs
    k = PAIR_TREES * (len(cols) - 1)
    mu = gdp.mu_from_epsilon_delta(1.0, 1 / (10 * 3000))
    sigma = math.sqrt(k / JOINT_PAIR_SHARE) / mu
    report = dp_model.privacy_report()
    events = [e for e in report["events"][0]["ledger"]["events"]
              if e.get("label", "").startswith("2-way marginal")]
    assert len(events) == k
    assert all(e["sigma"] == pytest.approx(sigma) for e in events)
    # every event is one measurement: a pair measured m times has sigma / sqrt(m)
    assert sum((sigma / p.sigma) ** 2 for p in pairs) == pytest.approx(k)
    assert len({frozenset(p.columns) for p in pairs}) == len(pairs)
    assert set().union(*(p.columns for p in pairs)) == cols
    assert report["epsilon_spent"] <= 1.0 + 1e-9
    for p in pairs:  # tables over coarse groups of every first-slot token
        assert p.counts.shape == (p.groups_a.max() + 1, p.groups_b.max() + 1)
        assert len(p.groups_a) == enc.token_slots[enc.token_slices_[p.columns[0]].start
                                                  ].cardinality


def test_pair_share_zero_and_too_few_rows_release_nothing(adult_small) -> None:
    for data, dp in ((adult_small.iloc[:1500], {"epsilon": 1.0, "pair_share": 0}),
                     (adult_small.iloc[:400], {"epsilon": 1.0})):
        syn = Synthesizer(generator="autoregressive", dp=dp, random_state=0,
                          **FAST).fit(data)
        assert syn.encoder_.calibration_pairs == []
        labels = [e.get("label", "") for e in
                  syn.privacy_report()["events"][0]["ledger"]["events"]]
        assert not any(lab.startswith("2-way") for lab in labels)
        assert syn.privacy_report()["epsilon_spent"] == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("dp, extra, match", [
    ({"epsilon": 1.0, "pair_share": 1.5}, {}, "pair_share"),
    ({"epsilon": 1.0, "pair_share": 0.2}, {"accountant": "prv"}, "pair_share"),
    ({"epsilon": 1.0, "pair_share": 0.5, "encoding_share": 0.6}, {}, "below 1"),
])
def test_pair_share_is_checked(adult_small, dp, extra, match) -> None:
    syn = Synthesizer(generator="autoregressive", dp=dp, random_state=0, **FAST, **extra)
    with pytest.raises(InvalidParameterError, match=match):
        syn.fit(adult_small.iloc[:300])


def test_pair_share_needs_a_ledger_token_generator(adult_small) -> None:
    syn = Synthesizer(generator="dp-vae", dp={"epsilon": 1.0, "pair_share": 0.1},
                      random_state=0, epochs=1)
    with pytest.raises(InvalidParameterError, match="pair_share"):
        syn.fit(adult_small.iloc[:300])


def test_pair_marginals_survive_save_and_load(dp_model, tmp_path) -> None:
    dp_model.save(tmp_path / "m")
    back = Synthesizer.load(tmp_path / "m")
    for p, q in zip(dp_model.encoder_.calibration_pairs, back.encoder_.calibration_pairs, strict=True):
        assert p.columns == q.columns and p.sigma == q.sigma
        np.testing.assert_array_equal(p.counts, q.counts)
        np.testing.assert_array_equal(p.groups_a, q.groups_a)
        np.testing.assert_array_equal(p.groups_b, q.groups_b)
    pd.testing.assert_frame_equal(dp_model.sample(500, seed=3), back.sample(500, seed=3))
    assert back.last_sample_info_["calibration"]["pairs"] == [
        list(p.columns) for p in back.encoder_.calibration_pairs]


def test_calibration_moves_pair_tables_towards_the_release(dp_model, tmp_path) -> None:
    """Raking to the 2-way targets brings the sample's tables closer to the released ones
    than raking to the 1-way shares alone (same pool: same seed)."""
    dp_model.save(tmp_path / "m")
    without = Synthesizer.load(tmp_path / "m")
    without.encoder_.calibration_pairs_ = []
    enc = dp_model.encoder_

    def distance(frame: pd.DataFrame) -> float:
        tokens = enc.encode_tokens(enc.prepare(frame, enc.modelled_columns))
        total = 0.0
        for p in enc.calibration_pairs:
            a, b = (enc.token_slices_[c].start for c in p.columns)
            cells = p.codes(tokens[:, a], tokens[:, b])
            got = np.bincount(cells, minlength=p.counts.size) / len(cells)
            want = np.clip(p.counts.ravel(), 0, None)
            total += 0.5 * np.abs(got - want / want.sum()).sum()
        return total

    assert distance(dp_model.sample(3000, seed=5)) < distance(without.sample(3000, seed=5))


def test_pair_target_follows_precise_tables_and_ignores_pure_noise() -> None:
    from lookalike.encoding.pairs import PairMarginal, pair_target

    truth = np.array([[300.0, 100.0], [100.0, 500.0]])
    model = np.array([[250.0, 250.0], [250.0, 250.0]])
    ones = np.array([0, 1])
    precise = PairMarginal(("a", "b"), ones, ones, truth, sigma=1e-3)
    np.testing.assert_allclose(pair_target(precise, model, None, None), truth / truth.sum(),
                               atol=1e-6)
    noisy = PairMarginal(("a", "b"), ones, ones, truth, sigma=1e4)  # no signal left
    np.testing.assert_allclose(pair_target(noisy, model, None, None), model / model.sum(),
                               atol=1e-3)
    # margins given: the target's margins are those shares
    t = pair_target(precise, model, np.array([0.5, 0.5]), np.array([0.3, 0.7]))
    np.testing.assert_allclose(t.sum(1), [0.5, 0.5], atol=1e-6)
    np.testing.assert_allclose(t.sum(0), [0.3, 0.7], atol=1e-6)


def test_pool_size_follows_the_weights_the_targets_need() -> None:
    """Codes already at the targets: the smallest pool; the further the shares, the larger
    the pool, up to the largest."""
    rng = np.random.default_rng(0)
    codes = {"a": rng.integers(0, 4, 20_000)}
    near = {"a": (np.arange(4), np.full(4, 0.25))}
    assert pool_size(codes, near) == CALIBRATION_MIN_POOL
    mid = {"a": (np.arange(4), np.array([0.4, 0.2, 0.2, 0.2]))}
    assert pool_size(codes, mid) == pytest.approx(1.6, abs=0.02)  # 0.4 / 0.25
    far = {"a": (np.arange(4), np.array([0.97, 0.01, 0.01, 0.01]))}
    assert pool_size(codes, far) == CALIBRATION_MAX_POOL


def test_rake_stops_early_when_the_targets_are_met() -> None:
    """Consistent targets are met within the tolerance long before the sweep limit; a
    bound that keeps them out of reach stops the raking once it stalls, and the weights
    keep the bound and the total."""
    rng = np.random.default_rng(1)
    a = rng.integers(0, 3, 10_000)
    b = (a + rng.integers(0, 2, 10_000)) % 3
    truth = np.array([2.0, 1.0, 0.5])[a] * np.array([0.5, 1.0, 2.0])[b]  # reachable shares
    targets = {c: (np.arange(3), np.bincount(x, weights=truth) / truth.sum())
               for c, x in (("a", a), ("b", b))}
    w = rake({"a": a, "b": b}, targets, tol=1e-6)
    for codes, (_, shares) in zip((a, b), targets.values()):
        np.testing.assert_allclose(np.bincount(codes, weights=w) / w.sum(), shares, atol=1e-5)
    reachable = rake({"a": a, "b": b}, targets, tol=1e-6, sweeps=200)
    np.testing.assert_allclose(w, reachable)  # it had stopped on the tolerance already
    capped = rake({"a": a}, {"a": (np.arange(3), np.array([0.9, 0.05, 0.05]))}, cap=1.5,
                  sweeps=200)
    assert capped.max() <= 1.5 * capped.mean() * (1 + 1e-9)
    assert capped.sum() == pytest.approx(len(a))
    # shares on the edge of what the rows allow: raking converges slowly (a few % per
    # sweep), so a stall rule of 10% stops it; tol=0 and stall=None run every sweep
    edge = {"a": (np.arange(3), np.array([0.5, 0.3, 0.2])),
            "b": (np.arange(3), np.array([0.2, 0.3, 0.5]))}

    def gap(w: np.ndarray) -> float:
        return float(np.abs(np.bincount(a, weights=w) / w.sum() - [0.5, 0.3, 0.2]).max())

    stopped = rake({"a": a, "b": b}, edge, sweeps=100, stall=0.9)
    full = rake({"a": a, "b": b}, edge, sweeps=100, tol=0.0, stall=None)
    assert gap(full) < 0.5 * gap(stopped)


def test_rake_cap_bounds_the_weights() -> None:
    codes = {"a": np.array([0] * 90 + [1] * 10)}
    targets = {"a": (np.array([0, 1]), np.array([0.2, 0.8]))}
    free = rake(codes, targets)
    capped = rake(codes, targets, cap=3.0)
    assert free.max() / free.mean() > 3.0
    assert capped.max() <= 3.0 * capped.mean() * (1 + 1e-9)


def test_more_trees_than_pairs_measure_a_pair_twice(adult_small, monkeypatch) -> None:
    """Three columns have three pairs; two spanning trees need four tables, so one pair is
    measured twice and released as the mean at sigma / sqrt(2); the ledger holds all four."""
    from lookalike.encoding import pairs as P

    monkeypatch.setattr(P, "PAIR_TREES", 2)
    data = adult_small[["age", "sex", "income"]]
    syn = Synthesizer(generator="autoregressive", dp={"epsilon": 1.0}, random_state=0,
                      **FAST).fit(data)
    released = syn.encoder_.calibration_pairs
    assert len(released) == 3 and {frozenset(p.columns) for p in released} == {
        frozenset(c) for c in [("age", "sex"), ("age", "income"), ("sex", "income")]}
    events = [e for e in syn.privacy_report()["events"][0]["ledger"]["events"]
              if e.get("label", "").startswith("2-way marginal")]
    assert len(events) == 4
    sigma = events[0]["sigma"]
    assert sorted(p.sigma for p in released) == pytest.approx(
        [sigma / math.sqrt(2), sigma, sigma])
    assert syn.privacy_report()["epsilon_spent"] <= 1.0 + 1e-9


# -- calibration of models fitted without DP ----------------------------------------------
@pytest.fixture(scope="module")
def plain_model(adult_small: pd.DataFrame) -> Synthesizer:
    return Synthesizer(generator="autoregressive", random_state=0, **FAST).fit(adult_small)


def test_plain_autoregressive_calibrates_only_when_asked(plain_model, adult_small,
                                                         tmp_path) -> None:
    """Without DP the training shares and exact pair tables (cells under rare_k rows
    hidden) are stored; sample() stays as drawn, sample(calibrate=True) rakes to them."""
    enc = plain_model.encoder_
    assert enc.dp_marginals() == {}
    targets = enc.calibration_marginals()
    assert set(targets) == set(enc.modelled_columns)
    pairs = enc.calibration_pairs
    assert pairs and all(p.sigma == 0 for p in pairs)
    tokens = enc.encode_tokens(enc.prepare(adult_small, enc.modelled_columns))
    for p in pairs:  # exact counts, small cells hidden
        a, b = (enc.token_slices_[c].start for c in p.columns)
        exact = np.bincount(p.codes(tokens[:, a], tokens[:, b]),
                            minlength=p.counts.size).reshape(p.counts.shape)
        shown = ~np.isnan(p.counts)
        np.testing.assert_array_equal(p.counts[shown], exact[shown])
        assert np.all(exact[~shown] < plain_model.rare_k)
    pd.testing.assert_frame_equal(plain_model.sample(2000, seed=4),
                                  plain_model.sample(2000, seed=4, calibrate=False))
    assert "calibration" not in plain_model.last_sample_info_

    def error(frame: pd.DataFrame) -> float:
        t = enc.encode_tokens(enc.prepare(frame, enc.modelled_columns))
        total = 0.0
        for c, (_, shares) in targets.items():
            got = np.bincount(t[:, enc.token_slices_[c].start], minlength=len(shares))
            total += 0.5 * np.abs(got[:len(shares)] / len(frame) - shares).sum()
        return total

    cal = plain_model.sample(2000, seed=4, calibrate=True)
    # two epochs leave this model far from the shares: pool_size asks for a large pool
    assert 2 * 2000 < plain_model.last_sample_info_["calibration"]["pool"] <= 3 * 2000
    assert error(cal) < 0.75 * error(plain_model.sample(2000, seed=4))
    plain_model.save(tmp_path / "m")
    back = Synthesizer.load(tmp_path / "m")
    pd.testing.assert_frame_equal(back.sample(500, seed=6, calibrate=True),
                                  plain_model.sample(500, seed=6, calibrate=True))


def test_wide_table_stores_no_pair_tables() -> None:
    """Beyond MAX_PAIR_COLUMNS columns no 2-way tables are stored (scoring every pair would
    take long); the 1-way shares still calibrate."""
    from lookalike.encoding.pairs import MAX_PAIR_COLUMNS

    rng = np.random.default_rng(3)
    df = pd.DataFrame({f"c{i}": rng.choice(list("abc"), 300) for i in range(MAX_PAIR_COLUMNS + 1)})
    syn = Synthesizer(generator="autoregressive", random_state=0, max_epochs=1,
                      hidden=16).fit(df)
    assert syn.encoder_.calibration_pairs == []
    assert len(syn.encoder_.calibration_marginals()) == MAX_PAIR_COLUMNS + 1
    out = syn.sample(100, calibrate=True)
    assert out.shape == (100, MAX_PAIR_COLUMNS + 1)
    assert syn.last_sample_info_["calibration"]["pairs"] == []
