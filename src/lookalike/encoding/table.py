"""TableEncoder: composes one encoder per column and tracks the layout of both views.

>>> import pandas as pd
>>> from lookalike.schema import infer
>>> df = pd.DataFrame({"age": [23, 35, 47, 51, 62] * 4, "sex": list("FMFMF") * 4})
>>> enc = TableEncoder(infer(df)).fit(df)
>>> enc.encode_continuous(enc.prepare(df)).shape
(20, 3)
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from lookalike.encoding.base import ColumnDP, ColumnEncoder, Protection, Segment, TokenSlot
from lookalike.encoding.categorical import CategoricalEncoder
from lookalike.encoding.constant import ConstantEncoder
from lookalike.encoding.datetime import DatetimeEncoder
from lookalike.encoding.identifier import IdentifierEncoder
from lookalike.encoding.numeric import NumericEncoder
from lookalike.encoding.text import ExcludedTextEncoder
from lookalike.errors import InvalidDataError, NotFittedError
from lookalike.random import draw_rows
from lookalike.schema.spec import ColumnSpec, Schema

log = logging.getLogger(__name__)

#: share of the encoding delta given to the thresholds of the category selections
DP_THRESHOLD_SHARE = 0.5
#: smallest prior probability of a token (see TableEncoder.dp_slot_priors)
PRIOR_FLOOR = 1e-4

_MODELLED = {"numeric": NumericEncoder, "categorical": CategoricalEncoder,
             "datetime": DatetimeEncoder, "text": CategoricalEncoder}


def encoder_for(spec: ColumnSpec) -> Any:
    """The encoder class instance for one column spec."""
    if spec.kind == "identifier":
        return IdentifierEncoder(spec)
    if spec.kind == "constant":
        return ConstantEncoder(spec)
    if spec.kind == "text" and spec.text_mode == "exclude":
        return ExcludedTextEncoder(spec)
    return _MODELLED[spec.kind](spec)


class TableEncoder:
    """Fit per-column encoders on a table and map it to / from the encoded views."""

    def __init__(self, schema: Schema, protection: Protection | None = None) -> None:
        self.schema = schema
        self.protection = protection or Protection()

    # -- fitting ----------------------------------------------------------------------
    def fit(self, df: pd.DataFrame, *, dp_ledger: Any = None,
            dp_rng: np.random.Generator | None = None) -> TableEncoder:
        """Fit every column's encoder.

        With ``dp_ledger`` (a :class:`~lookalike.privacy.PrivacyLedger` holding the encoding
        budget) every data-derived statistic is a DP release. Each encoder declares its
        releases up front (:meth:`ColumnEncoder.dp_requests`, from the schema alone: a
        column with declared categories, or a numeric column with declared bounds and few
        grid values, requests nothing), and all of them are calibrated jointly against the
        ledger's own composition (:func:`lookalike.privacy.dp_stats.calibrate_releases`):
        one noise scale, weighted per release, such that the composed (epsilon, delta)
        equals the ledger's budget. Half of delta goes to the thresholds of the category
        selections, the rest to the Gaussian noise.
        """
        canonical = self.prepare(df)
        encoders, problems = {}, []
        fitting = {spec.name: encoder_for(spec) for spec in self.schema}
        budgets = self._dp_split(fitting, dp_ledger, dp_rng) if dp_ledger is not None else {}
        for spec in self.schema:
            enc = fitting[spec.name]
            try:
                if isinstance(enc, ColumnEncoder):
                    enc.fit(canonical[spec.name], self.protection.for_column(spec),
                            budgets.get(spec.name))
                else:
                    enc.fit(canonical[spec.name])
            except InvalidDataError as exc:
                problems.extend(exc.problems)
                continue
            encoders[spec.name] = enc
        if problems:
            raise InvalidDataError(problems)
        for spec in self.schema:
            if spec.kind == "text" and spec.text_mode == "exclude":
                log.warning("column %r is free text and excluded: it comes back empty. Declare "
                            "it categorical in the config to keep it.", spec.name)
            elif spec.modelled and canonical[spec.name].nunique(dropna=False) == 1:
                log.warning("column %r holds a single value: every synthetic row gets it.",
                            spec.name)
        self.encoders_ = encoders
        self.privacy_ = dp_ledger.to_dict() if dp_ledger is not None else None
        self._build_layout()
        return self

    def _dp_split(self, encoders: dict[str, Any], ledger: Any,
                  rng: np.random.Generator | None) -> dict[str, ColumnDP]:
        """Calibrate every column's requested releases jointly; a ColumnDP per column."""
        from lookalike.privacy.dp_stats import PlannedRelease, calibrate_releases

        if rng is None:
            raise ValueError("dp_rng is required with dp_ledger")
        columns = {name: enc for name, enc in encoders.items() if isinstance(enc, ColumnEncoder)}
        requests = [(name, req) for name, enc in columns.items() for req in enc.dp_requests()]
        calibrated = calibrate_releases(
            ledger, [PlannedRelease(r.label, r.weight, r.thresholded) for _, r in requests],
            threshold_share=DP_THRESHOLD_SHARE)
        releases: dict[str, dict[str, Any]] = {name: {} for name in columns}
        for (name, req), release in zip(requests, calibrated, strict=True):
            releases[name][req.key] = release
        return {name: ColumnDP(ledger, rng, releases[name]) for name in columns}

    def _build_layout(self) -> None:
        segments: list[Segment] = []
        slots: list[TokenSlot] = []
        self.column_slices_: dict[str, slice] = {}
        self.token_slices_: dict[str, slice] = {}
        width = 0
        for name in self.modelled_columns:
            enc = self.encoders_[name]
            segs = [s.shifted(width) for s in enc.segments()]
            self.column_slices_[name] = slice(width, segs[-1].stop)
            width = segs[-1].stop
            segments += segs
            start = len(slots)
            slots += enc.token_slots()
            self.token_slices_[name] = slice(start, len(slots))
        self.segments_ = segments
        self.token_slots_ = slots
        self.width_ = width

    @property
    def encoders(self) -> dict[str, Any]:
        if not hasattr(self, "encoders_"):
            raise NotFittedError("The TableEncoder is not fitted; call fit first.")
        return self.encoders_

    def dp_marginals(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Released DP shares of each column's first token slot (see
        :meth:`~lookalike.encoding.base.ColumnEncoder.dp_marginal`); empty without DP."""
        out = {}
        for name in self.modelled_columns:
            enc = self.encoders[name]
            shares = enc.dp_marginal() if isinstance(enc, ColumnEncoder) else None
            if shares is not None:
                out[name] = shares
        return out

    def calibration_marginals(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """1-way calibration targets: the DP releases (:meth:`dp_marginals`), or for a
        model fitted without DP the training shares of each first-slot token, when the
        facade stored them (:func:`~lookalike.encoding.pairs.exact_marginals`)."""
        released = self.dp_marginals()
        if released:
            return released
        exact = getattr(self, "exact_marginals_", {})
        return {c: (np.arange(len(sh)), np.asarray(sh, dtype=float)) for c, sh in exact.items()}

    @property
    def calibration_pairs(self) -> list[Any]:
        """2-way calibration tables (:class:`~lookalike.encoding.pairs.PairMarginal`), set
        by the facade after a token generator that calibrates pairs is trained: noisy
        releases under DP, the training table's exact counts (small cells hidden) without;
        empty otherwise."""
        return list(getattr(self, "calibration_pairs_", []))

    def dp_slot_priors(self) -> dict[int, np.ndarray]:
        """``{token slot: probabilities}`` for the first token slot of each column with
        released DP shares: a group's share spread evenly over its tokens, tokens the
        release says nothing about (missing, ``_RARE_``) at ``PRIOR_FLOOR`` each."""
        out = {}
        for name, (groups, shares) in self.dp_marginals().items():
            sizes = np.bincount(groups[groups >= 0], minlength=len(shares))
            p = np.full(len(groups), PRIOR_FLOOR)
            known = groups >= 0
            p[known] = shares[groups[known]] / np.maximum(sizes[groups[known]], 1)
            p = np.maximum(p, PRIOR_FLOOR)
            out[self.token_slices_[name].start] = p / p.sum()
        return out

    @property
    def modelled_columns(self) -> list[str]:
        return [s.name for s in self.schema.modelled]

    @property
    def segments(self) -> list[Segment]:
        self.encoders  # noqa: B018 - raises when not fitted
        return self.segments_

    @property
    def token_slots(self) -> list[TokenSlot]:
        self.encoders  # noqa: B018
        return self.token_slots_

    @property
    def cardinalities(self) -> list[int]:
        return [s.cardinality for s in self.token_slots]

    # -- canonical form ---------------------------------------------------------------
    def prepare(self, df: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
        """Raw table -> canonical columns (all schema columns, or ``columns``)."""
        wanted = columns if columns is not None else self.schema.names
        missing = [c for c in wanted if c not in df.columns]
        if missing:
            raise InvalidDataError(
                f"the table lacks column(s) {missing} that the schema/model expects; "
                f"it has {list(df.columns)}."
            )
        out, problems = {}, []
        for name in wanted:
            spec = self.schema[name]
            enc = self.encoders_[name] if hasattr(self, "encoders_") else encoder_for(spec)
            try:
                out[name] = enc.prepare(df[name].reset_index(drop=True))
            except InvalidDataError as exc:
                problems.extend(exc.problems)
        if problems:
            raise InvalidDataError(problems)
        return pd.DataFrame(out)

    def finish(self, canonical: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        """Canonical modelled columns -> output table in schema order (keys regenerated)."""
        n = len(canonical)
        out = {}
        for spec in self.schema:
            enc = self.encoders[spec.name]
            if spec.name in canonical.columns:
                col = canonical[spec.name].reset_index(drop=True)
                out[spec.name] = enc.finish(col) if isinstance(enc, ColumnEncoder) else col
            else:
                out[spec.name] = enc.generate(n, rng)
        return pd.DataFrame(out)

    # -- continuous view --------------------------------------------------------------
    def encode_continuous(self, canonical: pd.DataFrame) -> np.ndarray:
        parts = [self.encoders[c].encode_continuous(canonical[c]) for c in self.modelled_columns]
        if not parts:
            return np.zeros((len(canonical), 0))
        return np.column_stack(parts).astype(np.float64)

    def decode_continuous(self, matrix: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({
            c: self.encoders[c].decode_continuous(matrix[:, self.column_slices_[c]])
            for c in self.modelled_columns
        })

    # -- token view -------------------------------------------------------------------
    def encode_tokens(self, canonical: pd.DataFrame) -> np.ndarray:
        parts = [self.encoders[c].encode_tokens(canonical[c]) for c in self.modelled_columns]
        if not parts:
            return np.zeros((len(canonical), 0), dtype=np.int64)
        return np.column_stack(parts).astype(np.int64)

    def decode_tokens(self, tokens: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
        return pd.DataFrame({
            c: self.encoders[c].decode_tokens(tokens[:, self.token_slices_[c]], rng)
            for c in self.modelled_columns
        })

    # -- persistence ------------------------------------------------------------------
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta: dict[str, Any] = {
            "protection": {"rare_k": self.protection.rare_k,
                           "clip_quantiles": list(self.protection.clip_quantiles)},
            "columns": {},
            "privacy": getattr(self, "privacy_", None),
        }
        arrays: dict[str, np.ndarray] = {}
        for name, enc in self.encoders.items():
            m, a = enc.get_state()
            meta["columns"][name] = m
            for key, value in a.items():
                arrays[f"encoder/{name}/{key}"] = value
        exact = getattr(self, "exact_marginals_", {})
        if exact:
            meta["exact_marginals"] = list(exact)
            arrays.update({f"calibration/marginals/{i}": np.asarray(sh, dtype=float)
                           for i, sh in enumerate(exact.values())})
        if self.calibration_pairs:
            meta["pairs"] = []
            for i, pair in enumerate(self.calibration_pairs):
                m, a = pair.to_state(i)
                meta["pairs"].append(m)
                arrays.update({f"calibration/{k}": v for k, v in a.items()})
        return meta, arrays

    @classmethod
    def from_state(
        cls, schema: Schema, meta: dict[str, Any], arrays: dict[str, np.ndarray]
    ) -> TableEncoder:
        prot = meta["protection"]
        enc = cls(schema, Protection(prot["rare_k"], tuple(prot["clip_quantiles"])))
        encoders = {}
        for spec in schema:
            prefix = f"encoder/{spec.name}/"
            col_arrays = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
            encoders[spec.name] = type(encoder_for(spec)).from_state(
                spec, meta["columns"][spec.name], col_arrays
            )
        enc.encoders_ = encoders
        enc.privacy_ = meta.get("privacy")
        if meta.get("exact_marginals"):
            enc.exact_marginals_ = {str(c): np.asarray(arrays[f"calibration/marginals/{i}"],
                                                       dtype=float)
                                    for i, c in enumerate(meta["exact_marginals"])}
        if meta.get("pairs"):
            from lookalike.encoding.pairs import PairMarginal

            pair_arrays = {k[len("calibration/"):]: v for k, v in arrays.items()
                           if k.startswith("calibration/pairs/")}
            enc.calibration_pairs_ = [PairMarginal.from_state(i, m, pair_arrays)
                             for i, m in enumerate(meta["pairs"])]
        enc._build_layout()
        return enc


def sample_softmax_segments(
    matrix: np.ndarray, segments: list[Segment], rng: np.random.Generator,
    *, scores: str = "probabilities",
) -> np.ndarray:
    """Replace each softmax group of ``matrix`` by a one-hot draw from it.

    ``scores="probabilities"``: the group's values are clipped at 0 and normalised (as the
    Linear Encoding paper samples categories from reconstructed scores); ``"logits"``: a
    softmax is applied first. Rows with no positive score fall back to the arg-max.
    """
    out = matrix.copy()
    rows = np.arange(len(matrix))
    for seg in segments:
        if seg.kind != "softmax":
            continue
        block = out[:, seg.start:seg.stop]
        if scores == "logits":
            p = np.exp(block - block.max(axis=1, keepdims=True))
        else:
            p = np.clip(block, 0.0, None)
        idx = draw_rows(p, rng)
        dead = p.sum(axis=1) <= 0
        if dead.any():
            idx[dead] = block[dead].argmax(axis=1)
        block[:] = 0.0
        block[rows, idx] = 1.0
    return out
