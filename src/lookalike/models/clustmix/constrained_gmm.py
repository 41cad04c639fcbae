"""Size-constrained clustering for the "Approximate" step of 3A: every cluster >= ``l_min`` rows.

The 3A paper (Madl, Xu, Choudhury and Howard 2023, arXiv:2307.01875, Algorithm 2) clusters
each class with a Gaussian mixture whose clusters must each hold at least ``l_min`` points,
because the noise of the released means is calibrated to ``l_min`` (its Theorem 2). This
module does that in three pure functions:

* :func:`min_size_assign` - assign rows to centres at low cost so that every centre gets at
  least ``l_min`` rows: start from the cheapest centre of each row, then fill each
  under-sized cluster with the rows of over-full clusters that are cheapest to move
  (smallest cost increase ``cost[i, k] - cost[i, label_i]``), never taking a donor below
  ``l_min``. Feasible whenever ``k * l_min <= n``. This is a greedy stand-in for the
  minimum-cost-flow assignment of Bradley, Bennett and Demiriz (2000), "Constrained k-means
  clustering" (Microsoft Research TR-2000-65), Eq. (2).
* :func:`constrained_kmeans` - Lloyd iterations whose assignment step is
  :func:`min_size_assign` on squared distances (Bradley et al. 2000, Algorithm 2.1).
* :func:`fit_constrained_gmm` - EM for a diagonal-covariance Gaussian mixture (Dempster,
  Laird and Rubin 1977), k-means++ initialisation (Arthur and Vassilvitskii 2007); the result
  is feasible when the MAP assignment gives every component ``>= l_min`` rows. If EM does not
  reach a feasible solution within ``max_iter`` iterations / ``max_seconds``, it falls back
  to :func:`constrained_kmeans` started from the EM means (as the brief of the 3A
  implementation asks: "fall back to size-constrained k-means").

All randomness comes from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from lookalike.errors import InvalidParameterError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Clustering:
    """Result of a size-constrained clustering.

    Attributes
    ----------
    means : ndarray (k, D) - cluster centres.
    labels : ndarray (n,) - cluster of each row.
    method : ``"gmm"`` (feasible EM solution) or ``"constrained_kmeans"`` (fallback).
    n_iter : iterations of the method that produced the result.
    """

    means: np.ndarray
    labels: np.ndarray
    method: str
    n_iter: int


def _check_sizes(owner: str, n: int, k: int, l_min: int) -> None:
    if k < 1:
        raise InvalidParameterError(f"The 'k' parameter of {owner} must be >= 1; got {k}.")
    if l_min < 1:
        raise InvalidParameterError(
            f"The 'l_min' parameter of {owner} must be >= 1; got {l_min}.")
    if k * l_min > n:
        raise InvalidParameterError(
            f"{owner}: {k} clusters of at least l_min={l_min} rows need {k * l_min} rows but "
            f"only {n} are given; use fewer clusters or a smaller l_min.")


def sq_distances(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances (n, k) between rows of ``x`` and ``c``, clipped at 0.

    Examples
    --------
    >>> sq_distances(np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]]))
    array([[25.]])
    """
    d = (x * x).sum(1)[:, None] - 2.0 * x @ c.T + (c * c).sum(1)[None, :]
    return np.maximum(d, 0.0)


def min_size_assign(cost: np.ndarray, l_min: int) -> np.ndarray:
    """Assign each row to a column of ``cost`` so that every column gets >= ``l_min`` rows.

    Greedy repair of the cheapest assignment (see the module docstring). Deterministic.

    Parameters
    ----------
    cost : ndarray of shape (n, k)
        Cost of putting row i in cluster j (e.g. squared distance).
    l_min : int
        Minimum cluster size; ``k * l_min <= n`` is required.

    Returns
    -------
    ndarray of shape (n,)
        Cluster index of every row.

    Examples
    --------
    >>> cost = np.array([[0.0, 5.0], [0.0, 4.0], [0.0, 1.0], [0.0, 3.0]])
    >>> min_size_assign(cost, 2)  # rows 2 and 3 are the cheapest to move
    array([0, 0, 1, 1])
    """
    n, k = cost.shape
    _check_sizes("min_size_assign", n, k, l_min)
    labels = np.argmin(cost, axis=1)
    sizes = np.bincount(labels, minlength=k)
    for _ in range(k + 1):
        short = np.flatnonzero(sizes < l_min)
        if len(short) == 0:
            break
        j = short[np.argmin(sizes[short] - l_min)]  # the most deficient cluster first
        need = int(l_min - sizes[j])
        surplus = np.maximum(sizes - l_min, 0)
        surplus[j] = 0
        cand = np.flatnonzero(surplus[labels] > 0)
        extra = cost[cand, j] - cost[cand, labels[cand]]
        order = cand[np.argsort(extra, kind="stable")]
        donor = labels[order]
        # rank of each candidate among the candidates of the same donor, in cost order
        by_donor = np.lexsort((np.arange(len(order)), donor))
        first = np.r_[0, np.flatnonzero(np.diff(donor[by_donor])) + 1]
        starts = np.repeat(first, np.diff(np.r_[first, len(order)]))
        rank = np.empty(len(order), dtype=np.int64)
        rank[by_donor] = np.arange(len(order)) - starts
        moved = order[rank < surplus[donor]][:need]
        np.subtract.at(sizes, labels[moved], 1)
        labels[moved] = j
        sizes[j] += len(moved)
    if np.any(sizes < l_min):  # pragma: no cover - impossible when k * l_min <= n
        raise RuntimeError("min_size_assign could not satisfy the size constraint")
    return labels


def kmeans_pp(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding (Arthur and Vassilvitskii 2007, Section 2.2).

    Examples
    --------
    >>> x = np.array([[0.0], [0.1], [10.0], [10.1]])
    >>> c = kmeans_pp(x, 2, np.random.default_rng(0))
    >>> sorted(np.round(c[:, 0]).tolist())
    [0.0, 10.0]
    """
    n = len(x)
    centres = [x[int(rng.integers(n))]]
    d2 = sq_distances(x, centres[0][None, :])[:, 0]
    for _ in range(1, k):
        total = d2.sum()
        i = int(rng.choice(n, p=d2 / total)) if total > 0 else int(rng.integers(n))
        centres.append(x[i])
        d2 = np.minimum(d2, sq_distances(x, x[i][None, :])[:, 0])
    return np.array(centres)


def cluster_sums(x: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Per-cluster column sums (k, D), as one matrix product (much faster than np.add.at).

    Examples
    --------
    >>> cluster_sums(np.array([[1.0], [2.0], [4.0]]), np.array([0, 1, 0]), 2).tolist()
    [[5.0], [2.0]]
    """
    onehot = np.zeros((len(labels), k))
    onehot[np.arange(len(labels)), labels] = 1.0
    return (x.T @ onehot).T


def _means_of(x: np.ndarray, labels: np.ndarray, k: int, old: np.ndarray) -> np.ndarray:
    counts = np.bincount(labels, minlength=k).astype(float)
    sums = cluster_sums(x, labels, k)
    return np.where(counts[:, None] > 0, sums / np.maximum(counts, 1.0)[:, None], old)


def constrained_kmeans(x: np.ndarray, k: int, l_min: int, rng: np.random.Generator, *,
                       init: np.ndarray | None = None, max_iter: int = 50) -> Clustering:
    """k-means whose assignment step keeps every cluster >= ``l_min`` rows.

    Bradley, Bennett and Demiriz (2000), Algorithm 2.1, with the greedy assignment of
    :func:`min_size_assign`; stops when the labels no longer change.

    Examples
    --------
    >>> x = np.r_[np.zeros((8, 1)), np.ones((2, 1))]
    >>> res = constrained_kmeans(x, 2, 4, np.random.default_rng(0))
    >>> sorted(np.bincount(res.labels).tolist())
    [4, 6]
    """
    _check_sizes("constrained_kmeans", len(x), k, l_min)
    means = kmeans_pp(x, k, rng) if init is None else np.array(init, dtype=float)
    labels = None
    it = 0
    for it in range(1, max_iter + 1):
        new = min_size_assign(sq_distances(x, means), l_min)
        if labels is not None and np.array_equal(new, labels):
            break
        labels = new
        means = _means_of(x, labels, k, means)
    return Clustering(means, labels, "constrained_kmeans", it)


def _log_joint(x: np.ndarray, means: np.ndarray, var: np.ndarray,
               log_w: np.ndarray) -> np.ndarray:
    """log pi_k + log N(x | mean_k, diag(var_k)) for every row and component, (n, k)."""
    prec = 1.0 / var
    quad = (x * x) @ prec.T - 2.0 * x @ (means * prec).T + (means * means * prec).sum(1)[None]
    return log_w[None, :] - 0.5 * (np.log(2.0 * np.pi * var).sum(1)[None, :] + quad)


def fit_constrained_gmm(x: np.ndarray, k: int, l_min: int, rng: np.random.Generator, *,
                        max_iter: int = 100, max_seconds: float = 60.0, tol: float = 1e-4,
                        reg_covar: float = 1e-3) -> Clustering:
    """Diagonal Gaussian mixture whose MAP clusters hold >= ``l_min`` rows, else fallback.

    EM (Dempster, Laird and Rubin 1977) from a k-means++ start; ``reg_covar`` is added to
    every variance (one-hot columns have zero within-cluster variance otherwise). If after
    convergence (mean log-likelihood gain < ``tol``), ``max_iter`` iterations or
    ``max_seconds`` the MAP assignment leaves a component under ``l_min`` rows, the result
    is :func:`constrained_kmeans` started from the EM means (``method="constrained_kmeans"``).

    Parameters
    ----------
    x : ndarray of shape (n, D)
    k : int
        Number of components, with ``k * l_min <= n``.
    l_min : int
        Minimum cluster size.
    rng : numpy.random.Generator
    max_iter, max_seconds, tol, reg_covar : EM controls.

    Returns
    -------
    Clustering

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = np.r_[rng.normal(0, 0.1, (50, 2)), rng.normal(3, 0.1, (30, 2))]
    >>> res = fit_constrained_gmm(x, 2, 20, rng)
    >>> res.method, sorted(np.bincount(res.labels).tolist())
    ('gmm', [30, 50])
    """
    _check_sizes("fit_constrained_gmm", len(x), k, l_min)
    start = time.monotonic()
    n, _ = x.shape
    means = kmeans_pp(x, k, rng)
    labels = np.argmin(sq_distances(x, means), axis=1)
    resp = np.zeros((n, k))
    resp[np.arange(n), labels] = 1.0
    prev = -np.inf
    it = 0
    x2 = x * x
    for it in range(1, max_iter + 1):
        nk = resp.sum(0) + 1e-10
        means = (x.T @ resp).T / nk[:, None]
        var = np.maximum((x2.T @ resp).T / nk[:, None] - means * means, 0.0) + reg_covar
        log_w = np.log(nk / n)
        lj = _log_joint(x, means, var, log_w)
        norm = logsumexp(lj, axis=1, keepdims=True)
        resp = np.exp(lj - norm)
        ll = float(norm.mean())
        if ll - prev < tol or time.monotonic() - start > max_seconds:
            break
        prev = ll
    labels = np.argmax(resp, axis=1)
    sizes = np.bincount(labels, minlength=k)
    if sizes.min() >= l_min:
        return Clustering(_means_of(x, labels, k, means), labels, "gmm", it)
    log.debug("EM reached no feasible clustering (a cluster is under l_min=%d rows); falling "
              "back to size-constrained k-means", l_min)
    return constrained_kmeans(x, k, l_min, rng, init=means)
