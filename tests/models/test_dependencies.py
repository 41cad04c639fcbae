"""Tests of the derived (functionally dependent) columns of the deep generators, and of the
GAN's row-shared critic.

Small synthetic tables: detection rules on views built by hand, then the ``gan`` fitted
for one or two epochs through the facade on a table with a code column (``level`` is a
function of ``grade``), checking that every synthetic row obeys the rule, also after a
save / load, and that the rule is stored as JSON in the model file.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lookalike import Synthesizer
from lookalike.encoding.base import Segment
from lookalike.models.base import Layout
from lookalike.models.deep.dependencies import Dependencies

torch = pytest.importorskip("torch")

TINY_GAN = {"max_epochs": 2, "generator_dims": (16,), "discriminator_dims": (16,),
            "embedding_dim": 8, "batch_size": 100, "eval_rows": 200}


def _layout(*cols: tuple[str, str, int], target: str | None = None) -> Layout:
    segments, slices, pos = [], {}, 0
    for name, kind, width in cols:
        segments.append(Segment(name, kind, pos, pos + width))
        slices[name] = slice(pos, pos + width)
        pos += width
    return Layout(tuple(c[0] for c in cols), slices, tuple(segments), target=target)


def _onehot(code: np.ndarray, k: int) -> np.ndarray:
    return np.eye(k)[code]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


# -- detection ------------------------------------------------------------------------------
def test_numeric_function_of_a_category_is_found_and_round_trips(rng) -> None:
    a = rng.integers(0, 4, 400)
    view = np.column_stack([_onehot(a, 4), np.array([0.5, -1.0, 2.0, 7.0])[a],
                            rng.normal(size=400)])
    layout = _layout(("a", "softmax", 4), ("n", "numeric", 1), ("x", "numeric", 1))
    deps = Dependencies.detect(view, layout)
    assert [(d.column, d.determinant) for d in deps.items] == [("n", "a")]
    small, small_layout = deps.reduce(view, layout)
    assert small.shape == (400, 5) and small_layout.columns == ("a", "x")
    assert [s.start for s in small_layout.segments] == [0, 4]
    assert np.array_equal(deps.expand(small, layout), view)


def test_no_rule_when_it_fails_once_or_lacks_evidence(rng) -> None:
    a = rng.integers(0, 4, 400)
    n = np.array([0.5, -1.0, 2.0, 7.0])[a]
    n[17] += 1.0  # one exception: no rule
    layout = _layout(("a", "softmax", 4), ("n", "numeric", 1))
    assert not Dependencies.detect(np.column_stack([_onehot(a, 4), n]), layout)
    b = a.copy()
    b[:2] = 4  # a category with 2 rows (< 3): too little evidence
    view = np.column_stack([_onehot(b, 5), np.arange(5.0)[b]])
    assert not Dependencies.detect(view, _layout(("a", "softmax", 5), ("n", "numeric", 1)))
    ids = np.repeat(np.arange(40), 5)  # 5 rows per category on average (< 20): id-like
    view = np.column_stack([_onehot(ids, 40), rng.normal(size=40)[ids]])
    assert not Dependencies.detect(view, _layout(("id", "softmax", 40), ("n", "numeric", 1)))


def test_constants_numeric_determinants_and_the_target_are_left_alone(rng) -> None:
    a = rng.integers(0, 3, 300)
    view = np.column_stack([_onehot(a, 3), np.ones(300), a.astype(float),
                            _onehot(2 - a, 3)])
    layout = _layout(("a", "softmax", 3), ("c", "numeric", 1), ("n", "numeric", 1),
                     ("y", "softmax", 3), target="y")
    deps = Dependencies.detect(view, layout)
    # c is constant, y is the target; a is a function of y, but n (numeric) determines nothing
    assert {(d.column, d.determinant) for d in deps.items} == {("a", "y"), ("n", "y")}


def test_one_to_one_codes_and_chains_derive_in_order(rng) -> None:
    a = rng.integers(0, 6, 600)
    b = (a * 5) % 6  # a bijection of a
    c = a // 2  # a function of a (and of b), not the other way round
    view = np.column_stack([_onehot(a, 6), _onehot(b, 6), _onehot(c, 3)])
    layout = _layout(("a", "softmax", 6), ("b", "softmax", 6), ("c", "softmax", 3))
    deps = Dependencies.detect(view, layout)
    assert set(deps.columns) == {"a", "c"}  # b is kept, the earlier of the pair derived
    small, _ = deps.reduce(view, layout)
    assert np.array_equal(deps.expand(small, layout), view)
    # an unseen determinant category gets the most common values of the column
    d = Dependencies.detect(view[a < 5], layout)
    small, _ = d.reduce(view[a == 5], layout)
    out = d.expand(small, layout)
    assert np.array_equal(out[:, 12:15].sum(axis=1), np.ones(len(out)))


def test_json_round_trip(rng) -> None:
    a = rng.integers(0, 3, 300)
    view = np.column_stack([_onehot(a, 3), np.array([0.1, 0.2, 1 / 3])[a]])
    layout = _layout(("a", "softmax", 3), ("n", "numeric", 1))
    deps = Dependencies.detect(view, layout)
    back = Dependencies.from_json(json.loads(json.dumps(deps.to_json())))
    assert back.items == deps.items
    assert np.array_equal(back.expand(deps.reduce(view, layout)[0], layout), view)
    assert not Dependencies.from_json(None)


# -- through the GAN ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def coded() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = 600
    grade = rng.choice(["low", "mid", "high", "top"], n, p=[0.4, 0.3, 0.2, 0.1])
    level = pd.Series(grade).map({"low": 1.5, "mid": 2.25, "high": 3.75, "top": 5.5}).to_numpy()
    return pd.DataFrame({"grade": grade, "level": level,
                         "x": rng.normal(size=n) + level,
                         "y": rng.choice(["a", "b"], n)})


def test_gan_derives_the_code_column(coded: pd.DataFrame, tmp_path) -> None:
    syn = Synthesizer("gan", random_state=0, target="y", **TINY_GAN).fit(coded)
    gen = syn.generator_
    assert gen.report_["derived_columns"] == {"level": "grade"}
    assert "level" not in {b.column for b in gen.normalizer_.blocks_}
    rule = dict(zip(coded["grade"], coded["level"], strict=True))
    out = syn.sample(500, seed=0)
    assert (out["level"].astype(float) == out["grade"].map(rule)).all()
    conditioned = syn.sample(50, seed=1, conditions={"y": 1})
    assert (conditioned["level"].astype(float) == conditioned["grade"].map(rule)).all()
    syn.save(tmp_path / "m.lookalike")
    back = Synthesizer.load(tmp_path / "m.lookalike")
    pd.testing.assert_frame_equal(back.sample(300, seed=3), syn.sample(300, seed=3))
    meta, _ = gen.get_state()
    doc = json.loads(json.dumps(meta))["dependencies"]
    assert [d["column"] for d in doc["items"]] == ["level"]


def test_gan_can_model_dependent_columns(coded: pd.DataFrame) -> None:
    syn = Synthesizer("gan", random_state=0, target="y", derive_dependent=False,
                      **TINY_GAN).fit(coded)
    assert "derived_columns" not in syn.generator_.report_
    assert "level" in {b.column for b in syn.generator_.normalizer_.blocks_}


@pytest.mark.parametrize("shared", [True, False])
def test_gan_critics_pack_rows(coded: pd.DataFrame, shared: bool) -> None:
    from lookalike.models.deep.gan import row_shared_critic

    critic = row_shared_critic(7, (16, 8), pac=4)
    assert critic(torch.zeros(12, 7)).shape == (3,)
    syn = Synthesizer("gan", random_state=0, shared_rows=shared, pac=5,
                      **{**TINY_GAN, "max_epochs": 1}).fit(coded)
    assert len(syn.sample(20, seed=0)) == 20
