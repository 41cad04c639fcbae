"""The "Adapt" step of 3A: Kernel Inducing Points on the cluster centroids.

Kernel Inducing Points (KIP; Nguyen, Chen and Lee 2021, "Dataset Meta-Learning from Kernel
Ridge-Regression", ICLR, Algorithm 1) moves a small labelled support set ``S`` so that kernel
ridge regression fitted on ``S`` predicts the real data well. The 3A paper (Madl et al. 2023,
Equation 5) adds a pull towards the mixture centroids ``S0`` found by the "Approximate" step,
so the adapted points stay representative of their clusters::

    L(S) = alpha * ||S - S0||_F^2 / ||S0 - mean(S0)||_F^2
           + (1 - alpha) * (1/n) sum_i || y_i - K(x_i, S) (K(S, S) + lam I)^-1 Y_S ||^2

with ``K`` the closed-form NTK of a fully connected ReLU network (:mod:`.ntk`), ``Y_S`` the
support labels (one-hot of the cluster's class, centred by ``1/n_classes`` as in KIP), and
``lam = ridge * mean(diag K(S, S))`` (a scale-free ridge). The distance term is normalised
by the centroids' spread, so ``alpha`` weighs two dimensionless terms. (The paper's full text
was not retrievable while writing this; the normalisation is our reading of "normalised
distance".) Gradients come from PyTorch autograd and the optimiser is Adam (Kingma and Ba
2015), as in KIP. After every step ``S`` is clipped back into [0, 1]^D.

:func:`kip_adapt` is the paper's, non-private version (minibatches of real rows).
:func:`kip_adapt_dp` is the strict-mode version: full-batch gradients whose per-row parts
are clipped to norm ``clip`` and released with Gaussian noise (one Gaussian event per step;
see its docstring for why the released pair has sensitivity ``clip``).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from lookalike.models.clustmix.ntk import relu_ntk
from lookalike.privacy import PrivacyLedger, gaussian_mechanism
from lookalike.random import torch_generator

log = logging.getLogger(__name__)


def centred_onehot(classes: np.ndarray, n_classes: int) -> np.ndarray:
    """One-hot labels minus ``1 / n_classes`` (KIP's label convention).

    Examples
    --------
    >>> centred_onehot(np.array([0, 1]), 2).tolist()
    [[0.5, -0.5], [-0.5, 0.5]]
    """
    out = np.full((len(classes), n_classes), -1.0 / n_classes)
    out[np.arange(len(classes)), classes] += 1.0
    return out


def _krr_weights(s: Any, ys: Any, *, ridge: float, depth: int, bias: float) -> Any:
    """``(K(S, S) + lam I)^-1 Y_S`` with ``lam = ridge * mean(diag K(S, S))``."""
    import torch

    kss = relu_ntk(s, s, depth=depth, bias=bias)
    lam = ridge * torch.diagonal(kss).mean()
    eye = torch.eye(len(s), dtype=s.dtype)
    return torch.linalg.solve(kss + lam * eye, ys)


def krr_loss(support: np.ndarray, y_support: np.ndarray, x: np.ndarray, y: np.ndarray, *,
             ridge: float, depth: int, bias: float = 0.0) -> float:
    """Mean squared KRR error of real rows ``(x, y)`` predicted from the support set.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.random((40, 3)); y = centred_onehot((x[:, 0] > 0.5).astype(int), 2)
    >>> krr_loss(x, y, x, y, ridge=1e-6, depth=1) < 1e-3  # the data predicts itself
    True
    """
    import torch

    s = torch.as_tensor(support, dtype=torch.float64)
    a = _krr_weights(s, torch.as_tensor(y_support, dtype=torch.float64), ridge=ridge,
                     depth=depth, bias=bias)
    xt = torch.as_tensor(x, dtype=torch.float64)
    pred = relu_ntk(xt, s, depth=depth, bias=bias) @ a
    return float(((pred - torch.as_tensor(y, dtype=torch.float64)) ** 2).sum(1).mean())


def kip_adapt(support: np.ndarray, y_support: np.ndarray, x: np.ndarray, y: np.ndarray, *,
              alpha: float, ridge: float, depth: int, steps: int, rng: np.random.Generator,
              lr: float = 0.01, batch: int = 1024, bias: float = 0.0,
              ) -> tuple[np.ndarray, list[float]]:
    """Minimise the 3A objective (Equation 5, module docstring) over the support points.

    Non-private: every step draws ``batch`` real rows (with the torch generator seeded from
    ``rng``) and takes one Adam step on the exact gradient. Used by ``accounting="paper"``.

    Parameters
    ----------
    support : ndarray (m, D)
        Initial support points ``S0`` (the mixture centroids), in [0, 1].
    y_support : ndarray (m, c)
        Their labels (centred one-hot).
    x, y : ndarray (n, D), (n, c)
        Real rows and their labels.
    alpha, ridge, depth : objective parameters.
    steps, lr, batch : Adam settings.
    rng : numpy.random.Generator
    bias : float
        NTK bias variance.

    Returns
    -------
    (adapted support (m, D), loss per step)

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.random((200, 2)); y = centred_onehot((x[:, 0] > x[:, 1]).astype(int), 2)
    >>> s0 = np.array([[0.6, 0.5], [0.4, 0.5]]); ys = centred_onehot(np.array([1, 0]), 2)
    >>> s, hist = kip_adapt(s0, ys, x, y, alpha=0.0, ridge=1e-3, depth=1, steps=30, rng=rng,
    ...                     lr=0.02, batch=200)
    >>> hist[-1] < hist[0]
    True
    """
    import torch

    gen = torch_generator(rng)
    s0 = torch.as_tensor(support, dtype=torch.float64)
    s = s0.clone().requires_grad_(True)
    ys = torch.as_tensor(y_support, dtype=torch.float64)
    xt = torch.as_tensor(x, dtype=torch.float64)
    yt = torch.as_tensor(y, dtype=torch.float64)
    spread = ((s0 - s0.mean(0)) ** 2).sum().clamp_min(1e-12)
    opt = torch.optim.Adam([s], lr=lr)
    history: list[float] = []
    n = len(xt)
    for _ in range(steps):
        idx = torch.randint(n, (min(batch, n),), generator=gen)
        a = _krr_weights(s, ys, ridge=ridge, depth=depth, bias=bias)
        pred = relu_ntk(xt[idx], s, depth=depth, bias=bias) @ a
        krr = ((pred - yt[idx]) ** 2).sum(1).mean()
        dist = ((s - s0) ** 2).sum() / spread
        loss = alpha * dist + (1.0 - alpha) * krr
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            s.clamp_(0.0, 1.0)
        history.append(float(loss.detach()))
    return s.detach().numpy().copy(), history


def per_row_gradients(s: Any, a: Any, x: Any, y: Any, *, depth: int,
                      bias: float) -> tuple[Any, Any, Any, Any]:
    """Per-row gradient pieces of ``l_i = ||K(x_i, S) A - y_i||^2`` without per-row passes.

    ``K(x, s)`` depends on ``s`` only through ``Sigma0(x, s) = x.s/D + b`` and
    ``Sigma0(s, s) = s.s/D + b``, so ``d l_i / d s_j = P_ij x_i + Q_ij s_j`` with
    ``P_ij = w_ij dK_ij/dSigma0(x_i, s_j) / D``, ``Q_ij = 2 w_ij dK_ij/dSigma0(s_j, s_j) / D``
    and ``w_ij = dl_i/dK_ij = 2 r_i . a_j``; the recursion being elementwise
    (:func:`.ntk.ntk_from_sigma0`), one backward pass gives every ``dK_ij``. Returns
    ``(P, Q, K, R)`` for the rows ``x`` (``R = K A - y``); ``A`` is held fixed.

    Examples
    --------
    >>> import torch
    >>> s = torch.rand(3, 4, dtype=torch.float64); x = torch.rand(5, 4, dtype=torch.float64)
    >>> a = torch.rand(3, 2, dtype=torch.float64); y = torch.zeros(5, 2, dtype=torch.float64)
    >>> [t.shape for t in per_row_gradients(s, a, x, y, depth=2, bias=0.0)]
    [torch.Size([5, 3]), torch.Size([5, 3]), torch.Size([5, 3]), torch.Size([5, 2])]
    """
    import torch

    from lookalike.models.clustmix.ntk import ntk_from_sigma0

    dim = x.shape[1]
    with torch.enable_grad():
        sxz = (x @ s.T / dim + bias).requires_grad_(True)
        szz = ((s * s).sum(1) / dim + bias)[None, :].expand(len(x), len(s)).clone()
        szz.requires_grad_(True)
        sxx = ((x * x).sum(1) / dim + bias)[:, None]
        k = ntk_from_sigma0(sxz, sxx, szz, depth=depth, bias=bias)
        r = k.detach() @ a - y
        w = 2.0 * r @ a.T
        gp, gq = torch.autograd.grad((k * w).sum(), (sxz, szz))
    return gp / dim, 2.0 * gq / dim, k.detach(), r


def kip_adapt_dp(support: np.ndarray, y_support: np.ndarray, x: np.ndarray, y: np.ndarray, *,
                 alpha: float, ridge: float, depth: int, steps: int, clip: float,
                 noise_multiplier: float, n_rows: float, rng: np.random.Generator,
                 ledger: PrivacyLedger, lr: float = 0.01, chunk: int = 4096, bias: float = 0.0,
                 secure: bool = False) -> tuple[np.ndarray, list[float]]:
    """KIP with differentially private, full-batch gradients (strict mode).

    Row ``i``'s loss ``l_i(S) = ||K(x_i, S) A(S) - y_i||^2`` with ``A(S) = (K_SS + lam I)^-1
    Y_S`` depends on the data only through two per-row terms: ``g_k,i``, its gradient
    through ``K(x_i, S)`` with ``A`` held fixed (m x D, rows ``P_ij x_i + Q_ij s_j`` from
    :func:`per_row_gradients`), and ``g_A,i = 2 K(x_i, S)^T r_i`` (m x c). Each row's pair
    ``(g_k,i, g_A,i)`` is clipped jointly to L2 norm ``clip`` (the norms are computed in
    closed form) and the sums are released with N(0, (noise_multiplier * clip)^2) noise:
    one Gaussian release of sensitivity ``clip`` per step (add / remove one row), spent on
    ``ledger`` (Abadi et al. 2016's clipping, here on full batches). The gradient of the
    data term is then ``(G_k + J_A^T G_A) / n_rows`` - post-processing, because ``J_A``,
    the Jacobian of ``A(S)``, depends on the (already private) support only. ``n_rows``
    must itself be a DP count. The distance term of Equation 5 does not touch the data and
    is differentiated exactly.

    Returns the adapted support and, per step, the (data-independent) distance term only:
    the exact data loss is never computed, so nothing unreleased can leak through logs.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.random((200, 2)); y = centred_onehot((x[:, 0] > x[:, 1]).astype(int), 2)
    >>> s0 = np.array([[0.6, 0.5], [0.4, 0.5]]); ys = centred_onehot(np.array([1, 0]), 2)
    >>> ledger = PrivacyLedger(1.0, 1e-5)
    >>> s, _ = kip_adapt_dp(s0, ys, x, y, alpha=0.5, ridge=1e-2, depth=1, steps=3, clip=1.0,
    ...                     noise_multiplier=10.0, n_rows=200.0, rng=rng, ledger=ledger)
    >>> s.shape, len(ledger), [e.sigma for e in ledger.events][:1]
    ((2, 2), 3, [10.0])
    """
    import torch

    s0 = torch.as_tensor(support, dtype=torch.float64)
    s = s0.clone().requires_grad_(True)
    ys = torch.as_tensor(y_support, dtype=torch.float64)
    xt = torch.as_tensor(x, dtype=torch.float64)
    yt = torch.as_tensor(y, dtype=torch.float64)
    spread = ((s0 - s0.mean(0)) ** 2).sum().clamp_min(1e-12)
    opt = torch.optim.Adam([s], lr=lr)
    history: list[float] = []
    m, dim = s0.shape
    n_cls = ys.shape[1]
    for step in range(steps):
        a = _krr_weights(s, ys, ridge=ridge, depth=depth, bias=bias)
        a_fixed = a.detach()
        s_fixed = s.detach()
        ss = (s_fixed * s_fixed).sum(1)
        g_k = torch.zeros(m, dim, dtype=torch.float64)
        g_a = torch.zeros(m, n_cls, dtype=torch.float64)
        with torch.no_grad():
            for start in range(0, len(xt), chunk):
                xc, yc = xt[start:start + chunk], yt[start:start + chunk]
                p, q, k, r = per_row_gradients(s_fixed, a_fixed, xc, yc, depth=depth, bias=bias)
                xx = (xc * xc).sum(1)[:, None]
                norm_k = (p * p * xx + 2.0 * p * q * (xc @ s_fixed.T) + q * q * ss[None]).sum(1)
                norm_a = 4.0 * (k * k).sum(1) * (r * r).sum(1)
                f = torch.clamp(clip / torch.sqrt(torch.clamp(norm_k + norm_a, min=1e-60)),
                                max=1.0)[:, None]
                g_k += (p * f).T @ xc + (q * f).sum(0)[:, None] * s_fixed
                g_a += 2.0 * (k * f).T @ r
        flat = np.concatenate([g_k.numpy().ravel(), g_a.numpy().ravel()])
        noisy, _ = gaussian_mechanism(flat, clip, noise_multiplier * clip, rng,
                                      label=f"KIP step {step + 1}: clipped gradients",
                                      ledger=ledger, secure=secure)
        nk = torch.as_tensor(noisy[:m * dim].reshape(m, dim))
        na = torch.as_tensor(noisy[m * dim:].reshape(m, n_cls))
        dist = ((s - s0) ** 2).sum() / spread
        surrogate = alpha * dist + (1.0 - alpha) * ((s * nk).sum() + (a * na).sum()) / n_rows
        opt.zero_grad()
        surrogate.backward()
        opt.step()
        with torch.no_grad():
            s.clamp_(0.0, 1.0)
        history.append(float(dist.detach()))
    return s.detach().numpy().copy(), history
