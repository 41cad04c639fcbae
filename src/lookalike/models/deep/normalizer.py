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

**Atoms.** A single value that many rows share (Adult's ``capital-gain = 0``: 92% of the
rows; ``hours-per-week = 40``: 47%) is a point mass, which a Gaussian mode can only
approximate: the mixture gives it a small but non-zero ``sigma_k`` (0.017 standard
deviations for ``capital-gain``, i.e. +-500 dollars over ``alpha``'s range), so every
imprecision of the generated ``alpha`` decodes to a value near, but not at, the spike
(about half of the synthetic zeros of ``capital-gain`` came back as small positive
amounts, which a real-vs-synthetic classifier spots at once). So, as CTAB-GAN's
*mixed-type encoder* does for such values (Z. Zhao, A. Kunar, R. Birke and L. Y. Chen,
"CTAB-GAN: Effective Table Data Synthesizing", ACML 2021, Section 3.3), every value with a
share of at least ``atom_share`` of the rows, and every value of a column with at most
``max_atoms`` distinct values (a discrete column such as ``education-num``), is an
*atom*: a mode of its own with ``sigma = 0``, chosen for exactly the rows with that value
(``alpha = 0``) and decoded to exactly that value whatever ``alpha`` is. The mixture is
fitted to the remaining values only.

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
    atom_share : a value held by at least this share of the rows becomes an atom (a mode
        of its own, decoded exactly; see the module docstring). ``None``: no atoms.
    max_atoms : a column with at most this many distinct values is discrete: every value
        is an atom and no mixture is fitted (0: never).
    """

    def __init__(self, segments: Sequence[Segment], *, mode_specific: bool = True,
                 max_modes: int = 10, weight_threshold: float = 0.005,
                 max_fit_rows: int = 5000, atom_share: float | None = 0.05,
                 max_atoms: int = 20) -> None:
        self.segments = tuple(segments)
        self.mode_specific = mode_specific
        self.max_modes = max_modes
        self.weight_threshold = weight_threshold
        self.max_fit_rows = max_fit_rows
        self.atom_share = atom_share
        self.max_atoms = max_atoms

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
        if np.ptp(x) <= 1e-12:
            log.info("column %r is constant; it is passed through without a mixture.", column)
            return None
        values, counts = np.unique(x, return_counts=True)
        if len(values) <= self.max_atoms:
            is_atom = np.ones(len(values), dtype=bool)
        elif self.atom_share is not None:
            is_atom = counts >= self.atom_share * len(x)
        else:
            is_atom = np.zeros(len(values), dtype=bool)
        atoms = {"means": values[is_atom].astype(np.float64),
                 "stds": np.zeros(int(is_atom.sum())),
                 "weights": counts[is_atom] / len(x)}
        rest = x[~np.isin(x, atoms["means"])]
        if len(np.unique(rest)) < 2:  # nothing (or one value) left for a mixture
            if len(rest):  # a single rare value: an atom too
                atoms = {"means": np.append(atoms["means"], rest[0]),
                         "stds": np.append(atoms["stds"], 0.0),
                         "weights": np.append(atoms["weights"], len(rest) / len(x))}
            log.debug("column %r: %d atom(s), no mixture", column, len(atoms["means"]))
            return atoms
        mixture = self._fit_mixture(rest, rng)
        mixture["weights"] = mixture["weights"] * len(rest) / len(x)
        log.debug("column %r: %d mode(s), %d atom(s)", column, len(mixture["means"]),
                  len(atoms["means"]))
        return {k: np.concatenate([mixture[k], atoms[k]]) for k in mixture}

    def _fit_mixture(self, x: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.mixture import BayesianGaussianMixture

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

    def _encode(self, x: np.ndarray, mode: dict[str, np.ndarray],
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(mode index, alpha) per value: atoms exactly, the rest drawn from p(k | x)."""
        n = len(x)
        k = np.zeros(n, dtype=np.int64)
        alpha = np.zeros(n)
        atom = mode["stds"] == 0.0
        on_atom = np.zeros(n, dtype=bool)
        if atom.any():
            a_idx = np.flatnonzero(atom)
            a_val = mode["means"][a_idx]
            order = np.argsort(a_val)
            pos = np.clip(np.searchsorted(a_val[order], x), 0, len(a_val) - 1)
            near = np.clip(pos - 1, 0, len(a_val) - 1)
            best = np.where(np.abs(a_val[order][near] - x) < np.abs(a_val[order][pos] - x),
                            near, pos)
            on_atom = np.abs(a_val[order][best] - x) <= 1e-9 * np.maximum(1.0, np.abs(x))
            k[on_atom] = a_idx[order][best[on_atom]]
        cont = np.flatnonzero(~atom)
        rows = ~on_atom
        if rows.any() and len(cont):
            sub = {key: v[cont] for key, v in mode.items()}
            xr = x[rows]
            p = self._posterior(xr, sub)
            u = rng.random(len(xr))[:, None]
            kr = np.minimum((np.cumsum(p, axis=1) < u).sum(axis=1), p.shape[1] - 1)
            ar = (xr - sub["means"][kr]) / (ALPHA_SCALE * sub["stds"][kr])
            far = np.abs(ar) > 0.99  # drawn mode too far: take the nearest one
            if far.any():
                dist = np.abs(xr[far, None] - sub["means"]) / sub["stds"]
                kr[far] = dist.argmin(axis=1)
                ar[far] = (xr[far] - sub["means"][kr[far]]) / (
                    ALPHA_SCALE * sub["stds"][kr[far]])
            k[rows], alpha[rows] = cont[kr], ar
        elif rows.any():  # only atoms (a value unseen in fit): the nearest atom
            k[rows] = np.abs(x[rows, None] - mode["means"]).argmin(axis=1)
        return k, alpha

    def transform(self, values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """View (n, view width) -> model space (n, ``width_``); modes drawn from p(k | x)."""
        n = values.shape[0]
        out = np.zeros((n, self.width_), dtype=np.float64)
        bi = 0
        for seg, mode in zip(self.segments, self.modes_, strict=True):
            block = self.blocks_[bi]
            if seg.kind == "numeric" and mode is not None:
                x = values[:, seg.start]
                k, alpha = self._encode(x, mode, rng)
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
