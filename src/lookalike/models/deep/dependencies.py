"""Columns that are a function of a categorical column: detected at fit time, derived at sampling.

Some tables hold a column that is an exact function of another one: UCI Adult's
``education-num`` is a code of ``education`` (``"Bachelors"`` is always 13), a zip code
fixes a city, a product id its category. A generative network learns such a rule only
approximately: on Adult, CTGAN-style GANs give only half of their rows the
``education-num`` that matches their ``education``, which a real-vs-synthetic classifier
spots at once and a downstream model trips over. Here the rule is found in the training
data and the dependent column is not modelled at all: the network generates the
determinant, and the dependent column is filled in from a lookup table, so every synthetic
row obeys the rule exactly.

Detection (:meth:`Dependencies.detect`) works on the generator's continuous view, so it
applies to every column kind: a column ``T`` *depends on* a categorical column ``S`` when

* every training row with the same category of ``S`` has the same view values of ``T``
  (all its segments, missing flags included),
* every category of ``S`` seen in the data has at least ``min_rows`` rows (3 by default)
  and the categories have ``mean_rows`` (20) rows on average, so that a rule seen on a
  handful of rows is not taken for a law of the data (nor is every column "a function" of
  an identifier-like column); ``S`` has at least two categories and ``T`` is not constant
  (constants are handled apart),
* ``T`` is not the layout's ``target`` (the generators treat the target specially).

Only columns whose view consists of one-hot groups (categorical columns, missing flags
included) can be determinants. When two categorical columns determine each other (a
one-to-one coding), the earlier one in the layout becomes the dependent. Chains are
allowed (``A`` determines ``B`` which determines ``C``): columns are derived in an order
where every determinant is known first. The result is a small JSON document (the lookup
tables hold view values, floats that JSON keeps exactly), stored in the model file.

Generators must not use this under differential privacy: the rule and its lookup table
are read from the data without noise.

Examples
--------
>>> import numpy as np
>>> from lookalike.encoding.base import Segment
>>> from lookalike.models.base import Layout
>>> rng = np.random.default_rng(0)
>>> code = rng.integers(0, 3, 300)
>>> view = np.column_stack([np.eye(3)[code], (code * 2.5)[:, None], rng.normal(size=300)])
>>> layout = Layout(("c", "n", "x"), {"c": slice(0, 3), "n": slice(3, 4), "x": slice(4, 5)},
...                 (Segment("c", "softmax", 0, 3), Segment("n", "numeric", 3, 4),
...                  Segment("x", "numeric", 4, 5)))
>>> deps = Dependencies.detect(view, layout)
>>> [(d.column, d.determinant) for d in deps.items]
[('n', 'c')]
>>> small, small_layout = deps.reduce(view, layout)
>>> small_layout.columns
('c', 'x')
>>> bool(np.array_equal(deps.expand(small, layout), view))
True
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from lookalike.encoding.base import Segment
from lookalike.models.base import Layout

log = logging.getLogger(__name__)

#: a category of the determinant must have at least this many rows for a rule to be accepted
MIN_ROWS = 3
#: ... and the categories this many on average
MEAN_ROWS = 20
JSON_FORMAT = 1


@dataclass(frozen=True)
class Dependency:
    """``column``'s view values are ``table[i]`` for the determinant's code ``codes[i]``.

    A code is the category index of the determinant (mixed radix over its one-hot groups
    when it has several, e.g. a missing flag); ``default`` (the most common values of the
    column) serves a category that had no training row.
    """

    column: str
    determinant: str
    codes: tuple[int, ...]
    table: tuple[tuple[float, ...], ...]
    default: tuple[float, ...]

    def lookup(self, code: np.ndarray) -> np.ndarray:
        """View values of the column for determinant codes ``code`` (n,) -> (n, width)."""
        codes = np.asarray(self.codes, dtype=np.int64)
        table = np.asarray(self.table, dtype=np.float64).reshape(len(codes), -1)
        pos = np.clip(np.searchsorted(codes, code), 0, len(codes) - 1)
        hit = codes[pos] == code
        return np.where(hit[:, None], table[pos], np.asarray(self.default, dtype=np.float64))

    def to_json(self) -> dict[str, Any]:
        return {"column": self.column, "determinant": self.determinant,
                "codes": list(self.codes), "table": [list(r) for r in self.table],
                "default": list(self.default)}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Dependency:
        return cls(str(doc["column"]), str(doc["determinant"]),
                   tuple(int(c) for c in doc["codes"]),
                   tuple(tuple(float(v) for v in r) for r in doc["table"]),
                   tuple(float(v) for v in doc["default"]))


def _codes(view: np.ndarray, segments: list[Segment]) -> tuple[np.ndarray, int]:
    """Mixed-radix code of the one-hot groups of a column's rows, and the number of codes."""
    code = np.zeros(len(view), dtype=np.int64)
    size = 1
    for seg in segments:
        code = code * seg.width + view[:, seg.start:seg.stop].argmax(axis=1)
        size *= seg.width
    return code, size


class Dependencies:
    """The functional dependencies of a table's view (see the module docstring).

    ``items`` are in derivation order: every determinant is a modelled column or an
    earlier item's column.
    """

    def __init__(self, items: tuple[Dependency, ...] = ()) -> None:
        self.items = tuple(items)

    @property
    def columns(self) -> tuple[str, ...]:
        """The dependent (derived, not modelled) columns."""
        return tuple(d.column for d in self.items)

    def __bool__(self) -> bool:
        return bool(self.items)

    # -- detection -----------------------------------------------------------------------
    @classmethod
    def detect(cls, view: np.ndarray, layout: Layout, *, min_rows: int = MIN_ROWS,
               mean_rows: float = MEAN_ROWS, max_codes: int = 10_000) -> Dependencies:
        """Find the dependencies that hold in every row of ``view`` (n, layout width)."""
        by_col: dict[str, list[Segment]] = {}
        for seg in layout.segments:
            by_col.setdefault(seg.column, []).append(seg)
        order = [c for c in layout.columns if c in by_col]
        n = len(view)
        # which columns does each eligible categorical column determine?
        determines: dict[str, dict[str, np.ndarray]] = {}
        for s in order:
            segs = by_col[s]
            if not all(g.kind == "softmax" for g in segs):
                continue
            code, size = _codes(view, segs)
            if size > max_codes:
                continue
            counts = np.bincount(code, minlength=size)
            seen = np.flatnonzero(counts)
            if (len(seen) < 2 or counts[seen].min() < min_rows
                    or n < mean_rows * len(seen)):
                continue
            sort = np.argsort(code, kind="stable")
            starts = np.concatenate([[0], np.cumsum(counts[seen])[:-1]])
            for t in order:
                if t == s or t == layout.target:
                    continue
                sl = layout.column_slices[t]
                block = view[sort, sl]
                if np.all(block.max(axis=0) - block.min(axis=0) <= 0):
                    continue  # constant: not a dependency
                lo = np.minimum.reduceat(block, starts, axis=0)
                hi = np.maximum.reduceat(block, starts, axis=0)
                if np.array_equal(lo, hi):
                    determines.setdefault(s, {})[t] = (seen, lo)
        # choose: a column depends on a determinant that is still modelled at that point
        derived: list[Dependency] = []
        dependent: set[str] = set()
        for t in order:
            for s in order:
                if s in dependent or s == t or t not in determines.get(s, {}):
                    continue
                seen, table = determines[s][t]
                uniq, inv = np.unique(view[:, layout.column_slices[t]], axis=0,
                                      return_inverse=True)
                default = uniq[np.bincount(inv.reshape(-1)).argmax()]
                derived.append(Dependency(
                    t, s, tuple(int(c) for c in seen),
                    tuple(tuple(float(v) for v in r) for r in table),
                    tuple(float(v) for v in default)))
                dependent.add(t)
                log.info("column %r is a function of %r in all %d rows: it is derived from "
                         "it rather than modelled.", t, s, n)
                break
        # derivation order: a determinant chosen later may itself be derived; derive the
        # later-marked columns first (their determinants were modelled when they were marked)
        return cls(tuple(reversed(derived)))

    # -- views ---------------------------------------------------------------------------
    def reduced_layout(self, layout: Layout) -> Layout:
        """``layout`` without the dependent columns (segments shifted to stay contiguous)."""
        if not self.items:
            return layout
        drop = set(self.columns)
        segments, slices, pos = [], {}, 0
        for seg in layout.segments:
            if seg.column in drop:
                continue
            segments.append(seg.shifted(pos - seg.start))
            pos += seg.width
        for col in layout.columns:
            if col in drop:
                continue
            mine = [s for s in segments if s.column == col]
            if mine:
                slices[col] = slice(mine[0].start, mine[-1].stop)
        return Layout(tuple(c for c in layout.columns if c not in drop), slices,
                      tuple(segments), layout.token_slots, layout.target)

    def _kept(self, layout: Layout) -> np.ndarray:
        drop = set(self.columns)
        return np.concatenate([np.arange(s.start, s.stop) for s in layout.segments
                               if s.column not in drop] or [np.zeros(0, np.int64)])

    def reduce(self, view: np.ndarray, layout: Layout) -> tuple[np.ndarray, Layout]:
        """(view without the dependent columns, its layout)."""
        if not self.items:
            return view, layout
        return view[:, self._kept(layout)], self.reduced_layout(layout)

    def expand(self, reduced: np.ndarray, layout: Layout) -> np.ndarray:
        """Full view rows (``layout``) from reduced ones: dependent columns looked up."""
        if not self.items:
            return reduced
        out = np.zeros((len(reduced), layout.width))
        out[:, self._kept(layout)] = reduced
        by_col: dict[str, list[Segment]] = {}
        for seg in layout.segments:
            by_col.setdefault(seg.column, []).append(seg)
        for dep in self.items:
            code, _ = _codes(out, by_col[dep.determinant])
            out[:, layout.column_slices[dep.column]] = dep.lookup(code)
        return out

    # -- persistence ---------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"format": JSON_FORMAT, "items": [d.to_json() for d in self.items]}

    @classmethod
    def from_json(cls, doc: dict[str, Any] | None) -> Dependencies:
        if not doc:
            return cls()
        return cls(tuple(Dependency.from_json(d) for d in doc.get("items", [])))
