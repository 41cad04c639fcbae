"""Tests of the autoregressive generator (small Adult slices, capped training)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lookalike.encoding import TableEncoder, TokenSlot
from lookalike.errors import InvalidDataError, InvalidParameterError, NotFittedError
from lookalike.models.autoregressive import AutoregressiveGenerator
from lookalike.models.base import EncodedData, Layout

torch = pytest.importorskip("torch")

ADULT = Path("/work/shared/datasets/adult/train.csv")
FAST = {"max_epochs": 6, "hidden": 32, "batch_size": 64}


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Pin torch to one thread (the test machine is shared; results do not depend on it)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _layout(cards: list[int], columns: list[list[int]] | None = None) -> Layout:
    """Layout with one slot per column (or the given slot groups)."""
    columns = columns or [[j] for j in range(len(cards))]
    names = [f"c{i}" for i in range(len(columns))]
    slots, slices = [], {}
    for name, group in zip(names, columns):
        slices[name] = slice(len(slots), len(slots) + len(group))
        slots += [TokenSlot(name, cards[j]) for j in group]
    return Layout(columns=tuple(names), column_slices=slices, token_slots=tuple(slots))


@pytest.fixture(scope="module")
def adult() -> tuple[EncodedData, TableEncoder]:
    if not ADULT.exists():
        pytest.skip("the Adult data set is not available")
    import pandas as pd

    from lookalike.schema import infer

    df = pd.read_csv(ADULT, nrows=1500)
    enc = TableEncoder(infer(df)).fit(df)
    tokens = enc.encode_tokens(enc.prepare(df))
    layout = Layout(columns=tuple(enc.modelled_columns), column_slices=enc.token_slices_,
                    token_slots=tuple(enc.token_slots))
    return EncodedData(tokens, layout), enc


@pytest.fixture(scope="module")
def fitted(adult: tuple[EncodedData, TableEncoder]) -> AutoregressiveGenerator:
    data, _ = adult
    gen = AutoregressiveGenerator(max_epochs=30, batch_size=128, hidden=32, n_threads=1)
    return gen.fit(data, np.random.default_rng(0))


def _slot(data: EncodedData, column: str) -> int:
    return data.layout.column_slices[column].start


def _token_of(enc: TableEncoder, column: str, value: str) -> int:
    return enc.encoders[column].stats.categories.index(value)


# -- basics ------------------------------------------------------------------------------
def test_import_keeps_torch_out() -> None:
    code = ("import sys, lookalike, lookalike.models.autoregressive, "
            "lookalike.models.registry; assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_sample_before_fit_raises() -> None:
    with pytest.raises(NotFittedError):
        AutoregressiveGenerator().sample(3, np.random.default_rng(0))


def test_marginals_are_kept(adult, fitted) -> None:
    data, _ = adult
    out = fitted.sample(3000, np.random.default_rng(1))
    assert out.shape == (3000, data.values.shape[1]) and out.dtype == np.int64
    for j, slot in enumerate(data.layout.token_slots):
        if slot.role.startswith("digit"):
            continue
        real = np.bincount(data.values[:, j], minlength=slot.cardinality) / len(data.values)
        syn = np.bincount(out[:, j], minlength=slot.cardinality) / len(out)
        assert 0.5 * np.abs(real - syn).sum() < 0.12, slot.column


def test_decoded_table(adult, fitted) -> None:
    _, enc = adult
    rng = np.random.default_rng(2)
    df = enc.finish(enc.decode_tokens(fitted.sample(500, rng), rng), rng)
    assert len(df) == 500 and list(df.columns) == list(enc.schema.names)


# -- conditional generation ----------------------------------------------------------------
def test_fixed_tokens_are_kept_exactly(adult, fitted) -> None:
    data, _ = adult
    rng = np.random.default_rng(3)
    n = 400
    fixed = np.full((n, data.values.shape[1]), -1, dtype=np.int64)
    source = data.values[rng.integers(0, len(data.values), n)]
    for i in range(n):  # every row gives a different random subset of whole columns
        for name in data.layout.columns:
            if rng.random() < 0.4:
                sl = data.layout.column_slices[name]
                fixed[i, sl] = source[i, sl]
    out = fitted.sample(n, rng, fixed=fixed)
    given = fixed >= 0
    assert given.any() and np.array_equal(out[given], fixed[given])


def test_conditioning_on_a_later_column() -> None:
    """b is a or a + 1 and comes after a: giving b needs any-order training."""
    rng = np.random.default_rng(3)
    a = rng.integers(0, 10, 2000)
    values = np.column_stack([a, (a + rng.integers(0, 2, 2000)) % 10, rng.integers(0, 5, 2000)])
    gen = AutoregressiveGenerator(max_epochs=30, hidden=32, batch_size=128)
    gen.fit(EncodedData(values, _layout([10, 10, 5])), rng)
    fixed = np.full_like(values, -1)
    fixed[:, 1] = values[:, 1]
    out = gen.sample(2000, np.random.default_rng(4), fixed=fixed)
    assert np.array_equal(out[:, 1], values[:, 1])
    assert np.mean((out[:, 1] - out[:, 0]) % 10 <= 1) > 0.8  # chance: 0.2


def test_adult_conditional_is_consistent(adult, fitted) -> None:
    """Given sex = Female, far fewer husbands than overall (none in the data)."""
    data, enc = adult
    fixed = np.full((1000, data.values.shape[1]), -1, dtype=np.int64)
    fixed[:, _slot(data, "sex")] = _token_of(enc, "sex", "Female")
    out = fitted.sample(1000, np.random.default_rng(4), fixed=fixed)
    husband = _token_of(enc, "relationship", "Husband")
    share = np.mean(out[:, _slot(data, "relationship")] == husband)
    real_share = np.mean(data.values[:, _slot(data, "relationship")] == husband)
    assert real_share > 0.3 and share < 0.75 * real_share


@pytest.mark.parametrize("heads", [0, 4])
def test_greedy_sampling_matches_the_training_forward(heads) -> None:
    """With top_p -> 0 each drawn token is the arg-max of the logits the training forward
    computes in the same order (given columns first): sampling and training agree."""
    from lookalike.models.autoregressive.model import Architecture, ARNet
    from lookalike.models.autoregressive.sampling import sample_tokens

    cards, cols = (7, 9, 5, 5, 4, 2, 3), (0, 1, 1, 1, 2, 3, 4)
    net = ARNet(Architecture(cards, cols, 16, 1, heads), torch.Generator().manual_seed(0))
    with torch.no_grad():
        for head in net.heads:
            head.weight.normal_(0, 1, generator=torch.Generator().manual_seed(1))
        if heads:
            net.mixer.alpha.normal_(0, 1, generator=torch.Generator().manual_seed(2))
    rng = np.random.default_rng(0)
    given = [[], [3], [1], [0, 4], [2, 3]]
    fixed = np.full((40, 7), -1)
    for i in range(40):
        for c in given[i % 5]:
            for s in (j for j, cc in enumerate(cols) if cc == c):
                fixed[i, s] = rng.integers(0, cards[s])
    for fx in (None, fixed):
        out = sample_tokens(net, 40, np.random.default_rng(3), fixed=fx, top_p=1e-9)
        for i in range(40):
            first = given[i % 5] if fx is not None else []
            order = first + [c for c in range(5) if c not in first]
            rank = torch.tensor([[order.index(c) for c in range(5)]])
            logits = net(torch.as_tensor(out[i:i + 1]), rank)
            for g, idx in enumerate(net.bucket_index()):
                for j, s in enumerate(idx.tolist()):
                    if fx is None or fx[i, s] < 0:
                        assert int(logits[g][j, 0, :cards[s]].argmax()) == out[i, s]


def test_partly_given_column(adult, fitted) -> None:
    data, _ = adult
    sl = data.layout.column_slices["fnlwgt"]
    fixed = np.full((50, data.values.shape[1]), -1, dtype=np.int64)
    fixed[:, sl.start + 1] = 0  # a digit given, the bin generated
    out = fitted.sample(50, np.random.default_rng(5), fixed=fixed)
    assert np.all(out[:, sl.start + 1] == 0)


def test_fixed_is_validated(adult, fitted) -> None:
    data, _ = adult
    width = data.values.shape[1]
    with pytest.raises(InvalidParameterError, match="shape"):
        fitted.sample(5, np.random.default_rng(0), fixed=np.full((4, width), -1))
    bad = np.full((5, width), -1)
    bad[2, 0] = 10_000
    with pytest.raises(InvalidParameterError, match="age"):
        fitted.sample(5, np.random.default_rng(0), fixed=bad)


# -- sampling options ----------------------------------------------------------------------
def _mode_share(tokens: np.ndarray, data: EncodedData) -> float:
    """Mean share of the most frequent token over the category and bin slots."""
    slots = [j for j, s in enumerate(data.layout.token_slots) if not s.role.startswith("digit")]
    return float(np.mean([np.bincount(tokens[:, j]).max() / len(tokens) for j in slots]))


def test_temperature_and_top_p(adult, fitted) -> None:
    data, _ = adult
    rng = np.random.default_rng(6)
    base = _mode_share(fitted.sample(1000, rng), data)
    assert _mode_share(fitted.sample(1000, rng, temperature=0.3), data) > base + 0.05
    assert _mode_share(fitted.sample(1000, rng, top_p=0.5), data) > base + 0.05
    assert _mode_share(fitted.sample(1000, rng, temperature=2.0), data) < base
    greedy = fitted.sample(200, rng, top_p=1e-6)
    assert len(np.unique(greedy, axis=0)) == 1
    for bad in ({"temperature": 0}, {"temperature": -1.0}, {"top_p": 0.0}, {"top_p": 1.5}):
        with pytest.raises(InvalidParameterError):
            fitted.sample(5, rng, **bad)
    with pytest.raises(TypeError):
        fitted.sample(5, rng, colour="red")


# -- determinism and state -------------------------------------------------------------------
def test_deterministic_fit_and_sample(adult) -> None:
    data, _ = adult
    sub = EncodedData(data.values[:600], data.layout)
    a = AutoregressiveGenerator(**FAST).fit(sub, np.random.default_rng(7))
    b = AutoregressiveGenerator(**FAST).fit(sub, np.random.default_rng(7))
    (_, wa), (_, wb) = a.get_state(), b.get_state()
    assert all(np.array_equal(wa[k], wb[k]) for k in wa)
    assert np.array_equal(a.sample(300, np.random.default_rng(8)),
                          b.sample(300, np.random.default_rng(8)))
    rng = np.random.default_rng(9)
    assert not np.array_equal(a.sample(300, rng), a.sample(300, rng))
    # several chunks drawn by one or three threads: the same rows
    a.n_jobs = 3
    many = a.sample(10_000, np.random.default_rng(10))
    a.n_jobs = 1
    assert np.array_equal(many, a.sample(10_000, np.random.default_rng(10)))


def test_state_round_trip(adult, fitted, tmp_path) -> None:
    data, _ = adult
    meta, arrays = fitted.get_state()
    assert all(a.dtype == np.float32 for a in arrays.values())
    path = tmp_path / "w.npz"
    np.savez(path, **arrays)
    with np.load(path, allow_pickle=False) as f:
        loaded = {k: f[k] for k in f.files}
    meta2 = json.loads(json.dumps(meta))
    again = AutoregressiveGenerator.from_state(fitted.get_params(), meta2, loaded, data.layout)
    fixed = np.full((200, data.values.shape[1]), -1)
    fixed[:100, 0] = 3
    for opts in ({}, {"fixed": fixed, "temperature": 0.8, "top_p": 0.9}):
        assert np.array_equal(fitted.sample(200, np.random.default_rng(10), **opts),
                              again.sample(200, np.random.default_rng(10), **opts))


def test_state_refuses_unknown_format(adult, fitted) -> None:
    from lookalike.errors import ModelFileError

    data, _ = adult
    meta, arrays = fitted.get_state()
    with pytest.raises(ModelFileError, match="format"):
        AutoregressiveGenerator.from_state({}, {**meta, "format": 99}, arrays, data.layout)
    arrays = dict(arrays)
    arrays.pop(next(iter(arrays)))
    with pytest.raises(ModelFileError, match="damaged"):
        AutoregressiveGenerator.from_state({}, meta, arrays, data.layout)


# -- differential privacy ---------------------------------------------------------------------
def test_dp_reports_spent_epsilon(adult, caplog) -> None:
    data, _ = adult
    data = EncodedData(data.values[:800], data.layout)
    gen = AutoregressiveGenerator(dp={"epsilon": 1.0}, max_epochs=1, hidden=16)
    gen.fit(data, np.random.default_rng(11))
    (event,) = gen.privacy_events()
    json.dumps(event)
    assert event["mechanism"] == "dp-sgd" and event["accountant"] == "rdp"
    assert 0 < event["epsilon"] <= 1.0 and event["noise_multiplier"] > 0
    assert event["delta"] == pytest.approx(1 / (10 * len(data.values)))
    assert event["steps"] == event["planned_steps"] > 0 and 0 < event["sample_rate"] < 1
    assert gen.sample(50, np.random.default_rng(12)).shape == (50, data.values.shape[1])
    # under DP the rows are trained in table order only: conditioning on a late column warns
    fixed = np.full((50, data.values.shape[1]), -1)
    fixed[:, -1] = 0
    with caplog.at_level(logging.WARNING):
        out = gen.sample(50, np.random.default_rng(12), fixed=fixed)
    assert np.all(out[:, -1] == 0) and "table order only" in caplog.text
    assert AutoregressiveGenerator(**FAST).fit(
        EncodedData(data.values[:300], data.layout), np.random.default_rng(0)
    ).privacy_events() == []


@pytest.mark.parametrize("dp", [{"epsilon": 0}, {"epsilon": -1.0}, {"epsilon": float("inf")},
                                {"epsilon": 1.0, "delta": 1.5}, {"eps": 1.0}])
def test_dp_parameters_are_checked(adult, dp) -> None:
    data, _ = adult
    with pytest.raises(InvalidParameterError, match="dp"):
        AutoregressiveGenerator(dp=dp).fit(data, np.random.default_rng(0))


def test_bad_parameters(adult) -> None:
    data, _ = adult
    for params in ({"hidden": 2}, {"learning_rate": -1.0}, {"device": "tpu"},
                   {"max_training_time": 0.0}):
        with pytest.raises(InvalidParameterError):
            AutoregressiveGenerator(**params).fit(data, np.random.default_rng(0))


# -- bad input and faults ------------------------------------------------------------------
def test_twenty_rows(adult) -> None:
    data, _ = adult
    tiny = EncodedData(data.values[:20], data.layout)
    gen = AutoregressiveGenerator().fit(tiny, np.random.default_rng(13))
    assert gen.architecture_.hidden <= 16 and gen.report_.stop_reason == "max_epochs"
    assert gen.report_.best_val_loss is None  # too small for a validation split
    assert gen.sample(100, np.random.default_rng(14)).shape == (100, data.values.shape[1])


def test_single_value_column_and_single_row() -> None:
    layout = _layout([1, 3, 2])
    rng = np.random.default_rng(15)
    values = np.column_stack([np.zeros(60, int), rng.integers(0, 3, 60), rng.integers(0, 2, 60)])
    gen = AutoregressiveGenerator(max_epochs=3).fit(EncodedData(values, layout), rng)
    out = gen.sample(40, rng)
    assert np.all(out[:, 0] == 0) and out[:, 1].max() < 3
    one = AutoregressiveGenerator().fit(EncodedData(values[:1], layout), rng)
    assert one.sample(5, rng).shape == (5, 3)


def test_wide_table_stays_bounded() -> None:
    import resource
    import time

    rng = np.random.default_rng(16)
    cards = list(rng.integers(2, 20, 500))
    values = np.column_stack([rng.integers(0, c, 200) for c in cards])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    gen = AutoregressiveGenerator(max_training_time=3.0).fit(
        EncodedData(values, _layout(cards)), rng)
    out = gen.sample(500, rng)
    assert time.perf_counter() - t0 < 30
    assert out.shape == (500, 500) and np.all(out < np.array(cards))
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before < 1500
    assert gen.architecture_.mix_heads == 0  # per-target source weights would be S x S
    with pytest.raises(InvalidParameterError, match="mix_heads"):
        AutoregressiveGenerator(mix_heads=4, max_epochs=1).fit(
            EncodedData(values, _layout(cards)), rng)


def test_huge_vocabulary() -> None:
    rng = np.random.default_rng(17)
    cards = [100_000, 5]
    values = np.column_stack([rng.integers(0, 100_000, 300), rng.integers(0, 5, 300)])
    gen = AutoregressiveGenerator(max_epochs=1).fit(EncodedData(values, _layout(cards)), rng)
    assert gen.architecture_.n_parameters() <= 16_000_000
    out = gen.sample(300, rng)
    assert out[:, 0].max() < 100_000
    with pytest.raises(InvalidDataError, match="c0"):
        AutoregressiveGenerator().fit(
            EncodedData(np.zeros((5, 1), int), _layout([3_000_000])), rng)


def test_tokens_are_validated() -> None:
    layout = _layout([3, 2])
    with pytest.raises(InvalidDataError, match="c1"):
        AutoregressiveGenerator().fit(
            EncodedData(np.array([[0, 1], [2, 5]]), layout), np.random.default_rng(0))
    with pytest.raises(InvalidDataError, match="no rows"):
        AutoregressiveGenerator().fit(
            EncodedData(np.zeros((0, 2), int), layout), np.random.default_rng(0))


def _flaky_loss(monkeypatch, fail_at: int, what: str) -> None:
    from lookalike.models.autoregressive import train

    real = train.batch_loss
    calls = {"n": 0}

    def loss(*args):
        calls["n"] += 1
        if calls["n"] == fail_at:
            if what == "interrupt":
                raise KeyboardInterrupt
            return real(*args) * float("nan")
        return real(*args)

    monkeypatch.setattr(train, "batch_loss", loss)


def _steps_per_epoch(sub: EncodedData) -> int:
    ref = AutoregressiveGenerator(hidden=32, max_epochs=1, batch_size=64)
    return ref.fit(sub, np.random.default_rng(18)).report_.steps


def test_nan_loss_restores_best_weights(adult, monkeypatch, caplog) -> None:
    data, _ = adult
    sub = EncodedData(data.values[:600], data.layout)
    per_epoch = _steps_per_epoch(sub)
    _flaky_loss(monkeypatch, fail_at=3 * per_epoch + 2, what="nan")  # in epoch 4
    with caplog.at_level(logging.WARNING):
        gen = AutoregressiveGenerator(hidden=32, max_epochs=10, batch_size=64)
        gen.fit(sub, np.random.default_rng(18))
    assert gen.report_.stop_reason == "nan" and "NaN" in caplog.text
    assert 1 <= gen.report_.best_epoch <= 3 and gen.report_.epochs == 3
    assert all(np.all(np.isfinite(a)) for a in gen.get_state()[1].values())
    assert gen.sample(10, np.random.default_rng(0)).shape == (10, data.values.shape[1])
    _flaky_loss(monkeypatch, fail_at=1, what="nan")
    with pytest.raises(InvalidParameterError, match="learning_rate"):
        AutoregressiveGenerator(hidden=32, max_epochs=3).fit(sub, np.random.default_rng(18))


def test_keyboard_interrupt_keeps_best_weights(adult, monkeypatch, caplog) -> None:
    data, _ = adult
    sub = EncodedData(data.values[:600], data.layout)
    per_epoch = _steps_per_epoch(sub)
    _flaky_loss(monkeypatch, fail_at=2 * per_epoch + 3, what="interrupt")
    with caplog.at_level(logging.WARNING):
        gen = AutoregressiveGenerator(hidden=32, max_epochs=10, batch_size=64)
        gen.fit(sub, np.random.default_rng(19))
    assert gen.fitted_ and gen.report_.stop_reason == "interrupted"
    assert 1 <= gen.report_.best_epoch <= 2 and "interrupted" in caplog.text
    assert gen.sample(10, np.random.default_rng(20)).shape == (10, data.values.shape[1])


def test_time_cap(adult) -> None:
    data, _ = adult
    gen = AutoregressiveGenerator(max_training_time=0.5, max_epochs=1000, patience=1000)
    gen.fit(data, np.random.default_rng(21))
    assert gen.report_.stop_reason == "time" and gen.report_.seconds < 5


def test_ghost_norms_match_per_sample_gradients() -> None:
    """The per-slot norm rules equal the norms of per-sample gradients computed row by row."""
    from opacus.grad_sample import GradSampleModuleFastGradientClipping

    from lookalike.models.autoregressive.model import (
        Architecture,
        ARNet,
        nll_from_logits,
        register_grad_samplers,
    )

    register_grad_samplers()
    arch = Architecture((3, 5, 2, 4), (0, 0, 1, 2), hidden=8, n_blocks=1, mix_heads=2)
    net = ARNet(arch, torch.Generator().manual_seed(0))
    tokens = torch.tensor([[0, 4, 1, 3], [2, 1, 0, 0], [1, 3, 1, 2]])
    ranks = torch.tensor([[0, 1, 2], [2, 0, 1], [1, 2, 0]])
    expected = []
    for i in range(3):
        net.zero_grad()
        net.row_nll(tokens[i:i + 1], ranks[i:i + 1]).sum().backward()
        expected.append(torch.sqrt(sum((p.grad ** 2).sum() for p in net.parameters())))
    gsm = GradSampleModuleFastGradientClipping(net, batch_first=False, loss_reduction="sum",
                                               max_grad_norm=1.0, strict=False)
    nll_from_logits(gsm(tokens, ranks), tokens, net.bucket_index()).sum().backward()
    got = gsm.get_norm_sample()
    gsm._close()
    assert torch.allclose(got, torch.stack(expected), rtol=1e-4)
