"""Infer a :class:`Schema` from a DataFrame, explaining each decision in ``spec.reason``.

Rules, in order, for each column (``n`` = non-missing values, ``u`` = distinct values):

1. entirely missing -> an error (nothing can be learned; drop the column or declare it).
2. booleans -> categorical (``bool``).
3. datetimes (native, or text that parses with one consistent format) -> datetime; the
   format is kept so output looks like input.
4. numbers (native, or text where every value parses and none has a leading zero) ->
   * unique per row, integer, and named like a key (``id``, ``key``, ``uuid``...) -> identifier;
   * ``u <= 2``, or integer with ``u <= 10`` -> categorical (the dtype is kept);
   * otherwise numeric, with integer-ness and decimal places detected.
   A text column where 95% or more of the values are numbers and the rest are not is
   reported as mixed types (usually a stray marker such as ``?``): clean it, or declare it.
5. text -> identifier when unique per row and all values share one shape (same length and
   character classes, e.g. ``AB-1234``) or the name says key; free text when ``u > 20`` and
   ``u > n / 2``; categorical otherwise. Free text is modelled as categorical (rare values
   become ``_RARE_``) when at least half of its values occur ``rare_k`` (5) times or more,
   and is otherwise excluded with a warning (the column comes back entirely missing).
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd

from lookalike.errors import FIRST_LINE_ATTR, InvalidDataError, data_row
from lookalike.schema.spec import ColumnSpec, Schema

log = logging.getLogger(__name__)

_KEY_WORDS = {"id", "key", "uuid", "guid", "pk"}


def _key_like(name: str) -> bool:
    """Whether a column name reads like a key: ``id``, ``user_id``, ``PassengerId``, ``KEY``."""
    words = re.split(r"[^a-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower())
    words = [w for w in words if w]
    return bool(words) and (words[-1] in _KEY_WORDS or words[0] in _KEY_WORDS)
DATETIME_FORMATS: tuple[str, ...] = (
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y/%m/%d",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%Y/%m/%d %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M:%S",
)
MIXED_TYPE_SHARE = 0.95
LOW_CARDINALITY_INT = 10


def infer(df: pd.DataFrame, *, rare_k: int = 5) -> Schema:
    """Infer the schema of ``df``; raises :class:`InvalidDataError` listing every problem.

    Examples
    --------
    >>> import pandas as pd
    >>> s = infer(pd.DataFrame({"age": [30, 41, 52] * 5, "sex": ["F", "M", "F"] * 5}))
    >>> [(c.name, c.kind, c.dtype) for c in s]
    [('age', 'categorical', 'int'), ('sex', 'categorical', 'string')]
    """
    if df.shape[1] == 0:
        raise InvalidDataError("the table has no columns.")
    if df.shape[0] == 0:
        raise InvalidDataError("the table has no rows.")
    names = [str(c) for c in df.columns]
    dupes = sorted({c for c in names if names.count(c) > 1})
    if dupes:
        raise InvalidDataError(f"duplicate column name(s) {dupes}; rename them.")
    specs, problems = [], []
    first_line = df.attrs.get(FIRST_LINE_ATTR)
    for j, name in enumerate(names):
        try:
            specs.append(infer_column(name, df.iloc[:, j], rare_k=rare_k,
                                      first_line=first_line))
        except InvalidDataError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InvalidDataError(problems)
    return Schema(tuple(specs))


def infer_column(name: str, series: pd.Series, *, rare_k: int = 5,
                  first_line: int | None = None) -> ColumnSpec:
    """Infer one column's :class:`ColumnSpec` (see the module docstring for the rules).

    ``first_line``: the file line of the first data row, when known (CSV input), so that
    messages give the line of a bad cell beside its 1-based data row.
    """
    series = series.reset_index(drop=True)  # labels = positions, for the messages

    def row(position: int) -> str:
        return data_row(position, {FIRST_LINE_ATTR: first_line})

    values = series.dropna()
    if len(values) == 0:
        raise InvalidDataError(
            f"column {name!r} is entirely missing: drop it, or declare its kind in a config "
            "file if more data will come."
        )
    if pd.api.types.is_bool_dtype(series.dtype):
        return ColumnSpec(name, "categorical", "bool", reason="boolean values")
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return ColumnSpec(name, "datetime", "datetime", reason="datetime values")
    if pd.api.types.is_numeric_dtype(series.dtype):
        numbers = pd.to_numeric(values).astype(float)
        if not np.isfinite(numbers).all():
            bad = values[~np.isfinite(numbers)].index[0]
            raise InvalidDataError(
                f"column {name!r} holds an infinite value in {row(bad)}: replace it by a "
                "number or leave the cell empty."
            )
        return _numeric_spec(name, numbers, decimals=_float_decimals(numbers))
    texts = values.astype(str)
    if set(texts.str.lower().unique()) <= {"true", "false"}:
        return ColumnSpec(name, "categorical", "string", reason="true/false text")
    numeric = _parse_numbers(texts)
    if numeric is not None:
        n_ok = int(numeric.notna().sum())
        if n_ok == len(texts) and not _has_leading_zeros(texts):
            return _numeric_spec(name, numeric.astype(float), decimals=_text_decimals(texts))
        if MIXED_TYPE_SHARE <= n_ok / len(texts) < 1.0:
            bad = texts[numeric.isna()]
            raise InvalidDataError(
                f"column {name!r} has mixed types: {len(bad)} of {len(texts)} values are not "
                f"numbers while the rest are, the first {bad.iloc[0]!r} in "
                f"{row(bad.index[0])}. Clean those cells (leave them empty if they mean "
                "missing), or declare the column categorical in a config file."
            )
    fmt = detect_datetime_format(texts)
    if fmt is not None:
        return ColumnSpec(
            name, "datetime", "datetime", datetime_format=fmt, reason=f"dates in format {fmt}"
        )
    return _text_spec(name, texts, n_rows=len(series), rare_k=rare_k)


def _parse_numbers(texts: pd.Series) -> pd.Series | None:
    parsed = pd.to_numeric(texts.str.strip(), errors="coerce")
    if parsed.notna().sum() == 0:
        return None
    finite = parsed.where(np.isfinite(parsed.astype(float)))
    return finite


def _has_leading_zeros(texts: pd.Series) -> bool:
    return bool(texts.str.match(r"^-?0\d").any())


def _text_decimals(texts: pd.Series) -> int | None:
    frac = texts.str.strip().str.extract(r"\.(\d+)$")[0].dropna()
    if texts.str.contains(r"[eE]", regex=True).any():
        return None
    return int(frac.str.len().max()) if len(frac) else 0


def _float_decimals(numbers: pd.Series) -> int | None:
    arr = numbers.to_numpy(dtype=float)
    for d in range(0, 7):
        scaled = arr * 10.0**d
        if np.all(np.abs(scaled - np.round(scaled)) <= 1e-6 * np.maximum(1.0, np.abs(scaled))):
            return d
    return None


def _numeric_spec(name: str, numbers: pd.Series, *, decimals: int | None) -> ColumnSpec:
    integer = decimals == 0
    u = numbers.nunique()
    dtype = "int" if integer else "float"
    n = len(numbers)
    if integer and u == n and n >= 10 and (
        _key_like(name) or numbers.max() - numbers.min() + 1 == n
    ):
        return ColumnSpec(name, "identifier", "int", id_pattern="int",
                          reason="unique integers: a key or a row number")
    if u <= 2 or (integer and u <= LOW_CARDINALITY_INT):
        return ColumnSpec(name, "categorical", dtype, reason=f"{u} distinct numbers")
    return ColumnSpec(
        name, "numeric", dtype, decimals=decimals,
        reason=("integers" if integer else f"numbers with {decimals} decimals"
                if decimals is not None else "real numbers"),
    )


def detect_datetime_format(texts: pd.Series) -> str | None:
    """The first format of :data:`DATETIME_FORMATS` that parses every value, else None."""
    sample = texts.iloc[:2000] if len(texts) > 2000 else texts
    if not sample.str.contains(r"\d[-/.:T ]\d|\d{1,4}[-/.]\d", regex=True).all():
        return None
    for fmt in DATETIME_FORMATS:
        parsed = pd.to_datetime(sample, format=fmt, errors="coerce")
        if parsed.notna().all():
            if len(sample) < len(texts):
                if pd.to_datetime(texts, format=fmt, errors="coerce").isna().any():
                    continue
            return fmt
    return None


def shape_of(value: str) -> str:
    """The character-class shape of a key: letters -> A/a, digits -> 9, others kept."""
    out = []
    for ch in value:
        if ch.isdigit():
            out.append("9")
        elif ch.isalpha() and ch.isascii():
            out.append("A" if ch.isupper() else "a")
        else:
            out.append(ch)
    return "".join(out)


def _text_spec(name: str, texts: pd.Series, *, n_rows: int, rare_k: int) -> ColumnSpec:
    n, u = len(texts), texts.nunique()
    if u == n == n_rows and n >= 10:
        shapes = texts.map(shape_of)
        if shapes.nunique() == 1 or _key_like(name):
            return ColumnSpec(name, "identifier", "string", id_pattern="shape",
                              reason="unique per row, one shape")
    if u > 20 and u > n / 2:
        counts = texts.value_counts()
        frequent_share = counts[counts >= rare_k].sum() / n
        mode = "categorical" if frequent_share >= 0.5 else "exclude"
        if mode == "exclude":  # info: a config may still declare it; fit warns if it stays
            log.info(
                "column %r looks like free text (%d distinct values in %d rows): it is excluded "
                "from modelling and written back empty. Declare it categorical to keep it.",
                name, u, n,
            )
        return ColumnSpec(name, "text", "string", text_mode=mode,
                          reason=f"free text: {u} distinct values in {n} rows")
    return ColumnSpec(name, "categorical", "string", reason=f"{u} distinct text values")
