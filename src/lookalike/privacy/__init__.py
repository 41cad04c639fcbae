"""Privacy accounting and mechanisms shared by every DP feature of lookalike.

* :mod:`~lookalike.privacy.gdp` - Gaussian DP: mu <-> (epsilon, delta), composition,
  noise calibration, and the 3A cluster-mean bound (pure functions).
* :mod:`~lookalike.privacy.rdp` - Rényi DP of the (subsampled) Gaussian, Laplace and pure
  DP mechanisms, conversion to (epsilon, delta), DP-SGD noise calibration (pure functions).
* :mod:`~lookalike.privacy.events` - frozen records of noisy releases (JSON round trip).
* :mod:`~lookalike.privacy.accountant` - :class:`PrivacyLedger`, which composes events and
  refuses to overspend.
* :mod:`~lookalike.privacy.mechanisms` - Gaussian and Laplace mechanisms returning
  ``(value, event)``.
* :mod:`~lookalike.privacy.dp_stats` - DP count, quantiles, bounds and category selection.
* :mod:`~lookalike.privacy.pate` - PATE's noisy teacher vote: mechanism, data-independent
  and data-dependent privacy curves, moments accountant, event.

Importing this package loads numpy and scipy only (never torch or opacus).

Examples
--------
>>> import numpy as np
>>> from lookalike.privacy import PrivacyLedger, gaussian_mechanism
>>> ledger = PrivacyLedger(epsilon=1.0, delta=1e-5)
>>> sigma = ledger.calibrate_gaussian(sensitivity=0.01)
>>> value, event = gaussian_mechanism(0.5, 0.01, sigma, np.random.default_rng(0),
...                                   label="mean of 'age'", ledger=ledger)
>>> len(ledger)
1
"""

from lookalike.privacy.accountant import PrivacyLedger, PrivacySpent
from lookalike.privacy.dp_stats import dp_bounds, dp_count, dp_quantiles, dp_select_categories
from lookalike.privacy.events import (
    ComposedEvent,
    GaussianEvent,
    GaussianThresholdEvent,
    LaplaceEvent,
    PrivacyEvent,
    PureDPEvent,
    SampledGaussianEvent,
    event_from_dict,
)
from lookalike.privacy.gdp import (
    cluster_means_delta,
    cluster_means_mu,
    cluster_means_sigma,
    compose_mu,
    delta_from_mu,
    epsilon_from_mu,
    gaussian_mu,
    log_delta_from_mu,
    mu_from_epsilon_delta,
    sigma_for_epsilon_delta,
)
from lookalike.privacy.mechanisms import gaussian_mechanism, laplace_mechanism
from lookalike.privacy.pate import NoisyMaxEvent
from lookalike.privacy.rdp import (
    DEFAULT_ORDERS,
    gaussian_rdp,
    laplace_rdp,
    noise_multiplier_for_epsilon,
    pure_dp_rdp,
    rdp_to_delta,
    rdp_to_epsilon,
    sampled_gaussian_epsilon,
    subsampled_gaussian_rdp,
)

__all__ = [
    "DEFAULT_ORDERS",
    "ComposedEvent",
    "GaussianEvent",
    "GaussianThresholdEvent",
    "LaplaceEvent",
    "NoisyMaxEvent",
    "PrivacyEvent",
    "PrivacyLedger",
    "PrivacySpent",
    "PureDPEvent",
    "SampledGaussianEvent",
    "cluster_means_delta",
    "cluster_means_mu",
    "cluster_means_sigma",
    "compose_mu",
    "delta_from_mu",
    "dp_bounds",
    "dp_count",
    "dp_quantiles",
    "dp_select_categories",
    "epsilon_from_mu",
    "event_from_dict",
    "gaussian_mechanism",
    "gaussian_mu",
    "gaussian_rdp",
    "laplace_mechanism",
    "laplace_rdp",
    "log_delta_from_mu",
    "mu_from_epsilon_delta",
    "noise_multiplier_for_epsilon",
    "pure_dp_rdp",
    "rdp_to_delta",
    "rdp_to_epsilon",
    "sampled_gaussian_epsilon",
    "sigma_for_epsilon_delta",
    "subsampled_gaussian_rdp",
]
