"""The column-encoder protocol and the two encoded views a generator can ask for.

* The **continuous view** is a float matrix: scaled numbers, one-hot groups for categories and
  missing flags, (sin, cos) pairs for cyclic date parts. :class:`Segment` describes each run
  of matrix columns, so a model knows where a softmax group starts and stops.
* The **token view** is an integer matrix: every column becomes one or more discrete
  sub-columns (:class:`TokenSlot`, each with its vocabulary size) for autoregressive models.

Each encoder fits on one column only, keeps its learned statistics in a frozen dataclass
(``stats_``), and can rebuild itself from plain JSON plus numeric arrays (no pickle).
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

from lookalike.errors import NotFittedError
from lookalike.schema.spec import ColumnSpec

SegmentKind = Literal["numeric", "softmax", "cyclic"]
RARE_TOKEN = "_RARE_"


@dataclass(frozen=True)
class Segment:
    """A run of columns ``[start, stop)`` of the continuous view that belongs to one column."""

    column: str
    kind: SegmentKind
    start: int
    stop: int
    role: str = "value"

    @property
    def width(self) -> int:
        return self.stop - self.start

    def shifted(self, offset: int) -> Segment:
        return dataclasses.replace(self, start=self.start + offset, stop=self.stop + offset)


@dataclass(frozen=True)
class TokenSlot:
    """One discrete sub-column of the token view: ``cardinality`` possible values."""

    column: str
    cardinality: int
    role: str = "value"


@dataclass(frozen=True)
class Protection:
    """Privacy protection applied while fitting an encoder.

    rare_k : categories seen fewer than ``rare_k`` times are never emitted.
    clip_quantiles : numeric and datetime values are clipped to this quantile range, and
        never beyond the ``rare_k``-th smallest / largest value, so that no single person's
        extreme value appears verbatim.
    """

    rare_k: int = 5
    clip_quantiles: tuple[float, float] = (0.001, 0.999)

    def for_column(self, spec: ColumnSpec) -> Protection:
        return Protection(
            rare_k=spec.rare_k if spec.rare_k is not None else self.rare_k,
            clip_quantiles=spec.clip_quantiles or self.clip_quantiles,
        )


@dataclass(frozen=True)
class DPRequest:
    """One DP release an encoder will make while fitting, declared before any data is read.

    :class:`~lookalike.encoding.TableEncoder` collects the requests of every column and
    calibrates them jointly (:func:`lookalike.privacy.dp_stats.calibrate_releases`): each
    is a sensitivity-1 Gaussian release whose share of the composed privacy loss is
    proportional to ``weight``; ``thresholded`` ones (category selection) also get a part
    of delta for their threshold. Requests depend on the schema only (public).
    """

    key: str
    label: str
    weight: float = 1.0
    thresholded: bool = False


@dataclass(frozen=True)
class ColumnDP:
    """The differentially private releases one column's encoder may make while fitting.

    Under DP an encoder learns nothing from the data for free: bounds, histograms and
    category lists are released by :mod:`lookalike.privacy.dp_stats` mechanisms charged to
    ``ledger`` with the noise in ``releases`` (``key`` of a :class:`DPRequest` -> a
    :class:`~lookalike.privacy.dp_stats.CalibratedRelease` with ``sigma``, ``threshold``
    and ``label``). Values the user declared in the schema (``lower``/``upper``/
    ``categories``) are public and cost nothing; an encoder with no releases must use no
    statistic of the data. The schema itself (kinds, decimals, date formats) is treated as
    public metadata.
    """

    ledger: Any
    rng: np.random.Generator
    releases: dict[str, Any] = dataclasses.field(default_factory=dict)


class ColumnEncoder(ABC):
    """Fit on one column; encode to / decode from the continuous and token views.

    Subclasses set ``stats_`` in :meth:`fit` (a frozen dataclass of JSON-able fields and
    numpy arrays) and implement the four view methods. ``prepare`` turns raw input values
    into the canonical form the encoder works on; ``finish`` turns canonical values back
    into the column's output type.
    """

    kind: ClassVar[str]
    stats_type: ClassVar[type]

    def __init__(self, spec: ColumnSpec) -> None:
        self.spec = spec

    # -- fitting ----------------------------------------------------------------------
    def dp_requests(self) -> list[DPRequest]:
        """The DP releases :meth:`fit` will make under differential privacy (default none).

        Depends on the schema only; ``fit`` receives their calibrated noise in its ``dp``.
        """
        return []

    @abstractmethod
    def fit(self, values: pd.Series, protection: Protection,
            dp: ColumnDP | None = None) -> ColumnEncoder:
        """Learn the column's statistics from canonical ``values``; return self.

        With ``dp`` every statistic is a DP release charged to ``dp.ledger``.
        """

    def dp_marginal(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Released DP shares of the first token slot's values, for sampling calibration.

        ``(group of each token of that slot's vocabulary, share of each group)``: the
        groups' shares among the constrained tokens sum to 1; group -1 marks tokens the
        releases say nothing about (missing, ``_RARE_``). None when the column was fitted
        without DP or released no such shares (default). Reading it is post-processing of
        the encoder's DP releases: it costs no privacy.
        """
        return None

    @property
    def stats(self) -> Any:
        if not hasattr(self, "stats_"):
            raise NotFittedError(f"The encoder of column {self.spec.name!r} is not fitted.")
        return self.stats_

    # -- canonical form ---------------------------------------------------------------
    def prepare(self, values: pd.Series) -> pd.Series:
        """Raw input -> canonical values (default: unchanged)."""
        return values

    def finish(self, values: pd.Series) -> pd.Series:
        """Canonical values -> the column's output type (default: unchanged)."""
        return values

    # -- views ------------------------------------------------------------------------
    @abstractmethod
    def segments(self) -> list[Segment]:
        """Layout of this column in the continuous view (offsets start at 0)."""

    @abstractmethod
    def encode_continuous(self, values: pd.Series) -> np.ndarray:
        """Canonical values -> float matrix (n, width)."""

    @abstractmethod
    def decode_continuous(self, matrix: np.ndarray) -> pd.Series:
        """Float matrix (n, width) -> canonical values (softmax groups decode by argmax)."""

    @abstractmethod
    def token_slots(self) -> list[TokenSlot]:
        """Layout of this column in the token view."""

    @abstractmethod
    def encode_tokens(self, values: pd.Series) -> np.ndarray:
        """Canonical values -> int matrix (n, len(token_slots()))."""

    @abstractmethod
    def decode_tokens(self, tokens: np.ndarray, rng: np.random.Generator) -> pd.Series:
        """Int matrix -> canonical values (``rng`` places values inside coarse tokens)."""

    # -- persistence ------------------------------------------------------------------
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(JSON-able dict, numeric arrays) that :meth:`from_state` rebuilds the encoder from."""
        meta: dict[str, Any] = {}
        arrays: dict[str, np.ndarray] = {}
        for f in dataclasses.fields(self.stats):
            value = getattr(self.stats, f.name)
            if isinstance(value, np.ndarray):
                arrays[f.name] = value
            else:
                meta[f.name] = list(value) if isinstance(value, tuple) else value
        return meta, arrays

    @classmethod
    def from_state(
        cls, spec: ColumnSpec, meta: dict[str, Any], arrays: dict[str, np.ndarray]
    ) -> ColumnEncoder:
        enc = cls(spec)
        values = {}
        for f in dataclasses.fields(cls.stats_type):
            if f.name in arrays:
                values[f.name] = np.asarray(arrays[f.name])
            elif f.name in meta:
                v = meta[f.name]
                values[f.name] = tuple(v) if isinstance(v, list) else v
        enc.stats_ = cls.stats_type(**values)
        return enc


def onehot(index: np.ndarray, width: int) -> np.ndarray:
    """Integer codes -> one-hot float matrix."""
    out = np.zeros((len(index), width), dtype=np.float64)
    out[np.arange(len(index)), index] = 1.0
    return out


def clip_bounds(x: np.ndarray, protection: Protection) -> tuple[float, float]:
    """Clipping range of sorted-able finite values ``x`` (see :class:`Protection`).

    The bounds are at the configured quantiles, moved inwards if needed so that at least
    ``rare_k`` values lie at or beyond each bound (for tables too small for the quantile to
    do it). With fewer than ``2 * rare_k`` values the bounds are the median.
    """
    xs = np.sort(x)
    n = len(xs)
    q_lo, q_hi = protection.clip_quantiles
    k = max(1, min(protection.rare_k, (n + 1) // 2))
    lo = max(float(np.quantile(xs, q_lo, method="higher")), float(xs[k - 1]))
    hi = min(float(np.quantile(xs, q_hi, method="lower")), float(xs[n - k]))
    if lo > hi:
        lo = hi = float(np.median(xs))
    return lo, hi
