"""Mode-specific normalisation of numeric columns, and the model-space layout of a view.

The facade hands a deep generator the *continuous view*: standardised numbers, one-hot
groups and (sin, cos) pairs (:mod:`lookalike.encoding`). Multi-modal or heavy-tailed
numbers (Adult's ``capital-gain``: 92% zeros and a long tail) are hard for a network to
produce from one standardised value, so, as CTGAN and TVAE do (Xu, Skoularidou,
Cuesta-Infante and Veeramachaneni 2019, "Modeling Tabular Data using Conditional GAN",
NeurIPS, Section 4.2), each numeric column is re-expressed with a variational Gaussian
mixture (scikit-learn's ``BayesianGaussianMixture`` with a Dirichlet-process prior):

* fit the mixture ``sum_k w_k N(mu_k, sigma_k^2)`` to the column; keep the modes with
  weight above ``weight_threshold``;
* encode a value ``x`` as a one-hot *mode indicator* ``beta`` (the mode ``k`` drawn from its
  posterior ``p(k | x)``) and a scalar ``alpha = (x - mu_k) / (4 sigma_k)`` clipped to
  ``[-0.99, 0.99]`` (the paper's Eq. 2); when the drawn mode is more than ``4 sigma_k``
  away, the mode nearest in standard deviations is used instead, so that clipping (which
  loses information) only happens for values far from every mode;
* decode with the arg-max mode: ``x = clip(alpha, -1, 1) * 4 sigma_k + mu_k``.

The round trip is exact up to the clipping of ``alpha`` (values more than four standard
deviations from their mode). Constant columns (and every numeric column when
``mode_specific=False``) pass through unchanged.

Under differential privacy the mixture would be fitted on private values without noise,
so the ``dp-*`` generators use ``mode_specific=False``: plain standardisation, whose
statistics come from the facade's encoder (see their docstrings).

Besides the transform, :class:`ModeNormalizer` describes the *model space* it produces as a
list of :class:`Block` objects: which matrix columns form a softmax group (a category, a
missing flag or a mode indicator) and which are real values (bounded ``alpha`` and cyclic
parts, or unbounded plain values); the networks choose their output activations and losses
from it.

Examples
--------
>>> import numpy as np
>>> from lookalike.encoding.base import Segment
>>> rng = np.random.default_rng(0)
>>> x = np.concatenate([rng.normal(-2, 0.1, 500), rng.normal(3, 0.5, 500)])[:, None]
>>> norm = ModeNormalizer([Segment("x", "numeric", 0, 1)]).fit(x, rng)
>>> z = norm.transform(x, rng)
>>> [b.role for b in norm.blocks_]
['alpha', 'mode']
>>> bool(np.allclose(norm.inverse(z), x))
True
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from lookalike.encoding.base import Segment
from lookalike.random import seed_int

log = logging.getLogger(__name__)

BlockKind = Literal["value", "softmax"]
#: alpha = (x - mu_k) / (ALPHA_SCALE sigma_k), as in CTGAN
ALPHA_SCALE = 4.0


@dataclass(frozen=True)
class Block:
    """A run ``[start, stop)`` of model-space columns.

    kind : ``"softmax"`` (a one-hot group) or ``"value"`` (real numbers).
    column : the table column it belongs to.
    role : ``"alpha"`` (value within a mode, in [-1, 1]), ``"mode"`` (mode indicator),
        ``"plain"`` (standardised number, unbounded), ``"cyclic"`` ((sin, cos), in
        [-1, 1]), ``"value"`` (the categories of a categorical column) or ``"missing"``
        (a missing-value flag).
    """

    kind: BlockKind
    start: int
    stop: int
    column: str
    role: str

    @property
    def width(self) -> int:
        return self.stop - self.start

    @property
    def bounded(self) -> bool:
        """Whether the values lie in [-1, 1] (a tanh output fits them)."""
        return self.role in ("alpha", "cyclic")

    @property
    def is_category(self) -> bool:
        """A categorical column's one-hot group (what conditions and cond vectors use)."""
        return self.kind == "softmax" and self.role == "value"


class ModeNormalizer:
    """Invertible map between the continuous view and a generator's model space.

    Parameters
    ----------
    segments : the view's layout (``Layout.segments``).
    mode_specific : fit a variational Gaussian mixture per numeric column (True), or keep
        the standardised values (False, used under DP).
    max_modes : components of each mixture (CTGAN: 10).
    weight_threshold : modes with a smaller mixture weight are dropped (CTGAN: 0.005).
    max_fit_rows : the mixture is fitted on at most this many randomly chosen rows (the
        transform covers every row); 5,000 keep a 1-D mixture accurate and the fit ~1 s.
    """

    def __init__(self, segments: Sequence[Segment], *, mode_specific: bool = True,
                 max_modes: int = 10, weight_threshold: float = 0.005,
                 max_fit_rows: int = 5000) -> None:
        self.segments = tuple(segments)
        self.mode_specific = mode_specific
        self.max_modes = max_modes
        self.weight_threshold = weight_threshold
        self.max_fit_rows = max_fit_rows

    # -- fitting -----------------------------------------------------------------------
    def fit(self, values: np.ndarray, rng: np.random.Generator) -> ModeNormalizer:
        """Fit one mixture per non-constant numeric segment of ``values`` (n, view width)."""
        modes: list[dict[str, np.ndarray] | None] = []
        for seg in self.segments:
            if seg.kind != "numeric" or not self.mode_specific:
                modes.append(None)
                continue
            modes.append(self._fit_column(values[:, seg.start], seg.column, rng))
        self.modes_ = modes
        self._build_blocks()
        return self

    def _fit_column(self, x: np.ndarray, column: str,
                    rng: np.random.Generator) -> dict[str, np.ndarray] | None:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.mixture import BayesianGaussianMixture

        if np.ptp(x) <= 1e-12:
            log.info("column %r is constant; it is passed through without a mixture.", column)
            return None
        if len(x) > self.max_fit_rows:
            x = x[rng.choice(len(x), self.max_fit_rows, replace=False)]
        n_components = int(min(self.max_modes, len(np.unique(x))))
        bgm = BayesianGaussianMixture(
            n_components=n_components, weight_concentration_prior_type="dirichlet_process",
            weight_concentration_prior=0.001, max_iter=100, n_init=1,
            random_state=seed_int(rng) % (2**32),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            bgm.fit(x[:, None])
        keep = bgm.weights_ > self.weight_threshold
        if not keep.any():
            keep = bgm.weights_ == bgm.weights_.max()
        means = bgm.means_[keep, 0].astype(np.float64)
        stds = np.sqrt(bgm.covariances_[keep].reshape(-1)).astype(np.float64)
        weights = bgm.weights_[keep] / bgm.weights_[keep].sum()
        log.debug("column %r: %d mode(s)", column, len(means))
        return {"means": means, "stds": np.maximum(stds, 1e-6), "weights": weights}

    def _build_blocks(self) -> None:
        blocks: list[Block] = []
        pos = 0
        for seg, mode in zip(self.segments, self.modes_, strict=True):
            if seg.kind == "numeric" and mode is not None:
                k = len(mode["means"])
                blocks.append(Block("value", pos, pos + 1, seg.column, "alpha"))
                blocks.append(Block("softmax", pos + 1, pos + 1 + k, seg.column, "mode"))
                pos += 1 + k
            elif seg.kind == "numeric":
                blocks.append(Block("value", pos, pos + 1, seg.column, "plain"))
                pos += 1
            elif seg.kind == "cyclic":
                blocks.append(Block("value", pos, pos + seg.width, seg.column, "cyclic"))
                pos += seg.width
            else:
                blocks.append(Block("softmax", pos, pos + seg.width, seg.column, seg.role))
                pos += seg.width
        self.blocks_ = tuple(blocks)
        self.width_ = pos

    # -- transforms --------------------------------------------------------------------
    def _posterior(self, x: np.ndarray, mode: dict[str, np.ndarray]) -> np.ndarray:
        m, s, w = mode["means"], mode["stds"], mode["weights"]
        logp = np.log(w) - np.log(s) - 0.5 * ((x[:, None] - m) / s) ** 2
        logp -= logp.max(axis=1, keepdims=True)
        p = np.exp(logp)
        return p / p.sum(axis=1, keepdims=True)

    def transform(self, values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """View (n, view width) -> model space (n, ``width_``); modes drawn from p(k | x)."""
        n = values.shape[0]
        out = np.zeros((n, self.width_), dtype=np.float64)
        bi = 0
        for seg, mode in zip(self.segments, self.modes_, strict=True):
            block = self.blocks_[bi]
            if seg.kind == "numeric" and mode is not None:
                x = values[:, seg.start]
                p = self._posterior(x, mode)
                u = rng.random(n)[:, None]
                k = np.minimum((np.cumsum(p, axis=1) < u).sum(axis=1), p.shape[1] - 1)
                alpha = (x - mode["means"][k]) / (ALPHA_SCALE * mode["stds"][k])
                far = np.abs(alpha) > 0.99  # drawn mode too far: take the nearest one
                if far.any():
                    dist = np.abs(x[far, None] - mode["means"]) / mode["stds"]
                    k[far] = dist.argmin(axis=1)
                    alpha[far] = (x[far] - mode["means"][k[far]]) / (
                        ALPHA_SCALE * mode["stds"][k[far]])
                out[:, block.start] = np.clip(alpha, -0.99, 0.99)
                mb = self.blocks_[bi + 1]
                out[np.arange(n), mb.start + k] = 1.0
                bi += 2
            else:
                out[:, block.start:block.stop] = values[:, seg.start:seg.stop]
                bi += 1
        return out

    def inverse(self, z: np.ndarray) -> np.ndarray:
        """Model space -> view; a mode group may hold scores (the arg-max is used)."""
        n = z.shape[0]
        width = self.segments[-1].stop if self.segments else 0
        out = np.zeros((n, width), dtype=np.float64)
        bi = 0
        for seg, mode in zip(self.segments, self.modes_, strict=True):
            block = self.blocks_[bi]
            if seg.kind == "numeric" and mode is not None:
                mb = self.blocks_[bi + 1]
                k = z[:, mb.start:mb.stop].argmax(axis=1)
                alpha = np.clip(z[:, block.start], -1.0, 1.0)
                out[:, seg.start] = alpha * ALPHA_SCALE * mode["stds"][k] + mode["means"][k]
                bi += 2
            else:
                out[:, seg.start:seg.stop] = z[:, block.start:block.stop]
                bi += 1
        return out

    # -- persistence -------------------------------------------------------------------
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(JSON meta, arrays) for :meth:`from_state`."""
        meta = {"mode_specific": self.mode_specific,
                "has_modes": [m is not None for m in self.modes_]}
        arrays: dict[str, np.ndarray] = {}
        for i, mode in enumerate(self.modes_):
            if mode is not None:
                for key, value in mode.items():
                    arrays[f"{i}/{key}"] = value
        return meta, arrays

    @classmethod
    def from_state(cls, segments: Sequence[Segment], meta: dict[str, Any],
                   arrays: dict[str, np.ndarray]) -> ModeNormalizer:
        """Rebuild a fitted normaliser from :meth:`get_state` output."""
        norm = cls(segments, mode_specific=bool(meta["mode_specific"]))
        norm.modes_ = [
            {key: np.asarray(arrays[f"{i}/{key}"], dtype=np.float64)
             for key in ("means", "stds", "weights")} if has else None
            for i, has in enumerate(meta["has_modes"])
        ]
        norm._build_blocks()
        return norm
