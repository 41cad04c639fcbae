"""Privacy side of ClustMix: the [0, 1] feature map, the noise plans of both accounting modes,
and the noisy releases (through :func:`lookalike.privacy.gaussian_mechanism` and a
:class:`~lookalike.privacy.PrivacyLedger`).

**Feature map.** The 3A paper scales every feature to [0, 1] (Madl et al. 2023, Algorithm 2,
step 1). ClustMix receives the facade's continuous view and maps it with *declared* bounds:
a numeric column ``z`` (standardised by the encoder) becomes ``(clip(z, -b, b) + b) / (2b)``
with the public constant ``b = feature_bound``; one-hot groups are already in {0, 1}; a cyclic
(sin, cos) pair becomes ``(v + 1) / 2``. Nothing is taken from the data here. (The encoder's
own standardisation constants and clipping quantiles *are* data-derived and not covered by
the generator's accounting - see :mod:`.generator`.)

**Sensitivity.** Around the public centre ``c`` (0.5 for numeric and cyclic coordinates,
``1/k`` for a k-way one-hot group) one row satisfies
``||u - c||^2 <= 0.25 n_numeric + 0.25 n_cyclic_pairs + sum_groups (k - 1) / k``
(:func:`row_norm_bound`). Adding or removing one row therefore changes the vector of all
cluster sums ``sum (u - c)`` by at most that norm (a row is in one cluster only), the vector
of all counts by 1, and the per-class sums of clipped squared numeric deviations from the
cluster centres by ``sqrt(n_numeric) r^2 / 2`` (:func:`square_norm_bound`).

**Accounting.** Everything composes in Gaussian DP (Dong, Roth and Su 2019): a Gaussian
release of L2 sensitivity ``s`` with noise ``sigma`` is ``s / sigma``-GDP (Theorem 2.7),
releases compose as ``sqrt(sum mu_i^2)`` (Corollary 3.3), and ``mu`` converts to
``(epsilon, delta)`` by Corollary 2.13 (:mod:`lookalike.privacy.gdp`). The neighbouring
relation is add / remove one row.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from lookalike.encoding.base import Segment
from lookalike.errors import InvalidDataError
from lookalike.models.clustmix.constrained_gmm import cluster_sums
from lookalike.privacy import (
    PrivacyLedger,
    cluster_means_delta,
    cluster_means_mu,
    gaussian_mechanism,
    mu_from_epsilon_delta,
)

#: Shares of mu^2 (the GDP "budget") of the strict mode's steps; they sum to 1. The KIP share
#: goes to the other steps in proportion when KIP is off.
STRICT_SHARES = {"class": 0.05, "lloyd": 0.35, "kip": 0.10, "final": 0.50}
#: Split inside a step: noisy sums / counts (/ squares) of the same partition.
_SPLIT_CLASS = {"sum": 0.7, "count": 0.3}
_SPLIT_LLOYD = {"sum": 0.9, "count": 0.1}
_SPLIT_FINAL = {"sum": 0.87, "count": 0.05, "square": 0.08}
#: Calibrated sigmas are multiplied by this so float rounding never overshoots the budget.
_SAFETY = 1.0 + 1e-9


# --------------------------------------------------------------------------- feature map
@dataclass(frozen=True)
class UnitMap:
    """How the continuous view maps to the unit cube of the clustered features.

    ``columns`` are the view's column indices of the features (the target excluded), in the
    feature order; ``kind`` is 0 numeric, 1 one-hot, 2 cyclic for each feature;
    ``groups`` are the one-hot groups as (start, stop) in feature coordinates; ``centre`` is
    the public centre used for sensitivity; ``names`` the column of each feature.
    """

    columns: np.ndarray
    kind: np.ndarray
    groups: tuple[tuple[int, int], ...]
    centre: np.ndarray
    bound: float
    names: tuple[str, ...]

    @property
    def dim(self) -> int:
        return len(self.columns)

    @property
    def numeric(self) -> np.ndarray:
        return np.flatnonzero(self.kind == 0)


def build_unit_map(segments: tuple[Segment, ...], target: str | None, bound: float) -> UnitMap:
    """The :class:`UnitMap` of a continuous-view layout (target columns left out).

    Examples
    --------
    >>> segs = (Segment("a", "numeric", 0, 1), Segment("b", "softmax", 1, 4))
    >>> build_unit_map(segs, None, 4.0).centre.round(3).tolist()
    [0.5, 0.333, 0.333, 0.333]
    """
    cols: list[int] = []
    kinds: list[int] = []
    centre: list[float] = []
    names: list[str] = []
    groups: list[tuple[int, int]] = []
    for seg in segments:
        if seg.column == target:
            continue
        start = len(cols)
        cols.extend(range(seg.start, seg.stop))
        names.extend([seg.column] * seg.width)
        if seg.kind == "numeric":
            kinds.extend([0] * seg.width)
            centre.extend([0.5] * seg.width)
        elif seg.kind == "softmax":
            kinds.extend([1] * seg.width)
            centre.extend([1.0 / seg.width] * seg.width)
            groups.append((start, start + seg.width))
        else:
            kinds.extend([2] * seg.width)
            centre.extend([0.5] * seg.width)
    return UnitMap(np.array(cols, dtype=np.int64), np.array(kinds, dtype=np.int64),
                   tuple(groups), np.array(centre, dtype=float), float(bound), tuple(names))


def to_unit(values: np.ndarray, umap: UnitMap, out_of_bounds: str) -> np.ndarray:
    """Continuous view -> features in [0, 1] (see the module docstring).

    Numeric values outside ``[-bound, bound]`` are clipped (``out_of_bounds="clip"``) or
    raise :class:`InvalidDataError` naming the columns (``"raise"``). One-hot groups must be
    exactly one-hot (the encoder guarantees it; the sensitivity bound relies on it).

    Examples
    --------
    >>> umap = build_unit_map((Segment("a", "numeric", 0, 1),), None, 4.0)
    >>> to_unit(np.array([[-4.0], [0.0], [9.0]]), umap, "clip").ravel().tolist()
    [0.0, 0.5, 1.0]
    """
    x = values[:, umap.columns].astype(float)
    num = umap.kind == 0
    if num.any():
        z = x[:, num]
        outside = np.abs(z) > umap.bound
        if outside.any() and out_of_bounds == "raise":
            bad = sorted({umap.names[j] for j in np.flatnonzero(num)[outside.any(0)]})
            raise InvalidDataError(
                f"column(s) {bad}: standardised values lie outside the declared range "
                f"[-{umap.bound:g}, {umap.bound:g}] of ClustMix; raise 'feature_bound' or use "
                "out_of_bounds='clip' (values are then clipped to the range).")
        x[:, num] = (np.clip(z, -umap.bound, umap.bound) + umap.bound) / (2.0 * umap.bound)
    cyc = umap.kind == 2
    if cyc.any():
        x[:, cyc] = (np.clip(x[:, cyc], -1.0, 1.0) + 1.0) / 2.0
    for a, b in umap.groups:
        block = x[:, a:b]
        ok = np.isin(block, (0.0, 1.0)).all(1) & (block.sum(1) == 1.0)
        if not ok.all():
            raise InvalidDataError(
                f"column {umap.names[a]!r}: the one-hot group of the continuous view is not "
                f"one-hot in {int((~ok).sum())} row(s); ClustMix needs the encoder's view.")
    return x


def from_unit(u: np.ndarray, umap: UnitMap, width: int) -> np.ndarray:
    """Unit-cube features -> continuous-view columns (target columns left at 0).

    Examples
    --------
    >>> umap = build_unit_map((Segment("a", "numeric", 0, 1),), None, 4.0)
    >>> from_unit(np.array([[0.25]]), umap, 1).tolist()
    [[-2.0]]
    """
    out = np.zeros((len(u), width))
    x = np.clip(u, 0.0, 1.0)
    num = umap.kind == 0
    x[:, num] = x[:, num] * 2.0 * umap.bound - umap.bound
    cyc = umap.kind == 2
    x[:, cyc] = x[:, cyc] * 2.0 - 1.0
    out[:, umap.columns] = x
    return out


def row_norm_bound(umap: UnitMap) -> float:
    """Largest ``||u - centre||`` of one row (L2 sensitivity of centred cluster sums).

    Examples
    --------
    >>> segs = (Segment("a", "numeric", 0, 1), Segment("b", "softmax", 1, 3))
    >>> round(row_norm_bound(build_unit_map(segs, None, 4.0)) ** 2, 6)  # 0.25 + 1/2
    0.75
    """
    n_num = int((umap.kind == 0).sum())
    n_cyc_pairs = int((umap.kind == 2).sum()) / 2.0
    groups = sum(max((b - a - 1) / (b - a), 1.0 / (b - a)) for a, b in umap.groups)
    return math.sqrt(0.25 * n_num + 0.25 * n_cyc_pairs + groups)


def deviation_radius(umap: UnitMap) -> float:
    """Clipping radius of numeric deviations from a cluster centre: 2 standardised units.

    In the unit cube a standardised unit is ``1 / (2 * feature_bound)``, so the radius is
    ``1 / feature_bound`` (at most 1/2).

    Examples
    --------
    >>> deviation_radius(build_unit_map((Segment("a", "numeric", 0, 1),), None, 4.0))
    0.25
    """
    return min(0.5, 1.0 / umap.bound)


def square_norm_bound(umap: UnitMap) -> float:
    """L2 sensitivity of the centred clipped squared deviations: ``sqrt(n_num) r^2 / 2``.

    Each numeric coordinate contributes ``min((u - c)^2, r^2) - r^2/2`` in ``[-r^2/2, r^2/2]``
    (:func:`release_deviations`).

    Examples
    --------
    >>> segs = (Segment("a", "numeric", 0, 1), Segment("b", "numeric", 1, 2))
    >>> round(square_norm_bound(build_unit_map(segs, None, 4.0)), 6)  # sqrt(2) * 0.25**2 / 2
    0.044194
    """
    r = deviation_radius(umap)
    return math.sqrt(int((umap.kind == 0).sum())) * r * r / 2.0


def project_simplex(v: np.ndarray) -> np.ndarray:
    """Euclidean projection of every row of ``v`` onto the probability simplex.

    Sort-based algorithm of Duchi, Shalev-Shwartz, Singer and Chandra (2008), "Efficient
    projections onto the l1-ball", Figure 1 (also Wang and Carreira-Perpinan 2013). Applied
    to a noisy one-hot mean it zeroes the many small noisy entries instead of letting their
    positive parts add up to a large share (pure post-processing).

    Examples
    --------
    >>> project_simplex(np.array([[0.9, 0.1, -0.05, 0.12]])).round(3).tolist()
    [[0.86, 0.06, 0.0, 0.08]]
    """
    srt = -np.sort(-v, axis=1)
    css = np.cumsum(srt, axis=1) - 1.0
    ind = np.arange(1, v.shape[1] + 1)
    rho = (srt - css / ind > 0).sum(axis=1)
    tau = css[np.arange(len(v)), rho - 1] / rho
    return np.maximum(v - tau[:, None], 0.0)


def project_groups(means: np.ndarray, umap: UnitMap) -> np.ndarray:
    """Released means with every one-hot group projected onto the simplex (post-processing)."""
    out = means.copy()
    for a, b in umap.groups:
        out[:, a:b] = project_simplex(means[:, a:b])
    return out


# --------------------------------------------------------------------------- paper mode
def paper_l_min(epsilon: float, delta: float, sigma_max: float, n_clusters: int,
                n_features: int) -> int:
    """Smallest cluster size l for which the 3A release is (epsilon, delta)-DP at sigma_max.

    3A paper, Theorem 2 / Equation 7: releasing C means of D features in [0, 1], every
    cluster >= l rows, with per-coordinate noise sigma is ``mu = sqrt(CD) / (l sigma)``-GDP;
    so ``l = ceil(sqrt(CD) / (mu sigma_max))`` with ``mu`` the largest GDP parameter
    meeting (epsilon, delta) (Dong, Roth and Su 2019, Cor. 2.13), checked against
    :func:`lookalike.privacy.cluster_means_delta`.

    Examples
    --------
    >>> paper_l_min(1.0, 1e-5, 0.1, n_clusters=10, n_features=100)
    1180
    """
    mu = mu_from_epsilon_delta(epsilon, delta)
    ell = max(1, math.ceil(math.sqrt(n_clusters * n_features) / (mu * sigma_max)))
    while cluster_means_delta(epsilon, sigma_max, ell, n_clusters, n_features) > delta:
        ell += 1
    return ell


def release_paper(u: np.ndarray, labels: np.ndarray, k: int, *, sigma_max: float, l_min: int,
                  rng: np.random.Generator, ledger: PrivacyLedger,
                  secure: bool = False) -> tuple[np.ndarray, list[float]]:
    """Noisy cluster means as in the 3A paper (Theorem 2), one Gaussian event per cluster.

    A cluster of ``l >= l_min`` rows gets per-coordinate noise
    ``sigma_t = sigma_max * l_min / l`` (larger clusters, less noise), so each mean is
    ``sqrt(D) / (l sigma_t) = sqrt(D) / (l_min sigma_max)``-GDP and the ``C`` means together
    ``sqrt(CD) / (l_min sigma_max)``-GDP - Theorem 2's ``mu``. The partition itself is
    treated as data-independent, as the paper's proof does.

    Returns the noisy means (k, D) and the sigma used for each cluster.

    Examples
    --------
    >>> u = np.random.default_rng(0).random((30, 2)); labels = np.repeat([0, 1], [10, 20])
    >>> ledger = PrivacyLedger(10.0, 1e-5)
    >>> means, sigmas = release_paper(u, labels, 2, sigma_max=0.1, l_min=10,
    ...                               rng=np.random.default_rng(1), ledger=ledger)
    >>> means.shape, [round(s, 3) for s in sigmas], len(ledger)
    ((2, 2), [0.1, 0.05], 2)
    """
    d = u.shape[1]
    sizes = np.bincount(labels, minlength=k)
    if sizes.min() < l_min:
        raise RuntimeError("release_paper needs clusters of at least l_min rows")  # pragma: no cover
    means = np.zeros((k, d))
    sigmas = []
    for t in range(k):
        ell = int(sizes[t])
        sigma_t = sigma_max * l_min / ell * _SAFETY
        exact = u[labels == t].mean(0)
        means[t], _ = gaussian_mechanism(exact, math.sqrt(d) / ell, sigma_t, rng,
                                         label=f"cluster mean {t} (Theorem 2)", ledger=ledger,
                                         secure=secure)
        sigmas.append(sigma_t)
    return means, sigmas


def paper_mu(sigma_max: float, l_min: int, n_clusters: int, n_features: int) -> float:
    """Theorem 2's ``mu = sqrt(CD) / (l sigma)`` (:func:`lookalike.privacy.cluster_means_mu`).

    Examples
    --------
    >>> round(paper_mu(0.1, 100, 4, 25), 12)  # sqrt(100) / (100 * 0.1)
    1.0
    """
    return cluster_means_mu(sigma_max, l_min, n_clusters, n_features)


# --------------------------------------------------------------------------- strict mode
@dataclass(frozen=True)
class StrictPlan:
    """Noise of every strict-mode release (standard deviations; sensitivities alongside).

    ``mu`` is the GDP parameter of the whole fit, the largest meeting (epsilon, delta).
    """

    mu: float
    row_bound: float
    square_bound: float
    sigma_class_sum: float
    sigma_class_count: float
    lloyd_iters: int
    sigma_lloyd_sum: float
    sigma_lloyd_count: float
    kip_steps: int
    kip_noise_multiplier: float
    sigma_final_sum: float
    sigma_final_count: float
    sigma_final_square: float | None

    def to_json(self) -> dict:
        return asdict(self)


def plan_strict(epsilon: float, delta: float, *, row_bound: float, square_bound: float,
                lloyd_iters: int, kip_steps: int, jitter: bool) -> StrictPlan:
    """Split the GDP budget ``mu = mu(epsilon, delta)`` over the strict-mode releases.

    Each step gets the share :data:`STRICT_SHARES` of ``mu^2``; a release of sensitivity
    ``s`` with share ``w`` gets ``sigma = s / (mu sqrt(w))``, so the squares add up to
    ``mu^2`` (Dong, Roth and Su 2019, Cor. 3.3). The ``lloyd_iters`` iterations (and the
    ``kip_steps`` DP gradient steps) share their step's part equally.

    Examples
    --------
    >>> p = plan_strict(1.0, 1e-5, row_bound=2.0, square_bound=0.25, lloyd_iters=4,
    ...                 kip_steps=0, jitter=True)
    >>> p.lloyd_iters, p.sigma_lloyd_sum > p.sigma_final_sum
    (4, True)
    """
    mu = mu_from_epsilon_delta(epsilon, delta)
    shares = dict(STRICT_SHARES)
    if kip_steps == 0:
        rest = 1.0 - shares.pop("kip")
        shares = {k: v / rest for k, v in shares.items()}
    final = dict(_SPLIT_FINAL)
    if not jitter:
        rest = 1.0 - final.pop("square")
        final = {k: v / rest for k, v in final.items()}

    def sigma(sens: float, share: float) -> float:
        return sens / (mu * math.sqrt(share)) * _SAFETY

    per_iter = shares["lloyd"] / lloyd_iters
    kip_mult = 0.0
    if kip_steps:
        kip_mult = sigma(1.0, shares["kip"] / kip_steps)
    return StrictPlan(
        mu=mu, row_bound=row_bound, square_bound=square_bound,
        sigma_class_sum=sigma(row_bound, shares["class"] * _SPLIT_CLASS["sum"]),
        sigma_class_count=sigma(1.0, shares["class"] * _SPLIT_CLASS["count"]),
        lloyd_iters=lloyd_iters,
        sigma_lloyd_sum=sigma(row_bound, per_iter * _SPLIT_LLOYD["sum"]),
        sigma_lloyd_count=sigma(1.0, per_iter * _SPLIT_LLOYD["count"]),
        kip_steps=kip_steps, kip_noise_multiplier=kip_mult,
        sigma_final_sum=sigma(row_bound, shares["final"] * final["sum"]),
        sigma_final_count=sigma(1.0, shares["final"] * final["count"]),
        sigma_final_square=(sigma(square_bound, shares["final"] * final["square"])
                            if jitter and square_bound > 0 else None),
    )


@dataclass
class NoisyStats:
    """Noisy centred sums (k, D) and counts (k,) of a partition."""

    sums: np.ndarray
    counts: np.ndarray

    def means(self, centre: np.ndarray, min_count: float = 1.0) -> np.ndarray:
        """``centre + sum / max(count, min_count)``, clipped to [0, 1] (post-processing).

        Examples
        --------
        >>> NoisyStats(np.array([[1.0]]), np.array([4.0])).means(np.array([0.5])).tolist()
        [[0.75]]
        """
        return np.clip(centre + self.sums / np.maximum(self.counts, min_count)[:, None], 0, 1)


def release_sums(u: np.ndarray, labels: np.ndarray, k: int, centre: np.ndarray, *,
                 sigma_sum: float, sigma_count: float, row_bound: float,
                 rng: np.random.Generator, ledger: PrivacyLedger, label: str,
                 secure: bool = False) -> NoisyStats:
    """Gaussian releases of the centred sums and counts of a partition (strict mode).

    The partition must be a function of each row alone (and of earlier DP releases), so
    that one row changes one cluster only; then the (k, D) sums have L2 sensitivity
    ``row_bound`` and the counts 1.

    Examples
    --------
    >>> u = np.full((6, 1), 0.7); ledger = PrivacyLedger(1e6, 1e-5)
    >>> st = release_sums(u, np.array([0, 0, 0, 1, 1, 1]), 2, np.array([0.5]), sigma_sum=1e-3,
    ...                   sigma_count=1e-3, row_bound=0.5, rng=np.random.default_rng(0),
    ...                   ledger=ledger, label="demo")
    >>> st.means(np.array([0.5])).round(2).tolist(), [e.label for e in ledger.events]
    ([[0.7], [0.7]], ['demo: cluster sums', 'demo: cluster counts'])
    """
    counts = np.bincount(labels, minlength=k).astype(float)
    sums = cluster_sums(u - centre, labels, k)
    noisy_sums, _ = gaussian_mechanism(sums, row_bound, sigma_sum, rng,
                                       label=f"{label}: cluster sums", ledger=ledger,
                                       secure=secure)
    noisy_counts, _ = gaussian_mechanism(counts, 1.0, sigma_count, rng,
                                         label=f"{label}: cluster counts", ledger=ledger,
                                         secure=secure)
    return NoisyStats(noisy_sums, noisy_counts)


def release_deviations(u: np.ndarray, y: np.ndarray, labels: np.ndarray, centres: np.ndarray,
                       n_classes: int, umap: UnitMap, *, sigma: float,
                       rng: np.random.Generator, ledger: PrivacyLedger,
                       secure: bool = False) -> np.ndarray:
    """Noisy per-class sums of clipped squared numeric deviations from the cluster centres.

    Row i contributes ``min((u_ij - c_k(i)j)^2, r^2) - r^2/2`` for every numeric feature j
    (``r`` = :func:`deviation_radius`; ``c`` must be already released, e.g. the noisy
    cluster means, so that this is an adaptive composition) to its class's sum, so the
    (n_classes, n_numeric) sums have L2 sensitivity :func:`square_norm_bound`. Pooled over a
    whole class, the noise is divided by the class size, unlike per-cluster squares (too
    noisy for small clusters).

    Examples
    --------
    >>> umap = build_unit_map((Segment("a", "numeric", 0, 1),), None, 4.0)
    >>> u = np.array([[0.4], [0.6]]); means = np.array([[0.5]])
    >>> d = release_deviations(u, np.array([0, 0]), np.array([0, 0]), means, 1, umap,
    ...                        sigma=1e-5, rng=np.random.default_rng(0),
    ...                        ledger=PrivacyLedger(1e8, 1e-5))
    >>> round(float(d[0, 0]), 4)  # 2 * (0.01 - 0.25**2 / 2)
    -0.0425
    """
    num = umap.numeric
    r2 = deviation_radius(umap) ** 2
    dev = np.minimum((u[:, num] - centres[labels][:, num]) ** 2, r2) - r2 / 2.0
    sums = cluster_sums(dev, y, n_classes)
    noisy, _ = gaussian_mechanism(sums, square_norm_bound(umap), sigma, rng,
                                  label="final release: clipped squared deviations per class",
                                  ledger=ledger, secure=secure)
    return noisy
