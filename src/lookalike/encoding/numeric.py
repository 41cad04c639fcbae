"""Numeric columns: clipped, standardised in the continuous view; bins + digits as tokens.

Continuous view: ``z = (clip(x) - mean) / std`` (one matrix column), plus a two-way
``[present, missing]`` one-hot group when the column has missing values. Decoding clips to
the learned range and rounds to the column's decimals, so seen values come back exactly.

Token view: values live on a grid of step ``r`` (``10**-decimals``; for full-precision floats
``r`` is 1/4096 of a quantile bin's width). The grid is cut into up to ``max_bins`` quantile
bins (a token each; one more token means missing), and a value's offset inside its bin is
written in base-64 digits (zero or more extra tokens, most significant first). Seen values
with known decimals round-trip exactly; full-precision floats come back within ``r``.

Under differential privacy (:meth:`NumericEncoder._dp_fit`) the clipping range, the bin
cuts and the scaling come from two Gaussian noisy histograms - a coarse one on a public
signed base-2 log grid for the range, a fine one inside it for the CDF - instead of
exact statistics; user-declared ``lower``/``upper`` bounds are public and skip the range
release (and, with few grid values, the histogram too).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lookalike.encoding.base import (
    ColumnDP,
    ColumnEncoder,
    DPRequest,
    Protection,
    Segment,
    TokenSlot,
    clip_bounds,
)
from lookalike.errors import InvalidDataError, data_row

DIGIT_BASE = 64
MAX_BINS = 64
FLOAT_STEPS_PER_BIN = 4096
#: the token grid gets one bin per value up to this many grid steps (see ``_token_grid``)
EXACT_BIN_STEPS = 256
#: quantile bins under DP (the cuts are read off a noisy CDF)
DP_BINS = 32
#: shares of the encoding privacy loss (mu^2) of the coarse range histogram and of the fine
#: histogram of one numeric column, relative to each other and to a category selection
#: (``categorical.DP_CATEGORY_WEIGHT``): the range decides which tails exist at all; the
#: fine histogram only places bin cuts and the scaling, and borrows strength from the range
#: counts of the same octaves
DP_RANGE_WEIGHT = 1.0
DP_HISTOGRAM_WEIGHT = 0.5
#: probability that the range histogram counts an empty log-grid cell far from the data as
#: populated (union bound over the grid: the range could then be far too wide)
DP_RANGE_FAILURE = 0.01
#: per side, probability that the range grows by an empty cell next to the data (cheap:
#: the range gets a factor 2 wider, where missing a populated cell would clip real rows)
DP_EXTEND_PROBABILITY = 0.1
#: cells of the fine histogram (spread over the octaves of the range)
DP_FINE_CELLS = 128
#: missing cells are modelled under DP only when their noisy count clears this many sigmas
DP_MISSING_Z = 3.0
#: a tail is cut off the range only when its noisy mass plus this many standard deviations
#: is within the clipping quantile's share of the rows
DP_TRIM_Z = 2.0


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
    #: under DP, groups of bins with an exact share of the noisy fine histogram (group of
    #: each bin, share of each group; None without DP), see ``_bin_groups``
    dp_bin_groups: np.ndarray | None = None
    dp_group_shares: np.ndarray | None = None
    #: under DP, the released share of missing cells (None: not released)
    dp_missing_share: float | None = None

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

    def _decimals(self) -> int | None:
        return self.spec.decimals if self.spec.dtype != "int" else 0

    def dp_requests(self) -> list[DPRequest]:
        spec, name = self.spec, self.spec.name
        requests = []
        if spec.lower is None or spec.upper is None:
            requests.append(DPRequest("range", f"range of {name!r}", DP_RANGE_WEIGHT))
        elif _few_steps(float(spec.lower), float(spec.upper), self._decimals()):
            return []  # declared range with one token bin per value: nothing to learn
        requests.append(DPRequest("histogram", f"histogram of {name!r}", DP_HISTOGRAM_WEIGHT))
        return requests

    def fit(self, values: pd.Series, protection: Protection,
            dp: ColumnDP | None = None) -> NumericEncoder:
        x = values.to_numpy(dtype=float)
        present = x[~np.isnan(x)]
        name = self.spec.name
        if len(present) == 0:
            raise InvalidDataError(f"column {name!r} is entirely missing; drop it.")
        decimals = self._decimals()
        if dp is None:
            levels = np.linspace(0, 1, MAX_BINS + 1)[1:-1]
            lo, hi = self._bounds(present, protection)
            clipped = np.clip(present, lo, hi)
            std = float(clipped.std())
            mean = float(clipped.mean())
            cuts = np.quantile(clipped, levels, method="lower") if hi > lo else np.array([])
            has_missing, missing_rate = bool(np.isnan(x).any()), float(np.isnan(x).mean())
            histogram = missing = None
        else:
            lo, hi, cuts, mean, std, histogram, missing = self._dp_fit(
                present, protection, dp, decimals, n_missing=int(np.isnan(x).sum()))
            has_missing, missing_rate = missing is None or missing > 0, None
        step, starts = _token_grid(lo, hi, decimals, cuts)
        widths = np.diff(starts)
        groups = None if histogram is None else _bin_groups(
            *histogram, lower=lo, step=step, starts=starts)
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
            dp_bin_groups=None if groups is None else groups[0],
            dp_group_shares=None if groups is None else groups[1],
            dp_missing_share=None if histogram is None or missing is None else missing,
        )
        return self

    def dp_marginal(self) -> tuple[np.ndarray, np.ndarray] | None:
        s = self.stats
        if s.dp_bin_groups is None or s.dp_group_shares is None:
            return None
        groups = np.asarray(s.dp_bin_groups, dtype=np.int64)
        shares = np.asarray(s.dp_group_shares, dtype=float)
        if not s.has_missing:
            return groups, shares
        if s.dp_missing_share is None:  # missing cells unconstrained
            return np.append(groups, -1), shares
        m = float(s.dp_missing_share)
        return np.append(groups, len(shares)), np.append(shares * (1 - m), m)

    def _dp_fit(self, present: np.ndarray, protection: Protection, dp: ColumnDP,
                decimals: int | None, *, n_missing: int = 0
                ) -> tuple[float, float, np.ndarray, float, float, Any, float | None]:
        """Clipping range, bin cuts, mean, std, the fine histogram ``(edges, counts)``
        (None if not released) and the share of missing cells (None if not released) from
        two DP histograms.

        The missing cells are one more cell of the first histogram released (the range
        histogram, else the fine one): each row is in one cell either way, so this costs
        nothing. Their share is 0 (the column gets no missing token) unless the noisy count
        clears ``DP_MISSING_Z`` standard deviations.

        1. *Range* (skipped when both bounds are declared): Gaussian noisy counts on the
           public signed base-2 log grid (:func:`~lookalike.privacy.dp_stats.log_grid_edges`,
           aligned to the column's decimals so 0 has a cell of its own); the range spans the
           cells whose noisy count clears a union-bound threshold (an empty cell anywhere
           passes with probability ``DP_RANGE_FAILURE``), then grows into adjacent cells
           that clear a per-test threshold (probability ``DP_EXTEND_PROBABILITY`` per side
           of adding an empty cell next to the data) - the histogram range finder of Karwa
           and Vadhan (2018) on a log scale: within a factor 2 of the populated data (4 with
           a false extension), robust to outliers, sign-aware. A declared bound replaces
           its side.
        2. *Histogram*: Gaussian noisy counts of the values inside the range on a fine
           grid (:func:`~lookalike.privacy.dp_stats.fine_grid_edges`: each octave
           cut into equal cells, so heavy tails get a log scale and a point mass such as 0
           stays one cell).
        3. Post-processing (free): the fine counts are made consistent with the range
           counts of the same octaves (Hay, Rastogi, Miklau and Suciu 2010) and
           non-negative; the range is trimmed at tails whose noisy mass is confidently
           within the ``clip_quantiles`` shares (nothing is trimmed at high noise); the
           bin cuts are the ``DP_BINS`` quantiles of the noisy CDF (the "DP CDF" /
           noisy-histogram quantiles, cf. Gillenwater, Joseph and Kulesza 2021), each
           moved to the nearest cell edge (:func:`_edge_cuts`), and mean and std come from
           the same histogram.

        Each row adds 1 to one cell of each histogram (sensitivity 1); the noise levels
        come from the joint calibration in :meth:`TableEncoder.fit`. When the range holds
        a single value the histogram is not released (its share of the budget is left
        unspent on the ledger; :class:`~lookalike.Synthesizer` hands what the encoder did
        not spend to the generator).
        """
        from lookalike.privacy import dp_stats

        spec = self.spec
        step = 10.0 ** (-decimals) if decimals is not None else None
        declared = spec.lower is not None and spec.upper is not None
        coarse: tuple[np.ndarray, np.ndarray, float] | None = None
        missing = None
        if declared:
            lo, hi = self._bounds(present, protection)  # also checks the data lie inside
        else:
            rel = dp.releases["range"]
            edges = dp_stats.log_grid_edges(step)
            counts, _ = dp_stats.dp_histogram(present, edges, sigma=rel.sigma,
                                              ledger=dp.ledger, rng=dp.rng, label=rel.label,
                                              extra=[n_missing])
            missing, counts = _missing_share(counts[-1], counts[:-1], rel.sigma), counts[:-1]
            lo, hi = dp_stats.populated_range(
                counts, edges, step=step,
                threshold=dp_stats.gaussian_threshold(rel.sigma, DP_RANGE_FAILURE / len(counts)),
                extend_threshold=dp_stats.gaussian_threshold(rel.sigma, DP_EXTEND_PROBABILITY))
            if spec.lower is not None:
                lo, hi = float(spec.lower), max(hi, float(spec.lower))
            if spec.upper is not None:
                lo, hi = min(lo, float(spec.upper)), float(spec.upper)
            coarse = (edges, counts, rel.sigma)
        if "histogram" not in dp.releases or hi <= lo:
            return lo, hi, np.array([]), (lo + hi) / 2, (hi - lo) / 4, None, missing
        rel = dp.releases["histogram"]
        edges, groups = dp_stats.fine_grid_edges(lo, hi, step, cells=DP_FINE_CELLS)
        inside = present[(present >= lo) & (present <= hi)]  # the clipped tails are not counted
        raw, _ = dp_stats.dp_histogram(inside, edges, sigma=rel.sigma,
                                       ledger=dp.ledger, rng=dp.rng, label=rel.label,
                                       extra=[] if coarse is not None else [n_missing])
        if coarse is None:
            missing, raw = _missing_share(raw[-1], raw[:-1], rel.sigma), raw[:-1]
            totals, sigma_totals = None, None
        else:
            totals = _group_totals(edges[groups], coarse[0], coarse[1])
            sigma_totals = coarse[2]
        counts = dp_stats.consistent_counts(raw, rel.sigma, groups, totals, sigma_totals)
        if not declared:
            lo, hi = _trim(raw, edges, rel.sigma, counts.sum(), protection.clip_quantiles,
                           lo, hi, decimals)
        cuts = _edge_cuts(counts, edges, np.linspace(0, 1, DP_BINS + 1)[1:-1], lo, hi,
                          decimals)
        mids = np.clip((edges[:-1] + edges[1:]) / 2, lo, hi)
        total = counts.sum()
        if total > 0:
            mean = float(np.dot(counts, mids) / total)
            std = float(np.sqrt(np.dot(counts, (mids - mean) ** 2) / total))
        else:
            mean, std = (lo + hi) / 2, (hi - lo) / 4
        return (lo, hi, cuts, mean, std if std > 0 else max((hi - lo) / 4, 1.0),
                (edges, counts), missing)

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
        if not s.has_missing:  # (DP: too few missing cells to release) -> the mean
            x, miss = np.where(miss, s.mean, x), np.zeros_like(miss)
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


def _grid_step(lo: float, hi: float, decimals: int | None) -> float:
    """The token grid's step: ``10**-decimals``, or for full-precision floats
    ``1 / FLOAT_STEPS_PER_BIN`` of a bin's width over ``MAX_BINS`` bins of ``[lo, hi]``."""
    if decimals is not None:
        return 10.0 ** (-decimals)
    return (hi - lo) / (MAX_BINS * FLOAT_STEPS_PER_BIN)


def _token_grid(
    lo: float, hi: float, decimals: int | None, cuts: np.ndarray
) -> tuple[float, np.ndarray]:
    """Grid step and quantile-bin starts (in grid units) for the token view.

    ``cuts`` are the values at the inner quantile levels (bin boundaries).
    """
    if hi <= lo:
        return 1.0, np.array([0, 1], dtype=np.int64)
    step = _grid_step(lo, hi, decimals)
    n_steps = int(round((hi - lo) / step)) + 1
    if n_steps <= EXACT_BIN_STEPS:
        return step, np.arange(n_steps + 1, dtype=np.int64)
    inner = np.round((np.asarray(cuts, dtype=float) - lo) / step).astype(np.int64) + 1
    starts = np.unique(np.concatenate([[0], inner, [n_steps]]))
    starts = starts[(starts >= 0) & (starts <= n_steps)]
    return step, starts.astype(np.int64)


def _edge_cuts(counts: np.ndarray, edges: np.ndarray, levels: np.ndarray, lo: float,
               hi: float, decimals: int | None) -> np.ndarray:
    """Bin cuts at the noisy CDF's ``levels``, each moved to the nearest histogram cell edge.

    A cut ``c`` ends a bin after grid value ``c`` (:func:`_token_grid`), so it is placed one
    half grid step below the chosen edge: every bin boundary then coincides with a cell
    edge, the released histogram gives each bin's share exactly (:func:`_bin_groups`), and
    calibrated sampling can hold every bin to it. Interpolated cuts inside cells (the plain
    DP CDF read-out) carry no more information and left wide columns such as Adult's
    ``fnlwgt`` with no whole-cell bin at all (its shares could not be calibrated: QA
    univariate accuracy 0.965 where the other numerics reach 0.985-0.99). Two levels that
    meet at one edge give one cut (one bin fewer).

    >>> _edge_cuts(np.array([10.0, 10.0, 10.0, 10.0]), np.array([-0.5, 4.5, 9.5, 14.5, 19.5]),
    ...            np.array([0.3, 0.5, 0.7]), 0.0, 19.0, 0).tolist()
    [4.0, 9.0, 14.0]
    """
    from lookalike.privacy import dp_stats

    c = np.clip(np.asarray(counts, dtype=float), 0.0, None)
    total = c.sum()
    inner = np.flatnonzero((edges > lo) & (edges < hi))
    if total <= 0 or len(inner) == 0:
        cuts = np.clip(dp_stats.histogram_quantiles(c, edges, levels), lo, hi)
        return np.round(cuts, decimals) if decimals is not None else cuts
    cdf = np.concatenate([[0.0], np.cumsum(c)]) / total
    pick = inner[np.abs(cdf[inner][None, :] - np.asarray(levels)[:, None]).argmin(axis=1)]
    step = _grid_step(lo, hi, decimals)
    cuts = np.clip(np.unique(edges[pick]) - 0.5 * step, lo, hi)
    return np.round(cuts, decimals) if decimals is not None else cuts


def _group_totals(bounds: np.ndarray, coarse_edges: np.ndarray,
                  coarse_counts: np.ndarray) -> np.ndarray:
    """Coarse count of each fine group ``[bounds[g], bounds[g+1])`` that is a coarse cell.

    NaN for groups that are not exactly one coarse cell (e.g. cut by a declared bound).
    """
    totals = np.full(len(bounds) - 1, np.nan)
    for g in range(len(bounds) - 1):
        i = int(np.searchsorted(coarse_edges, bounds[g]))
        if i + 1 < len(coarse_edges) and all(
                math.isclose(c, b, rel_tol=1e-12, abs_tol=1e-300)
                for c, b in ((coarse_edges[i], bounds[g]), (coarse_edges[i + 1], bounds[g + 1]))):
            totals[g] = coarse_counts[i]
    return totals


def _missing_share(noisy_missing: float, noisy_present: np.ndarray, sigma: float) -> float:
    """Released share of missing cells: 0 unless the noisy count clears ``DP_MISSING_Z``
    sigmas (a column without missing values then gets no missing token, but for a chance
    of about 1e-3).

    >>> _missing_share(3.5, np.array([50.0, 46.5]), sigma=1.0)
    0.035
    >>> _missing_share(0.5, np.array([99.0]), sigma=1.0)
    0.0
    """
    if noisy_missing <= DP_MISSING_Z * sigma:
        return 0.0
    present = max(float(np.maximum(noisy_present, 0.0).sum()), 0.0)
    return float(noisy_missing / (noisy_missing + present))


def _bin_groups(edges: np.ndarray, counts: np.ndarray, *, lower: float, step: float,
                starts: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Groups of adjacent token bins whose histogram share is exact, and those shares.

    Bin ``b`` holds the grid values ``lower + g step``, ``g`` in ``[starts[b], starts[b+1])``
    (the outer bins also the clipped tails). A boundary between two bins separates groups
    only where a histogram cell edge lies within half a grid step of it: then the same grid
    values fall on each side of both, and the group's share is a sum of whole cells. Inside
    a cell the histogram says nothing about how its count is spread (a point mass such as
    40 hours a week is typical), so no share is interpolated. Returns ``(group of each bin,
    share of each group)``, or None when the bins form one group (or the histogram is
    empty).

    >>> g, s = _bin_groups(np.array([-0.5, 1.5, 4.5]), np.array([10.0, 30.0]), lower=0.0,
    ...                    step=1.0, starts=np.array([0, 1, 2, 5]))
    >>> g.tolist(), s.tolist()
    ([0, 0, 1], [0.25, 0.75])
    """
    counts = np.maximum(np.asarray(counts, dtype=float), 0.0)
    total = counts.sum()
    if total <= 0 or len(starts) < 3:
        return None
    cdf = np.concatenate([[0.0], np.cumsum(counts)]) / total
    bounds = lower + (np.asarray(starts[1:-1], dtype=float) - 0.5) * step
    right = np.clip(np.searchsorted(edges, bounds), 0, len(edges) - 1)
    left = np.clip(right - 1, 0, len(edges) - 1)
    nearest = np.where(np.abs(edges[left] - bounds) <= np.abs(edges[right] - bounds), left, right)
    aligned = np.abs(edges[nearest] - bounds) < 0.5 * step * (1 - 1e-9)
    if not aligned.any():
        return None
    groups = np.concatenate([[0], np.cumsum(aligned)]).astype(np.int64)
    shares = np.diff(np.concatenate([[0.0], cdf[nearest[aligned]], [1.0]]))
    return groups, shares


def _few_steps(lo: float, hi: float, decimals: int | None) -> bool:
    """Whether ``[lo, hi]`` holds so few grid values that every value gets its own bin."""
    if decimals is None or hi < lo:
        return False
    return round((hi - lo) * 10.0**decimals) + 1 <= EXACT_BIN_STEPS


def _trim(raw: np.ndarray, edges: np.ndarray, sigma: float, n_rows: float,
          quantiles: tuple[float, float], lo: float, hi: float,
          decimals: int | None) -> tuple[float, float]:
    """Cut the range at tails whose noisy mass is confidently within the clipping quantiles.

    ``raw`` are the noisy fine counts (unbiased, noise ``sigma`` each). From each end the
    cut moves inwards over the cells as long as the noisy count beyond it plus
    ``DP_TRIM_Z`` standard deviations (``sigma * sqrt(cells)``) stays at most ``q * n_rows``
    (``q`` = the clipping quantile's tail share), and stops at the first cell where that
    fails. With large noise nothing is cut (the log-grid range stands: cutting real rows
    on noise would be worse than a range up to 2x too wide); as the noise vanishes the cut
    approaches the clipping quantiles. Post-processing only.
    """
    n_cells = len(raw)
    margin = DP_TRIM_Z * sigma * np.sqrt(np.arange(1, n_cells + 1))
    first = _leading(np.cumsum(raw) + margin <= quantiles[0] * n_rows)  # first kept cell
    last = n_cells - 1 - _leading(np.cumsum(raw[::-1]) + margin <= (1 - quantiles[1]) * n_rows)
    if first > last:
        return lo, hi
    new_lo, new_hi = float(edges[first]), float(edges[last + 1])
    if decimals is not None:  # edges sit half a step between grid values
        half = 0.5 * 10.0 ** (-decimals)
        new_lo, new_hi = round(new_lo + half, decimals), round(new_hi - half, decimals)
    lo, hi = max(lo, new_lo), min(hi, new_hi)
    return lo, max(lo, hi)


def _leading(mask: np.ndarray) -> int:
    """Number of leading True values."""
    return int(mask.size if mask.all() else np.argmin(mask))


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
            f"column {name!r} is numeric but {len(where)} value(s) are not finite numbers, "
            f"the first {where.iloc[0]!r} in {data_row(where.index[0], values.attrs)}; clean "
            "them, leave them empty for missing, or declare the column categorical."
        )
    return pd.Series(arr, index=values.index, dtype=float)


