"""Input checks, type alignment and seeded subsampling shared by every evaluation metric.

Evaluation compares tables that came from different places (a CSV the user kept, a table a
generator wrote, a Parquet holdout), so before any metric runs the three tables are brought to
one representation, decided by the real training table's schema:

* ``numeric`` columns become ``float64`` (unparseable synthetic cells become missing, and a
  note says how many);
* ``datetime`` columns become ``float64`` seconds since 1970-01-01 (so that every numeric
  metric applies; plots turn them back into dates);
* ``categorical`` columns (and text columns modelled as categorical) become Python strings with
  missing values as ``NaN``; when every real value is a number, values are written in one
  canonical form so that ``"1"``, ``1`` and ``1.0`` compare equal;
* ``identifier`` columns and excluded text columns are left out of the evaluation (a
  generator regenerates them, so comparing values says nothing), and the metadata says so.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lookalike.errors import InvalidDataError, InvalidParameterError
from lookalike.schema.spec import Schema

log = logging.getLogger(__name__)

EvalKind = str  # "numeric" | "categorical" | "datetime"
MIN_ROWS = 10
_SECONDS = np.timedelta64(1, "s")


@dataclass(frozen=True)
class PreparedData:
    """The three tables in one representation, ready for the metrics.

    Attributes
    ----------
    train, synthetic, holdout : aligned frames holding only the evaluated columns
        (``holdout`` is ``None`` when not given).
    kinds : evaluated column -> ``numeric``, ``categorical`` or ``datetime``.
    excluded : column -> why it is not evaluated.
    target : the target column, or ``None``.
    notes : things a reader should know (coerced cells, dropped rows...).
    sampling : table -> ``{"rows": given, "used": kept}`` for the global row cap.
    """

    train: pd.DataFrame
    synthetic: pd.DataFrame
    holdout: pd.DataFrame | None
    kinds: dict[str, EvalKind]
    excluded: dict[str, str]
    target: str | None
    notes: list[str] = field(default_factory=list)
    sampling: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        """Evaluated columns, in the real table's order."""
        return list(self.kinds)


def check_inputs(
    real_train: Any, synthetic: Any, holdout: Any, target: str | None
) -> None:
    """Raise :class:`InvalidDataError` listing every problem with the inputs at once.

    Checks that each input is a DataFrame with enough rows, that the synthetic and holdout
    tables have exactly the real table's columns, and that the target (when given) exists and
    is not entirely missing.

    Examples
    --------
    >>> import pandas as pd
    >>> check_inputs(pd.DataFrame({"a": range(20)}), pd.DataFrame({"a": range(20)}), None, None)
    """
    problems: list[str] = []
    tables = {"real_train": real_train, "synthetic": synthetic, "holdout": holdout}
    for name, table in tables.items():
        if table is None and name == "holdout":
            continue
        if not isinstance(table, pd.DataFrame):
            raise InvalidParameterError(
                f"The '{name}' argument must be a pandas DataFrame; got {type(table).__name__}."
            )
    for name, table in tables.items():
        if table is None:
            continue
        if table.shape[0] == 0:
            problems.append(
                f"the {name} table is empty (0 rows): evaluation needs at least {MIN_ROWS} rows; "
                "check that the generator wrote its output."
            )
        elif table.shape[0] < MIN_ROWS:
            problems.append(
                f"the {name} table has only {table.shape[0]} rows: evaluation needs at least "
                f"{MIN_ROWS}."
            )
    real_cols = [str(c) for c in real_train.columns]
    if not real_cols:
        problems.append("the real_train table has no columns.")
    for name in ("synthetic", "holdout"):
        table = tables[name]
        if table is None:
            continue
        cols = [str(c) for c in table.columns]
        missing = [c for c in real_cols if c not in cols]
        extra = [c for c in cols if c not in real_cols]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"lacks column(s) {missing}")
            if extra:
                parts.append(f"has column(s) {extra} that the real table does not")
            problems.append(
                f"the {name} table {' and '.join(parts)}: pass tables with the same columns "
                "as the real training table."
            )
    if target is not None:
        if target not in real_cols:
            problems.append(
                f"target column {target!r} is not in the real table; columns are {real_cols}."
            )
        elif real_train.shape[0] and real_train[target].isna().all():
            problems.append(
                f"target column {target!r} is entirely missing in the real table: choose a "
                "column with values."
            )
    if problems:
        raise InvalidDataError(problems)


def resolve_schema(real_train: pd.DataFrame, schema: Schema | None) -> Schema:
    """Return ``schema``, or infer one from the real training table."""
    if schema is not None:
        if not isinstance(schema, Schema):
            raise InvalidParameterError(
                f"The 'schema' argument must be a lookalike Schema; got {type(schema).__name__}."
            )
        unknown = [c for c in schema.names if c not in real_train.columns]
        if unknown:
            raise InvalidDataError(
                f"the schema names column(s) {unknown} that are not in the real table."
            )
        return schema
    from lookalike.schema import infer

    return infer(real_train)


def evaluation_kinds(schema: Schema, columns: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Map schema kinds to evaluation kinds; return (kinds, excluded-with-reason)."""
    kinds: dict[str, str] = {}
    excluded: dict[str, str] = {}
    for name in columns:
        if name not in schema:
            excluded[name] = "not in the schema"
            continue
        spec = schema[name]
        if spec.kind == "identifier":
            excluded[name] = "identifier: regenerated by the generator, values not comparable"
        elif spec.kind == "text" and spec.text_mode == "exclude":
            excluded[name] = "free text excluded from modelling"
        elif spec.kind in ("numeric", "datetime"):
            kinds[name] = spec.kind
        else:
            kinds[name] = "categorical"
    return kinds, excluded


def _to_numeric(series: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype(float)
    return pd.to_numeric(series, errors="coerce").astype("float64")


def _to_seconds(series: pd.Series, fmt: str | None) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        values = series
    elif pd.api.types.is_numeric_dtype(series.dtype):
        return series.astype("float64")  # already seconds (e.g. a round trip of ours)
    else:
        text = series.astype("string")
        values = pd.to_datetime(text, format=fmt, errors="coerce") if fmt else None
        if values is None or values.isna().sum() > text.isna().sum():
            values = pd.to_datetime(text, format="mixed", errors="coerce")
    if getattr(values.dt, "tz", None) is not None:
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    out = (values - pd.Timestamp("1970-01-01")) / _SECONDS
    return out.astype("float64")


def _canonical_number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _to_category(series: pd.Series, numeric_like: bool) -> pd.Series:
    if numeric_like:
        num = pd.to_numeric(series, errors="coerce")
        out = num.map(_canonical_number, na_action="ignore").astype(object)
        # keep cells that are not numbers (they are new categories, compared as text)
        bad = num.isna() & series.notna()
        if bad.any():
            out[bad] = series[bad].astype(str)
        return out.where(out.notna(), np.nan)
    out = series.astype("string").astype(object)
    return out.where(series.notna(), np.nan)


def coerce_tables(
    tables: Mapping[str, pd.DataFrame | None],
    kinds: Mapping[str, str],
    schema: Schema,
) -> tuple[dict[str, pd.DataFrame | None], list[str]]:
    """Bring every table to the representation described in the module docstring.

    Returns the coerced tables (same keys) and notes about cells that could not be read.
    """
    notes: list[str] = []
    real = tables["real_train"]
    assert real is not None
    numeric_like = {}
    for col, kind in kinds.items():
        if kind == "categorical":
            values = real[col].dropna()
            numeric_like[col] = bool(
                len(values)
                and not pd.api.types.is_bool_dtype(values.dtype)
                and pd.to_numeric(values, errors="coerce").notna().all()
            )
    out: dict[str, pd.DataFrame | None] = {}
    for name, table in tables.items():
        if table is None:
            out[name] = None
            continue
        frame = {}
        for col, kind in kinds.items():
            series = table[col].reset_index(drop=True)
            if kind == "numeric":
                conv = _to_numeric(series)
            elif kind == "datetime":
                conv = _to_seconds(series, schema[col].datetime_format if col in schema else None)
            else:
                conv = _to_category(series, numeric_like[col])
            lost = int((conv.isna() & series.notna()).sum())
            if lost:
                notes.append(
                    f"{name} column {col!r}: {lost} value(s) could not be read as {kind} and "
                    "were treated as missing."
                )
            if kind != "categorical":
                bad = ~np.isfinite(conv.to_numpy(dtype=float, na_value=np.nan)) & conv.notna()
                if bad.any():
                    conv = conv.where(~bad, np.nan)
                    notes.append(
                        f"{name} column {col!r}: {int(bad.sum())} infinite value(s) treated as "
                        "missing."
                    )
            frame[col] = conv
        out[name] = pd.DataFrame(frame, columns=list(kinds))
    return out, notes


def subsample(df: pd.DataFrame, n: int | None, rng: np.random.Generator) -> pd.DataFrame:
    """Return at most ``n`` rows of ``df`` drawn without replacement (index reset).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> len(subsample(pd.DataFrame({"a": range(10)}), 3, np.random.default_rng(0)))
    3
    """
    if n is None or len(df) <= n:
        return df.reset_index(drop=True)
    idx = np.sort(rng.choice(len(df), size=n, replace=False))
    return df.iloc[idx].reset_index(drop=True)


def category_codes(
    columns: list[pd.Series], max_levels: int | None = None
) -> tuple[list[np.ndarray], list[str]]:
    """Integer codes shared by several categorical series.

    Levels are ordered by frequency in the first series (the real one), then by first
    appearance in the others. With ``max_levels``, levels beyond the most frequent
    ``max_levels`` of the first series share one ``(other)`` code. Missing values get their
    own last code ``(missing)``. Returns the code arrays and the level labels.
    """
    first = columns[0]
    counts = first.value_counts(dropna=True)
    levels = list(counts.index)
    if max_levels is not None and len(levels) > max_levels:
        levels = levels[:max_levels]
        capped = True
    else:
        capped = False
        seen = set(levels)
        for s in columns[1:]:
            for v in pd.unique(s.dropna()):
                if v not in seen:
                    seen.add(v)
                    levels.append(v)
    index = pd.Index(levels)
    labels = [str(v) for v in levels]
    other = len(levels)
    if capped:
        labels.append("(other)")
        missing = other + 1
    else:
        missing = other
    labels.append("(missing)")
    codes = []
    for s in columns:
        c = index.get_indexer(s.to_numpy(dtype=object))
        c = np.where(c < 0, other, c)
        c = np.where(s.isna().to_numpy(), missing, c)
        codes.append(c.astype(np.int64))
    return codes, labels
