"""Datetime columns: absolute time plus cyclic parts (continuous), calendar parts (tokens).

Canonical values are ``datetime64[ns]``. Text input is parsed with the schema's
``datetime_format`` and written back with it, so output looks like input.

Continuous view: the clipped time in days, standardised; the day of the year as a (sin, cos)
pair; and, when the column has times of day, the second of the day as a (sin, cos) pair.
Decoding takes the coarse position from the absolute value and moves it (by less than half
a cycle) to the day of year / time of day the cyclic pairs point at, so seasonality a model
learns in the cyclic parts survives decoding; exact inputs decode exactly.

Token view: year (offset from the first year), month, day, and when present hour, minute,
second. Impossible dates (31 April) are moved to the month's last day.
"""

from __future__ import annotations

from dataclasses import dataclass

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

NS_PER_DAY = 86_400 * 10**9
NS_PER_S = 10**9
YEAR_DAYS = 365.2425
#: share of the encoding privacy loss of the range histogram (see numeric.DP_RANGE_WEIGHT)
DP_RANGE_WEIGHT = 1.0
#: probability that an empty year far from the data is counted as populated (union bound)
DP_RANGE_FAILURE = 0.01
#: per side, probability that the range grows by an empty year next to the data
DP_EXTEND_PROBABILITY = 0.1


@dataclass(frozen=True)
class DatetimeStats:
    lower: int  # ns since epoch
    upper: int
    mean_days: float
    std_days: float
    has_missing: bool
    missing_rate: float | None  # None under DP
    has_time: bool
    resolution_s: int  # 1 (seconds) or 86400 (dates)
    first_year: int
    n_years: int



class DatetimeEncoder(ColumnEncoder):
    """Encoder for ``kind="datetime"`` columns (see the module docstring)."""

    kind = "datetime"
    stats_type = DatetimeStats

    def prepare(self, values: pd.Series) -> pd.Series:
        fmt = self.spec.datetime_format
        if pd.api.types.is_datetime64_any_dtype(values.dtype):
            out = values
            if getattr(values.dt, "tz", None) is not None:
                out = values.dt.tz_convert("UTC").dt.tz_localize(None)
        else:
            out = pd.to_datetime(values, format=fmt, errors="coerce")
            bad = out.isna() & values.notna()
            if bad.any():
                where = values[bad]
                raise InvalidDataError(
                    f"column {self.spec.name!r}: {int(bad.sum())} value(s) are not dates in "
                    f"format {fmt!r}, the first {where.iloc[0]!r} in "
                    f"{data_row(where.index[0], values.attrs)}; fix them or set "
                    "datetime_format in the config."
                )
        return out.astype("datetime64[ns]")

    def finish(self, values: pd.Series) -> pd.Series:
        fmt = self.spec.datetime_format
        if fmt is None:
            return values
        return values.dt.strftime(fmt).astype(object).where(values.notna(), None)

    def dp_requests(self) -> list[DPRequest]:
        if self.spec.lower is not None and self.spec.upper is not None:
            return []
        return [DPRequest("range", f"range of {self.spec.name!r}", DP_RANGE_WEIGHT)]

    def fit(self, values: pd.Series, protection: Protection,
            dp: ColumnDP | None = None) -> DatetimeEncoder:
        ns = _ns(values)
        present = ns[ns != _NAT]
        if len(present) == 0:
            raise InvalidDataError(f"column {self.spec.name!r} is entirely missing; drop it.")
        declared = self.spec.lower is not None and self.spec.upper is not None
        if declared or (dp is None and (self.spec.lower is not None
                                        or self.spec.upper is not None)):
            lo = _ts(self.spec.lower) if self.spec.lower is not None else int(present.min())
            hi = _ts(self.spec.upper) if self.spec.upper is not None else int(present.max())
            if ((present < lo) | (present > hi)).any():
                raise InvalidDataError(
                    f"column {self.spec.name!r}: dates lie outside the declared bounds "
                    f"[{self.spec.lower}, {self.spec.upper}]; widen them or clean the data."
                )
        elif dp is not None:
            lo, hi, dp_mean, dp_std = self._dp_range(present, dp)
        else:
            flo, fhi = clip_bounds(present.astype(float), protection)
            lo = int(present[np.argmin(np.abs(present - flo))])
            hi = int(present[np.argmin(np.abs(present - fhi))])
        fmt = self.spec.datetime_format
        if dp is not None and fmt is not None:
            has_time = any(code in fmt for code in ("%H", "%I", "%M", "%S"))
        else:  # native datetimes: time-of-day presence is schema-level metadata
            has_time = bool((present % NS_PER_DAY != 0).any())
        if dp is None:
            days = np.clip(present, lo, hi) / NS_PER_DAY
            mean_days, std_days = float(days.mean()), float(days.std())
            has_missing, missing_rate = bool((ns == _NAT).any()), float((ns == _NAT).mean())
        elif declared:
            mean_days, std_days = (lo + hi) / 2 / NS_PER_DAY, (hi - lo) / 4 / NS_PER_DAY
            has_missing, missing_rate = True, None
        else:
            mean_days, std_days = dp_mean, dp_std
            has_missing, missing_rate = True, None
        y0 = pd.Timestamp(lo).year
        self.stats_ = DatetimeStats(
            lower=lo,
            upper=hi,
            mean_days=mean_days,
            std_days=std_days or 1.0,
            has_missing=has_missing,
            missing_rate=missing_rate,
            has_time=has_time,
            resolution_s=1 if has_time else 86_400,
            first_year=int(y0),
            n_years=int(pd.Timestamp(hi).year - y0 + 1),
        )
        return self

    def _dp_range(self, present: np.ndarray, dp: ColumnDP) -> tuple[int, int, float, float]:
        """Range (ns), mean and std (days) of the dates from one Gaussian noisy histogram.

        The cells are the calendar years of the whole ``datetime64[ns]`` range (public);
        the range spans the years whose noisy count clears a union-bound threshold
        (``DP_RANGE_FAILURE``), grown into adjacent years above a per-test threshold
        (``DP_EXTEND_PROBABILITY`` per side of adding an empty year; the histogram range
        finder of Karwa and Vadhan 2018), a declared bound replacing its side, and the
        mean and std are read off the same noisy counts (post-processing).
        """
        from lookalike.privacy import dp_stats

        rel = dp.releases["range"]
        years = np.arange("1677", "2264", dtype="datetime64[Y]")
        edges = years.astype("datetime64[D]").astype(np.int64).astype(float)  # days
        days = present / NS_PER_DAY
        counts, _ = dp_stats.dp_histogram(days, edges, sigma=rel.sigma, ledger=dp.ledger,
                                          rng=dp.rng, label=rel.label)
        lo_day, hi_day = dp_stats.populated_range(
            counts, edges,
            threshold=dp_stats.gaussian_threshold(rel.sigma, DP_RANGE_FAILURE / len(counts)),
            extend_threshold=dp_stats.gaussian_threshold(rel.sigma, DP_EXTEND_PROBABILITY))
        t_min, t_max = pd.Timestamp.min.value, pd.Timestamp.max.value
        lo = max(int(lo_day) * NS_PER_DAY, t_min)
        hi = min(int(hi_day) * NS_PER_DAY - NS_PER_DAY, t_max)  # last day of the last year
        if self.spec.lower is not None:
            lo = _ts(self.spec.lower)
            hi = max(hi, lo)
        if self.spec.upper is not None:
            hi = _ts(self.spec.upper)
            lo = min(lo, hi)
        kept = dp_stats.consistent_counts(counts, rel.sigma, np.arange(len(counts) + 1))
        mids = np.clip((edges[:-1] + edges[1:]) / 2, lo / NS_PER_DAY, hi / NS_PER_DAY)
        if kept.sum() > 0:
            mean = float(np.dot(kept, mids) / kept.sum())
            std = float(np.sqrt(np.dot(kept, (mids - mean) ** 2) / kept.sum()))
        else:
            mean, std = (lo + hi) / 2 / NS_PER_DAY, (hi - lo) / 4 / NS_PER_DAY
        return lo, hi, mean, std if std > 0 else max((hi - lo) / 4 / NS_PER_DAY, 1.0)

    # -- continuous view ---------------------------------------------------------------
    def segments(self) -> list[Segment]:
        name = self.spec.name
        segs = [Segment(name, "numeric", 0, 1), Segment(name, "cyclic", 1, 3, role="day_of_year")]
        w = 3
        if self.stats.has_time:
            segs.append(Segment(name, "cyclic", 3, 5, role="time_of_day"))
            w = 5
        if self.stats.has_missing:
            segs.append(Segment(name, "softmax", w, w + 2, role="missing"))
        return segs

    def encode_continuous(self, values: pd.Series) -> np.ndarray:
        s = self.stats
        ns = _ns(values)
        miss = ns == _NAT
        ns = np.clip(np.where(miss, int(s.mean_days * NS_PER_DAY), ns), s.lower, s.upper)
        cols = [(ns / NS_PER_DAY - s.mean_days) / s.std_days]
        doy = _day_of_year(ns)
        cols += [np.sin(2 * np.pi * doy / YEAR_DAYS), np.cos(2 * np.pi * doy / YEAR_DAYS)]
        if s.has_time:
            tod = (ns % NS_PER_DAY) / NS_PER_DAY
            cols += [np.sin(2 * np.pi * tod), np.cos(2 * np.pi * tod)]
        if s.has_missing:
            cols += [~miss, miss]
        return np.column_stack(cols).astype(float)

    def decode_continuous(self, matrix: np.ndarray) -> pd.Series:
        s = self.stats
        days = matrix[:, 0] * s.std_days + s.mean_days
        coarse_day = np.floor(days)
        doy = _day_of_year((coarse_day * NS_PER_DAY).astype(np.int64))
        target = np.mod(np.arctan2(matrix[:, 1], matrix[:, 2]), 2 * np.pi) * YEAR_DAYS / (2 * np.pi)
        shift = np.round(np.mod(target - doy + YEAR_DAYS / 2, YEAR_DAYS) - YEAR_DAYS / 2)
        day = coarse_day + shift
        if s.has_time:
            frac = np.mod(np.arctan2(matrix[:, 3], matrix[:, 4]), 2 * np.pi) / (2 * np.pi)
            seconds = np.round(frac * 86_400)
            ns = day * NS_PER_DAY + seconds * NS_PER_S
        else:
            ns = day * NS_PER_DAY
        ns = np.clip(ns, s.lower, s.upper).astype(np.int64)
        ns = self._round(ns)
        out = pd.Series(ns.astype("datetime64[ns]"))
        if s.has_missing:
            w = 5 if s.has_time else 3
            out[matrix[:, w + 1] > matrix[:, w]] = pd.NaT
        return out

    def _round(self, ns: np.ndarray) -> np.ndarray:
        unit = self.stats.resolution_s * NS_PER_S
        return (np.round(ns / unit) * unit).astype(np.int64)

    # -- token view --------------------------------------------------------------------
    def token_slots(self) -> list[TokenSlot]:
        s, name = self.stats, self.spec.name
        slots = [
            TokenSlot(name, s.n_years + int(s.has_missing), role="year"),
            TokenSlot(name, 12, role="month"),
            TokenSlot(name, 31, role="day"),
        ]
        if s.has_time:
            slots += [TokenSlot(name, 24, "hour"), TokenSlot(name, 60, "minute"),
                      TokenSlot(name, 60, "second")]
        return slots

    def encode_tokens(self, values: pd.Series) -> np.ndarray:
        s = self.stats
        ns = _ns(values)
        miss = ns == _NAT
        ts = pd.DatetimeIndex(np.clip(np.where(miss, s.lower, ns), s.lower, s.upper)
                              .astype("datetime64[ns]"))
        cols = [np.where(miss, s.n_years, ts.year - s.first_year), ts.month - 1, ts.day - 1]
        if s.has_time:
            cols += [ts.hour, ts.minute, ts.second]
        out = np.column_stack([np.asarray(c) for c in cols]).astype(np.int64)
        out[miss, 1:] = 0
        return out

    def decode_tokens(self, tokens: np.ndarray, rng: np.random.Generator) -> pd.Series:
        s = self.stats
        miss = tokens[:, 0] >= s.n_years
        year = s.first_year + np.minimum(tokens[:, 0], s.n_years - 1)
        month = tokens[:, 1] + 1
        first = pd.to_datetime({"year": year, "month": month, "day": np.ones_like(year)})
        last_day = first.dt.days_in_month.to_numpy()
        day = np.minimum(tokens[:, 2] + 1, last_day)
        # pandas 3 builds these at microsecond resolution: convert before reading integers
        ns = first.to_numpy().astype("datetime64[ns]").astype(np.int64) + (day - 1) * NS_PER_DAY
        if s.has_time:
            ns = ns + (tokens[:, 3] * 3600 + tokens[:, 4] * 60 + tokens[:, 5]) * NS_PER_S
        ns = np.clip(ns, s.lower, s.upper)
        out = pd.Series(ns.astype("datetime64[ns]"))
        out[miss] = pd.NaT
        return out


_NAT = np.iinfo(np.int64).min


def _ns(values: pd.Series) -> np.ndarray:
    return pd.Series(values).astype("datetime64[ns]").to_numpy().astype(np.int64)


def _ts(value: float | str) -> int:
    return int(pd.Timestamp(value).value)


def _day_of_year(ns: np.ndarray) -> np.ndarray:
    return np.asarray(pd.DatetimeIndex(ns.astype("datetime64[ns]")).day_of_year - 1, dtype=float)
