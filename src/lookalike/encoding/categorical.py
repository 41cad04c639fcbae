"""Categorical columns: one-hot in the continuous view, one token in the token view.

Values are handled as text internally (``prepare``) and cast back to the column's dtype on
output (``finish``). Missing values are a category of their own, so their rate is kept.

Rare-category protection (``Protection.rare_k``): a category seen fewer than ``rare_k``
times is never emitted.

* In text columns, rare values are merged into one ``_RARE_`` category, which is emitted as
  the literal ``_RARE_`` (there is no meaningful "most similar" string).
* In number-like columns (int, float or bool dtype) a rare value is merged into the
  numerically nearest frequent value, so the column keeps its type.
* When no category is frequent at all, everything becomes ``_RARE_`` (text) or the median
  (numbers).
A user-declared ``categories`` list in the schema is public knowledge: it is used as is
(no rare merging), and values outside it are an error.

Under differential privacy the categories are selected by Gaussian thresholding
(:func:`lookalike.privacy.dp_stats.dp_select_categories`: noisy counts of the categories
present, kept above a threshold - the standard mechanism for an unknown domain), with the
noise calibrated jointly with every other encoder release of the table; the kept noisy
counts give the reference frequencies. A declared ``categories`` list makes the column
spend nothing: its reference frequencies are then uniform, and missing values are always
allowed (their presence is not released).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lookalike.encoding.base import (
    RARE_TOKEN,
    ColumnDP,
    ColumnEncoder,
    DPRequest,
    Protection,
    Segment,
    TokenSlot,
    onehot,
)
from lookalike.errors import InvalidDataError

MISSING_CODE = "\x00missing"
#: share of the encoding privacy loss (mu^2) of a category selection, relative to a numeric
#: column's range histogram (1.0): its threshold (~5 sigma) decides which categories exist
#: at all, so it gets twice the weight (on UCI Adult at epsilon 0.1 this keeps categories
#: of ~650 rows instead of ~770; see bench/dp_encoding.py)
DP_CATEGORY_WEIGHT = 2.0


@dataclass(frozen=True)
class CategoricalStats:
    categories: tuple[str, ...]  # the emitted categories, in token order
    frequencies: tuple[float, ...]  # training shares per category (after merging)
    has_missing: bool
    missing_rate: float | None  # None under DP when not released
    n_rare_merged: int  # how many training rows had a rare value
    #: under DP, the released noisy shares of the kept categories (``_RARE_``: None) and of
    #: the missing cells, among all released counts
    dp_shares: tuple[float | None, ...] | None = None
    dp_missing_share: float | None = None

    @property
    def vocabulary(self) -> tuple[str, ...]:
        return self.categories + ((MISSING_CODE,) if self.has_missing else ())


#: the key of missing cells in a DP category selection (a tuple: never a category string)
_MISSING_KEY = ("lookalike", "missing")


def canonical_text(values: pd.Series, dtype: str) -> pd.Series:
    """Canonical string form of category values (so 1, 1.0 and "1" agree for int columns)."""
    if dtype == "int":
        num = pd.to_numeric(values, errors="coerce")
        ok = num.notna() & values.notna()
        out = values.astype(object).where(values.notna(), None)
        out[ok] = num[ok].round().astype("int64").astype(str)
        return out.astype(object)
    if dtype == "float":
        num = pd.to_numeric(values, errors="coerce")
        ok = num.notna() & values.notna()
        out = values.astype(object).where(values.notna(), None)
        out[ok] = num[ok].map(repr)
        return out.astype(object)
    if dtype == "bool":
        mapping = {"true": "True", "false": "False", "1": "True", "0": "False"}
        return values.map(lambda v: None if pd.isna(v) else mapping.get(str(v).lower(), str(v)))
    return values.map(lambda v: None if pd.isna(v) else str(v)).astype(object)


class CategoricalEncoder(ColumnEncoder):
    """Encoder for ``kind="categorical"`` (and free text modelled as categorical)."""

    kind = "categorical"
    stats_type = CategoricalStats

    def prepare(self, values: pd.Series) -> pd.Series:
        return canonical_text(values, self.spec.dtype)

    def finish(self, values: pd.Series) -> pd.Series:
        dtype = self.spec.dtype
        miss = values.isna()
        if dtype == "int" and RARE_TOKEN not in set(values.dropna()):
            out = pd.to_numeric(values)
            return out.round().astype("Int64" if miss.any() else "int64")
        if dtype == "float" and RARE_TOKEN not in set(values.dropna()):
            return pd.to_numeric(values).astype(float)
        if dtype == "bool":
            out = values.map({"True": True, "False": False})
            return out.astype("boolean" if miss.any() else bool)
        return values.astype(object)

    def dp_requests(self) -> list[DPRequest]:
        if self.spec.categories is not None:
            return []
        return [DPRequest("categories", f"categories of {self.spec.name!r}",
                          DP_CATEGORY_WEIGHT, thresholded=True)]

    def fit(self, values: pd.Series, protection: Protection,
            dp: ColumnDP | None = None) -> CategoricalEncoder:
        name = self.spec.name
        present = values.dropna()
        if len(present) == 0:
            raise InvalidDataError(f"column {name!r} is entirely missing; drop it.")
        counts = present.value_counts()
        dp_shares: tuple[float | None, ...] | None = None  # released shares (DP only)
        dp_missing: float | None = None
        if self.spec.categories is not None:
            domain = tuple(canonical_text(pd.Series(list(self.spec.categories)), self.spec.dtype))
            unknown = sorted(set(counts.index) - set(domain))
            if unknown:
                raise InvalidDataError(
                    f"column {name!r}: value(s) {unknown[:5]} are not in the declared "
                    f"categories {list(domain)[:10]}; add them to the config or fix the data."
                )
            categories = domain
            n_rare = 0
            if dp is None:
                shares = present.value_counts(normalize=True)
                freqs = tuple(float(shares.get(c, 0.0)) for c in categories)
            else:  # declared domain, nothing released: uniform reference shares
                freqs = tuple(1.0 / len(categories) for _ in categories)
        elif dp is not None:
            categories, freqs, n_rare, released = self._dp_categories(values, dp)
            total = sum(released.values())
            dp_shares = tuple(None if c == RARE_TOKEN or total <= 0 else
                              released.get(c, 0.0) / total for c in categories)
            dp_missing = released.get(_MISSING_KEY, 0.0) / total if total > 0 else None
        else:
            frequent = counts[counts >= protection.rare_k]
            rare_values = counts.index[counts < protection.rare_k]
            n_rare = int(counts[counts < protection.rare_k].sum())
            mapping = self._merge_map(list(frequent.index), list(rare_values))
            mapped = present.map(lambda v: mapping.get(v, v))
            categories = tuple(sorted(set(mapped.unique()), key=_sort_key))
            shares = mapped.value_counts(normalize=True)
            freqs = tuple(float(shares.get(c, 0.0)) for c in categories)
        self.stats_ = CategoricalStats(
            categories=categories,
            frequencies=freqs,
            has_missing=(bool(dp_missing) if dp_shares is not None else
                         True if dp is not None else bool(values.isna().any())),
            missing_rate=None if dp is not None else float(values.isna().mean()),
            n_rare_merged=n_rare,
            dp_shares=dp_shares,
            dp_missing_share=dp_missing,
        )
        return self

    def dp_marginal(self) -> tuple[np.ndarray, np.ndarray] | None:
        s = self.stats
        if s.dp_shares is None:
            return None
        shares = list(s.dp_shares)
        if s.has_missing:  # the missing token (last in the vocabulary)
            shares.append(s.dp_missing_share)
        kept = [i for i, v in enumerate(shares) if v is not None]
        groups = np.full(len(s.vocabulary), -1, dtype=np.int64)
        groups[kept] = np.arange(len(kept))
        out = np.array([shares[i] for i in kept], dtype=float)
        return (groups, out / out.sum()) if out.sum() > 0 else None

    def _dp_categories(self, values: pd.Series, dp: ColumnDP
                       ) -> tuple[tuple[str, ...], tuple[float, ...], int, dict[Any, float]]:
        """Categories with enough noisy support (DP set union); the rest merge as usual.

        Missing cells take part in the same selection as one more key (each row still
        holds one key, so it costs nothing): the column gets a missing token only if
        their noisy count clears the threshold. Also returns every released noisy count
        (the missing cells' under ``_MISSING_KEY``).
        """
        from lookalike.privacy.dp_stats import dp_select_categories

        name = self.spec.name
        release = dp.releases["categories"]
        keys = [_MISSING_KEY if v is None or (isinstance(v, float) and np.isnan(v)) else v
                for v in values.tolist()]
        released, _ = dp_select_categories(
            keys, sigma=release.sigma, threshold=release.threshold,
            ledger=dp.ledger, rng=dp.rng, label=release.label)
        counts = {(k if k == _MISSING_KEY else str(k)): max(float(v), 0.0)
                  for k, v in released.items()}
        kept = {k: v for k, v in counts.items() if k != _MISSING_KEY}
        if self.spec.dtype in ("int", "float") and not kept:
            raise InvalidDataError(
                f"column {name!r}: under differential privacy no value had enough noisy "
                "support to be released; declare the column's categories in the config "
                "(public domain) or give it a larger budget."
            )
        categories = sorted(kept, key=_sort_key)
        if self.spec.dtype not in ("int", "float", "bool") or not kept:
            categories.append(RARE_TOKEN)
            kept.setdefault(RARE_TOKEN, 0.0)
        total = sum(kept.values()) or 1.0
        return tuple(categories), tuple(kept[c] / total for c in categories), 0, counts

    def _merge_map(self, frequent: list[str], rare: list[str]) -> dict[str, str]:
        if not rare:
            return {}
        if self.spec.dtype in ("int", "float"):
            if frequent:
                fv = np.array([float(v) for v in frequent])
                return {r: frequent[int(np.argmin(np.abs(fv - float(r))))] for r in rare}
            median = sorted(rare, key=float)[len(rare) // 2]
            return {r: median for r in rare}
        if self.spec.dtype == "bool" and frequent:
            return {r: frequent[0] for r in rare}
        return {r: RARE_TOKEN for r in rare}

    def codes(self, values: pd.Series) -> np.ndarray:
        """Canonical values -> integer codes into ``stats.vocabulary`` (unknown -> nearest)."""
        s = self.stats
        vocab = {c: i for i, c in enumerate(s.categories)}
        miss = values.isna().to_numpy()
        rare = vocab.get(RARE_TOKEN)
        fallback = rare if rare is not None else int(np.argmax(s.frequencies))
        if self.spec.dtype in ("int", "float") and RARE_TOKEN not in vocab:
            cats = np.array([float(c) for c in s.categories])

            def nearest(v: str) -> int:
                return int(np.argmin(np.abs(cats - float(v))))

            code = values.map(lambda v: vocab.get(v, nearest(v)) if v is not None and not (
                isinstance(v, float) and np.isnan(v)) else -1)
        else:
            code = values.map(lambda v: vocab.get(v, fallback))
        # a copy: written below, and pandas 3 (copy-on-write) may hand out a read-only view
        out = code.to_numpy(dtype=np.int64, na_value=-1, copy=True)
        if s.has_missing:
            out[miss] = len(s.categories)
        else:
            out[miss] = int(np.argmax(s.frequencies))
        return out

    def segments(self) -> list[Segment]:
        return [Segment(self.spec.name, "softmax", 0, len(self.stats.vocabulary))]

    def encode_continuous(self, values: pd.Series) -> np.ndarray:
        return onehot(self.codes(values), len(self.stats.vocabulary))

    def decode_continuous(self, matrix: np.ndarray) -> pd.Series:
        return self._from_codes(np.argmax(matrix, axis=1))

    def token_slots(self) -> list[TokenSlot]:
        return [TokenSlot(self.spec.name, len(self.stats.vocabulary), role="category")]

    def encode_tokens(self, values: pd.Series) -> np.ndarray:
        return self.codes(values)[:, None]

    def decode_tokens(self, tokens: np.ndarray, rng: np.random.Generator) -> pd.Series:
        return self._from_codes(tokens[:, 0])

    def _from_codes(self, codes: np.ndarray) -> pd.Series:
        vocab = np.array(list(self.stats.categories) + [None], dtype=object)
        codes = np.clip(codes, 0, len(self.stats.categories))
        return pd.Series(vocab[codes], dtype=object)


def _sort_key(value: str) -> tuple[int, float | str]:
    try:
        return (0, float(value))
    except ValueError:
        return (1, value)
