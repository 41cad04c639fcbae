"""Shared machinery of the deep generators (no torch here; see :mod:`.nets` for that).

* :func:`check_data` - the input checks every deep generator runs (too few rows, NaN or inf
  in the view, too many categories), each problem named with its fix;
* :class:`CondSampler` - CTGAN's conditional vector and *training-by-sampling* (Xu et al.
  2019, Section 4.3), vectorised: a batch of (column, category, row) triples is drawn with
  three array operations, whatever the number of columns;
* :func:`parse_conditions` / :func:`fill_conditional` - the ``conditions`` sampling option
  (see :class:`DeepGenerator`);
* :class:`FidelityReference` - the cheap validation fidelity used for early stopping
  (marginal total variation plus correlation differences, with the target's correlations
  counted once more);
* :class:`DeepGenerator` - the common template: checks, dependent columns
  (:mod:`.dependencies`), normaliser, conditions, constant columns, state round trip.
  Subclasses implement ``_train`` and ``_generate``.
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from lookalike.errors import GenerationError, InvalidDataError, InvalidParameterError
from lookalike.models.base import BaseGenerator, EncodedData, Layout
from lookalike.models.deep.dependencies import Dependencies
from lookalike.models.deep.normalizer import Block, ModeNormalizer

log = logging.getLogger(__name__)

STATE_FORMAT = 1
#: deep generators refuse tables with fewer rows (a network cannot learn from them)
MIN_ROWS = 50
#: ... and categorical columns with more categories (one-hot heads and condition vectors)
MAX_CATEGORIES = 1000
#: rounds and candidate rows per round of conditional (rejection) sampling
MAX_ROUNDS = 30
MAX_CANDIDATES = 200_000

Draw = Callable[[int, np.random.Generator, dict[str, np.ndarray]], np.ndarray]


# -- input checks -----------------------------------------------------------------------------
def check_data(data: EncodedData, owner: str, min_rows: int = MIN_ROWS) -> None:
    """Raise :class:`InvalidDataError` listing every problem of ``data`` for a deep model."""
    problems = []
    values, layout = data.values, data.layout
    if data.n_rows < min_rows:
        problems.append(
            f"the table has {data.n_rows} row(s); {owner} needs at least {min_rows} (and "
            "thousands for a useful model). Add rows, or use generator='independent' or "
            "'linear' for tiny tables."
        )
    if values.ndim != 2 or values.shape[1] != layout.width:
        problems.append(f"the encoded view has shape {values.shape}; the layout expects "
                        f"(n, {layout.width}). Encode the table with the facade's encoder.")
        raise InvalidDataError(problems)
    bad = ~np.isfinite(values)
    if bad.any():
        cols = np.flatnonzero(bad.any(axis=0))
        names = sorted({s.column for s in layout.segments for c in cols if s.start <= c < s.stop})
        problems.append(
            f"the encoded view holds {int(bad.sum())} NaN or infinite value(s) in column(s) "
            f"{names}; the encoder must map missing values to flags. Check the encoder, or "
            "replace infinities in the data."
        )
    for seg in layout.segments:
        if seg.kind == "softmax" and seg.width > MAX_CATEGORIES:
            problems.append(
                f"column {seg.column!r} has {seg.width} categories; {owner} handles at most "
                f"{MAX_CATEGORIES} per column. Raise rare_k to merge rare categories, or "
                "declare the column as text or identifier."
            )
    if problems:
        raise InvalidDataError(problems)


def constant_segments(values: np.ndarray, layout: Layout) -> dict[str, list]:
    """Segments whose every training row is identical: ``{"start", "stop", "value"}`` lists."""
    out: dict[str, list] = {"start": [], "stop": [], "value": []}
    for seg in layout.segments:
        block = values[:, seg.start:seg.stop]
        if np.all(block.max(axis=0) - block.min(axis=0) <= 1e-12):
            out["start"].append(seg.start)
            out["stop"].append(seg.stop)
            out["value"].append([float(v) for v in block[0]])
            log.info("column %r (%s) is constant in the training data; it is generated as "
                     "that constant.", seg.column, seg.role)
    return out


# -- conditional vector and training-by-sampling ----------------------------------------------
class CondSampler:
    """CTGAN's conditional vector over the categorical groups of a model-space matrix.

    Parameters
    ----------
    z : training rows in model space.
    blocks : the model-space blocks; the condition groups are the categorical ones
        (``Block.is_category``), optionally restricted to ``columns``.
    probs : optional category probabilities per group to use instead of the training
        frequencies (e.g. a noisy DP histogram); then no row index is kept.

    emphasis : optional ``(column, share)``: the group of ``column`` is drawn with
        probability ``share``, the others uniformly (default: all groups uniformly).

    ``sample_train`` draws a group, a category with probability proportional to the log of
    its frequency (``log(1 + count)``, so rare categories are seen often) and a training
    row of that category uniformly: every category is learned. ``sample_cond`` draws
    conditions as the data have them (a group, then a category by its frequency) for
    generation.

    Examples
    --------
    >>> z = np.eye(2)[[0] * 99 + [1]]  # one group: 99 rows of category 0, 1 of category 1
    >>> sampler = CondSampler(z, [Block("softmax", 0, 2, "c", "value")])
    >>> j, g, rows = sampler.sample_train(1000, np.random.default_rng(0))
    >>> bool(0.1 < g.mean() < 0.3), bool((z[rows, g] == 1).all())  # rare class often, rows match
    (True, True)
    """

    def __init__(self, z: np.ndarray | None, blocks: Sequence[Block], *,
                 columns: Sequence[str] | None = None,
                 probs: Sequence[np.ndarray] | None = None,
                 emphasis: tuple[str, float] | None = None) -> None:
        self.blocks = [b for b in blocks if b.is_category
                       and (columns is None or b.column in columns)]
        self.group_cum = self._group_cum(emphasis)
        widths = np.array([b.width for b in self.blocks], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(widths)]).astype(np.int64)
        self.width = int(self.offsets[-1])
        self.n_groups = len(self.blocks)
        if probs is not None:
            freq = [np.asarray(p, dtype=float) for p in probs]
            self.rows = None
            self.log_cum = self._cum(freq)
        else:
            assert z is not None
            counts, rows, starts = [], [], []
            for j, b in enumerate(self.blocks):
                code = z[:, b.start:b.stop].argmax(axis=1)
                counts.append(np.bincount(code, minlength=b.width).astype(float))
                rows.append(np.argsort(code, kind="stable"))
                starts.append(j * len(z) + np.concatenate([[0], np.cumsum(counts[-1])[:-1]]))
            self.rows = np.concatenate(rows) if rows else np.zeros(0, np.int64)
            self.starts = np.concatenate(starts).astype(np.int64) if starts else self.offsets
            self.counts = np.concatenate(counts) if counts else np.zeros(0)
            freq = counts
            self.log_cum = self._cum([np.log1p(c) for c in counts])
        self.freq_cum = self._cum(freq)
        self.freqs = [f / f.sum() if f.sum() > 0 else np.full(len(f), 1 / len(f))
                      for f in freq]

    def _group_cum(self, emphasis: tuple[str, float] | None) -> np.ndarray | None:
        """Cumulative group probabilities: uniform, or ``share`` for one named column."""
        names = [b.column for b in self.blocks]
        if emphasis is None or emphasis[0] not in names or len(names) < 2 or emphasis[1] <= 0:
            return None
        column, share = emphasis
        p = np.full(len(names), (1.0 - share) / (len(names) - 1))
        p[names.index(column)] = share
        return np.cumsum(p)

    def _cum(self, weights: Sequence[np.ndarray]) -> np.ndarray:
        parts = []
        for j, w in enumerate(weights):
            w = np.clip(np.asarray(w, float), 0, None)
            w = w / w.sum() if w.sum() > 0 else np.full(len(w), 1.0 / len(w))
            parts.append(j + np.cumsum(w))
        return np.concatenate(parts) if parts else np.zeros(0)

    def _draw(self, cum: np.ndarray, m: int,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        if self.group_cum is None:
            j = rng.integers(0, self.n_groups, size=m)
        else:
            j = np.minimum(np.searchsorted(self.group_cum, rng.random(m) * self.group_cum[-1],
                                           side="right"), self.n_groups - 1)
        g = np.searchsorted(cum, j + rng.random(m), side="right")
        g = np.clip(g, self.offsets[j], self.offsets[j + 1] - 1)
        return j, g

    def sample_train(self, m: int, rng: np.random.Generator
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(group j, global category id g, training row) for ``m`` draws."""
        j, g = self._draw(self.log_cum, m, rng)
        pick = np.floor(rng.random(m) * self.counts[g]).astype(np.int64)
        return j, g, self.rows[self.starts[g] + pick]

    def sample_cond(self, m: int, rng: np.random.Generator) -> np.ndarray:
        """Global category ids drawn as the data have them (for generation)."""
        return self._draw(self.freq_cum, m, rng)[1]

    def ids_for(self, column: str, codes: np.ndarray) -> np.ndarray:
        """Global category ids of ``codes`` (categories of ``column``)."""
        j = [b.column for b in self.blocks].index(column)
        return self.offsets[j] + codes


# -- conditions ---------------------------------------------------------------------------------
def categorical_segments(layout: Layout) -> dict[str, Any]:
    """The one-hot value segment of each categorical column of a continuous layout."""
    return {s.column: s for s in layout.segments if s.kind == "softmax" and s.role == "value"}


def parse_conditions(conditions: Any, n: int, layout: Layout) -> dict[str, np.ndarray]:
    """Validate the ``conditions`` option -> ``{column: int codes (n,)}``.

    Examples
    --------
    >>> from lookalike.encoding.base import Segment
    >>> layout = Layout(("c",), {"c": slice(0, 3)}, (Segment("c", "softmax", 0, 3),))
    >>> parse_conditions({"c": 2}, 3, layout)["c"].tolist()
    [2, 2, 2]
    """
    if conditions is None:
        return {}
    cats = categorical_segments(layout)
    if not isinstance(conditions, dict):
        raise InvalidParameterError(
            "The 'conditions' sampling option must be a dict {column: category index}, e.g. "
            f"{{'income': 1}}; got {conditions!r}."
        )
    out = {}
    for column, value in conditions.items():
        if column not in cats:
            raise InvalidParameterError(
                f"conditions: {column!r} is not a categorical column of this model; "
                f"categorical columns are {sorted(cats)}."
            )
        width = cats[column].width
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            codes = np.full(n, int(value), dtype=np.int64)
        else:
            arr = np.asarray(value)
            if arr.shape != (n,) or not np.issubdtype(arr.dtype, np.integer):
                raise InvalidParameterError(
                    f"conditions[{column!r}] must be an int or an int array of shape ({n},) "
                    f"(a category index per row); got {value!r}."
                )
            codes = arr.astype(np.int64)
        if codes.size and (codes.min() < 0 or codes.max() >= width):
            raise InvalidParameterError(
                f"conditions[{column!r}] holds a category index outside [0, {width - 1}]; "
                "indices follow the column encoder's vocabulary "
                f"(syn.encoder_.encoders[{column!r}].stats.vocabulary)."
            )
        out[column] = codes
    return out


def fill_conditional(n: int, rng: np.random.Generator, codes: dict[str, np.ndarray],
                     draw: Draw, layout: Layout) -> np.ndarray:
    """``n`` view rows, row ``i`` having category ``codes[c][i]`` in every given column.

    ``draw(m, rng, codes)`` generates ``m`` candidate rows for the given per-row codes (a
    generator may use them, e.g. as its conditional vector, or ignore them). Candidates
    that do not match are rejected and the rows still missing are drawn again, with more
    candidates per row as the acceptance rate demands.
    """
    if not codes:
        return draw(n, rng, {})
    cats = categorical_segments(layout)
    out = np.empty((n, layout.width))
    todo = np.arange(n)
    factor = 1
    for _ in range(MAX_ROUNDS):
        rep = np.tile(todo, factor)
        want = {c: v[rep] for c, v in codes.items()}
        rows = draw(len(rep), rng, want)
        ok = np.ones(len(rep), dtype=bool)
        for c, v in want.items():
            seg = cats[c]
            ok &= rows[:, seg.start:seg.stop].argmax(axis=1) == v
        ok2 = ok.reshape(factor, len(todo))
        hit = ok2.any(axis=0)
        first = ok2.argmax(axis=0)
        out[todo[hit]] = rows[first[hit] * len(todo) + np.flatnonzero(hit)]
        todo = todo[~hit]
        if not len(todo):
            return out
        rate = max(float(ok.mean()), 1e-4)
        factor = int(max(1, min(math.ceil(2.0 / rate), MAX_CANDIDATES // len(todo))))
    short = {c: np.unique(v[todo]).tolist()[:5] for c, v in codes.items()}
    raise GenerationError(
        f"conditional sampling: {len(todo)} of {n} rows could not be generated with the "
        f"requested categories {short} after {MAX_ROUNDS} rounds: the model (almost) never "
        "generates them together. Condition on fewer columns or on more common categories."
    )


# -- validation fidelity ------------------------------------------------------------------------
class FidelityReference:
    """Held-out real rows, summarised once, against which generated rows are scored.

    :meth:`gap` = mean marginal total-variation distance + mean absolute difference of
    the pairwise correlations + (when the layout names a categorical ``target``) mean
    absolute difference of the correlations between the target's categories and every
    other column - the relations a downstream model of the target relies on. Each part
    lies in [0, 1]; 0 means identical. Numbers are compared on ``bins`` quantile bins of the
    real values, one-hot groups by their category shares.

    Examples
    --------
    >>> from lookalike.encoding.base import Segment
    >>> rng = np.random.default_rng(0)
    >>> layout = Layout(("x", "y"), {"x": slice(0, 1), "y": slice(1, 2)},
    ...                 (Segment("x", "numeric", 0, 1), Segment("y", "numeric", 1, 2)))
    >>> x = rng.normal(size=2000)
    >>> ref = FidelityReference(np.column_stack([x, x]), layout)
    >>> ref.gap(np.column_stack([x, x])) < 1e-12 < ref.gap(np.column_stack([x, -x]))
    True
    """

    def __init__(self, real: np.ndarray, layout: Layout, bins: int = 10) -> None:
        self.layout = layout
        self.n = len(real)
        self.parts: list[tuple[str, int, int, np.ndarray]] = []
        cols: list[int] = []
        for seg in layout.segments:
            if seg.kind == "softmax":
                self.parts.append(("group", seg.start, seg.stop,
                                   real[:, seg.start:seg.stop].mean(axis=0)))
                cols += list(range(seg.start, seg.stop))
                continue
            for c in range(seg.start, seg.stop):
                edges = np.unique(np.quantile(real[:, c], np.linspace(0, 1, bins + 1)[1:-1]))
                p = np.bincount(np.searchsorted(edges, real[:, c]), minlength=len(edges) + 1)
                self.parts.append(("value", c, c + 1, np.concatenate([edges, p / self.n])))
                cols.append(c)
        self.cols = np.array([c for c in cols if real[:, c].std() > 0], dtype=np.int64)
        self.corr = (np.corrcoef(real[:, self.cols], rowvar=False) if len(self.cols) > 1
                     else np.ones((len(self.cols), len(self.cols))))
        target = categorical_segments(layout).get(layout.target) if layout.target else None
        self.target_pos = (np.flatnonzero((self.cols >= target.start) & (self.cols < target.stop))
                           if target is not None else np.zeros(0, np.int64))

    def gap(self, synth: np.ndarray) -> float:
        """How far ``synth`` (view rows) is from the reference (lower is better)."""
        tvds = []
        for kind, start, stop, ref in self.parts:
            if kind == "group":
                q = np.bincount(synth[:, start:stop].argmax(axis=1), minlength=stop - start)
                tvds.append(0.5 * np.abs(ref - q / len(synth)).sum())
            else:
                k = (len(ref) - 1) // 2
                edges, p = ref[:k], ref[k:]
                q = np.bincount(np.searchsorted(edges, synth[:, start]), minlength=k + 1)
                tvds.append(0.5 * np.abs(p - q / len(synth)).sum())
        score = float(np.mean(tvds)) if tvds else 0.0
        if len(self.cols) > 1:
            x = synth[:, self.cols]
            with np.errstate(invalid="ignore", divide="ignore"):
                cs = np.nan_to_num(np.corrcoef(x, rowvar=False), nan=0.0)
            diff = np.abs(self.corr - cs)
            iu = np.triu_indices(len(self.cols), 1)
            score += float(diff[iu].mean())
            if len(self.target_pos):
                others = np.setdiff1d(np.arange(len(self.cols)), self.target_pos)
                score += float(diff[np.ix_(self.target_pos, others)].mean())
        return score


def fidelity_gap(real: np.ndarray, synth: np.ndarray, layout: Layout, bins: int = 10) -> float:
    """:meth:`FidelityReference.gap` of ``synth`` against ``real`` (one-off use)."""
    return FidelityReference(real, layout, bins).gap(synth)


def split_validation(n: int, share: float, rng: np.random.Generator,
                     min_val: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, validation rows); no validation rows when ``share * n < min_val``."""
    perm = rng.permutation(n)
    n_val = int(round(share * n))
    if n_val < min_val:
        return perm, perm[:0]
    return perm[n_val:], perm[:n_val]


# -- the template ---------------------------------------------------------------------------------
class ResidualGeneratorNets:
    """The generator side shared by ``gan``, ``dp-gan`` and ``pate-gan``: a residual
    generator fed noise plus the one-hot condition, the output heads, and conditional
    generation (needs ``config_``, ``normalizer_`` and ``cond_`` of a fitted
    :class:`DeepGenerator`)."""

    def _build_nets(self, meta: dict[str, Any], gen: Any = None) -> None:
        import torch

        from lookalike.models.deep.nets import Heads, ResidualGenerator, build

        cfg = self.config_
        gen = gen if gen is not None else torch.Generator().manual_seed(0)
        self.generator_ = build(lambda: ResidualGenerator(
            cfg["embedding_dim"] + cfg["cond_width"], cfg["generator_dims"], cfg["width"]), gen)
        self.heads_ = Heads(self.normalizer_.blocks_)

    def _nets(self) -> dict[str, Any]:
        return {"generator": self.generator_}

    def _conditional_raw(self, m: int, rng: np.random.Generator, codes: dict[str, np.ndarray]
                         ) -> tuple[np.ndarray | None, np.ndarray]:
        """(condition ids, raw generator output) for ``m`` rows: the first condition column
        given in ``codes``, else conditions drawn from the stored frequencies (ids None
        without a condition)."""
        import torch

        from lookalike.random import torch_generator

        gen = torch_generator(rng)
        cw = self.config_["cond_width"]
        cond_cols = [b.column for b in self.cond_.blocks]
        given = [c for c in codes if c in cond_cols]
        if cw == 0:
            ids = None
        elif given:
            ids = self.cond_.ids_for(given[0], codes[given[0]])
        else:
            ids = self.cond_.sample_cond(m, rng)
        out = []
        self.generator_.eval()
        with torch.no_grad():
            for start in range(0, m, 20_000):
                k = min(20_000, m - start)
                c = torch.zeros(k, cw)
                if ids is not None:
                    c[torch.arange(k), torch.as_tensor(ids[start:start + k])] = 1.0
                noise = torch.randn(k, self.config_["embedding_dim"], generator=gen)
                out.append(self.generator_(torch.cat([noise, c], 1)).numpy())
        raw = np.concatenate(out) if out else np.zeros((0, self.config_["width"]))
        return ids, raw


class DeepGenerator(BaseGenerator):
    """Template of the deep generators: checks, normaliser, conditions, state round trip.

    Sampling option ``conditions``: ``{column: category index}`` (an int for every row, or
    an int array of shape ``(n,)``, one index per row) for categorical columns; the index
    is a position in the column encoder's vocabulary
    (``syn.encoder_.encoders[column].stats.vocabulary``). Every returned row has exactly
    the requested categories: generators with a conditional input (the GAN's conditional
    vector, the conditional VAE's label) generate for them directly, and rows that still
    miss a condition (or all rows, for other columns) are drawn again (rejection).

    Repeated ``sample`` calls continue the caller's generator (new rows each time); the same
    generator state gives the same rows, also after a state round trip.
    """

    view = "continuous"
    sample_options: ClassVar[frozenset[str]] = frozenset({"conditions"})
    #: fit a mode-specific normaliser (False for the DP generators)
    mode_specific: ClassVar[bool] = True
    #: replace columns that are constant in the training data by that constant
    keep_constants: ClassVar[bool] = True
    #: give spikes and discrete numeric columns exact modes of their own (the normaliser's
    #: atoms, see :mod:`.normalizer`); off: CTGAN's Gaussian modes only
    mode_atoms: ClassVar[bool] = False
    #: derive the columns that are an exact function of a categorical column from it
    #: instead of modelling them (:mod:`.dependencies`); off by default, and never for the
    #: DP generators (the rule and its lookup table are read from the data without noise)
    derive_dependencies: ClassVar[bool] = False
    dependencies_: Dependencies = Dependencies()

    # -- fitting -------------------------------------------------------------------------
    def _fit(self, data: EncodedData, rng: np.random.Generator) -> None:
        check_data(data, f"generator {self.name!r}")
        values = data.values.astype(np.float64)
        layout = data.layout
        self.dependencies_ = (Dependencies.detect(values, layout) if self._derives()
                              else Dependencies())
        values, layout = self.dependencies_.reduce(values, layout)
        self.normalizer_ = ModeNormalizer(
            layout.segments, mode_specific=self.mode_specific,
            atom_share=0.05 if self.mode_atoms else None,
            max_atoms=20 if self.mode_atoms else 0).fit(values, rng)
        self.constants_ = (constant_segments(values, layout) if self.keep_constants
                           else {"start": [], "stop": [], "value": []})
        z = self.normalizer_.transform(values, rng)
        self.report_: dict[str, Any] = {}
        self._train(z, values, layout, rng)
        if self.dependencies_:
            self.report_["derived_columns"] = {d.column: d.determinant
                                               for d in self.dependencies_.items}

    def _derives(self) -> bool:
        """Whether this fit derives dependent columns (:mod:`.dependencies`)."""
        return bool(self.derive_dependencies)

    def _train(self, z: np.ndarray, values: np.ndarray, layout: Layout,
               rng: np.random.Generator) -> None:
        raise NotImplementedError

    # -- sampling ------------------------------------------------------------------------
    def _sample(self, n: int, rng: np.random.Generator, **options: Any) -> np.ndarray:
        codes = parse_conditions(options.get("conditions"), n, self.layout_)
        return fill_conditional(n, rng, codes, self._draw_table_view, self.layout_)

    def _draw_table_view(self, m: int, rng: np.random.Generator,
                         codes: dict[str, np.ndarray]) -> np.ndarray:
        """``m`` rows of the whole view: :meth:`_draw_view` plus the derived columns."""
        return self.dependencies_.expand(self._draw_view(m, rng, codes), self.layout_)

    def _draw_view(self, m: int, rng: np.random.Generator,
                   codes: dict[str, np.ndarray]) -> np.ndarray:
        """``m`` rows of the modelled view (the layout ``_train`` was given: without the
        derived columns), e.g. for a validation score during training."""
        view = self.normalizer_.inverse(self._generate(m, rng, codes))
        for start, stop, value in zip(self.constants_["start"], self.constants_["stop"],
                                      self.constants_["value"], strict=True):
            view[:, start:stop] = value
        return view

    def _generate(self, m: int, rng: np.random.Generator,
                  codes: dict[str, np.ndarray]) -> np.ndarray:
        """``m`` model-space rows with one-hot groups (``codes`` may be used or ignored)."""
        raise NotImplementedError

    # -- state ---------------------------------------------------------------------------
    def _nets(self) -> dict[str, Any]:
        """The trained torch modules by name (their weights go into the state)."""
        raise NotImplementedError

    def _build_nets(self, meta: dict[str, Any]) -> None:
        """Recreate untrained modules from the state's meta (weights are loaded after)."""
        raise NotImplementedError

    def _extra_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {}, {}

    def _set_extra_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        return None

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        from lookalike.models.deep.nets import state_arrays

        norm_meta, norm_arrays = self.normalizer_.get_state()
        extra_meta, extra_arrays = self._extra_state()
        meta = {"format": STATE_FORMAT, "normalizer": norm_meta, "constants": self.constants_,
                "config": self.config_, "report": self.report_, "extra": extra_meta}
        if self.dependencies_:
            meta["dependencies"] = self.dependencies_.to_json()
        arrays = {f"normalizer/{k}": v for k, v in norm_arrays.items()}
        arrays.update({f"extra/{k}": v for k, v in extra_arrays.items()})
        for name, net in self._nets().items():
            arrays.update(state_arrays(net, f"net/{name}"))
        return meta, arrays

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        from lookalike.errors import ModelFileError
        from lookalike.models.deep.nets import load_arrays

        if meta.get("format") != STATE_FORMAT:
            raise ModelFileError(
                f"The {self.name!r} state has format {meta.get('format')!r}; this lookalike "
                f"reads format {STATE_FORMAT}. Refit the model or upgrade lookalike."
            )
        sub = {k[len("normalizer/"):]: v for k, v in arrays.items() if k.startswith("normalizer/")}
        self.dependencies_ = Dependencies.from_json(meta.get("dependencies"))
        modelled = self.dependencies_.reduced_layout(self.layout_)
        self.normalizer_ = ModeNormalizer.from_state(modelled.segments, meta["normalizer"], sub)
        self.constants_ = meta["constants"]
        self.config_ = meta["config"]
        self.report_ = meta["report"]
        self._set_extra_state(meta["extra"], {k[len("extra/"):]: v for k, v in arrays.items()
                                              if k.startswith("extra/")})
        self._build_nets(meta)
        try:
            for name, net in self._nets().items():
                load_arrays(net, arrays, f"net/{name}")
                net.eval()
        except KeyError as exc:
            raise ModelFileError(f"The {self.name!r} weights do not match: {exc}") from exc
