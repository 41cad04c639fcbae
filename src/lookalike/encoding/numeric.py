"""Numeric columns: clipped, standardised in the continuous view; bins + digits as tokens.

Continuous view: ``z = (clip(x) - mean) / std`` (one matrix column), plus a two-way
``[present, missing]`` one-hot group when the column has missing values. Decoding clips to
the learned range and rounds to the column's decimals, so seen values come back exactly.

Token view: values live on a grid of step ``r`` (``10**-decimals``; for full-precision floats
``r`` is 1/4096 of a quantile bin's width). The grid is cut into up to ``max_bins`` quantile
bins (a token each; one more token means missing), and a value's offset inside its bin is
written in base-64 digits (zero or more extra tokens, most significant first). Seen values
with known decimals round-trip exactly; full-precision floats come back within ``r``.
"""

from __future__ import annotations

from dataclasses import dataclass


import numpy as np
import pandas as pd

from lookalike.encoding.base import (
    ColumnDP,
    ColumnEncoder,
    Protection,
    Segment,
    TokenSlot,
    clip_bounds,
)
from lookalike.errors import InvalidDataError

DIGIT_BASE = 64
MAX_BINS = 64
DP_BINS = 16
DP_BOUNDS_SHARE = 0.3
#: under DP the clipping quantiles are at least 1% from the ends: the exponential mechanism
#: cannot locate a 0.1% quantile at realistic budgets (its rank error is ~log(range/gap)/eps)
DP_CLIP_LEVELS = (0.01, 0.99)
FLOAT_STEPS_PER_BIN = 4096


@dataclass(frozen=True)
class NumericStats:
    lower: float
    upper: float
    mean: float
    std: float
    has_missing: bool
    missing_rate: float | None  # None under DP (not released)
    decimals: int | None
    step: float
    bin_starts: np.ndarray  # grid index where each bin starts; len = n_bins + 1 (last = end)
    n_digits: int

    @property
    def n_bins(self) -> int:
        return len(self.bin_starts) - 1


class NumericEncoder(ColumnEncoder):
    """Encoder for ``kind="numeric"`` columns (see the module docstring)."""

    kind = "numeric"
    stats_type = NumericStats

    def prepare(self, values: pd.Series) -> pd.Series:
        return to_float(values, self.spec.name)

    def finish(self, values: pd.Series) -> pd.Series:
        if self.spec.dtype == "int":
            return values.round().astype("Int64" if values.isna().any() else "int64")
        return values.astype(float)

    def fit(self, values: pd.Series, protection: Protection,
            dp: ColumnDP | None = None) -> NumericEncoder:
        x = values.to_numpy(dtype=float)
        present = x[~np.isnan(x)]
        name = self.spec.name
        if len(present) == 0:
            raise InvalidDataError(f"column {name!r} is entirely missing; drop it.")
        decimals = self.spec.decimals if self.spec.dtype != "int" else 0
        levels = np.linspace(0, 1, (DP_BINS if dp else MAX_BINS) + 1)[1:-1]
        if dp is None:
            lo, hi = self._bounds(present, protection)
            clipped = np.clip(present, lo, hi)
            std = float(clipped.std())
            mean = float(clipped.mean())
            cuts = np.quantile(clipped, levels, method="lower") if hi > lo else np.array([])
            has_missing, missing_rate = bool(np.isnan(x).any()), float(np.isnan(x).mean())
        else:
            lo, hi, cuts = self._dp_bounds(present, protection, dp, levels, decimals)
            mean, std = (lo + hi) / 2, (hi - lo) / 4
            has_missing, missing_rate = True, None
        step, starts = _token_grid(lo, hi, decimals, cuts)
        widths = np.diff(starts)
        self.stats_ = NumericStats(
            lower=lo,
            upper=hi,
            mean=mean,
            std=std if std > 0 else 1.0,
            has_missing=has_missing,
            missing_rate=missing_rate,
            decimals=decimals,
            step=step,
            bin_starts=starts,
            n_digits=_n_digits(int(widths.max()) if len(widths) else 1),
        )
        return self

    def _dp_bounds(self, present: np.ndarray, protection: Protection, dp: ColumnDP,
                   levels: np.ndarray, decimals: int | None) -> tuple[float, float, np.ndarray]:
        """Clipping bounds and bin cuts as DP releases (see :class:`ColumnDP`).

        Values on a grid (integers, fixed decimals) are spread uniformly over their grid
        cell first (each row's own noise, so still one row -> one value): the exponential
        mechanism for quantiles weighs the gaps between data points by their length, and
        tied values would leave it only the gaps outside the data.
        """
        from lookalike.privacy.dp_stats import dp_bounds, dp_quantiles

        name = self.spec.name
        if decimals is not None:
            step = 10.0 ** (-decimals)
            present = present + dp.rng.uniform(-step / 2, step / 2, size=len(present))
        eps = dp.epsilon
        if self.spec.lower is not None and self.spec.upper is not None:
            coarse = (float(self.spec.lower), float(self.spec.upper))
            self._bounds(present, protection)  # checks the data lie inside
        else:
            coarse, _ = dp_bounds(present, epsilon=eps * DP_BOUNDS_SHARE, ledger=dp.ledger,
                                  rng=dp.rng, label=f"bounds of {name!r}")
            eps *= 1 - DP_BOUNDS_SHARE
            if self.spec.lower is not None:
                coarse = (float(self.spec.lower), max(coarse[1], float(self.spec.lower)))
            if self.spec.upper is not None:
                coarse = (min(coarse[0], float(self.spec.upper)), float(self.spec.upper))
        if coarse[1] <= coarse[0]:
            return coarse[0], coarse[0], np.array([])
        q_lo, q_hi = protection.clip_quantiles
        q_lo, q_hi = max(q_lo, DP_CLIP_LEVELS[0]), min(q_hi, DP_CLIP_LEVELS[1])
        ends, _ = dp_quantiles(present, [q_lo, q_hi], coarse, epsilon=eps / 2,
                               ledger=dp.ledger, rng=dp.rng, label=f"range of {name!r}")
        inner, _ = dp_quantiles(present, list(levels), coarse, epsilon=eps / 2,
                                ledger=dp.ledger, rng=dp.rng, label=f"bins of {name!r}")
        qs = np.concatenate([[ends[0]], inner, [ends[1]]])
        lo, hi = float(qs[0]), float(qs[-1])
        if decimals is not None:
            lo, hi = round(lo, decimals), round(hi, decimals)
        if self.spec.lower is not None and self.spec.upper is not None:
            lo, hi = coarse
        return lo, hi, np.clip(qs[1:-1], lo, hi)

    def _bounds(self, present: np.ndarray, protection: Protection) -> tuple[float, float]:
        spec = self.spec
        if spec.lower is not None or spec.upper is not None:
            lo = float(spec.lower) if spec.lower is not None else float(present.min())
            hi = float(spec.upper) if spec.upper is not None else float(present.max())
            outside = (present < lo) | (present > hi)
            if outside.any():
                raise InvalidDataError(
                    f"column {spec.name!r}: {int(outside.sum())} value(s) lie outside the "
                    f"declared bounds [{lo}, {hi}] (e.g. {present[outside][0]}); widen the "
                    "bounds in the config or clean the data."
                )
            return lo, hi
        return clip_bounds(present, protection)

    # -- continuous view ---------------------------------------------------------------
    def segments(self) -> list[Segment]:
        segs = [Segment(self.spec.name, "numeric", 0, 1)]
        if self.stats.has_missing:
            segs.append(Segment(self.spec.name, "softmax", 1, 3, role="missing"))
        return segs

    def encode_continuous(self, values: pd.Series) -> np.ndarray:
        s = self.stats
        x = values.to_numpy(dtype=float)
        miss = np.isnan(x)
        z = (np.clip(np.where(miss, s.mean, x), s.lower, s.upper) - s.mean) / s.std
        if not s.has_missing:
            return z[:, None]
        return np.column_stack([z, ~miss, miss]).astype(float)

    def decode_continuous(self, matrix: np.ndarray) -> pd.Series:
        s = self.stats
        x = self._round(np.clip(matrix[:, 0] * s.std + s.mean, s.lower, s.upper))
        if s.has_missing:
            x = np.where(matrix[:, 2] > matrix[:, 1], np.nan, x)
        return pd.Series(x, dtype=float)

    def _round(self, x: np.ndarray) -> np.ndarray:
        d = self.stats.decimals
        return x if d is None else np.round(x, d)

    # -- token view --------------------------------------------------------------------
    def token_slots(self) -> list[TokenSlot]:
        s = self.stats
        slots = [TokenSlot(self.spec.name, s.n_bins + int(s.has_missing), role="bin")]
        slots += [
            TokenSlot(self.spec.name, DIGIT_BASE, role=f"digit{i}") for i in range(s.n_digits)
        ]
        return slots

    def encode_tokens(self, values: pd.Series) -> np.ndarray:
        s = self.stats
        x = values.to_numpy(dtype=float)
        miss = np.isnan(x)
        grid = np.round((np.clip(np.where(miss, s.lower, x), s.lower, s.upper) - s.lower) / s.step)
        grid = grid.astype(np.int64)
        b = np.searchsorted(s.bin_starts, grid, side="right") - 1
        b = np.clip(b, 0, s.n_bins - 1)
        offset = grid - s.bin_starts[b]
        out = np.zeros((len(x), 1 + s.n_digits), dtype=np.int64)
        out[:, 0] = np.where(miss, s.n_bins, b)
        for i in range(s.n_digits):
            power = DIGIT_BASE ** (s.n_digits - 1 - i)
            out[:, 1 + i] = np.where(miss, 0, (offset // power) % DIGIT_BASE)
        return out

    def decode_tokens(self, tokens: np.ndarray, rng: np.random.Generator) -> pd.Series:
        s = self.stats
        b = tokens[:, 0]
        miss = b >= s.n_bins
        b = np.minimum(b, s.n_bins - 1)
        offset = np.zeros(len(b), dtype=np.int64)
        for i in range(s.n_digits):
            offset = offset * DIGIT_BASE + tokens[:, 1 + i]
        width = s.bin_starts[b + 1] - s.bin_starts[b]
        offset = np.minimum(offset, np.maximum(width - 1, 0))
        grid = s.bin_starts[b] + offset
        jitter = 0.0
        if s.decimals is None:
            jitter = rng.uniform(-0.5, 0.5, size=len(b)) * s.step
        x = self._round(np.clip(s.lower + grid * s.step + jitter, s.lower, s.upper))
        return pd.Series(np.where(miss, np.nan, x), dtype=float)


def _token_grid(
    lo: float, hi: float, decimals: int | None, cuts: np.ndarray
) -> tuple[float, np.ndarray]:
    """Grid step and quantile-bin starts (in grid units) for the token view.

    ``cuts`` are the values at the inner quantile levels (bin boundaries).
    """
    if hi <= lo:
        return 1.0, np.array([0, 1], dtype=np.int64)
    if decimals is not None:
        step = 10.0 ** (-decimals)
    else:
        step = (hi - lo) / (MAX_BINS * FLOAT_STEPS_PER_BIN)
    n_steps = int(round((hi - lo) / step)) + 1
    if n_steps <= 256:
        return step, np.arange(n_steps + 1, dtype=np.int64)
    inner = np.round((np.asarray(cuts, dtype=float) - lo) / step).astype(np.int64) + 1
    starts = np.unique(np.concatenate([[0], inner, [n_steps]]))
    starts = starts[(starts >= 0) & (starts <= n_steps)]
    return step, starts.astype(np.int64)


def _n_digits(max_width: int) -> int:
    n, cap = 0, 1
    while cap < max_width:
        cap *= DIGIT_BASE
        n += 1
    return n


def to_float(values: pd.Series, name: str) -> pd.Series:
    """Parse a column to float64 (missing -> NaN); report unparseable or infinite cells."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype(float)
    parsed = pd.to_numeric(values, errors="coerce")
    bad = parsed.isna() & values.notna()
    arr = parsed.to_numpy(dtype=float, na_value=np.nan)
    inf = np.isinf(arr)
    if bad.any() or inf.any():
        where = values[bad | inf]
        raise InvalidDataError(
            f"column {name!r} is numeric but {len(where)} value(s) are not finite numbers "
            f"(e.g. {where.iloc[0]!r} at row {where.index[0]}); clean them, leave them empty "
            "for missing, or declare the column categorical."
        )
    return pd.Series(arr, index=values.index, dtype=float)


