"""Differentially private 2-way marginals for calibrated sampling of DP token models.

The encoder releases each column's 1-way shares; calibrated sampling rakes a generated pool
to them (:mod:`lookalike.synthesizer_sampling`). A DP-SGD model at a small epsilon also
misses how columns go together, which 1-way shares cannot correct. This module releases a
few 2-way marginals on coarse groups of tokens and turns them into raking targets:

1. **Which pairs** (free): after the generator is trained, a pool of its own samples gives
   the mutual information of every pair of columns on the coarse groups; the pairs of
   ``PAIR_TREES`` maximum spanning trees over it (Chow and Liu 1968; each later tree takes
   pairs no earlier one measured wherever it can) are measured. The choice depends only
   on the DP model's output (post-processing), and the measurements compose adaptively
   with everything before them. MST (McKenna, Miklau and Sheldon 2021, "Winning the NIST
   contest") measures a tree too, but picks it from the data with part of the budget.
2. **Coarse groups** (free): from the released 1-way groups only - numeric bins merged
   into at most ``PAIR_GROUPS`` runs of about equal released share, the largest released
   categories kept and the others merged; tokens the 1-way release says nothing about
   (``_RARE_``, unreleased missing cells) form one more group.
3. **Measurement**: each pair's table of counts gets ``N(0, sigma^2)`` noise per cell. One
   row adds 1 to one cell, so a table has L2 sensitivity 1 (add/remove-one neighbours, as
   the rest of the fit): the Gaussian mechanism, ``1/sigma``-GDP (Dong, Roth and Su 2019,
   Theorem 2.7). The facade reserves the tables' Gaussian events on the fit's ledger
   *before* DP-SGD calibrates its noise, so the whole fit still meets its (epsilon, delta).
4. **Targets** (free, at sampling time): a noisy table is shrunk towards the pool's own
   table cell by cell (empirical Bayes: the model's error variance is taken proportional to
   the cell count, ``tau^2 m``, estimated by moments, so large cells follow the
   measurement and small, noise-dominated cells the model), clipped at 0 and fitted to the
   released 1-way shares (iterative proportional fitting), so that all targets agree.

On UCI Adult at epsilon = 1 (bench/ar_dp_seeds.py, 7 trees, a quarter of the budget's
``mu^2``) this lifts QA accuracy (as mostlyai-qa computes it) from 0.954 to 0.962, mean of
two seeds; see bench/EVALUATION.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

#: at most this many coarse groups per column in a measured pair (plus the "rest" group)
PAIR_GROUPS = 8
#: spanning trees measured (each adds one table per column but one; later trees take pairs
#: the earlier ones did not). On Adult (15 columns) seven trees cover 98 of the 105 pairs:
#: QA accuracy 0.9632/0.9614 (seeds 0/1) against 0.9566/0.9555 for one tree
PAIR_TREES = 7
#: tables with more columns (with released 1-way shares) release no pairs: the trees'
#: noise would drown the tables, and scoring every pair would take long
MAX_PAIR_COLUMNS = 64
#: rows of the generator's own pool used to choose the tree
SELECTION_ROWS = 20_000
#: a released table's cells are only worth raking to when the average cell holds this many
#: noise standard deviations: the coarse groups per column shrink with ``n / sigma`` (see
#: :func:`groups_for`) and no table is released below ``MIN_GROUPS`` groups
CELL_SIGMAS = 4.0
MIN_GROUPS = 3
#: a cell's target never falls below this share of the model's own count
FLOOR_SHARE = 0.1
#: sweeps of iterative proportional fitting of a pair table to the 1-way shares
RECONCILE_SWEEPS = 30


@dataclass(frozen=True)
class PairMarginal:
    """One released 2-way marginal: coarse group of each first-slot token of the two
    columns, and the noisy counts ``(groups of a) x (groups of b)``."""

    columns: tuple[str, str]
    groups_a: np.ndarray
    groups_b: np.ndarray
    counts: np.ndarray
    sigma: float

    def codes(self, tokens_a: np.ndarray, tokens_b: np.ndarray) -> np.ndarray:
        """Cell index of each row from the two columns' first-slot tokens."""
        kb = self.counts.shape[1]
        ga = self.groups_a[np.clip(tokens_a, 0, len(self.groups_a) - 1)]
        gb = self.groups_b[np.clip(tokens_b, 0, len(self.groups_b) - 1)]
        return ga * kb + gb

    def to_state(self, i: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {"columns": list(self.columns), "sigma": float(self.sigma)}
        arrays = {f"pairs/{i}/groups_a": self.groups_a.astype(np.int64),
                  f"pairs/{i}/groups_b": self.groups_b.astype(np.int64),
                  f"pairs/{i}/counts": self.counts.astype(np.float64)}
        return meta, arrays

    @classmethod
    def from_state(cls, i: int, meta: dict[str, Any],
                   arrays: dict[str, np.ndarray]) -> PairMarginal:
        a, b = meta["columns"]
        counts = np.asarray(arrays[f"pairs/{i}/counts"], dtype=float)
        ga = np.asarray(arrays[f"pairs/{i}/groups_a"], dtype=np.int64)
        gb = np.asarray(arrays[f"pairs/{i}/groups_b"], dtype=np.int64)
        if counts.ndim != 2 or ga.max(initial=0) >= counts.shape[0] or \
                gb.max(initial=0) >= counts.shape[1] or min(ga.min(initial=0),
                                                           gb.min(initial=0)) < 0:
            raise ValueError(f"pair marginal {i} ({a!r}, {b!r}) has inconsistent arrays")
        return cls((str(a), str(b)), ga, gb, counts, float(meta["sigma"]))


def groups_for(n_rows: int, sigma: float) -> int:
    """Coarse groups per column for tables of ``n_rows`` rows and noise ``sigma`` (both
    public): the most, up to ``PAIR_GROUPS``, whose ``k x k`` table averages at least
    ``CELL_SIGMAS`` noise standard deviations per cell; 0 when fewer than ``MIN_GROUPS``.

    >>> groups_for(32561, 33.5), groups_for(3000, 32.0), groups_for(500, 32.0)
    (8, 4, 0)
    """
    k = math.floor(math.sqrt(max(n_rows, 0) / (CELL_SIGMAS * sigma)))
    k = min(PAIR_GROUPS, k)
    return k if k >= MIN_GROUPS else 0


def coarse_groups(token_groups: np.ndarray, shares: np.ndarray, *, ordered: bool,
                  n_ordered: int | None = None, max_groups: int = PAIR_GROUPS) -> np.ndarray:
    """Coarse group of each token from a column's released 1-way groups (post-processing).

    ``token_groups[t]`` is token t's released group (-1: not released) and ``shares`` the
    released share of each group. Ordered columns (numeric bins: the first ``n_ordered``
    tokens) merge adjacent groups into at most ``max_groups`` runs of about equal share;
    other groups (categories, a missing token) keep the ``max_groups`` largest and merge
    the rest into one group. Unreleased tokens go to one more group.

    >>> coarse_groups(np.array([0, 0, 1, 2, 3, -1]), np.array([.1, .4, .1, .4]),
    ...               ordered=True, n_ordered=5, max_groups=2).tolist()
    [0, 0, 0, 1, 1, 2]
    >>> coarse_groups(np.array([0, 1, 2, -1]), np.array([.5, .3, .2]), ordered=False,
    ...               max_groups=2).tolist()
    [0, 1, 2, 2]
    """
    g = np.asarray(token_groups, dtype=np.int64)
    s = np.asarray(shares, dtype=float)
    coarse = np.full(len(g), -1, dtype=np.int64)
    free = np.ones(len(s), dtype=bool)  # released groups not yet placed
    next_id = 0
    if ordered:
        bins = np.unique(g[: n_ordered if n_ordered is not None else len(g)])
        bins = bins[bins >= 0]
        if len(bins):
            cum = np.cumsum(s[bins]) / max(s[bins].sum(), 1e-300)
            mid = cum - s[bins] / max(s[bins].sum(), 1e-300) / 2
            run = np.minimum((mid * max_groups).astype(np.int64), max_groups - 1)
            _, run = np.unique(run, return_inverse=True)
            lookup = np.full(len(s), -1, dtype=np.int64)
            lookup[bins] = run
            for t in range(len(g)):
                if g[t] >= 0 and lookup[g[t]] >= 0:
                    coarse[t] = lookup[g[t]]
            free[bins] = False
            next_id = int(run.max()) + 1
    rest_groups = np.flatnonzero(free)
    keep = rest_groups[np.argsort(-s[rest_groups], kind="stable")][:max_groups]
    lookup = {int(k): next_id + i for i, k in enumerate(sorted(keep.tolist()))}
    rest = next_id + len(keep)  # merged small groups and unreleased tokens
    for t in range(len(g)):
        if coarse[t] < 0:
            coarse[t] = lookup.get(int(g[t]), rest) if g[t] >= 0 else rest
    _, coarse = np.unique(coarse, return_inverse=True)
    return coarse.astype(np.int64)


def mutual_information(a: np.ndarray, b: np.ndarray, ka: int, kb: int) -> float:
    """Plug-in mutual information (nats) of two code arrays.

    >>> x = np.array([0, 0, 1, 1])
    >>> round(mutual_information(x, x, 2, 2), 4), mutual_information(x, np.array([0, 1, 0, 1]), 2, 2)
    (0.6931, 0.0)
    """
    joint = np.bincount(a * kb + b, minlength=ka * kb).reshape(ka, kb).astype(float)
    joint /= max(joint.sum(), 1.0)
    pa, pb = joint.sum(1, keepdims=True), joint.sum(0, keepdims=True)
    nz = joint > 0
    return float(max(0.0, (joint[nz] * np.log(joint[nz] / (pa @ pb)[nz])).sum()))


def spanning_tree(weights: dict[tuple[str, str], float], columns: list[str]
                  ) -> list[tuple[str, str]]:
    """Edges of a maximum spanning tree (Prim), ties broken by column order; pairs missing
    from ``weights`` are used only when a column has no other edge.

    >>> spanning_tree({("a", "b"): 1.0, ("a", "c"): 0.1, ("b", "c"): 0.5}, ["a", "b", "c"])
    [('a', 'b'), ('b', 'c')]
    """
    if not columns:
        return []
    inside, edges = [columns[0]], []
    while len(inside) < len(columns):
        best = None
        for u in inside:
            for v in columns:
                if v in inside:
                    continue
                w = weights.get((u, v), weights.get((v, u), -math.inf))
                if best is None or w > best[0]:
                    best = (w, u, v)
        assert best is not None
        edges.append((best[1], best[2]))
        inside.append(best[2])
    return edges


def pair_target(pair: PairMarginal, model_counts: np.ndarray,
                margin_a: np.ndarray | None, margin_b: np.ndarray | None) -> np.ndarray:
    """Raking target (shares of the table's cells) from a noisy table (see module doc).

    ``model_counts`` is the pool's table on the same cells; ``margin_a``/``margin_b`` the
    released 1-way shares of each coarse group (NaN where not released) or None.

    >>> p = PairMarginal(("a", "b"), np.array([0, 1]), np.array([0, 1]),
    ...                  np.array([[40.0, 10.0], [10.0, 40.0]]), sigma=1.0)
    >>> t = pair_target(p, np.array([[25.0, 25.0], [25.0, 25.0]]), None, None)
    >>> bool(t[0, 0] > 0.35 and abs(t.sum() - 1) < 1e-9)
    True
    """
    y = pair.counts
    hidden = np.isnan(y)  # exact tables hide cells under rare_k rows: the model's count
    total = max(float(np.nansum(y)), 1.0)
    m = model_counts / max(float(model_counts.sum()), 1e-300) * total
    if hidden.any():
        m = m * total / max(float(np.nansum(y) + m[hidden].sum()), 1e-300)
    y = np.where(hidden, m, y)
    s2 = pair.sigma ** 2
    if s2 > 0:
        mm = np.maximum(m, 1.0)
        tau2 = max(0.0, float(((y - m) ** 2 - s2).sum()) / float(mm.sum()))
        lam = tau2 * mm / (tau2 * mm + s2)
    else:  # an exact table (no DP): the table itself
        lam = np.ones_like(m)
    # a cell measured at or below 0 is "small", not "impossible": it keeps a floor of the
    # model's own count (a zero target would drop its rows from the pool for good)
    t = np.maximum(m + lam * (y - m), FLOOR_SHARE * m)
    for _ in range(RECONCILE_SWEEPS):
        for axis, margin in ((1, margin_a), (0, margin_b)):
            if margin is None:
                continue
            have = t.sum(axis=axis)
            known = ~np.isnan(margin) & (have > 0)
            if not known.any():
                continue
            want = margin[known] / max(margin[known].sum(), 1e-300) * have[known].sum()
            ratio = np.ones(len(have))
            ratio[known] = want / have[known]
            t = t * (ratio[:, None] if axis == 1 else ratio[None, :])
    return t / max(float(t.sum()), 1e-300)


def coarse_margin(token_groups: np.ndarray, shares: np.ndarray, coarse: np.ndarray) -> np.ndarray:
    """Released share of each coarse group (NaN for a group holding unreleased tokens)."""
    k = int(coarse.max(initial=-1)) + 1
    out = np.zeros(k)
    for t, c in enumerate(coarse):
        if token_groups[t] < 0:
            out[c] = np.nan
    seen = np.zeros(len(shares), dtype=bool)
    for t, c in enumerate(coarse):
        g = token_groups[t]
        if g >= 0 and not seen[g] and not np.isnan(out[c]):
            out[c] += shares[g]
            seen[g] = True
    return out


def exact_marginals(encoder: Any, real_tokens: np.ndarray) -> dict[str, np.ndarray]:
    """Training share of every first-slot token of each modelled column (no DP): the
    1-way calibration targets of a model fitted without DP, in the form of
    :meth:`~lookalike.encoding.table.TableEncoder.calibration_marginals`."""
    out = {}
    for c in encoder.modelled_columns:
        first = encoder.token_slices_[c]
        if first.stop <= first.start:
            continue
        card = encoder.token_slots[first.start].cardinality
        counts = np.bincount(real_tokens[:, first.start], minlength=card)[:card]
        out[c] = counts / max(counts.sum(), 1)
    return out


def release_pairs(encoder: Any, real_tokens: np.ndarray, pool_tokens: np.ndarray, *,
                  sigma: float, rng: np.random.Generator, max_groups: int = PAIR_GROUPS,
                  min_count: int = 0) -> list[PairMarginal]:
    """Measure the spanning tree's pairs on the real token matrix (steps 1-3 above).

    ``encoder`` is the fitted :class:`~lookalike.encoding.table.TableEncoder` (its 1-way
    releases give the coarse groups), ``pool_tokens`` the generator's own samples. The
    caller has already charged one Gaussian event of ``sigma`` per tree edge
    (``PAIR_TREES`` times one fewer than the columns with 1-way releases) on the fit's
    ledger. A pair that two trees share (only when the other pairs cannot connect the
    tree) is measured twice and released as the mean, at ``sigma / sqrt(2)``.

    Without DP (``sigma = 0``, the encoder's exact 1-way shares as groups) the tables are
    exact, except that cells with fewer than ``min_count`` rows are hidden (NaN; the
    model's own count stands in at sampling), as rare-category protection hides rare
    values.
    """
    from lookalike.encoding.numeric import NumericEncoder

    margins = encoder.calibration_marginals()
    cols = [c for c in encoder.modelled_columns if c in margins]
    if len(cols) > MAX_PAIR_COLUMNS:  # (under DP the facade reserved nothing then)
        return []
    coarse, first = {}, {}
    for c in cols:
        enc = encoder.encoders[c]
        ordered = isinstance(enc, NumericEncoder)
        n_ordered = len(enc.stats.bin_starts) - 1 if ordered else None
        coarse[c] = coarse_groups(*margins[c], ordered=ordered, n_ordered=n_ordered,
                                  max_groups=max_groups)
        first[c] = encoder.token_slices_[c].start

    def codes(tokens: np.ndarray, c: str) -> np.ndarray:
        return coarse[c][np.clip(tokens[:, first[c]], 0, len(coarse[c]) - 1)]

    pool = {c: codes(pool_tokens, c) for c in cols}
    real = {c: codes(real_tokens, c) for c in cols}
    size = {c: int(coarse[c].max()) + 1 for c in cols}
    mi = {(a, b): mutual_information(pool[a], pool[b], size[a], size[b])
          for i, a in enumerate(cols) for b in cols[i + 1:]}
    edges: list[tuple[str, str]] = []
    for _ in range(PAIR_TREES):  # each tree prefers pairs no earlier tree measured
        used = {frozenset(e) for e in edges}
        edges += spanning_tree({e: -1.0 if frozenset(e) in used else w
                                for e, w in mi.items()}, cols)
    tables: dict[tuple[str, str], list[np.ndarray]] = {}
    for a, b in edges:  # one noisy table per reserved event
        key = next((k for k in tables if set(k) == {a, b}), (a, b))
        ca, cb = real[key[0]], real[key[1]]
        kb = size[key[1]]
        table = np.bincount(ca * kb + cb, minlength=size[key[0]] * kb).astype(float)
        if sigma > 0:
            table = table + rng.normal(0.0, sigma, table.shape)
        else:
            table[table < min_count] = np.nan
        tables.setdefault(key, []).append(table)
    out = []
    for (a, b), noisy in tables.items():  # a pair measured m times: the mean, sigma/sqrt(m)
        out.append(PairMarginal((a, b), coarse[a], coarse[b],
                                np.mean(noisy, axis=0).reshape(size[a], size[b]),
                                float(sigma / math.sqrt(len(noisy)))))
    return out
