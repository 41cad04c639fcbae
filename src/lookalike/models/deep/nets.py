"""PyTorch building blocks shared by the deep generators (imported only by model modules).

* :func:`build` constructs a network and draws its initial weights from a
  ``torch.Generator`` (so no global random state is read or moved);
* :class:`Heads` applies the output activations of a model space (tanh for bounded values,
  identity for plain ones, softmax or Gumbel-softmax for one-hot groups) with padded,
  vectorised group operations - one call per batch, however many groups - and computes the
  cross-entropies of the groups;
* the networks: CTGAN's residual generator and packed critic (Xu et al. 2019, Section 4.4),
  TVAE's encoder / decoder (same paper, Section 4.5), medGAN's auto-encoder, residual
  latent generator and minibatch-averaging discriminator (Choi et al. 2017, Sections 2.2
  and 3), the MLP generator of DP-MERF (Harder, Adamczewski and Park 2021) and PATE-GAN's
  batched teacher ensemble (Jordon, Yoon and van der Schaar 2019);
* :func:`state_arrays` / :func:`load_arrays` move weights to and from numpy (no pickle).

Dropout is written out with an explicit generator (``nn.Dropout`` would draw from torch's
global generator). No layer here keeps batch statistics except the generators' BatchNorm,
which is never trained with DP-SGD.

Examples
--------
>>> import torch
>>> from lookalike.models.deep.normalizer import Block
>>> heads = Heads([Block("value", 0, 1, "x", "alpha"), Block("softmax", 1, 3, "c", "value")])
>>> out = heads.activate(torch.zeros(2, 3))
>>> out[0].tolist()
[0.0, 0.5, 0.5]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from lookalike.models.deep.normalizer import Block


# -- construction ---------------------------------------------------------------------------
def build(factory: Callable[[], nn.Module], gen: torch.Generator) -> nn.Module:
    """``factory()`` with weights drawn from ``gen``; torch's global RNG state is kept.

    Linear weights and biases get PyTorch's default ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``.
    """
    with torch.random.fork_rng(devices=[]):
        net = factory()
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.Linear):
                bound = 1.0 / math.sqrt(max(module.in_features, 1))
                module.weight.uniform_(-bound, bound, generator=gen)
                if module.bias is not None:
                    module.bias.uniform_(-bound, bound, generator=gen)
    return net


def dropout(x: torch.Tensor, p: float, gen: torch.Generator | None, training: bool) -> torch.Tensor:
    """Inverted dropout with masks from ``gen`` (identity in eval mode or for p = 0)."""
    if not training or p <= 0.0 or gen is None:
        return x
    keep = torch.rand(x.shape, generator=gen, device=x.device) >= p
    return x * keep / (1.0 - p)


# -- output heads ---------------------------------------------------------------------------
class Heads:
    """Vectorised activations and losses over the blocks of a model space.

    The softmax groups are gathered into a padded ``(batch, groups, max_width)`` tensor
    (padding = -inf), so softmax, Gumbel-softmax and cross-entropy take one call each.
    """

    def __init__(self, blocks: Sequence[Block], *, plain: str = "identity") -> None:
        self.blocks = tuple(blocks)
        self.width = max((b.stop for b in blocks), default=0)
        groups = [b for b in blocks if b.kind == "softmax"]
        self.n_groups = len(groups)
        w = max((b.width for b in groups), default=1)
        idx = np.zeros((len(groups), w), dtype=np.int64)
        mask = np.zeros((len(groups), w), dtype=bool)
        for g, b in enumerate(groups):
            idx[g, :b.width] = np.arange(b.start, b.stop)
            mask[g, :b.width] = True
        self.group_idx = torch.as_tensor(idx)
        self.group_mask = torch.as_tensor(mask)
        self.flat_idx = self.group_idx[self.group_mask]
        bounded = [i for b in blocks if b.kind == "value" and (b.bounded or plain == "tanh")
                   for i in range(b.start, b.stop)]
        unbounded = [i for b in blocks if b.kind == "value" and not (b.bounded or plain == "tanh")
                     for i in range(b.start, b.stop)]
        self.tanh_idx = torch.as_tensor(bounded, dtype=torch.long)
        self.linear_idx = torch.as_tensor(unbounded, dtype=torch.long)
        self.value_idx = torch.as_tensor(sorted(bounded + unbounded), dtype=torch.long)

    def padded(self, raw: torch.Tensor) -> torch.Tensor:
        """(batch, groups, max_width) view of the softmax groups, padding = -inf."""
        x = raw[:, self.group_idx]
        return x.masked_fill(~self.group_mask, float("-inf"))

    def _scatter(self, raw: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
        parts = raw.new_zeros(raw.shape)
        if len(self.tanh_idx):
            parts[:, self.tanh_idx] = torch.tanh(raw[:, self.tanh_idx])
        if len(self.linear_idx):
            parts[:, self.linear_idx] = raw[:, self.linear_idx]
        if self.n_groups:
            parts[:, self.flat_idx] = groups[:, self.group_mask]
        return parts

    def activate(self, raw: torch.Tensor) -> torch.Tensor:
        """tanh / identity on values, softmax on groups."""
        return self._scatter(raw, torch.softmax(self.padded(raw), dim=-1) if self.n_groups
                             else raw)

    def gumbel(self, raw: torch.Tensor, tau: float, gen: torch.Generator) -> torch.Tensor:
        """As :meth:`activate`, with Gumbel-softmax(tau) groups (Jang et al. 2017)."""
        if not self.n_groups:
            return self._scatter(raw, raw)
        u = torch.rand(raw.shape, generator=gen, device=raw.device)  # one draw per column
        g = -torch.log((-torch.log(u.clamp_min(1e-20))).clamp_min(1e-20))
        return self._scatter(raw, torch.softmax(self.padded(raw + g) / tau, dim=-1))

    def cross_entropy(self, raw: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-row sum over groups of ``-sum(target * log_softmax(raw))``; shape (batch,)."""
        if not self.n_groups:
            return raw.new_zeros(raw.shape[0])
        logp = torch.log_softmax(self.padded(raw), dim=-1).masked_fill(~self.group_mask, 0.0)
        return -(logp * target[:, self.group_idx]).sum(dim=(1, 2))

    def sample(self, raw: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Raw outputs -> activated rows, each softmax group replaced by a one-hot draw."""
        out = raw.copy()
        if len(self.tanh_idx):
            out[:, self.tanh_idx.numpy()] = np.tanh(raw[:, self.tanh_idx.numpy()])
        if not self.n_groups:
            return out
        idx, mask = self.group_idx.numpy(), self.group_mask.numpy()
        scores = np.where(mask, raw[:, idx], -np.inf)
        p = np.exp(scores - scores.max(axis=2, keepdims=True))
        p /= p.sum(axis=2, keepdims=True)
        u = rng.random((raw.shape[0], idx.shape[0], 1))
        k = np.minimum((np.cumsum(p, axis=2) < u).sum(axis=2), mask.sum(axis=1) - 1)
        out[:, self.flat_idx.numpy()] = 0.0
        rows = np.repeat(np.arange(raw.shape[0]), idx.shape[0])
        cols = idx[np.tile(np.arange(idx.shape[0]), raw.shape[0]), k.reshape(-1)]
        out[rows, cols] = 1.0
        return out


# -- CTGAN ----------------------------------------------------------------------------------
class Residual(nn.Module):
    """CTGAN's residual layer: ``cat(ReLU(BN(Linear(x))), x)``."""

    def __init__(self, i: int, o: int) -> None:
        super().__init__()
        self.fc = nn.Linear(i, o)
        self.bn = nn.BatchNorm1d(o)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.relu(self.bn(self.fc(x))), x], dim=1)


class ResidualGenerator(nn.Module):
    """Noise (+ condition) -> raw model-space outputs (activations applied by :class:`Heads`)."""

    def __init__(self, in_dim: int, hidden: Sequence[int], out_dim: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        dim = in_dim
        for h in hidden:
            layers.append(Residual(dim, h))
            dim += h
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x))


class Critic(nn.Module):
    """MLP critic over packs of ``pac`` rows (PacGAN, Lin et al. 2018), dropout and LeakyReLU."""

    def __init__(self, in_dim: int, hidden: Sequence[int], pac: int = 1,
                 p_dropout: float = 0.5) -> None:
        super().__init__()
        self.pac = pac
        self.p_dropout = p_dropout
        self.gen: torch.Generator | None = None
        dims = [in_dim * pac, *hidden]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.out = nn.Linear(dims[-1], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.reshape(-1, x.shape[1] * self.pac)
        for layer in self.layers:
            h = dropout(nn.functional.leaky_relu(layer(h), 0.2), self.p_dropout, self.gen,
                        self.training)
        return self.out(h).squeeze(1)


# -- TVAE -----------------------------------------------------------------------------------
def mlp(dims: Sequence[int], act: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """Linear layers with ``act`` between them (none after the last)."""
    layers: list[nn.Module] = []
    for a, b in zip(dims[:-2], dims[1:-1]):
        layers += [nn.Linear(a, b), act()]
    layers.append(nn.Linear(dims[-2], dims[-1]))
    return nn.Sequential(*layers)


class VAENet(nn.Module):
    """(C)VAE: encoder q(z | x, c), decoder p(x | z, c) with a learned scale per value column.

    ``forward(x, c, eps)`` returns the decoder's raw outputs, the posterior mean and
    log-variance, and the log-scales of the value columns; the log-scales are the weights
    of a bias-free ``Linear(1, n_values)`` applied to a column of ones, so that Opacus can
    compute their per-sample gradients too.
    """

    def __init__(self, data_dim: int, cond_dim: int, n_values: int,
                 hidden: Sequence[int], latent: int) -> None:
        super().__init__()
        self.encoder = mlp([data_dim + cond_dim, *hidden, 2 * latent])
        self.decoder = mlp([latent + cond_dim, *reversed(hidden), data_dim])
        self.log_sigma = nn.Linear(1, max(n_values, 1), bias=False)
        self.latent = latent

    def forward(self, x: torch.Tensor, c: torch.Tensor,
                eps: torch.Tensor) -> tuple[torch.Tensor, ...]:
        h = self.encoder(torch.cat([x, c], dim=1))
        mu, logvar = h[:, :self.latent], h[:, self.latent:].clamp(-20.0, 10.0)
        z = mu + eps * torch.exp(0.5 * logvar)
        raw = self.decoder(torch.cat([z, c], dim=1))
        log_sigma = self.log_sigma(x.new_ones(x.shape[0], 1))
        return raw, mu, logvar, log_sigma.clamp(math.log(0.01), 0.0)

    def decode(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.decoder(torch.cat([z, c], dim=1))


# -- medGAN ---------------------------------------------------------------------------------
class LatentGenerator(nn.Module):
    """medGAN's generator: residual ``h + ReLU(BN(Linear(h)))`` layers in the code space."""

    def __init__(self, dim: int, n_layers: int) -> None:
        super().__init__()
        self.fcs = nn.ModuleList(nn.Linear(dim, dim) for _ in range(n_layers))
        self.bns = nn.ModuleList(nn.BatchNorm1d(dim) for _ in range(n_layers))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = z
        for fc, bn in zip(self.fcs, self.bns):
            h = h + torch.relu(bn(fc(h)))
        return torch.tanh(h)


class MinibatchDiscriminator(nn.Module):
    """medGAN's discriminator: each row is concatenated with the batch mean (minibatch
    averaging, Choi et al. 2017, Section 3) before an MLP."""

    def __init__(self, data_dim: int, hidden: Sequence[int]) -> None:
        super().__init__()
        self.net = mlp([2 * data_dim, *hidden, 1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=0, keepdim=True).expand_as(x)
        return self.net(torch.cat([x, mean], dim=1)).squeeze(1)


# -- PATE-GAN -------------------------------------------------------------------------------
class TeacherEnsemble(nn.Module):
    """``k`` independent binary classifiers evaluated in one batched call (PATE's teachers).

    Each teacher is a logistic regression (``hidden = 0``) or an MLP with one hidden layer
    of ``hidden`` LeakyReLU units, with ``n_out`` output logits of which a one-hot
    condition ``c`` selects one (per class weights: a logistic regression on ``x`` times
    ``c``, so a teacher can tell how the rows of each class differ). Teacher ``j`` owns
    slice ``j`` of every parameter, so a loss that sums per-teacher losses gives each
    teacher the gradient of its own loss only (and Adam, being elementwise, keeps them
    independent).
    """

    def __init__(self, k: int, in_dim: int, hidden: int, n_out: int = 1) -> None:
        super().__init__()
        self.hidden = hidden
        self.in_dim = in_dim
        width = hidden if hidden else in_dim
        if hidden:
            self.w1 = nn.Parameter(torch.empty(k, in_dim, hidden))
            self.b1 = nn.Parameter(torch.empty(k, 1, hidden))
        self.w2 = nn.Parameter(torch.empty(k, width, n_out))
        self.b2 = nn.Parameter(torch.empty(k, 1, n_out))

    def reset(self, gen: torch.Generator) -> TeacherEnsemble:
        """Draw every weight from ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` with ``gen``."""
        with torch.no_grad():
            if self.hidden:
                bound = 1.0 / math.sqrt(max(self.in_dim, 1))
                self.w1.uniform_(-bound, bound, generator=gen)
                self.b1.uniform_(-bound, bound, generator=gen)
            bound = 1.0 / math.sqrt(max(self.w2.shape[1], 1))
            self.w2.uniform_(-bound, bound, generator=gen)
            self.b2.uniform_(-bound, bound, generator=gen)
        return self

    def squared_weights(self) -> torch.Tensor:
        """Sum over teachers of their squared weights (biases excluded), for an L2 penalty."""
        total = (self.w2 ** 2).sum()
        return total + (self.w1 ** 2).sum() if self.hidden else total

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(k, batch)`` for per-teacher rows ``x`` of shape ``(k, batch, in_dim)``,
        or for rows ``(batch, in_dim)`` shown to every teacher; ``c`` (same leading shape,
        ``n_out`` wide) selects each row's output."""
        h = x
        if self.hidden:
            h = nn.functional.leaky_relu(torch.matmul(x, self.w1) + self.b1, 0.2)
        out = torch.matmul(h, self.w2) + self.b2
        return out.squeeze(2) if c is None else (out * c).sum(2)


# -- persistence ----------------------------------------------------------------------------
def state_arrays(net: nn.Module, prefix: str) -> dict[str, np.ndarray]:
    """The network's parameters and buffers as numpy arrays keyed ``prefix/name``."""
    return {f"{prefix}/{k}": v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()}


def load_arrays(net: nn.Module, arrays: dict[str, np.ndarray], prefix: str) -> None:
    """Load :func:`state_arrays` output into ``net`` (strict: names and shapes must match)."""
    ref = net.state_dict()
    state = {}
    for k, v in ref.items():
        key = f"{prefix}/{k}"
        if key not in arrays:
            raise KeyError(f"weight {key!r} is missing")
        a = np.asarray(arrays[key])
        if a.size == v.numel() and a.ndim <= 1 and v.dim() == 0:
            a = a.reshape(())  # a stored scalar (e.g. num_batches_tracked) may come back 1-D
        if tuple(a.shape) != tuple(v.shape):
            raise KeyError(f"weight {key!r} has shape {a.shape}; the network needs "
                           f"{tuple(v.shape)}")
        state[k] = torch.from_numpy(np.ascontiguousarray(a)).to(v.dtype)
    net.load_state_dict(state)


# -- checkpoints ----------------------------------------------------------------------------
class Checkpoint:
    """Best-so-far and last-finite copies of some networks' weights (early stopping).

    Examples
    --------
    >>> net = nn.Linear(2, 1)
    >>> ckpt = Checkpoint({"net": net})
    >>> ckpt.offer(0.5, epoch=1)
    True
    >>> ckpt.offer(0.7, epoch=2), ckpt.best_epoch
    (False, 1)
    """

    def __init__(self, nets: dict[str, nn.Module]) -> None:
        self.nets = nets
        self.best_score = math.inf
        self.best_epoch = 0
        self.best = self._copy()
        self.last = self.best

    def _copy(self) -> dict[str, dict[str, torch.Tensor]]:
        return {name: {k: v.detach().clone() for k, v in net.state_dict().items()}
                for name, net in self.nets.items()}

    def offer(self, score: float, epoch: int) -> bool:
        """Keep the weights if ``score`` (lower is better) beats the best; True if so."""
        if math.isfinite(score) and score < self.best_score:
            self.best_score, self.best_epoch, self.best = score, epoch, self._copy()
            return True
        return False

    def mark_finite(self) -> None:
        """Remember the current weights as the last ones known to be finite."""
        self.last = self._copy()

    def restore(self, which: str = "best") -> None:
        """Load the best weights (or the last finite ones when no best was kept)."""
        state = self.best if which == "best" and self.best_epoch > 0 else self.last
        for name, net in self.nets.items():
            net.load_state_dict(state[name])
