"""The two ClustMix fits (3A Algorithm 2): ``fit_paper`` and ``fit_strict``.

Both take the features already mapped to [0, 1] (:func:`.release.to_unit`), the class of every
row, and return a :class:`FitResult`: released cluster means (unit space), the class of each
cluster, sampling weights, optional numeric variances, a JSON-able privacy record and fit
information. See :mod:`.generator` for the method and what each mode guarantees.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lookalike.errors import InvalidDataError, InvalidParameterError
from lookalike.models.clustmix import release as rel
from lookalike.models.clustmix.constrained_gmm import (
    fit_constrained_gmm,
    min_size_assign,
    sq_distances,
)
from lookalike.privacy import PrivacyLedger, compose_mu, epsilon_from_mu, mu_from_epsilon_delta

log = logging.getLogger(__name__)

#: Rows per cluster aimed at, in units of l_min, when the number of clusters is automatic.
FILL = 1.25
#: Spread (unit-cube std) of the strict mode's initial centres around the noisy class mean.
INIT_SPREAD = 0.1
#: NTK bias variance (neural-tangents' common b_std = 0.1).
NTK_BIAS = 0.01
#: Per-row clipping norm of the DP KIP gradients.
KIP_CLIP = 1.0


@dataclass
class FitResult:
    """What a ClustMix fit releases (plus non-sensitive fit information)."""

    means: np.ndarray
    cluster_class: np.ndarray
    weights: np.ndarray
    variances: np.ndarray | None
    privacy: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)


def allocate(total: int, sizes: np.ndarray, caps: np.ndarray) -> np.ndarray:
    """Split ``total`` clusters over classes in proportion to ``sizes`` (D'Hondt), <= ``caps``.

    Every class with ``cap >= 1`` gets one cluster first (largest classes first) while
    clusters remain.

    Examples
    --------
    >>> allocate(5, np.array([300.0, 100.0]), np.array([10, 10])).tolist()
    [4, 1]
    """
    k = np.zeros(len(sizes), dtype=np.int64)
    left = int(total)
    for c in np.argsort(-sizes, kind="stable"):
        if left and caps[c] >= 1:
            k[c] = 1
            left -= 1
    while left > 0:
        room = k < caps
        if not room.any():
            break
        score = np.where(room, sizes / (k + 1.0), -np.inf)
        k[int(np.argmax(score))] += 1
        left -= 1
    return k


def _drop_small(k: np.ndarray, policy: str, l_min: int, what: str) -> None:
    """Warn about (or refuse) classes that get no cluster; raise if none is left."""
    empty = np.flatnonzero(k == 0)
    if len(empty) and policy == "raise":
        raise InvalidDataError(
            f"class(es) {empty.tolist()} of the target ({what}) are too small for one cluster "
            f"of l_min={l_min} rows. Raise epsilon or sigma_max, or use small_class='drop' to "
            "leave them out of the synthetic data.")
    for c in empty:
        log.warning("class %d of the target is too small for one cluster of l_min=%d rows "
                    "(%s): it is dropped and the synthetic data will not contain it. Raise "
                    "epsilon or sigma_max to keep it.", int(c), l_min, what)
    if k.sum() == 0:
        raise InvalidDataError(
            f"no class of the table is large enough for one cluster of l_min={l_min} rows "
            f"({what}). Use more rows, a larger epsilon or a larger sigma_max.")


def _summary(accounting: str, ledger: PrivacyLedger, *, mu: float, epsilon: float,
             delta: float, scope: str, extra: dict[str, Any]) -> dict[str, Any]:
    spent = ledger.spent
    return {
        "mechanism": "clustmix (3A: Madl et al. 2023)", "accounting": accounting,
        "epsilon": float(spent.epsilon), "delta": float(delta), "mu": float(mu),
        "target_epsilon": float(epsilon), "composition": spent.method, "scope": scope,
        "neighbouring": "add or remove one row", **extra,
        "ledger": ledger.to_dict(),
    }


# --------------------------------------------------------------------------- paper mode
def paper_clusters(sizes: np.ndarray, *, epsilon: float, delta: float, sigma_max: float,
                   n_features: int, n_clusters: int | None) -> tuple[int, int, np.ndarray]:
    """(C, l_min, clusters per class) for the paper mode.

    ``l_min(C) = ceil(sqrt(C D) / (mu sigma_max))`` (Theorem 2). With ``n_clusters=None``, C is
    the largest number for which the classes can host C clusters of about ``FILL * l_min(C)``
    rows each.
    """
    mu = mu_from_epsilon_delta(epsilon, delta)

    def l_of(c: int) -> int:
        return max(1, math.ceil(math.sqrt(c * n_features) / (mu * sigma_max)))

    if n_clusters is None:
        best = 1
        for c in range(1, int(sizes.sum()) + 1):
            ell = l_of(c)
            if c * ell > sizes.sum():
                break
            if np.floor(sizes / (FILL * ell)).sum() >= c:
                best = c
        n_clusters = best
        caps = np.floor(sizes / (FILL * l_of(best))).astype(np.int64)
    else:
        caps = np.floor(sizes / l_of(n_clusters)).astype(np.int64)
    ell = rel.paper_l_min(epsilon, delta, sigma_max, n_clusters, n_features)
    caps = np.minimum(caps, np.floor(sizes / ell).astype(np.int64))
    return n_clusters, ell, allocate(n_clusters, sizes, caps)


def fit_paper(u: np.ndarray, y: np.ndarray, n_classes: int, umap: rel.UnitMap,
              rng: np.random.Generator, *, epsilon: float, delta: float, sigma_max: float,
              n_clusters: int | None, alpha: float, ridge: float, kip: bool, kip_steps: int,
              ntk_depth: int, small_class: str, secure: bool, max_seconds: float,
              jitter: bool) -> FitResult:
    """3A as published: constrained GMM -> KIP -> constrained re-assignment -> Theorem 2.

    Examples
    --------
    >>> from lookalike.encoding.base import Segment
    >>> umap = rel.build_unit_map((Segment("a", "numeric", 0, 1),), None, 4.0)
    >>> rng = np.random.default_rng(0)
    >>> u = rng.random((3000, 1)); y = (u[:, 0] > 0.5).astype(int)
    >>> res = fit_paper(u, y, 2, umap, rng, epsilon=1.0, delta=1e-4, sigma_max=0.1,
    ...                 n_clusters=None, alpha=0.5, ridge=0.01, kip=False, kip_steps=0,
    ...                 ntk_depth=2, small_class="drop", secure=False, max_seconds=5.0,
    ...                 jitter=True)
    >>> res.privacy["accounting"], res.privacy["epsilon"] <= 1.0, sorted(set(res.cluster_class.tolist()))
    ('paper', True, [0, 1])
    """
    start = time.monotonic()
    dim = umap.dim
    sizes = np.bincount(y, minlength=n_classes).astype(float)
    c_req, l_min, k = paper_clusters(sizes, epsilon=epsilon, delta=delta, sigma_max=sigma_max,
                                     n_features=dim, n_clusters=n_clusters)
    if k.sum() < c_req and n_clusters is not None and k.sum() > 0:
        raise InvalidParameterError(
            f"n_clusters={n_clusters} clusters of at least l_min={l_min} rows do not fit in "
            f"the classes of this table; use n_clusters <= {int(k.sum())} or a larger "
            "sigma_max / epsilon.")
    _drop_small(k, small_class, l_min, "fewer rows than l_min")
    centres, classes, methods = [], [], {}
    for c in np.flatnonzero(k):
        res = fit_constrained_gmm(u[y == c], int(k[c]), l_min, rng, max_seconds=max_seconds)
        centres.append(res.means)
        classes += [int(c)] * int(k[c])
        methods[str(int(c))] = res.method
    support = np.vstack(centres)
    classes = np.array(classes, dtype=np.int64)
    if kip:
        from lookalike.models.clustmix.kip import centred_onehot, kip_adapt

        support, _ = kip_adapt(support, centred_onehot(classes, n_classes), u,
                               centred_onehot(y, n_classes), alpha=alpha, ridge=ridge,
                               depth=ntk_depth, steps=kip_steps, rng=rng, bias=NTK_BIAS)
    ledger = PrivacyLedger(epsilon, delta)
    means = np.zeros_like(support)
    sigmas = np.zeros(len(support))
    for c in np.flatnonzero(k):
        rows = np.flatnonzero(y == c)
        idx = np.flatnonzero(classes == c)
        labels = min_size_assign(sq_distances(u[rows], support[idx]), l_min)
        noisy, sig = rel.release_paper(u[rows], labels, len(idx), sigma_max=sigma_max,
                                       l_min=l_min, rng=rng, ledger=ledger, secure=secure)
        means[idx] = np.clip(noisy, 0.0, 1.0)
        sigmas[idx] = sig
    n_released = len(support)
    means = rel.project_groups(means, umap)
    variances = (np.maximum(centroid_spread(means[:, umap.numeric], classes, sigma_max, dim),
                            sigma_max ** 2) if jitter else None)
    mu = rel.paper_mu(sigma_max, l_min, n_released, dim)
    privacy = _summary(
        "paper", ledger, mu=mu, epsilon=epsilon, delta=delta,
        scope="release step only (3A Theorem 2): the clustering, class sizes and the KIP "
              "adaptation are treated as data-independent, as in the paper's proof; they "
              "are not",
        extra={"theorem2": {"n_clusters": n_released, "n_features": dim, "l_min": l_min,
                            "sigma_max": sigma_max, "mu": mu,
                            "epsilon": float(epsilon_from_mu(mu, delta))},
               "sigma_per_cluster": sigmas.tolist()})
    info = {"l_min": l_min, "n_clusters": n_released, "clustering": methods, "kip": kip,
            "seconds": time.monotonic() - start}
    return FitResult(means, classes, np.ones(n_released), variances, privacy, info)


def centroid_spread(numeric_means: np.ndarray, classes: np.ndarray, default_std: float,
                    dim: int = 1) -> np.ndarray:
    """Paper-mode jitter variance: a kernel density estimate over the released centroids.

    Theorem 2 releases means only, so the within-cluster variance is unknown. Each cluster
    gets the variance of a Gaussian KDE over its class's released centroids with Scott's
    bandwidth (Scott 1992, Eq. 6.42): the centroids' variance per numeric feature times
    ``C_c ** (-2 / (dim + 4))`` (all centroids if the class has one; ``default_std ** 2`` for
    a single centroid). Post-processing only.

    Examples
    --------
    >>> centroid_spread(np.array([[0.2], [0.4], [0.9]]), np.array([0, 0, 1]), 0.1).round(3)
    array([[0.008],
           [0.008],
           [0.087]])
    """
    out = np.zeros_like(numeric_means)
    overall = (numeric_means.var(0) if len(numeric_means) > 1
               else np.full(numeric_means.shape[1], default_std ** 2))
    for c in np.unique(classes):
        idx = classes == c
        k = int(idx.sum())
        out[idx] = numeric_means[idx].var(0) * k ** (-2.0 / (dim + 4)) if k > 1 else overall
    return out


# --------------------------------------------------------------------------- strict mode
def restricted_labels(u: np.ndarray, y: np.ndarray, centres: np.ndarray,
                      classes: np.ndarray) -> np.ndarray:
    """Nearest centre of the row's own class (a per-row rule: one row moves one cluster).

    Examples
    --------
    >>> u = np.array([[0.0], [1.0]]); c = np.array([[0.9], [0.1]])
    >>> restricted_labels(u, np.array([0, 0]), c, np.array([0, 0])).tolist()
    [1, 0]
    """
    d = sq_distances(u, centres)
    d[y[:, None] != classes[None, :]] = np.inf
    return np.argmin(d, axis=1)


def _initial_centres(mean: np.ndarray, k: int, umap: rel.UnitMap,
                     rng: np.random.Generator) -> np.ndarray:
    """k starting centres around a (noisy) class mean: jittered numerics, one-hot draws.

    Post-processing of the DP class mean with public randomness. A one-hot group starts half
    way between the class's category distribution and one category drawn from it.
    """
    out = np.clip(mean[None, :] + rng.normal(0.0, INIT_SPREAD, (k, len(mean))), 0.0, 1.0)
    for a, b in umap.groups:
        p = np.clip(mean[a:b], 1e-6, None)
        p = p / p.sum()
        pick = rng.choice(b - a, size=k, p=p)
        block = np.zeros((k, b - a))
        block[np.arange(k), pick] = 1.0
        out[:, a:b] = 0.5 * block + 0.5 * p[None, :]
    return out


def pooled_variances(deviations: np.ndarray, counts: np.ndarray, classes: np.ndarray,
                     n_classes: int, radius: float) -> np.ndarray:
    """Pooled within-cluster numeric variance of every class from the released deviations.

    ``deviations[c]`` is the noisy sum over class ``c``'s rows in kept clusters of
    ``min((u - m_k)^2, r^2) - r^2/2`` around the *released* means ``m_k``;
    ``E_c = r^2/2 + D_c / n_c`` (``n_c`` = the kept clusters' noisy counts) estimates the
    mean squared deviation of a row from its released cluster mean: the within-cluster
    variance plus the mean's own noise variance. The latter is deliberately kept (sampling
    around an uncertain mean; subtracting it leaves zero variance on small noisy tables).
    Clipped to [0, r^2]. Post-processing only.

    Examples
    --------
    >>> pooled_variances(np.array([[-0.5]]), np.array([10.0, 10.0]), np.array([0, 0]), 1,
    ...                  0.25).round(5).tolist()
    [[0.00625]]
    """
    cnt = np.maximum(counts, 1.0)
    out = np.zeros((n_classes, deviations.shape[1]))
    for c in range(n_classes):
        idx = classes == c
        if idx.any():
            out[c] = radius ** 2 / 2.0 + deviations[c] / cnt[idx].sum()
    return np.clip(out, 0.0, radius ** 2)


def _split_largest(centres: np.ndarray, classes: np.ndarray, ok: np.ndarray,
                   counts: np.ndarray, rng: np.random.Generator) -> None:
    """Move each starved centre next to the largest live centre of its class (in place).

    The classic empty-cluster fix of k-means: the next iteration splits the large cluster.
    Only noisy counts and noisy centres are read (post-processing).
    """
    for c in np.unique(classes[~ok]):
        live = np.flatnonzero(ok & (classes == c))
        if len(live) == 0:
            continue
        load = counts[live].astype(float).copy()
        for d in np.flatnonzero(~ok & (classes == c)):
            j = int(np.argmax(load))
            centres[d] = np.clip(centres[live[j]] + rng.normal(0.0, 0.02, centres.shape[1]),
                                 0.0, 1.0)
            load[j] /= 2.0


def fit_strict(u: np.ndarray, y: np.ndarray, n_classes: int, umap: rel.UnitMap,
               rng: np.random.Generator, *, epsilon: float, delta: float, sigma_max: float,
               n_clusters: int | None, alpha: float, ridge: float, kip: bool, kip_steps: int,
               ntk_depth: int, small_class: str, secure: bool, lloyd_iters: int,
               jitter: bool, reseed: bool = True) -> FitResult:
    """Every data access a Gaussian mechanism, composed in GDP (see :mod:`.generator`).

    Examples
    --------
    >>> from lookalike.encoding.base import Segment
    >>> umap = rel.build_unit_map((Segment("a", "numeric", 0, 1),), None, 4.0)
    >>> rng = np.random.default_rng(0)
    >>> u = rng.random((3000, 1)); y = (u[:, 0] > 0.5).astype(int)
    >>> res = fit_strict(u, y, 2, umap, rng, epsilon=1.0, delta=1e-4, sigma_max=0.05,
    ...                  n_clusters=None, alpha=0.5, ridge=0.01, kip=False, kip_steps=0,
    ...                  ntk_depth=2, small_class="drop", secure=False, lloyd_iters=3,
    ...                  jitter=True)
    >>> res.privacy["composition"], round(res.privacy["epsilon"], 6)
    ('gdp', 1.0)
    """
    start = time.monotonic()
    row_bound = rel.row_norm_bound(umap)
    num = umap.numeric
    plan = rel.plan_strict(epsilon, delta, row_bound=row_bound,
                           square_bound=rel.square_norm_bound(umap), lloyd_iters=lloyd_iters,
                           kip_steps=kip_steps if kip else 0, jitter=jitter and len(num) > 0)
    ledger = PrivacyLedger(epsilon, delta)
    common = {"row_bound": row_bound, "rng": rng, "ledger": ledger, "secure": secure}
    cls = rel.release_sums(u, y, n_classes, umap.centre, sigma_sum=plan.sigma_class_sum,
                           sigma_count=plan.sigma_class_count, label="class totals", **common)
    n_hat = np.maximum(cls.counts, 0.0)
    class_means = cls.means(umap.centre)
    l_min = max(1, math.ceil(plan.sigma_final_sum / sigma_max))
    if n_clusters is None:
        k = np.floor(n_hat / (FILL * l_min)).astype(np.int64)
    else:
        k = allocate(n_clusters, n_hat, np.floor(n_hat).astype(np.int64))
    _drop_small(k, small_class, l_min, "judged by its noisy row count")
    centres = np.vstack([_initial_centres(class_means[c], int(k[c]), umap, rng)
                         for c in np.flatnonzero(k)])
    classes = np.repeat(np.flatnonzero(k), k[k > 0]).astype(np.int64)
    active = np.isin(y, classes)  # rows of dropped classes take part in no cluster release
    u_all, y_all = u, y
    u, y = u[active], y[active]
    min_lloyd = 2.0 * plan.sigma_lloyd_sum  # a centre with a smaller noisy count stays put
    for it in range(lloyd_iters):
        labels = restricted_labels(u, y, centres, classes)
        st = rel.release_sums(u, labels, len(centres), umap.centre,
                              sigma_sum=plan.sigma_lloyd_sum, sigma_count=plan.sigma_lloyd_count,
                              label=f"Lloyd iteration {it + 1}", **common)
        ok = st.counts >= min_lloyd
        centres[ok] = st.means(umap.centre)[ok]
        if reseed and it < lloyd_iters - 1:
            _split_largest(centres, classes, ok, st.counts, rng)
    if kip:
        from lookalike.models.clustmix.kip import centred_onehot, kip_adapt_dp

        centres, _ = kip_adapt_dp(centres, centred_onehot(classes, n_classes), u_all,
                                  centred_onehot(y_all, n_classes), alpha=alpha, ridge=ridge,
                                  depth=ntk_depth, steps=kip_steps, clip=KIP_CLIP,
                                  noise_multiplier=plan.kip_noise_multiplier,
                                  n_rows=float(max(n_hat.sum(), 1.0)), rng=rng, ledger=ledger,
                                  bias=NTK_BIAS, secure=secure)
    labels = restricted_labels(u, y, centres, classes)
    final = rel.release_sums(u, labels, len(centres), umap.centre,
                             sigma_sum=plan.sigma_final_sum, sigma_count=plan.sigma_final_count,
                             label="final release", **common)
    keep = final.counts >= l_min / 2.0
    if not keep.any():
        raise InvalidDataError(
            f"every cluster's noisy size fell below l_min/2={l_min / 2:g} rows: the table is "
            "too small for this epsilon and sigma_max. Use more rows, a larger epsilon or a "
            "larger sigma_max.")
    all_means = rel.project_groups(final.means(umap.centre), umap)
    variances = None
    if plan.sigma_final_square is not None:
        rows = keep[labels]  # deviations around the released means of the kept clusters
        deviations = rel.release_deviations(u[rows], y[rows], labels[rows], all_means,
                                            n_classes, umap, sigma=plan.sigma_final_square,
                                            rng=rng, ledger=ledger, secure=secure)
        pooled = pooled_variances(deviations, final.counts[keep], classes[keep], n_classes,
                                  rel.deviation_radius(umap))
        variances = np.maximum(pooled[classes[keep]], sigma_max ** 2)
    means = all_means[keep]
    privacy = _summary(
        "strict", ledger, mu=compose_mu(e.mu for e in ledger.events), epsilon=epsilon,
        delta=delta,
        scope="whole generator fit: class totals, Lloyd iterations, KIP gradients, the final "
              "cluster sums and counts and the per-class squared deviations are Gaussian "
              "mechanisms composed in Gaussian DP",
        extra={"plan": plan.to_json(), "shares_of_mu_squared": dict(rel.STRICT_SHARES),
               "l_min": l_min, "feature_bound": umap.bound})
    dropped = np.flatnonzero(k == 0).tolist()
    info = {"l_min": l_min, "n_clusters": int(keep.sum()),
            "clusters_dropped_small": int((~keep).sum()), "classes_dropped": dropped,
            "kip": kip, "seconds": time.monotonic() - start}
    return FitResult(means, classes[keep], np.maximum(final.counts[keep], 0.0), variances,
                     privacy, info)
