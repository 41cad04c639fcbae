"""Closed-form neural tangent kernel of a fully connected ReLU network (arc-cosine recursion).

For an infinitely wide fully connected network with ``depth`` ReLU hidden layers in the NTK
parameterisation (weights N(0, 1), pre-activations scaled by ``sqrt(2 / fan_in)``, bias
variance ``bias``), the network's output kernel (NNGP) and tangent kernel (NTK) follow the
recursion of Jacot, Gabriel and Hongler (2018), "Neural Tangent Kernel", Theorem 1, written
out for ReLU by Arora, Du, Hu, Li, Salakhutdinov and Wang (2019), "On Exact Computation with
an Infinitely Wide Neural Net", Section 3 / Appendix (Eq. 4-5 there)::

    Sigma0(x, z) = x.z / D + bias
    for h = 1 .. depth:
        cos t  = Sigma(x, z) / sqrt(Sigma(x, x) Sigma(z, z))
        Sigma  <- sqrt(Sigma(x, x) Sigma(z, z)) / pi * (sin t + (pi - t) cos t) + bias
        dSigma  = (pi - t) / pi
        Theta  <- Theta * dSigma + Sigma                       (Theta starts at Sigma0)

The two ReLU expectations are the arc-cosine kernels of Cho and Saul (2009), "Kernel Methods
for Deep Learning", Eq. (6): ``2 E[relu(u) relu(v)] = |x||z| J1(t) / pi`` and
``2 E[step(u) step(v)] = J0(t) / pi`` with ``J1 = sin t + (pi - t) cos t``, ``J0 = pi - t``
(:func:`arccos_kernel` gives them in NumPy for checks). Everything here is a pure function;
the torch version is differentiable, which the KIP step (:mod:`.kip`) needs. torch is imported
inside the functions so that importing this module does not import torch.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from lookalike.errors import InvalidParameterError

if TYPE_CHECKING:  # pragma: no cover
    import torch

#: cos t is clipped to [-1 + _EPS, 1 - _EPS] so that acos keeps a finite gradient.
_EPS = 1e-9


def arccos_kernel(x: np.ndarray, z: np.ndarray, degree: int = 1) -> np.ndarray:
    """Arc-cosine kernel of degree 0 or 1 (Cho and Saul 2009, Eq. 6), in NumPy.

    ``k_n(x, z) = |x|^n |z|^n J_n(t) / pi`` with ``J0 = pi - t`` and
    ``J1 = sin t + (pi - t) cos t``; equivalently ``2 E_w[relu(w.x)^n relu(w.z)^n]`` for
    ``w ~ N(0, I)`` (``relu^0`` = step).

    Parameters
    ----------
    x, z : ndarray of shape (n, d) and (m, d)
    degree : {0, 1}

    Returns
    -------
    ndarray of shape (n, m)

    Examples
    --------
    >>> e = np.eye(2)
    >>> np.round(arccos_kernel(e, e), 4)  # orthogonal unit vectors: 1 / pi
    array([[1.    , 0.3183],
           [0.3183, 1.    ]])
    """
    if degree not in (0, 1):
        raise InvalidParameterError(
            f"The 'degree' parameter of arccos_kernel must be 0 or 1; got {degree!r}.")
    nx = np.linalg.norm(x, axis=1)[:, None]
    nz = np.linalg.norm(z, axis=1)[None, :]
    denom = np.where(nx * nz > 0, nx * nz, 1.0)
    cos = np.clip((x @ z.T) / denom, -1.0, 1.0)
    t = np.arccos(cos)
    if degree == 0:
        return (math.pi - t) / math.pi
    return nx * nz * (np.sin(t) + (math.pi - t) * cos) / math.pi


def _check(depth: int, bias: float) -> None:
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise InvalidParameterError(
            f"The 'depth' parameter of relu_ntk must be an int in [1, inf); got {depth!r}.")
    if not (isinstance(bias, int | float) and bias >= 0):
        raise InvalidParameterError(
            f"The 'bias' parameter of relu_ntk must be a float in [0, inf); got {bias!r}.")


def relu_ntk(x: torch.Tensor, z: torch.Tensor, *, depth: int = 2, bias: float = 0.0,
             return_nngp: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """NTK (and optionally NNGP) of a ``depth``-hidden-layer ReLU network, in torch.

    Implements the recursion in the module docstring (Arora et al. 2019, Eq. 4-5). It is
    differentiable in both arguments (cos t is clipped away from +-1 so acos keeps a finite
    gradient; at coinciding points this changes the kernel by < 2e-5 relative).

    Parameters
    ----------
    x : torch.Tensor of shape (n, D)
    z : torch.Tensor of shape (m, D)
    depth : int, default 2
        Number of ReLU hidden layers.
    bias : float, default 0.0
        Variance of the bias terms.
    return_nngp : bool, default False
        Also return the NNGP kernel ``Sigma^(depth)``.

    Returns
    -------
    torch.Tensor of shape (n, m), or (ntk, nngp)

    Examples
    --------
    >>> import torch
    >>> x = torch.eye(2, dtype=torch.float64)
    >>> k = relu_ntk(x, x, depth=1)
    >>> round(float(k[0, 1]) * 2 * math.pi, 4)  # Sigma0 = 0, Sigma1 = 1/(2 pi)
    1.0
    """
    _check(depth, bias)
    dim = x.shape[1]
    sxx = ((x * x).sum(1) / dim + bias)[:, None]
    szz = ((z * z).sum(1) / dim + bias)[None, :]
    sxz = x @ z.T / dim + bias
    return ntk_from_sigma0(sxz, sxx, szz, depth=depth, bias=bias, return_nngp=return_nngp)


def ntk_from_sigma0(sxz: torch.Tensor, sxx: torch.Tensor, szz: torch.Tensor, *, depth: int,
                    bias: float, return_nngp: bool = False,
                    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """The recursion of :func:`relu_ntk`, elementwise on the input covariances.

    ``sxz`` is ``Sigma0(x, z)`` and ``sxx``, ``szz`` broadcast to its shape. Because the
    map is elementwise, autograd gives ``dK_ij / dSigma0_ij`` pair by pair, which the DP
    KIP step uses for per-row gradients without per-row backward passes.

    Examples
    --------
    >>> import torch
    >>> one = torch.ones(1, 1, dtype=torch.float64)
    >>> round(float(ntk_from_sigma0(one, one, one, depth=1, bias=0.0)[0, 0]), 4)  # 1 + 1
    2.0
    """
    import torch

    theta = sxz
    for _ in range(depth):
        norm = torch.sqrt(torch.clamp(sxx * szz, min=1e-30))
        cos = torch.clamp(sxz / norm, -1.0 + _EPS, 1.0 - _EPS)
        t = torch.acos(cos)
        sxz = norm * (torch.sin(t) + (math.pi - t) * cos) / math.pi + bias
        theta = theta * (math.pi - t) / math.pi + sxz
        sxx = sxx + bias                        # t = 0 on the diagonal: Sigma(x, x) + bias
        szz = szz + bias
    if return_nngp:
        return theta, sxz
    return theta


def relu_ntk_numpy(x: np.ndarray, z: np.ndarray, *, depth: int = 2,
                   bias: float = 0.0) -> np.ndarray:
    """:func:`relu_ntk` in NumPy (float64), for checks and for callers without torch.

    Examples
    --------
    >>> x = np.eye(2)
    >>> round(float(relu_ntk_numpy(x, x, depth=1)[0, 0]), 6)  # Sigma0 = 1/2: 1/2 * 1 + 1/2
    1.0
    """
    _check(depth, bias)
    dim = x.shape[1]
    sxx = (x * x).sum(1) / dim + bias
    szz = (z * z).sum(1) / dim + bias
    sxz = x @ z.T / dim + bias
    theta = sxz
    for _ in range(depth):
        norm = np.sqrt(np.maximum(sxx[:, None] * szz[None, :], 1e-30))
        cos = np.clip(sxz / norm, -1.0, 1.0)
        t = np.arccos(cos)
        sxz = norm * (np.sin(t) + (math.pi - t) * cos) / math.pi + bias
        theta = theta * (math.pi - t) / math.pi + sxz
        sxx = sxx + bias
        szz = szz + bias
    return theta
