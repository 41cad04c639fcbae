"""Post-sampling exact-copy guard: synthetic rows identical to a training row are dropped.

Rows are compared over every modelled column in canonical form (numbers as floats after
rounding, categories as text, dates as nanoseconds). The guard keeps only salted 64-bit
hashes of the training rows (``pandas.util.hash_pandas_object`` with a random 16-character
key), never the rows.

Note on privacy: the hashes let someone who already holds a *complete* candidate row test
whether it was in the training data. They are therefore saved in a separate file of the
model directory (``guard.safetensors``), which ``Synthesizer.save(..., include_guard=False)``
leaves out when a model is shared; a model without it samples without the guard (and
warns). The guard is a post-processing step outside any DP guarantee.

Modes: ``"all"`` drops every copy; ``"rare"`` drops copies of training rows that occur
fewer than ``rare_k`` times in the training data (a row shared by many people is not one
person's record), for low-entropy tables where ``"all"`` cannot fill a sample; ``"off"``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lookalike.errors import InvalidParameterError

GUARD_MODES = ("all", "rare", "off")


def canonical_for_hash(canonical: pd.DataFrame) -> pd.DataFrame:
    """One dtype per column kind so equal values hash equally in real and synthetic rows."""
    out = {}
    for name in canonical.columns:
        col = canonical[name].reset_index(drop=True)
        if pd.api.types.is_datetime64_any_dtype(col.dtype):
            out[name] = col.astype("datetime64[ns]").to_numpy().astype(np.int64)
        elif pd.api.types.is_numeric_dtype(col.dtype):
            out[name] = col.to_numpy(dtype=float)
        else:
            text = col.astype(str).to_numpy(dtype=object, copy=True)  # str() of each value
            text[col.isna().to_numpy()] = "\x00NA"
            out[name] = text
    return pd.DataFrame(out)


def row_hashes(canonical: pd.DataFrame, salt: str) -> np.ndarray:
    """Salted uint64 hash of each row."""
    frame = canonical_for_hash(canonical)
    if frame.shape[1] == 0:
        return np.zeros(len(frame), dtype=np.uint64)
    return pd.util.hash_pandas_object(frame, index=False, hash_key=salt).to_numpy(np.uint64)


class CopyGuard:
    """Remembers salted hashes of training rows; flags synthetic rows equal to one."""

    def __init__(self, hashes: np.ndarray, salt: str, mode: str = "all") -> None:
        if mode not in GUARD_MODES:
            raise InvalidParameterError(
                f"The 'copy_guard' parameter must be one of {GUARD_MODES}; got {mode!r}."
            )
        self.hashes = np.sort(np.asarray(hashes, dtype=np.uint64))
        self.salt = salt
        self.mode = mode

    @classmethod
    def fit(cls, canonical: pd.DataFrame, rng: np.random.Generator, *, mode: str = "all",
            rare_k: int = 5) -> CopyGuard:
        alphabet = np.array(list("abcdefghijklmnopqrstuvwxyz0123456789"))
        salt = "".join(alphabet[rng.integers(0, len(alphabet), size=16)])
        hashes = row_hashes(canonical, salt)
        if mode == "rare":
            values, counts = np.unique(hashes, return_counts=True)
            hashes = values[counts < rare_k]
        else:
            hashes = np.unique(hashes)
        return cls(hashes, salt, mode)

    def is_copy(self, canonical: pd.DataFrame) -> np.ndarray:
        """Boolean mask of rows of ``canonical`` that equal a (guarded) training row."""
        if self.mode == "off" or len(self.hashes) == 0 or len(canonical) == 0:
            return np.zeros(len(canonical), dtype=bool)
        h = row_hashes(canonical, self.salt)
        pos = np.clip(np.searchsorted(self.hashes, h), 0, len(self.hashes) - 1)
        return self.hashes[pos] == h
