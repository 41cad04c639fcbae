"""ClustMix: the 3A framework (Approximate, Adapt, Anonymize) as a lookalike generator.

Seed paper: T. Madl, W. Xu, O. Choudhury and M. Howard, "Approximate, Adapt, Anonymize (3A):
a Framework for Privacy Preserving Training Data Release for Machine Learning",
arXiv:2307.01875 (2023). Its Algorithm 2 ("ClustMix"), per class of the target:

1. **Approximate** - scale features to [0, 1] and cluster each class with a Gaussian mixture
   whose clusters all hold at least ``l_min`` rows, ``l_min`` following from
   (epsilon, delta, sigma_max) by Theorem 2 / Equation 7 (:mod:`.constrained_gmm`,
   :func:`.release.paper_l_min`);
2. **Adapt** - move the centroids with Kernel Inducing Points under the paper's Equation 5
   (distance to the centroids + NTK kernel-ridge loss of the real data, :mod:`.kip`);
3. **Anonymize** - re-assign the rows to the adapted centroids (>= ``l_min`` each) and release
   every cluster mean with Gaussian noise; the noisy means, labelled with their class, are the
   released training set (Theorem 2: ``mu = sqrt(CD) / (l sigma)``-GDP).

(The paper's full text could not be retrieved while writing this - only its abstract at
arxiv.org/html/2307.01875v1; the steps above follow the project's description of Algorithm 2,
Eq. 5, Eq. 7 and Theorem 2.)

Two accounting modes (``accounting``), recorded in :meth:`ClustMix.privacy_events`:

* ``"paper"`` - Theorem 2 exactly as published: per-cluster noise
  ``sigma_t = sigma_max * l_min / l_t``, ``mu = sqrt(C D) / (l_min sigma_max)``. **This is a
  guarantee for the release step only**: like the paper's proof it treats the clustering and
  the KIP adaptation as if they did not depend on the data, which they do. The clustering,
  the class sizes, the number of clusters and KIP read the data without noise.
* ``"strict"`` (default) - every step that touches the data is a Gaussian mechanism and all
  are composed in Gaussian DP (:mod:`.release`): feature bounds are declared
  (``feature_bound``); noisy class sums and counts (which fix the number of clusters per
  class and seed the centres); ``lloyd_iters`` noisy Lloyd iterations (noisy sums and counts
  per cluster, rows assigned to their nearest centre of their own class - a per-row rule, so
  one row moves one cluster's sum); KIP with clipped, noised full-batch gradients
  (``kip``); the final release as noisy sums / noisy counts; and, for the jitter, noisy
  per-class sums of clipped squared numeric deviations from the released means. Budget
  shares of ``mu^2``: :data:`.release.STRICT_SHARES`. ``l_min`` is here the cluster size at
  which the released mean's noise equals ``sigma_max``; clusters whose noisy count ends
  below ``l_min / 2`` are dropped (post-processing). The spent epsilon is the ledger's
  (:class:`~lookalike.privacy.PrivacyLedger`); the released values are post-processed only
  (clipping to [0, 1], simplex projection of one-hot groups, variance pooling).

What neither mode covers (stated in the privacy record): the encoder's statistics - the
standardisation mean / std of numeric columns, their clipping quantiles and the category
lists after rare-category merging - are computed from the data by the facade's encoder
without noise (so the "declared" range ``[-feature_bound, feature_bound]`` is declared on a
data-derived scale); the copy guard reads the training data; ``delta=None`` means
``1 / n_rows``; hyperparameters tuned on the data (as the paper does) leak through the
choice. The neighbouring relation is add / remove one row. The noise comes from the numpy
generator passed in (``secure_noise=True``: from the OS CSPRNG); floating-point attacks on
continuous noise (Mironov 2012) are not mitigated.

**Sampling.** A row picks a released cluster - with its noisy count as weight (strict) or
uniformly, the paper's released set being the C centroids (paper) - and takes the cluster's
noisy mean. A one-hot group of the noisy mean is projected onto the probability simplex
(post-processing; it is the cluster's category distribution) and the category drawn from it
by :func:`lookalike.encoding.sample_softmax_segments`; the target is the cluster's class.
With ``jitter`` numeric features get Gaussian noise: with the class's privately released
pooled within-cluster variance (strict), or - Theorem 2 releasing means only - with the
bandwidth of a Gaussian KDE over the class's released centroids (paper; Scott's rule,
post-processing, no extra cost), never below ``sigma_max ** 2`` (a released mean is itself
uncertain by about ``sigma_max``; a noisy variance estimate of 0 would otherwise collapse a
column onto the means). Without jitter every numeric value is a centroid
coordinate, which lets a downstream model memorise the cluster code (LightGBM then scores
AUC 0.5 on real data). Repeated ``sample`` calls continue the caller's generator.

Bad input: a continuous view with no feature column -> :class:`InvalidDataError`; a numeric
target -> :class:`InvalidParameterError`; a class too small for one cluster of ``l_min``
rows is dropped with a warning (``small_class="drop"``) or raises (``"raise"``); if no class
is left, :class:`InvalidDataError`; standardised values beyond ``feature_bound`` are clipped
(``out_of_bounds="clip"``) or raise (``"raise"``).

>>> from lookalike import Synthesizer
>>> syn = Synthesizer("clustmix", target="income", epsilon=1.0, random_state=0)  # doctest: +SKIP
>>> syn.fit(df).sample(1000)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
from typing import Any, ClassVar

import numpy as np

from lookalike._validation import Interval, OfType, Options
from lookalike.encoding.table import sample_softmax_segments
from lookalike.errors import InvalidDataError, InvalidParameterError, ModelFileError
from lookalike.models.base import BaseGenerator, EncodedData
from lookalike.models.clustmix import release as rel
from lookalike.models.clustmix.pipeline import FitResult, fit_paper, fit_strict

log = logging.getLogger(__name__)

STATE_FORMAT = "lookalike.clustmix/1"
#: sigma_max when None: chosen per mode by the search in bench/bench_clustmix.py (Adult, eps=1)
DEFAULT_SIGMA_MAX = {"strict": 0.03, "paper": 0.1}

NOT_COVERED = [
    ("encoder statistics (numeric mean/std and clipping quantiles, category lists after "
     "rare-category merging) are computed from the data without noise"),
    "the copy guard compares synthetic rows with the training rows",
    "hyperparameters chosen by looking at the data",
    "floating-point side channels of continuous Gaussian noise (Mironov 2012)",
]


class ClustMix(BaseGenerator):
    """3A / ClustMix generator (see the module docstring for the method and its guarantee).

    Parameters
    ----------
    epsilon : float, default 1.0
        Target epsilon, > 0.
    delta : float or None, default None
        Target delta in (0, 1); None means ``1 / n_rows``.
    accounting : {"strict", "paper"}, default "strict"
        Accounting mode (module docstring).
    sigma_max : float or None, default None
        Largest per-coordinate noise std of a released mean, in [0, 1] feature units (a
        standardised unit is ``1 / (2 feature_bound)`` = 0.125 there); fixes ``l_min`` and
        hence the number of clusters: a larger epsilon buys more clusters, not less noise.
        None: 0.03 (strict) or 0.1 (paper), the values chosen by the search of
        ``bench/bench_clustmix.py`` on Adult's training data.
    n_clusters : int or None, default None
        Total number of clusters (None: as many as ``l_min`` allows, each class getting
        clusters in proportion to its size, about ``1.25 * l_min`` rows per cluster).
    alpha : float, default 0.5
        Weight of the centroid-distance term of Equation 5 (1: no adaptation).
    ridge : float, default 0.01
        KRR ridge, relative to the mean diagonal of the support kernel.
    kip : {"auto", "on", "off"}, default "auto"
        KIP adaptation: "auto" runs it whenever the target has >= 2 classes (non-private
        in the paper mode, DP gradients in the strict mode).
    kip_steps : int or None, default None
        Adam steps (None: 100 in the paper mode, 10 DP steps in the strict mode).
    ntk_depth : int, default 2
        ReLU hidden layers of the NTK.
    lloyd_iters : int, default 8
        Noisy Lloyd iterations (strict mode).
    feature_bound : float or None, default None
        Declared range ``[-b, b]`` of the standardised numeric columns. None: 4.0, or 2.0
        with ``dp`` (the facade's DP encoder standardises its DP bounds ``[lo, hi]`` with
        mean ``(lo + hi) / 2`` and std ``(hi - lo) / 4``, so every value lies in [-2, 2]).
    out_of_bounds : {"clip", "raise"}, default "clip"
        What happens to standardised numeric values beyond ``feature_bound``.
    jitter : bool, default True
        Sample numeric values around the cluster means: with privately released pooled
        within-cluster variances (strict), or with a KDE bandwidth over the class's released
        centroids (paper; post-processing, Theorem 2 releasing means only).
    small_class : {"drop", "raise"}, default "drop"
        A class too small for one cluster is dropped with a warning, or raises.
    max_seconds : float, default 60.0
        Time budget of one class's EM before the constrained k-means fallback (paper mode).
    secure_noise : bool, default False
        Draw the privacy noise from the OS secure generator (not reproducible from a seed).
    dp : dict or None, default None
        ``{"epsilon": e, "delta": d}`` as passed by the facade's end-to-end DP mode
        (``Synthesizer(..., dp={"epsilon": ..., "delta": ..., "encoding_share": ...})``: the
        encoder's statistics are then DP releases on the facade's ledger and this generator
        gets the rest of the budget). It overrides ``epsilon`` and ``delta``.

    Examples
    --------
    >>> gen = ClustMix(epsilon=1.0, accounting="paper")
    >>> gen.get_params()["accounting"]
    'paper'
    """

    name = "clustmix"
    view = "continuous"
    _parameter_constraints: ClassVar[dict] = {
        "epsilon": Interval(float, 0, None, "neither"),
        "delta": [Interval(float, 0, 1, "neither"), None],
        "accounting": Options(("strict", "paper")),
        "sigma_max": [Interval(float, 0, None, "neither"), None],
        "n_clusters": [Interval(int, 1, None, "left"), None],
        "alpha": Interval(float, 0, 1, "both"),
        "ridge": Interval(float, 0, None, "neither"),
        "kip": Options(("auto", "on", "off")),
        "kip_steps": [Interval(int, 1, None, "left"), None],
        "ntk_depth": Interval(int, 1, None, "left"),
        "lloyd_iters": Interval(int, 1, None, "left"),
        "feature_bound": [Interval(float, 0, None, "neither"), None],
        "out_of_bounds": Options(("clip", "raise")),
        "jitter": OfType((bool,)),
        "small_class": Options(("drop", "raise")),
        "max_seconds": Interval(float, 0, None, "neither"),
        "secure_noise": OfType((bool,)),
        "dp": [OfType((dict,)), None],
    }

    def __init__(self, *, epsilon: float = 1.0, delta: float | None = None,
                 accounting: str = "strict", sigma_max: float | None = None,
                 n_clusters: int | None = None, alpha: float = 0.5, ridge: float = 0.01,
                 kip: str = "auto", kip_steps: int | None = None, ntk_depth: int = 2,
                 lloyd_iters: int = 8, feature_bound: float | None = None,
                 out_of_bounds: str = "clip", jitter: bool = True, small_class: str = "drop",
                 max_seconds: float = 60.0, secure_noise: bool = False,
                 dp: dict[str, Any] | None = None) -> None:
        self.epsilon = epsilon
        self.delta = delta
        self.accounting = accounting
        self.sigma_max = sigma_max
        self.n_clusters = n_clusters
        self.alpha = alpha
        self.ridge = ridge
        self.kip = kip
        self.kip_steps = kip_steps
        self.ntk_depth = ntk_depth
        self.lloyd_iters = lloyd_iters
        self.feature_bound = feature_bound
        self.out_of_bounds = out_of_bounds
        self.jitter = jitter
        self.small_class = small_class
        self.max_seconds = max_seconds
        self.secure_noise = secure_noise
        self.dp = dp

    # -- fitting -----------------------------------------------------------------------
    def _target(self) -> tuple[slice | None, int]:
        """Slice of the target's one-hot block in the view and its number of classes."""
        layout = self.layout_
        if layout.target is None:
            return None, 1
        segs = [s for s in layout.segments if s.column == layout.target]
        if not segs:
            raise InvalidParameterError(
                f"The target column {layout.target!r} is not in ClustMix's view (columns: "
                f"{list(layout.columns)}); name a modelled categorical column.")
        if len(segs) != 1 or segs[0].kind != "softmax":
            raise InvalidParameterError(
                f"ClustMix clusters each class of the target, so the target must be "
                f"categorical; column {layout.target!r} is encoded as "
                f"{[s.kind for s in segs]}. Declare it categorical in the schema or pick "
                "another target.")
        return slice(segs[0].start, segs[0].stop), segs[0].width

    def _bound(self) -> float:
        if self.feature_bound is not None:
            return float(self.feature_bound)
        return 2.0 if self.dp is not None else 4.0

    def _budget(self, n_rows: int) -> tuple[float, float]:
        """(epsilon, delta) of the fit: from ``dp`` if given, else the parameters."""
        if self.dp is None:
            return float(self.epsilon), (float(self.delta) if self.delta is not None
                                         else 1.0 / max(n_rows, 2))
        unknown = sorted(set(self.dp) - {"epsilon", "delta"})
        eps, delta = self.dp.get("epsilon"), self.dp.get("delta")
        ok_eps = isinstance(eps, int | float) and not isinstance(eps, bool) and 0 < eps < math.inf
        ok_delta = delta is None or (isinstance(delta, int | float) and 0 < delta < 1)
        if unknown or not ok_eps or not ok_delta:
            raise InvalidParameterError(
                "The 'dp' parameter of ClustMix must be a dict with 'epsilon' in (0, inf) and "
                f"optionally 'delta' in (0, 1); got {self.dp!r}.")
        return float(eps), float(delta) if delta is not None else 1.0 / max(n_rows, 2)

    def _fit(self, data: EncodedData, rng: np.random.Generator) -> None:
        if data.row_weights is not None:
            raise InvalidDataError(
                "ClustMix does not take row weights: a weighted row would change the "
                "sensitivity its privacy accounting relies on. Pass unweighted rows.")
        values = np.asarray(data.values, dtype=float)
        if values.ndim != 2 or not np.all(np.isfinite(values)):
            raise InvalidDataError("ClustMix needs a finite 2-D continuous view; got "
                                   f"shape {values.shape} with non-finite values or a bad shape.")
        tslice, n_classes = self._target()
        self.umap_ = rel.build_unit_map(self.layout_.segments, self.layout_.target,
                                        self._bound())
        if self.umap_.dim == 0:
            raise InvalidDataError(
                "ClustMix found no feature column to cluster: the continuous view has no "
                "numeric, categorical or date column besides the target. Add feature columns "
                "or check the schema (keys and excluded text are not modelled).")
        u = rel.to_unit(values, self.umap_, self.out_of_bounds)
        y = (np.argmax(values[:, tslice], axis=1) if tslice is not None
             else np.zeros(len(values), dtype=np.int64))
        n = len(values)
        epsilon, delta = self._budget(n)
        kip_on = self.kip == "on" or (self.kip == "auto" and n_classes >= 2)
        if kip_on and n_classes < 2:
            log.info("KIP needs a target with >= 2 classes; the adaptation step is skipped.")
            kip_on = False
        sigma_max = self.sigma_max if self.sigma_max is not None else \
            DEFAULT_SIGMA_MAX[self.accounting]
        settings = {"epsilon": float(epsilon), "delta": float(delta),
                    "sigma_max": float(sigma_max), "n_clusters": self.n_clusters,
                    "alpha": float(self.alpha), "ridge": float(self.ridge), "kip": kip_on,
                    "ntk_depth": int(self.ntk_depth), "small_class": self.small_class,
                    "secure": bool(self.secure_noise)}
        if self.accounting == "paper":
            result = fit_paper(u, y, n_classes, self.umap_, rng, kip_steps=self.kip_steps or 100,
                               max_seconds=float(self.max_seconds), jitter=bool(self.jitter),
                               **settings)
        else:
            result = fit_strict(u, y, n_classes, self.umap_, rng,
                                kip_steps=self.kip_steps or 10,
                                lloyd_iters=int(self.lloyd_iters), jitter=bool(self.jitter),
                                **settings)
        self._store(result, n_classes, delta_from_rows=self.delta is None and self.dp is None)

    def _store(self, result: FitResult, n_classes: int, delta_from_rows: bool) -> None:
        self.means_ = result.means
        self.cluster_class_ = result.cluster_class
        self.weights_ = result.weights
        self.variances_ = result.variances
        self.n_classes_ = n_classes
        self.info_ = result.info
        not_covered = list(NOT_COVERED)
        if self.dp is not None:
            not_covered[0] = ("encoder statistics: DP releases on the facade's encoding ledger, "
                              "composed with this record by the facade's privacy_report")
        if delta_from_rows:
            not_covered.append("delta = 1 / n_rows uses the exact row count")
        self.privacy_ = dict(result.privacy, not_covered=not_covered)

    # -- sampling ----------------------------------------------------------------------
    def _sample(self, n: int, rng: np.random.Generator, **options: Any) -> np.ndarray:
        p = self.weights_ / self.weights_.sum()
        idx = rng.choice(len(p), size=int(n), p=p)
        u = self.means_[idx].copy()
        num = self.umap_.numeric
        if self.variances_ is not None and len(num):
            u[:, num] += rng.standard_normal((int(n), len(num))) * np.sqrt(self.variances_[idx])
        x = rel.from_unit(u, self.umap_, self.layout_.width)
        target = self.layout_.target
        feature_softmax = [s for s in self.layout_.segments
                           if s.kind == "softmax" and s.column != target]
        x = sample_softmax_segments(x, feature_softmax, rng)
        tslice, _ = self._target()
        if tslice is not None:
            x[:, tslice] = 0.0
            x[np.arange(int(n)), tslice.start + self.cluster_class_[idx]] = 1.0
        return x

    # -- privacy and persistence -------------------------------------------------------
    def privacy_events(self) -> list[dict[str, Any]]:
        """One JSON-able record of the fit: mode, spent epsilon, delta, mu, and every event.

        ``epsilon`` is the composed loss of the fit (strict) or Theorem 2's epsilon of the
        release step (paper, ``scope`` says so); ``events`` lists each Gaussian release.
        """
        privacy = getattr(self, "privacy_", None)
        return [dict(privacy)] if privacy else []

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {"format": STATE_FORMAT, "n_classes": self.n_classes_, "info": self.info_,
                "privacy": self.privacy_}
        arrays = {"means": self.means_, "cluster_class": self.cluster_class_,
                  "weights": self.weights_}
        if self.variances_ is not None:
            arrays["variances"] = self.variances_
        return meta, arrays

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        if meta.get("format") != STATE_FORMAT:
            raise ModelFileError(
                f"ClustMix state format {meta.get('format')!r} is not supported (this version "
                f"reads {STATE_FORMAT!r}); refit the model or upgrade lookalike.")
        self.umap_ = rel.build_unit_map(self.layout_.segments, self.layout_.target,
                                        self._bound())
        self.means_ = np.asarray(arrays["means"], dtype=float)
        self.cluster_class_ = np.asarray(arrays["cluster_class"], dtype=np.int64)
        self.weights_ = np.asarray(arrays["weights"], dtype=float)
        var = arrays.get("variances")
        self.variances_ = None if var is None else np.asarray(var, dtype=float)
        self.n_classes_ = int(meta["n_classes"])
        self.info_ = meta.get("info", {})
        self.privacy_ = meta["privacy"]
        if math.isnan(float(self.weights_.sum())):  # pragma: no cover - corrupted file
            raise ModelFileError("ClustMix state has invalid cluster weights.")
