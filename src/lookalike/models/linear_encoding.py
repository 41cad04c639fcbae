"""Linear Encoding: a shared low-rank encoding of column blocks, sampled through a mixture.

The seed paper is D. Banh and A. Huang, "Generate novel and robust samples from data:
accessible sharing without privacy concerns", arXiv:2209.06113 (2022). Its method, as the
authors' code shows it (``AskExplain/gcode_R``, ``R/gcode.R``: ``update_set``;
``AskExplain/synthetic_sampling``, ``helper_functions.R``: ``generate_new_samples``):

1. **Encode.** The table is split into column blocks ``D_L`` (the paper's ``data_list``,
   e.g. the features and the one-hot labels) that share one sample encoding::

       D_L - mu_L  ~=  alpha @ C @ beta_L        alpha (n, k), C (k, k), beta_L (k, p_L)   (1)

   learned by coordinate descent: least-squares updates of ``beta_L``, ``alpha`` and the code
   ``C`` in turn, looped over the blocks until the change falls below a tolerance.
2. **Model the encoding.** A Gaussian mixture is fitted to the rows of ``alpha`` (the paper
   uses ``mclust``).
3. **Sample.** New latent rows ``A`` are drawn from the mixture and decoded with the
   least-squares map of each block onto the encoding, ``X_L = A @ C @ beta_L + mu_L``
   (the paper's ``A (alpha' alpha)^-1 alpha' D_L``, which equals (1) at convergence).
   The paper's generator draws the same number of rows from every mixture component
   (balanced sampling; here ``balance_components=True``).

What this implementation adds or changes, and why:

* **One objective, exact steps.** We minimise, with row weights ``r_i`` (all 1 by default)
  and block weights ``w_L``::

      J = sum_L w_L ||R^1/2 (D_L - mu_L - alpha C beta_L)||^2
          + ridge * (sum_i r_i ||alpha_i||^2 + n ||C||^2 + n sum_L ||beta_L||^2)      (2)

  Each step is the exact ridge least-squares minimiser of (2) in one factor, solved with
  Cholesky / eigen-decompositions (no explicit inverse): ``alpha`` from all blocks jointly,
  then ``C`` (a Sylvester-type system ``S C T + n*ridge*C = Q``), then ``beta_L`` block by
  block. So ``J`` never increases (``history_``). The authors' R code instead updates from
  one block at a time with pseudo-inverses, a damping ``learn_rate`` and soft-thresholding,
  which carries no such guarantee. Note that the unregularised optimum of (1) is the
  truncated SVD (Eckart-Young); ``init="svd"`` starts there and the descent then only
  settles the ridge terms, ``init="random"`` follows the paper's random start.
* **Block weights.** ``block_weights="equal"`` rescales blocks so each carries the same
  share of the total variance (a 2-column target is not drowned by 100 feature columns);
  ``"size"`` leaves plain concatenation.
* **Categories** are drawn from the decoded scores clipped at 0 and normalised
  (:func:`lookalike.encoding.sample_softmax_segments`), not by arg-max.
* **Residual noise: Gaussian, except for count columns** (``residual="auto"``, the
  default). The decoded numeric columns lack the variance the encoding does not explain; we
  add noise drawn from the fitted residual distribution of each column (the paper adds
  none), in the standardised view. Every numeric column gets Gaussian noise with its fitted
  RMS, except *count columns*: those whose encoded values lie on an evenly spaced grid
  (integer or fixed-decimal values: visits, children, also ages in years). For these,
  ``u = (z - z_min) / step`` is the number of grid steps above the column's smallest
  encoded value (exactly the count when the minimum is 0, the usual case for counts, and a
  shifted count otherwise), and ``"auto"`` keeps whichever of the Gaussian, Poisson and
  negative binomial laws for ``u`` has the best weighted training log-likelihood, so a grid
  column whose residuals look Gaussian keeps Gaussian noise. Why: the residuals of counts
  are skewed and their variance grows with the mean (Poisson ``var = mu``; overdispersed
  counts, negative binomial ``var = mu + mu^2 / r``), and small counts pile up at zero;
  symmetric noise of one variance would put rows below the minimum and blur that point
  mass. Real-valued (off-grid) columns have no such structure, and the Gaussian (the
  maximum-entropy law for a given variance) is the plain choice. ``"gaussian"`` uses
  Gaussian noise on every column, ``"poisson"`` / ``"negbin"`` that family on every count
  column, ``"none"`` adds no noise.
* **Marginal calibration** (``calibrate=True``). A Gaussian mixture over a linear encoding
  smooths away point masses (e.g. 92% zeros in a capital-gain column) and the clipped-score
  draw of categories flattens their frequencies. After fitting, a draw from the model is
  compared with the training data: each numeric column gets a monotone quantile map
  (model quantiles -> training quantiles, :data:`N_QUANTILES` levels, which keeps rank
  correlations), and each categorical group per-category score factors fitted by iterative
  proportional fitting, so sampled marginals match the training ones. The maps are fixed
  at fit; with ``balance_components`` or ``class_weights`` the marginals move as intended.
* **Per-class mixtures** (``class_mixtures=True``, needs a categorical ``layout.target``):
  one mixture per target category, so the latent structure of each class is kept and the
  sampling option ``class_weights`` sets the class mix; the target of a sampled row is the
  class it was drawn for.

* **Sizes and speed.** ``n_latent="auto"`` keeps :data:`AUTO_VARIANCE` of the variance
  of the view before block weighting (at most :data:`AUTO_MAX_LATENT` dimensions). The mixture is fitted on at most
  :data:`MIXTURE_ROWS` latent rows; ``n_components="auto"`` compares
  :data:`AUTO_COMPONENTS` by BIC on :data:`BIC_ROWS` rows and warm-starts the winner (mclust
  compares 1-9 components and also the covariance structure, on all rows).
* **What the model stores** (no DP): mean, factors, residual scales, the mixture, and with
  ``calibrate=True`` :data:`N_QUANTILES` training quantiles per numeric column (an
  empirical-CDF sketch whose end points are the encoder's clip bounds) plus category
  factors; ``calibrate=False`` stores no quantiles.

Repeated ``sample`` calls continue the caller's generator, so they give new rows; the same
generator state gives bit-identical rows, also after a save / load round trip.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy import linalg, stats

from lookalike._validation import Interval, OfType, Options
from lookalike.encoding.table import sample_softmax_segments
from lookalike.errors import InvalidDataError, InvalidParameterError, ModelFileError
from lookalike.models.base import BaseGenerator, EncodedData, Layout

log = logging.getLogger(__name__)

#: "auto" latent size: the smallest k keeping this share of the (weighted) variance ...
AUTO_VARIANCE = 0.80
#: ... and never more than this many dimensions.
AUTO_MAX_LATENT = 32
#: "auto" mixture size: candidates compared by BIC on at most BIC_ROWS rows.
AUTO_COMPONENTS = (1, 2, 4, 8, 16)
BIC_ROWS = 3000
#: the mixture is fitted on a random subsample of at most this many latent rows
MIXTURE_ROWS = 10000
_GRID_TOL = 1e-3
#: calibration: quantile levels per numeric column, and rows of the model draw it uses
N_QUANTILES = 257
CALIBRATION_ROWS = 20000
#: rows decoded at a time when sampling
SAMPLE_CHUNK = 16384
STATE_VERSION = 1


# -- pure math ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Factors:
    """Result of :func:`coordinate_descent`: ``Y ~= alpha @ code @ loadings``."""

    alpha: np.ndarray
    code: np.ndarray
    loadings: np.ndarray
    history: list[float]
    converged: bool


def _spd_solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve ``a x = b`` for symmetric positive (semi-)definite ``a``: Cholesky, else lstsq."""
    try:
        return linalg.cho_solve(linalg.cho_factor(a, check_finite=False), b, check_finite=False)
    except linalg.LinAlgError:
        return np.linalg.lstsq(a, b, rcond=None)[0]


def coordinate_descent(
    y: np.ndarray, blocks: list[np.ndarray], k: int, *, ridge: float, tol: float,
    max_iter: int, init: str, rng: np.random.Generator, row_weights: np.ndarray | None = None,
) -> Factors:
    """Minimise objective (2) of the module docstring over ``alpha``, ``C`` and ``beta_L``.

    ``y`` is the centred, block-weighted matrix (n, p); ``blocks`` lists each block's
    column indices. ``history`` holds ``J`` after the initialisation and after each sweep.

    >>> y = np.random.default_rng(0).normal(size=(50, 4))
    >>> f = coordinate_descent(y, [np.arange(4)], 2, ridge=1e-3, tol=1e-8, max_iter=50,
    ...                        init="random", rng=np.random.default_rng(0))
    >>> bool(np.all(np.diff(f.history) <= 1e-9 * f.history[0]))
    True
    """
    n = y.shape[0]
    r = np.ones(n) if row_weights is None else row_weights
    ry = y * r[:, None]
    total = float(np.sum(y * ry))
    nlam = n * ridge
    alpha, code, beta = _initialise(y, ry, k, init, rng)

    def objective(s: np.ndarray, pm: np.ndarray) -> float:
        fit = float(np.sum(code * (pm @ beta.T)))
        quad = float(np.sum((s @ code @ (beta @ beta.T)) * code))
        pen = ridge * (float(np.trace(s)) + n * float(np.sum(code**2) + np.sum(beta**2)))
        return total - 2.0 * fit + quad + pen

    s, pm = alpha.T @ (alpha * r[:, None]), alpha.T @ ry
    history = [objective(s, pm)]
    converged = False
    eye = np.eye(k)
    for _ in range(max_iter):
        m = code @ beta  # alpha-step: rows are independent ridge regressions on M
        alpha = _spd_solve(m @ m.T + ridge * eye, (y @ m.T).T).T
        s, pm = alpha.T @ (alpha * r[:, None]), alpha.T @ ry
        code = _code_step(s, beta @ beta.T, pm @ beta.T, nlam)
        gram = code.T @ s @ code + nlam * eye  # beta-step, looped over blocks as in the paper
        factor = linalg.cho_factor(gram, check_finite=False) if nlam > 0 else None
        rhs = code.T @ pm
        for cols in blocks:
            beta[:, cols] = (linalg.cho_solve(factor, rhs[:, cols], check_finite=False)
                             if factor is not None else _spd_solve(gram, rhs[:, cols]))
        history.append(objective(s, pm))
        if abs(history[-2] - history[-1]) <= tol * max(abs(history[-2]), 1e-300):
            converged = True
            break
    return Factors(alpha, code, beta, history, converged)


def _initialise(y: np.ndarray, ry: np.ndarray, k: int, init: str,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n, p = y.shape
    if init == "random":  # the paper's default start (runif / rnorm)
        scale = np.sqrt(max(float(np.sum(y * ry)) / (n * p), 1e-12) / k)
        return rng.standard_normal((n, k)), np.eye(k), rng.standard_normal((k, p)) * scale
    evals, evecs = np.linalg.eigh(y.T @ ry)
    order = np.argsort(evals)[::-1][: min(k, p)]
    evals, evecs = np.clip(evals[order], 0.0, None), evecs[:, order]
    sing = np.sqrt(np.maximum(evals, 1e-12 * max(float(evals.max(initial=0.0)), 1e-300)))
    # balanced split of each singular value s_j over (alpha, C, beta): the ridge terms
    # a^2 = n c^2 = n b^2 are equal at the optimum, t_j = (n s_j)^(2/3) (a flat direction
    # that coordinate descent would otherwise crawl along)
    t = (n * sing) ** (2.0 / 3.0)
    m = len(order)
    alpha = np.zeros((n, k))
    code = np.eye(k)
    beta = np.zeros((k, p))
    alpha[:, :m] = (y @ evecs) / sing * np.sqrt(t)
    code[np.arange(m), np.arange(m)] = np.sqrt(t / n)
    beta[:m] = np.sqrt(t / n)[:, None] * evecs.T
    if k > m:  # more latent dimensions than columns: small random extra directions
        alpha[:, m:] = rng.standard_normal((n, k - m))
    return alpha, code, beta


def _code_step(s: np.ndarray, t: np.ndarray, q: np.ndarray, nlam: float) -> np.ndarray:
    """Minimiser of ``||Y - alpha C B||^2 + nlam ||C||^2``: solves ``S C T + nlam C = Q``."""
    a, u = np.linalg.eigh(s)
    b, v = np.linalg.eigh(t)
    denom = np.outer(np.clip(a, 0, None), np.clip(b, 0, None)) + nlam
    ok = denom > 1e-12 * max(float(denom.max()), 1e-300)
    return u @ np.where(ok, (u.T @ q @ v) / np.where(ok, denom, 1.0), 0.0) @ v.T


def auto_latent(y: np.ndarray, row_weights: np.ndarray | None = None) -> int:
    """Smallest ``k`` whose leading components keep ``AUTO_VARIANCE`` of ``y``'s variance."""
    r = np.ones(len(y)) if row_weights is None else row_weights
    evals = np.clip(np.linalg.eigvalsh(y.T @ (y * r[:, None]))[::-1], 0, None)
    if evals.sum() <= 0:
        return 1
    k = int(np.searchsorted(np.cumsum(evals) / evals.sum(), AUTO_VARIANCE) + 1)
    return max(1, min(k, AUTO_MAX_LATENT, len(y) - 1 if len(y) > 1 else 1))


def fit_mixture(z: np.ndarray, n_components: int | str, covariance_type: str,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit a Gaussian mixture to the rows of ``z``; return weights, means, full covariances.

    At most :data:`MIXTURE_ROWS` rows (a random subsample) are used. ``n_components="auto"``
    compares :data:`AUTO_COMPONENTS` by BIC on a subsample of at most :data:`BIC_ROWS` rows,
    then refits the winner, started from its parameters, on all (used) rows.
    """
    from sklearn.mixture import GaussianMixture

    n, k = z.shape
    if n < 2:  # a single row (or class): a point mass, widened by scikit-learn's reg_covar
        return np.ones(1), z.mean(axis=0, keepdims=True), np.eye(k)[None] * 1e-6

    def fit(c: int, rows: np.ndarray, warm: GaussianMixture | None = None) -> GaussianMixture:
        start = {} if warm is None else {"weights_init": warm.weights_,
                                         "means_init": warm.means_,
                                         "precisions_init": warm.precisions_}
        gm = GaussianMixture(n_components=c, covariance_type=covariance_type, reg_covar=1e-6,
                             init_params="k-means++", random_state=int(rng.integers(2**31 - 1)),
                             **start)
        return gm.fit(rows)

    if n > MIXTURE_ROWS:
        z = z[np.sort(rng.choice(n, MIXTURE_ROWS, replace=False))]
        n = MIXTURE_ROWS
    warm = None
    if n_components == "auto":
        sub = z if n <= BIC_ROWS else z[np.sort(rng.choice(n, BIC_ROWS, replace=False))]
        cands = [c for c in AUTO_COMPONENTS if c == 1 or c * (k + 1) <= len(sub)]
        fits = [fit(c, sub) for c in cands]
        warm = fits[int(np.argmin([f.bic(sub) for f in fits]))]
        n_components = warm.n_components
    gm = fit(int(min(n_components, n)), z, warm)
    return gm.weights_, gm.means_, _full_covariances(gm.covariances_, covariance_type,
                                                     gm.n_components, k)


def _full_covariances(cov: np.ndarray, kind: str, m: int, k: int) -> np.ndarray:
    if kind == "full":
        return np.asarray(cov, dtype=float)
    if kind == "tied":
        return np.repeat(np.asarray(cov, dtype=float)[None], m, axis=0)
    if kind == "diag":
        return np.stack([np.diag(c) for c in np.asarray(cov, dtype=float)])
    return np.stack([np.eye(k) * float(c) for c in np.asarray(cov, dtype=float)])


def _cholesky(covs: np.ndarray) -> np.ndarray:
    out = np.empty_like(covs)
    for i, c in enumerate(covs):
        jitter = 0.0
        for _ in range(8):
            try:
                out[i] = np.linalg.cholesky(c + jitter * np.eye(len(c)))
                break
            except np.linalg.LinAlgError:
                jitter = max(jitter * 10, 1e-10 * max(float(np.trace(c)), 1e-12))
        else:
            out[i] = np.diag(np.sqrt(np.clip(np.diag(c), 0, None)))
    return out


def _inverse_cdf(p: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Indices drawn from weights ``p`` for uniforms ``u`` (inverse-CDF)."""
    cdf = np.cumsum(p)
    return np.minimum(np.searchsorted(cdf, u * cdf[-1], side="right"), len(p) - 1)


# -- residuals and calibration -----------------------------------------------------------
def value_grid(z: np.ndarray) -> tuple[float, float] | None:
    """``(origin, step)`` when the values of ``z`` lie on an evenly spaced grid, else None.

    >>> origin, step = value_grid((np.array([0, 1, 1, 4, 7]) - 3.0) / 2.5)
    >>> round(origin, 6), round(step, 6)
    (-1.2, 0.4)
    """
    v = np.unique(z[np.isfinite(z)])
    if len(v) < 3:
        return None
    span = float(v[-1] - v[0])
    step = span / round(span / float(np.diff(v).min()))
    if np.max(np.abs((v - v[0]) / step - np.round((v - v[0]) / step))) > _GRID_TOL:
        return None
    return float(v[0]), float(step)


def count_family(u: np.ndarray, mu: np.ndarray, sd: float, w: np.ndarray,
                 residual: str) -> float | None:
    """Count noise for grid steps ``u`` around fitted means ``mu`` (both in grid steps).

    Returns the negative-binomial size ``r`` (moment fit of ``var = mu + mu^2 / r``; ``inf``
    means Poisson), or None for Gaussian noise of std ``sd``. ``residual="auto"`` keeps the
    family with the best weighted training log-likelihood.

    >>> u = np.random.default_rng(0).poisson(3.0, 2000).astype(float)
    >>> count_family(u, np.full(2000, 3.0), 1.7, np.ones(2000), "auto")
    inf
    """
    excess = float(np.average((u - mu) ** 2, weights=w) - np.average(mu, weights=w))
    r = float(np.average(mu**2, weights=w)) / excess if excess > 0 else np.inf
    r = np.inf if r > 1e8 else max(r, 1e-4)
    if residual == "poisson":
        return np.inf
    if residual == "negbin":
        return r
    ll_pois = np.average(stats.poisson.logpmf(u, mu), weights=w)
    ll_nb = ll_pois if np.isinf(r) else np.average(stats.nbinom.logpmf(u, r, r / (r + mu)),
                                                    weights=w)
    ll_gauss = np.average(stats.norm.logpdf(u, mu, max(sd, 1e-12)), weights=w)
    return (None, np.inf, r)[int(np.nanargmax([ll_gauss, ll_pois, ll_nb]))]


def weighted_quantiles(v: np.ndarray, w: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Quantiles of ``v`` under weights ``w`` at ``levels`` in [0, 1] (linear interpolation).

    >>> weighted_quantiles(np.array([1.0, 2.0, 3.0]), np.ones(3), np.array([0.0, 0.5, 1.0]))
    array([1., 2., 3.])
    """
    order = np.argsort(v, kind="stable")
    cw = np.cumsum(w[order])
    pos = (cw - 0.5 * w[order]) / cw[-1]
    return np.interp(levels, pos, v[order])


def score_scaling(scores: np.ndarray, target: np.ndarray, n_iter: int = 50) -> np.ndarray:
    """Per-category factors ``g`` so that rows of ``clip(scores, 0) * g``, normalised, average
    to ``target`` (iterative proportional fitting; rows without a positive score count as
    their arg-max, as :func:`~lookalike.encoding.sample_softmax_segments` draws them).

    >>> s = np.array([[0.9, 0.1], [0.6, 0.4]])
    >>> g = score_scaling(s, np.array([0.5, 0.5]))
    >>> p = s * g / (s * g).sum(axis=1, keepdims=True)
    >>> np.round(p.mean(axis=0), 3)
    array([0.5, 0.5])
    """
    pos = np.clip(scores, 0.0, None)
    dead = pos.sum(axis=1) <= 0
    fallback = np.bincount(np.argmax(scores[dead], axis=1), minlength=scores.shape[1])
    g = np.ones(scores.shape[1])
    for _ in range(n_iter):
        q = pos * g
        total = q.sum(axis=1, keepdims=True)
        q = np.where(total > 0, q / np.where(total > 0, total, 1.0), 0.0)
        mean = (q.sum(axis=0) + fallback) / len(scores)
        if np.max(np.abs(mean - target)) < 1e-4:
            break
        g = np.where(mean > 0, g * target / np.where(mean > 0, mean, 1.0), g)
        g = np.clip(g / max(float(g.max()), 1e-300), 1e-12, None)
    return g


# -- the generator -----------------------------------------------------------------------
class LinearEncoding(BaseGenerator):
    """Shared linear encoding of column blocks + Gaussian mixture (Banh & Huang, 2022).

    Parameters
    ----------
    n_latent : "auto" or int
        Size ``k`` of the encoding ``alpha`` (n, k) and code ``C`` (k, k) of eq. (1).
        ``"auto"``: the smallest k keeping :data:`AUTO_VARIANCE` of the variance of the
        view (before block weighting), at most :data:`AUTO_MAX_LATENT`.
    blocks : {"auto", "kind", "target", "column"}
        Column blocks ``L``: numeric (and cyclic) vs categorical matrix columns; the
        target column vs the rest (needs ``layout.target``); or one block per column.
        ``"auto"`` is ``"target"`` when a target is set, else ``"kind"``.
    block_weights : {"equal", "size"}
        ``"equal"``: every block carries the same share of the variance in (2).
    ridge : float
        Ridge term of (2) (relative to unit-variance columns); keeps every step well posed,
        also when k exceeds the width or columns are constant.
    tol, max_iter : float, int
        Stop when the relative decrease of ``J`` falls below ``tol``, or after ``max_iter``.
    init : {"svd", "random"}
        Start of the coordinate descent (see the module docstring).
    n_components : "auto" or int
        Mixture components (per class with ``class_mixtures``); ``"auto"`` picks by BIC.
    covariance_type : {"full", "tied", "diag", "spherical"}
        Covariance of each mixture component (scikit-learn's meaning).
    residual : {"auto", "gaussian", "poisson", "negbin", "none"}
        Noise added to decoded numeric columns. ``"auto"`` (default): Gaussian (fitted RMS)
        for every column except count columns (values on an evenly spaced grid, such as
        integers), which get the best of Gaussian, Poisson and negative binomial by training
        log-likelihood (counts are skewed, with a variance that grows with the mean; module
        docstring). ``"gaussian"``: Gaussian everywhere; ``"poisson"`` / ``"negbin"``: that
        family on every count column, Gaussian elsewhere; ``"none"``: no noise.
    calibrate : bool
        Map sampled marginals onto the training marginals (module docstring). ``False``
        gives the paper's plain decoding.
    class_mixtures : bool
        Fit one mixture per category of the (categorical) ``layout.target``.

    Sampling options: ``balance_components`` (bool: draw components uniformly, the paper's
    balanced sampling; within each class with ``class_mixtures``) and ``class_weights``
    (array with one weight per target category; needs ``class_mixtures=True``).

    Examples
    --------
    >>> from lookalike.encoding import Segment
    >>> x = np.random.default_rng(0).normal(size=(300, 3))
    >>> segs = tuple(Segment(c, "numeric", i, i + 1) for i, c in enumerate("abc"))
    >>> layout = Layout(columns=("a", "b", "c"), segments=segs,
    ...                 column_slices={c: slice(i, i + 1) for i, c in enumerate("abc")})
    >>> gen = LinearEncoding(n_latent=2).fit(EncodedData(x, layout), np.random.default_rng(0))
    >>> gen.sample(4, np.random.default_rng(1)).shape
    (4, 3)
    """

    name = "linear"
    view = "continuous"
    sample_options = frozenset({"balance_components", "class_weights"})
    _parameter_constraints: ClassVar[dict] = {
        "n_latent": [Options(("auto",)), Interval(int, 1, None, "left")],
        "blocks": Options(("auto", "kind", "target", "column")),
        "block_weights": Options(("equal", "size")),
        "ridge": Interval(float, 0, None, "left"),
        "tol": Interval(float, 0, None, "neither"),
        "max_iter": Interval(int, 1, None, "left"),
        "init": Options(("svd", "random")),
        "n_components": [Options(("auto",)), Interval(int, 1, None, "left")],
        "covariance_type": Options(("full", "tied", "diag", "spherical")),
        "residual": Options(("auto", "gaussian", "poisson", "negbin", "none")),
        "calibrate": OfType((bool,)),
        "class_mixtures": OfType((bool,)),
    }
    _ARRAYS: ClassVar[tuple[str, ...]] = (
        "mean", "code", "loadings", "residual_std", "count_grid", "class_prior",
        "mixture_weights", "mixture_means", "mixture_covariances", "quantiles_model",
        "quantiles_data", "score_scale")

    def __init__(self, *, n_latent: int | str = "auto", blocks: str = "auto",
                 block_weights: str = "equal", ridge: float = 1e-3, tol: float = 1e-6,
                 max_iter: int = 100, init: str = "svd", n_components: int | str = "auto",
                 covariance_type: str = "full", residual: str = "auto", calibrate: bool = True,
                 class_mixtures: bool = False) -> None:
        self.n_latent = n_latent
        self.blocks = blocks
        self.block_weights = block_weights
        self.ridge = ridge
        self.tol = tol
        self.max_iter = max_iter
        self.init = init
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.residual = residual
        self.calibrate = calibrate
        self.class_mixtures = class_mixtures

    # -- fitting -------------------------------------------------------------------------
    def _fit(self, data: EncodedData, rng: np.random.Generator) -> None:
        x = np.asarray(data.values, dtype=float)
        n, p = x.shape
        layout = data.layout
        w = np.ones(n) if data.row_weights is None else np.asarray(data.row_weights, float)
        if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise InvalidDataError(
                f"row_weights must be {n} finite non-negative numbers with a positive sum, "
                "one per row; fix or drop them.")
        w = w * (n / w.sum())
        classes = self._target_classes(x, layout) if self.class_mixtures else None
        blocks = self.block_columns(layout)
        self.mean_ = np.average(x, axis=0, weights=w)
        centred = x - self.mean_
        col_scale = self._column_scale(centred, w, blocks)
        y = centred * col_scale
        # "auto" counts variance before block weighting, so an up-weighted 2-column target
        # block cannot shrink k (it is steered into the encoding by the weights instead)
        k = self.n_latent if self.n_latent != "auto" else auto_latent(centred, w)
        if k > p:
            log.info("n_latent=%d exceeds the %d encoded columns; the ridge term keeps the "
                     "encoding well posed.", k, p)
        f = coordinate_descent(y, blocks, k, ridge=self.ridge, tol=self.tol,
                               max_iter=self.max_iter, init=self.init, rng=rng, row_weights=w)
        if not f.converged:
            log.warning("LinearEncoding stopped after max_iter=%d sweeps before reaching "
                        "tol=%g; raise max_iter for a tighter fit.", self.max_iter, self.tol)
        scale = float(np.sqrt(np.average(np.mean(f.alpha**2, axis=1), weights=w))) or 1.0
        alpha = f.alpha / scale  # unit-scale encoding for the mixture; C absorbs the scale
        self.code_ = f.code * scale
        self.loadings_ = f.loadings / col_scale
        self.history_ = [float(h) for h in f.history]
        self.n_latent_ = k
        self._fit_residuals(x, alpha @ self.code_ @ self.loadings_ + self.mean_, w, layout)
        self._fit_mixtures(alpha, w, classes, rng)
        self._fit_calibration(x, w, layout, rng)

    def block_columns(self, layout: Layout) -> list[np.ndarray]:
        """Matrix column indices of each block ``L`` (see the ``blocks`` parameter)."""
        mode = self.blocks
        if mode == "auto":
            mode = "target" if layout.target is not None else "kind"
        if mode == "column":
            return [np.arange(sl.start, sl.stop) for sl in layout.column_slices.values()]
        if mode == "target":
            if layout.target is None:
                raise InvalidParameterError(
                    "The 'blocks' parameter of LinearEncoding is 'target' but no target "
                    "column is set; name a target column or use blocks='kind'.")
            sl = layout.column_slices[layout.target]
            inside = np.arange(sl.start, sl.stop)
            groups = [inside, np.setdiff1d(np.arange(layout.width), inside)]
        else:
            cat = [np.arange(s.start, s.stop) for s in layout.segments if s.kind == "softmax"]
            cat_cols = np.concatenate(cat) if cat else np.array([], dtype=int)
            groups = [np.setdiff1d(np.arange(layout.width), cat_cols), cat_cols]
        return [g for g in groups if len(g)]

    def _column_scale(self, centred: np.ndarray, w: np.ndarray,
                      blocks: list[np.ndarray]) -> np.ndarray:
        scale = np.ones(centred.shape[1])
        if self.block_weights == "size" or len(blocks) < 2:
            return scale
        ss = np.array([np.sum(w[:, None] * centred[:, b] ** 2) for b in blocks])
        share = ss.sum() / max(int(np.sum(ss > 0)), 1)
        for b, s in zip(blocks, ss, strict=True):
            if s > 0:
                scale[b] = np.sqrt(share / s)
        return scale

    def _target_classes(self, x: np.ndarray, layout: Layout) -> np.ndarray:
        segs = [s for s in layout.segments if s.column == layout.target]
        if layout.target is None or len(segs) != 1 or segs[0].kind != "softmax":
            raise InvalidParameterError(
                "The 'class_mixtures' parameter of LinearEncoding is True, which needs the "
                f"layout's target to be a categorical column; got target={layout.target!r}. "
                "Name a categorical target or set class_mixtures=False.")
        return np.argmax(x[:, segs[0].start:segs[0].stop], axis=1)

    @staticmethod
    def _present_rows(x: np.ndarray, layout: Layout) -> dict[int, np.ndarray]:
        """Rows where a numeric column is present (its missing flag, if any, says so)."""
        out: dict[int, np.ndarray] = {}
        value = {s.column: s for s in layout.segments if s.kind == "numeric"}
        for s in layout.segments:
            if s.role == "missing" and s.column in value:
                out[value[s.column].start] = x[:, s.start] > x[:, s.start + 1]
        return out

    def _fit_residuals(self, x: np.ndarray, fit: np.ndarray, w: np.ndarray,
                       layout: Layout) -> None:
        self.residual_std_ = np.zeros(x.shape[1])
        counts: list[tuple[int, float, float, float]] = []
        present = self._present_rows(x, layout)
        for seg in layout.segments:
            if seg.kind == "softmax" or self.residual == "none":
                continue
            for j in range(seg.start, seg.stop):
                rows = present.get(j, np.ones(len(x), dtype=bool))
                if not rows.any():
                    continue
                res = x[rows, j] - fit[rows, j]
                sd = float(np.sqrt(np.average(res**2, weights=w[rows])))
                self.residual_std_[j] = sd
                grid = value_grid(x[rows, j]) if seg.kind == "numeric" else None
                if grid is None or self.residual == "gaussian" or sd == 0:
                    continue
                origin, step = grid
                u = np.round((x[rows, j] - origin) / step)
                mu = np.clip((fit[rows, j] - origin) / step, 1e-8, None)
                r = count_family(u, mu, sd / step, w[rows], self.residual)
                if r is not None:
                    counts.append((j, origin, step, r))
        self.count_columns_ = np.array([c[0] for c in counts], dtype=np.int64)
        self.count_grid_ = np.array([c[1:] for c in counts], dtype=float).reshape(-1, 3)

    def _fit_mixtures(self, alpha: np.ndarray, w: np.ndarray, classes: np.ndarray | None,
                      rng: np.random.Generator) -> None:
        labels = np.zeros(len(alpha), dtype=int) if classes is None else classes
        if not np.allclose(w, 1.0):  # GaussianMixture takes no weights: weighted bootstrap
            pick = rng.choice(len(alpha), len(alpha), p=w / w.sum())
            alpha, labels = alpha[pick], labels[pick]
        n_classes = 1 if classes is None else len(self._target_range())
        parts, prior = [], np.zeros(n_classes)
        for c in range(n_classes):
            rows = alpha[labels == c]
            if len(rows):
                prior[c] = len(rows) / len(alpha)
                parts.append((c, *fit_mixture(rows, self.n_components, self.covariance_type,
                                              rng)))
        self.class_prior_ = prior
        self.mixture_class_ = np.concatenate([np.full(len(q[1]), q[0]) for q in parts])
        self.mixture_weights_ = np.concatenate([q[1] for q in parts])
        self.mixture_means_ = np.concatenate([q[2] for q in parts])
        self.mixture_covariances_ = np.concatenate([q[3] for q in parts])
        self.n_components_ = [len(q[1]) for q in parts]

    def _fit_calibration(self, x: np.ndarray, w: np.ndarray, layout: Layout,
                         rng: np.random.Generator) -> None:
        """Quantile maps (numeric) and score factors (categories) from a model draw."""
        self.calibrated_columns_ = np.array([], dtype=np.int64)
        self.quantiles_model_ = self.quantiles_data_ = np.zeros((0, N_QUANTILES))
        self.score_scale_ = np.ones(x.shape[1])
        self._build_sampler()
        if not self.calibrate:
            return
        draw = self._decode(min(max(len(x), 2000), CALIBRATION_ROWS), rng, False, None)[0]
        levels = np.linspace(0.0, 1.0, N_QUANTILES)
        present = self._present_rows(x, layout)
        cols = [s.start for s in layout.segments if s.kind == "numeric"]
        qd, qm = [], []
        for j in cols:
            rows = present.get(j, np.ones(len(x), dtype=bool))
            qd.append(weighted_quantiles(x[rows, j], w[rows], levels) if rows.any()
                      else np.zeros(N_QUANTILES))
            qm.append(np.quantile(draw[:, j], levels))
        self.calibrated_columns_ = np.array(cols, dtype=np.int64)
        self.quantiles_data_ = np.array(qd).reshape(-1, N_QUANTILES)
        self.quantiles_model_ = np.array(qm).reshape(-1, N_QUANTILES)
        for seg in self._softmax:
            target = np.average(x[:, seg.start:seg.stop], axis=0, weights=w)
            self.score_scale_[seg.start:seg.stop] = score_scaling(
                draw[:, seg.start:seg.stop], target)
        self._build_sampler()

    def _target_range(self) -> range:
        seg = next(s for s in self.layout_.segments if s.column == self.layout_.target)
        return range(seg.start, seg.stop)

    def _build_sampler(self) -> None:
        """Derived, deterministic sampling state (rebuilt identically after a reload)."""
        self._chol = _cholesky(self.mixture_covariances_)
        self._decoder = self.code_ @ self.loadings_
        skip = self._target_range().start if self.class_mixtures else -1
        self._softmax = [s for s in self.layout_.segments
                         if s.kind == "softmax" and s.start != skip]
        counted = set(self.count_columns_.tolist())
        self._gauss_cols = np.array([j for j in np.flatnonzero(self.residual_std_ > 0)
                                     if j not in counted], dtype=np.int64)

    # -- sampling ------------------------------------------------------------------------
    def _sample(self, n: int, rng: np.random.Generator, **options: Any) -> np.ndarray:
        balance = bool(options.get("balance_components", False))
        weights = options.get("class_weights")
        if weights is not None:
            weights = self._check_class_weights(weights)
        if n <= SAMPLE_CHUNK:
            return self._sample_chunk(n, rng, balance, weights)
        # cache-sized chunks: large (n, width) temporaries cost more than the arithmetic
        return np.concatenate([self._sample_chunk(min(SAMPLE_CHUNK, n - i), rng, balance,
                                                  weights) for i in range(0, n, SAMPLE_CHUNK)])

    def _sample_chunk(self, n: int, rng: np.random.Generator, balance: bool,
                      class_weights: np.ndarray | None) -> np.ndarray:
        out, cls = self._decode(n, rng, balance, class_weights)
        for j, qm, qd in zip(self.calibrated_columns_, self.quantiles_model_,
                             self.quantiles_data_, strict=True):
            out[:, j] = np.interp(out[:, j], qm, qd)
        if self._softmax:
            out *= self.score_scale_
            out = sample_softmax_segments(out, self._softmax, rng)
        if self.class_mixtures:
            t = self._target_range()
            out[:, t.start:t.stop] = 0.0
            out[np.arange(n), t.start + cls] = 1.0
        return out

    def _decode(self, n: int, rng: np.random.Generator, balance: bool,
                class_weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Latent draws decoded to the view, with residual noise; categories still scores."""
        comp, cls = self._draw_components(n, rng, balance, class_weights)
        k = self.n_latent_
        eps = rng.standard_normal((n, k))
        latent = np.empty((n, k))
        for c in np.unique(comp):
            rows = comp == c
            latent[rows] = self.mixture_means_[c] + eps[rows] @ self._chol[c].T
        out = latent @ self._decoder
        out += self.mean_  # in place: a second (n, width) temporary costs more than the sum
        g = self._gauss_cols
        if len(g):
            out[:, g] += rng.standard_normal((n, len(g))) * self.residual_std_[g]
        for j, (origin, step, r) in zip(self.count_columns_, self.count_grid_, strict=True):
            mu = np.clip((out[:, j] - origin) / step, 1e-8, None)
            u = rng.poisson(mu) if np.isinf(r) else rng.negative_binomial(r, r / (r + mu))
            out[:, j] = origin + u * step
        return out, cls

    def _draw_components(self, n: int, rng: np.random.Generator, balance: bool,
                         class_weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        prior = self.class_prior_ if class_weights is None else class_weights
        cls = np.zeros(n, dtype=np.int64)
        if len(prior) > 1:
            cls = _inverse_cdf(prior, rng.random(n))
        u = rng.random(n)
        comp = np.empty(n, dtype=np.int64)
        for c in np.unique(cls):
            members = np.flatnonzero(self.mixture_class_ == c)
            p = np.ones(len(members)) if balance else self.mixture_weights_[members]
            rows = cls == c
            comp[rows] = members[_inverse_cdf(p, u[rows])]
        return comp, cls

    def _check_class_weights(self, class_weights: Any) -> np.ndarray:
        if not self.class_mixtures:
            raise InvalidParameterError(
                "The sampling option 'class_weights' of LinearEncoding needs a model fitted "
                "with class_mixtures=True; refit with it or leave class_weights out.")
        cw = np.asarray(class_weights, dtype=float)
        n_classes = len(self.class_prior_)
        if (cw.shape != (n_classes,) or not np.all(np.isfinite(cw)) or np.any(cw < 0)
                or cw.sum() <= 0):
            raise InvalidParameterError(
                f"The sampling option 'class_weights' of LinearEncoding must be {n_classes} "
                "non-negative finite numbers (one per target category) with a positive sum; "
                f"got {class_weights!r}.")
        empty = np.flatnonzero((cw > 0) & (self.class_prior_ == 0))
        if len(empty):
            raise InvalidParameterError(
                "The sampling option 'class_weights' of LinearEncoding gives weight to target "
                f"categories {empty.tolist()} that had no training rows; set them to 0.")
        return cw / cw.sum()

    # -- persistence ---------------------------------------------------------------------
    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {"version": STATE_VERSION, "n_latent": int(self.n_latent_),
                "n_components": [int(c) for c in self.n_components_],
                "history": self.history_}
        arrays = {key: np.asarray(getattr(self, f"{key}_")) for key in self._ARRAYS}
        arrays["count_columns"] = self.count_columns_
        arrays["mixture_class"] = self.mixture_class_
        arrays["calibrated_columns"] = self.calibrated_columns_
        return meta, arrays

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        if meta.get("version") != STATE_VERSION:
            raise ModelFileError(
                f"LinearEncoding state version {meta.get('version')!r} is not supported "
                f"(expected {STATE_VERSION}); refit the model with this version of lookalike.")
        self.n_latent_ = int(meta["n_latent"])
        self.n_components_ = [int(c) for c in meta["n_components"]]
        self.history_ = [float(h) for h in meta["history"]]
        for key in self._ARRAYS:
            setattr(self, f"{key}_", np.asarray(arrays[key], dtype=float))
        for key in ("count_columns", "mixture_class", "calibrated_columns"):
            setattr(self, f"{key}_", np.asarray(arrays[key], dtype=np.int64))
        self._build_sampler()


__all__ = ["LinearEncoding", "coordinate_descent", "count_family", "fit_mixture",
           "score_scaling", "value_grid", "weighted_quantiles"]
