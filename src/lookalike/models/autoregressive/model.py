"""The network of the autoregressive generator (PyTorch; imported only when a model is built).

Every row is a sequence of ``S`` sub-columns ("slots", :class:`~lookalike.encoding.TokenSlot`),
grouped into ``C`` columns. The network predicts each slot from the slots that come before it
in a column order ``pi`` that may change from row to row (any-order training):

.. math::

    p(x) = \\prod_s p(x_s \\mid x_{<_\\pi s}), \\qquad
    z_s^{(k)} = \\frac{1}{\\sqrt{1 + |{<_\\pi s}|}}
              \\sum_{t <_\\pi s} \\alpha_{k, s, c(t)} E_t[x_t]^{(k)}

``t <_pi s`` means: t's column comes before s's column in ``pi``, or t is an earlier slot of
the same column (the slots of one column always stay together and in their order). ``E_t``
is an embedding table of width ``hidden`` per slot, split into ``mix_heads`` groups of
dimensions ``k``; ``alpha`` (H, S, C) is a learned weight of each source column for each
target slot and head (a static, input-independent attention; with ``mix_heads = 0`` all
weights are 1). Without ``alpha``, ``z_s`` is the first layer of MADE (Germain et al. 2015,
eq. 9) with the order drawn per row group (Uria et al. 2014, "A deep and tractable density
estimator", sec. 3); the weights let each target read the columns it needs without the
others drowning them (measured on Adult: held-out NLL 28.17 vs 28.34 nats per row in table
order, 28.38 vs 28.75 in random orders). MOSTLY AI's TabularARGN (Tiwald et al. 2025)
instead feeds the concatenated masked column embeddings to a separate layer per target.

Each slot then has its own small MLP and softmax head:
``a_s = relu(z_s + b_s)``, ``h_s = W_s a_s + c_s`` (``hidden -> width``),
``h_s += V_{s,k} relu(h_s)`` for each residual block ``k``,
``logits_s = U_s relu(h_s) + d_s`` (``U_s`` is ``width x cardinality_s``).

A training batch is split into up to 16 groups of rows with one order each, so that the
masked sums are batched matrix products; tables with more than 128 slots use one order per
batch, no ``alpha`` and an exclusive prefix sum along the permuted slots (``O(S)`` per row).

All parameters are created from an explicit ``torch.Generator``. Per-sample gradient and
gradient-norm rules of the custom layers are registered with Opacus
(:func:`register_grad_samplers`) so that DP-SGD works on the same modules.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

#: bump when the meaning of the stored weights changes
ARCHITECTURE_VERSION = 1
#: tables up to this many slots use dense order masks (several orders per batch)
DENSE_MASK_SLOTS = 128
#: at most this many column orders per training batch
MAX_ORDERS = 16


@dataclass(frozen=True)
class Architecture:
    """Hyperparameters that determine the network's shape (JSON round trip).

    Parameters
    ----------
    cardinalities : vocabulary size of each slot.
    column_of_slot : index of the column each slot belongs to (non-decreasing, from 0).
    hidden : width of the embeddings (and of the context sums).
    n_blocks : residual blocks per slot after the per-slot input layer.
    mix_heads : heads of the learned source weights (0: a plain masked sum).
    width : width of the per-slot layers (0: ``hidden``).

    Examples
    --------
    >>> arch = Architecture((3, 64), (0, 0), hidden=16, n_blocks=0, mix_heads=4)
    >>> Architecture.from_json(arch.to_json()) == arch
    True
    """

    cardinalities: tuple[int, ...]
    column_of_slot: tuple[int, ...]
    hidden: int
    n_blocks: int
    mix_heads: int = 0
    width: int = 0

    @property
    def slot_width(self) -> int:
        return self.width or self.hidden

    @property
    def n_slots(self) -> int:
        return len(self.cardinalities)

    @property
    def n_columns(self) -> int:
        return (self.column_of_slot[-1] + 1) if self.column_of_slot else 0

    def column_slots(self) -> list[list[int]]:
        """Slot indices of each column, in order."""
        out: list[list[int]] = [[] for _ in range(self.n_columns)]
        for s, c in enumerate(self.column_of_slot):
            out[c].append(s)
        return out

    def n_parameters(self) -> int:
        h, w, s, v = self.hidden, self.slot_width, self.n_slots, sum(self.cardinalities)
        return (v * h + s * h + s * (h * w + w) + s * (w * w + w) * self.n_blocks + w * v + v
                + self.mix_heads * s * self.n_columns)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["cardinalities"] = list(self.cardinalities)
        d["column_of_slot"] = list(self.column_of_slot)
        d["version"] = ARCHITECTURE_VERSION
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Architecture:
        return cls(tuple(int(c) for c in d["cardinalities"]),
                   tuple(int(c) for c in d["column_of_slot"]),
                   int(d["hidden"]), int(d["n_blocks"]), int(d.get("mix_heads", 0)),
                   int(d.get("width", 0)))


class SlotLinear(nn.Module):
    """``K`` independent affine maps applied slot-wise to a slot-major ``(K, B, d_in)`` tensor."""

    def __init__(self, k: int, d_in: int, d_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(k, d_in, d_out))
        self.bias = nn.Parameter(torch.empty(k, d_out))

    def reset_parameters(self, gen: torch.Generator, gain: float = 1.0) -> None:
        bound = gain / math.sqrt(self.weight.shape[1])
        with torch.no_grad():
            self.weight.uniform_(-bound, bound, generator=gen)
            self.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias.unsqueeze(1), x, self.weight)

    def one(self, j: int, x: torch.Tensor, width: int | None = None) -> torch.Tensor:
        """The ``j``-th map applied to ``(B, d_in)`` (first ``width`` outputs only)."""
        w, b = self.weight[j], self.bias[j]
        if width is not None:
            w, b = w[:, :width], b[:width]
        return torch.addmm(b, x, w)


class SlotBias(nn.Module):
    """A learned bias per slot, added to a slot-major ``(K, B, d)`` tensor."""

    def __init__(self, k: int, d: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(k, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bias.unsqueeze(1)


class SlotEmbedding(nn.Embedding):
    """The embedding table of all slots (slot ``s`` owns rows ``offset_s .. offset_s + c_s``).

    A row looks up exactly one token per slot, so its tokens never share a table row; the
    per-sample gradient norm is then ``sqrt(sum_s |g_s|^2)`` (used for DP-SGD clipping).
    """


class SlotMixer(nn.Module):
    """Learned weights of each source column for each target slot, per head.

    ``z[s] = sum_t mask[s, t] * alpha[k, s, col(t)] * E_t^(k)`` for the ``k``-th group of
    ``hidden / heads`` embedding dimensions: each target slot weights the columns it
    conditions on differently (a static, input-independent attention), which a plain sum
    cannot. The slots of one source column share a weight, so that sampling can keep one
    running sum per column. ``mask`` (G, S, S), the scaled order masks of ``G`` equal groups
    of rows, is set on the module before the call (Opacus then sees only the embeddings as
    the module's input).
    """

    def __init__(self, heads: int, column_of_slot: torch.Tensor) -> None:
        super().__init__()
        n_slots, n_columns = len(column_of_slot), int(column_of_slot.max()) + 1
        self.alpha = nn.Parameter(torch.ones(heads, n_slots, n_columns))
        self.register_buffer("column_of_slot", column_of_slot.clone(), persistent=False)
        self.mask: torch.Tensor | None = None

    def slot_weights(self) -> torch.Tensor:
        """``alpha`` spread over source slots: (H, S, S)."""
        return self.alpha[:, :, self.column_of_slot]

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        mask = self.mask
        n_slots, batch, width = emb.shape
        groups, heads = mask.shape[0], self.alpha.shape[0]
        per, dh = batch // groups, width // heads
        a = (mask.unsqueeze(1) * self.slot_weights()).reshape(groups * heads, n_slots, n_slots)
        e = emb.view(n_slots, groups, per, heads, dh).permute(1, 3, 0, 2, 4)
        z = torch.bmm(a, e.reshape(groups * heads, n_slots, per * dh))
        z = z.view(groups, heads, n_slots, per, dh).permute(2, 0, 3, 1, 4)
        return z.reshape(n_slots, batch, width)


def head_buckets(cardinalities: tuple[int, ...]) -> list[list[int]]:
    """Group slots whose vocabularies are close, so that one padded product serves each group.

    A group grows while its largest vocabulary is at most ``max(2 * smallest, smallest + 16)``.

    >>> head_buckets((74, 2, 64, 64, 16, 98))
    [[1, 4], [0, 2, 3, 5]]
    """
    order = sorted(range(len(cardinalities)), key=lambda s: (cardinalities[s], s))
    buckets: list[list[int]] = []
    low = None
    for s in order:
        c = cardinalities[s]
        if low is None or c > max(2 * low, low + 16):
            buckets.append([])
            low = c
        buckets[-1].append(s)
    return [sorted(b) for b in buckets]


class ARNet(nn.Module):
    """Any-order autoregressive network over token rows (see the module docstring).

    Internally activations are slot-major ``(S, B, hidden)`` so that the per-slot layers are
    plain batched matrix products.

    Examples
    --------
    >>> net = ARNet(Architecture((3, 2), (0, 1), hidden=8, n_blocks=0), torch.Generator())
    >>> tokens = torch.tensor([[0, 1], [2, 0]])
    >>> net.row_nll(tokens, net.default_rank()).shape
    torch.Size([2])
    """

    def __init__(self, arch: Architecture, gen: torch.Generator) -> None:
        super().__init__()
        self.arch = arch
        h = arch.hidden
        cards = np.asarray(arch.cardinalities, dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(cards)[:-1]]) if len(cards) else cards
        self.register_buffer("offsets", torch.as_tensor(offsets, dtype=torch.long),
                             persistent=False)
        self.register_buffer("column_of_slot",
                             torch.as_tensor(arch.column_of_slot, dtype=torch.long),
                             persistent=False)
        self.register_buffer("slot_index", torch.arange(arch.n_slots), persistent=False)
        self.embed = SlotEmbedding(max(int(cards.sum()), 1), h)
        self.mixer = (SlotMixer(arch.mix_heads, self.column_of_slot) if arch.mix_heads
                      else None)
        self.slot_bias = SlotBias(arch.n_slots, h)
        w = arch.slot_width
        self.inp = SlotLinear(arch.n_slots, h, w)
        self.blocks = nn.ModuleList(SlotLinear(arch.n_slots, w, w) for _ in range(arch.n_blocks))
        # heads: slots with similar vocabulary sizes share one padded batched product
        self.buckets = head_buckets(arch.cardinalities)
        self.heads = nn.ModuleList()
        self.head_of_slot: dict[int, tuple[int, int]] = {}
        for g, slots in enumerate(self.buckets):
            vocab = int(max(cards[slots]))
            self.heads.append(SlotLinear(len(slots), w, vocab))
            pad = torch.zeros(len(slots), 1, vocab)
            for j, s in enumerate(slots):
                pad[j, 0, int(cards[s]):] = -math.inf
                self.head_of_slot[s] = (g, j)
            self.register_buffer(f"pad{g}", pad, persistent=False)
            self.register_buffer(f"idx{g}", torch.as_tensor(slots, dtype=torch.long),
                                 persistent=False)
        self.reset_parameters(gen)

    def reset_parameters(self, gen: torch.Generator) -> None:
        with torch.no_grad():
            self.embed.weight.normal_(0.0, 1.0, generator=gen)
        self.inp.reset_parameters(gen)
        for block in self.blocks:
            block.reset_parameters(gen, gain=0.5)
        for head in self.heads:
            head.reset_parameters(gen)

    def init_output_bias(self, tokens: torch.Tensor) -> None:
        """Start every head at the log frequencies of its slot in ``tokens`` (B, S).

        The untrained network then already has the marginals, and training starts from
        the sum of the marginal entropies instead of the uniform loss. Reads the data: not
        used under DP.
        """
        with torch.no_grad():
            for s, card in enumerate(self.arch.cardinalities):
                g, j = self.head_of_slot[s]
                counts = torch.bincount(tokens[:, s], minlength=card).to(torch.float32)
                self.heads[g].bias[j, :card] = torch.log((counts + 0.5) / (counts.sum() + 0.5 * card))

    def init_output_bias_from(self, priors: dict[int, np.ndarray]) -> None:
        """Start the heads of the given slots at the log of ``priors[slot]`` (released DP
        marginals, :attr:`~lookalike.models.base.EncodedData.slot_priors`): DP-SGD then
        starts from the marginals without reading the data."""
        with torch.no_grad():
            for s, p in priors.items():
                card = self.arch.cardinalities[s]
                if len(p) != card:
                    continue
                g, j = self.head_of_slot[s]
                self.heads[g].bias[j, :card] = torch.log(torch.as_tensor(p, dtype=torch.float32))

    # -- training-time forward ---------------------------------------------------------
    def default_rank(self) -> torch.Tensor:
        """Column ranks of the table order, (1, C): one order for the whole batch."""
        return torch.arange(self.arch.n_columns, device=self.offsets.device).unsqueeze(0)

    def n_orders(self, batch: int) -> int:
        """How many column orders a training batch of ``batch`` rows uses.

        Rows are split into equal consecutive groups, one order each (up to 16; one for
        tables with more than 128 slots, where the masked sum becomes a prefix sum).
        """
        if self.arch.n_slots > DENSE_MASK_SLOTS:
            return 1
        return max(g for g in range(1, MAX_ORDERS + 1) if batch % g == 0)

    def context(self, tokens: torch.Tensor, col_rank: torch.Tensor,
                keep: torch.Tensor | None = None) -> torch.Tensor:
        """Masked, scaled sums ``z`` (S, B, hidden) of the embeddings that precede each slot.

        ``col_rank`` (G, C) gives each column's position in the order of each of ``G`` equal
        groups of consecutive rows (``G`` divides ``B``). Slot ``t`` precedes slot ``s``
        when ``(rank of t's column, t) < (rank of s's column, s)``.
        """
        n_slots, batch = tokens.shape[1], tokens.shape[0]
        groups = col_rank.shape[0]
        emb = self.embed((tokens + self.offsets).t())  # slot-major (S, B, h)
        width = emb.shape[-1]
        key = col_rank[:, self.column_of_slot] * n_slots + self.slot_index  # (G, S)
        if n_slots <= DENSE_MASK_SLOTS:  # one dense mask per group: batched products
            mask = key.unsqueeze(1) < key.unsqueeze(2)  # (G, s, t)
            if keep is not None:
                mask = mask & keep
            mask = mask.to(emb.dtype)
            mask = mask * torch.rsqrt(1.0 + mask.sum(dim=2, keepdim=True))
            if self.mixer is not None:
                self.mixer.mask = mask
                return self.mixer(emb)
            if groups == 1:
                return (mask[0] @ emb.view(n_slots, -1)).view(n_slots, batch, width)
            per = batch // groups
            e = emb.view(n_slots, groups, per * width).transpose(0, 1)  # (G, S, n_g h)
            z = torch.bmm(mask, e)  # (G, S, n_g h)
            return z.transpose(0, 1).reshape(n_slots, batch, width)
        # wide tables, one order: exclusive prefix sums along the permuted slots, O(S)
        perm = torch.argsort(key[0])
        inv = torch.argsort(perm)
        sorted_emb = emb.index_select(0, perm)
        prefix = torch.cumsum(sorted_emb, dim=0) - sorted_emb
        scale = torch.rsqrt(1.0 + inv.to(emb.dtype)).view(-1, 1, 1)
        return prefix.index_select(0, inv) * scale

    def trunk(self, z: torch.Tensor) -> torch.Tensor:
        """Per-slot MLP: (S, B, hidden) -> (S, B, width), before the heads' ReLU."""
        x = self.inp(F.relu(self.slot_bias(z)))
        for block in self.blocks:
            x = x + block(F.relu(x))
        return x

    def forward(self, tokens: torch.Tensor, col_rank: torch.Tensor,
                keep: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Padded logits per head bucket: a list of (K_g, B, width_g) tensors."""
        x = F.relu(self.trunk(self.context(tokens, col_rank, keep)))
        return [head(x.index_select(0, getattr(self, f"idx{g}"))) + getattr(self, f"pad{g}")
                for g, head in enumerate(self.heads)]

    def row_nll(self, tokens: torch.Tensor, col_rank: torch.Tensor,
                keep: torch.Tensor | None = None) -> torch.Tensor:
        """Negative log-likelihood of each row (B,), summed over slots (nats)."""
        return nll_from_logits(self(tokens, col_rank, keep), tokens, self.bucket_index())

    def context_keep(self, n_orders: int, rate: float, gen: torch.Generator) -> torch.Tensor:
        """Random (G, S, S) masks that drop other columns' slots with probability ``rate``.

        Each target then conditions on a random subset of the columns before it, which is
        the context it has in another order (any set of columns is a prefix of some
        order), so this regularises without training conditionals that are never used.
        Slots of the target's own column are always kept.
        """
        n = self.arch.n_slots
        draw = torch.rand((n_orders, n, n), generator=gen, device=self.offsets.device)
        same = self.column_of_slot.unsqueeze(0) == self.column_of_slot.unsqueeze(1)
        return (draw >= rate) | same

    def bucket_index(self) -> list[torch.Tensor]:
        return [getattr(self, f"idx{g}") for g in range(len(self.heads))]

    # -- sampling-time pieces ----------------------------------------------------------
    def slot_embedding(self, s: int, token: torch.Tensor) -> torch.Tensor:
        """Embeddings (B, hidden) of slot ``s`` for the tokens (B,)."""
        return self.embed(token + self.offsets[s])

    def slot_weights(self) -> list[tuple[torch.Tensor, ...]]:
        """Per-slot contiguous weights for sampling: (bias, W_in, b_in, [V, c]..., U, d)."""
        out = []
        for s, card in enumerate(self.arch.cardinalities):
            g, j = self.head_of_slot[s]
            head = self.heads[g]
            parts = [self.slot_bias.bias[s], self.inp.weight[s], self.inp.bias[s]]
            for block in self.blocks:
                parts += [block.weight[s], block.bias[s]]
            parts += [head.weight[j][:, :card], head.bias[j][:card]]
            out.append(tuple(p.detach().contiguous() for p in parts))
        return out

    @staticmethod
    def slot_logits(weights: tuple[torch.Tensor, ...], ctx: torch.Tensor,
                    scale: float | torch.Tensor) -> torch.Tensor:
        """Logits (B, cardinality) of one slot from :meth:`slot_weights`, given the unscaled
        context sum ``ctx`` (B, hidden) and its scale (a float, or (B, 1) per row)."""
        if isinstance(scale, float):  # relu(s z + b) W = s relu(z + b / s) W for s > 0
            a = F.relu_(ctx + weights[0] / scale)
            x = torch.addmm(weights[2], a, weights[1], alpha=scale)
        else:
            x = torch.addmm(weights[2], F.relu_(ctx * scale + weights[0]), weights[1])
        for k in range(3, len(weights) - 2, 2):
            x = x + torch.addmm(weights[k + 1], F.relu(x), weights[k])
        return torch.addmm(weights[-1], F.relu_(x), weights[-2])


def nll_from_logits(logits: list[torch.Tensor], tokens: torch.Tensor,
                    buckets: list[torch.Tensor]) -> torch.Tensor:
    """Sum over slots of the cross-entropy of each row (B,) from padded bucket logits."""
    total = tokens.new_zeros(tokens.shape[0], dtype=torch.float32)
    for lg, idx in zip(logits, buckets):
        k, b, w = lg.shape
        target = tokens.index_select(1, idx).t().reshape(-1)  # (K * B,)
        ce = F.cross_entropy(lg.reshape(k * b, w), target, reduction="none")
        total = total + ce.view(k, b).sum(dim=0)
    return total


_REGISTERED = False


def register_grad_samplers() -> None:
    """Teach Opacus the per-sample gradients (and their norms) of the per-slot layers.

    For ``y_bk = x_bk W_k + c_k`` the per-sample gradients are ``x_bk^T g_bk`` and ``g_bk``
    (the rule Opacus uses for ``nn.Linear``, once per slot); since each slot contributes one
    outer product, the squared norm is ``sum_k |x_bk|^2 |g_bk|^2`` (ghost clipping, Li et
    al. 2022, sec. 4.1), computed without materialising the gradients.
    """
    global _REGISTERED
    if _REGISTERED:
        return
    from opacus.grad_sample import register_grad_sampler
    from opacus.grad_sample.utils import register_norm_sampler

    @register_grad_sampler(SlotLinear)
    def _slot_linear(layer: SlotLinear, activations: list[torch.Tensor],
                     backprops: torch.Tensor) -> dict[nn.Parameter, torch.Tensor]:
        x = activations[0].to(backprops.dtype)
        out = {}
        if layer.weight.requires_grad:
            out[layer.weight] = torch.einsum("bki,bko->bkio", x, backprops)
        if layer.bias.requires_grad:
            out[layer.bias] = backprops
        return out

    @register_norm_sampler(SlotLinear)
    def _slot_linear_norm(layer: SlotLinear, activations: list[torch.Tensor],
                          backprops: torch.Tensor) -> dict[nn.Parameter, torch.Tensor]:
        x = activations[0].to(backprops.dtype)
        g2 = backprops.square().sum(dim=2)  # (B, K)
        out = {}
        if layer.weight.requires_grad:
            out[layer.weight] = (x.square().sum(dim=2) * g2).sum(dim=1).sqrt()
        if layer.bias.requires_grad:
            out[layer.bias] = g2.sum(dim=1).sqrt()
        return out

    @register_grad_sampler(SlotBias)
    def _slot_bias(layer: SlotBias, activations: list[torch.Tensor],
                   backprops: torch.Tensor) -> dict[nn.Parameter, torch.Tensor]:
        return {layer.bias: backprops} if layer.bias.requires_grad else {}

    @register_norm_sampler(SlotBias)
    def _slot_bias_norm(layer: SlotBias, activations: list[torch.Tensor],
                        backprops: torch.Tensor) -> dict[nn.Parameter, torch.Tensor]:
        if not layer.bias.requires_grad:
            return {}
        return {layer.bias: backprops.square().sum(dim=(1, 2)).sqrt()}

    @register_grad_sampler(SlotEmbedding)
    def _slot_embedding(layer: SlotEmbedding, activations: list[torch.Tensor],
                        backprops: torch.Tensor) -> dict[nn.Parameter, torch.Tensor]:
        from opacus.grad_sample.embedding import compute_embedding_grad_sample

        return compute_embedding_grad_sample(layer, activations, backprops)

    @register_norm_sampler(SlotEmbedding)
    def _slot_embedding_norm(layer: SlotEmbedding, activations: list[torch.Tensor],
                             backprops: torch.Tensor) -> dict[nn.Parameter, torch.Tensor]:
        if not layer.weight.requires_grad:
            return {}
        return {layer.weight: backprops.square().flatten(1).sum(dim=1).sqrt()}

    def _mixer_products(heads: int, emb: torch.Tensor, backprops: torch.Tensor
                        ) -> torch.Tensor:
        """<g_s^k, e_t^k> for every row, head and (target, source) pair: (B, H, S, S)."""
        batch, n_slots, width = emb.shape
        e = emb.reshape(batch, n_slots, heads, width // heads).to(backprops.dtype)
        g = backprops.reshape(batch, n_slots, heads, width // heads)
        return torch.einsum("bskd,btkd->bkst", g, e)

    def _to_columns(layer: SlotMixer, per_slot: torch.Tensor) -> torch.Tensor:
        """Sum the last (source slot) axis of ``per_slot`` within each source column."""
        onehot = F.one_hot(layer.column_of_slot, layer.alpha.shape[2]).to(per_slot.dtype)
        return per_slot @ onehot

    @register_grad_sampler(SlotMixer)
    def _slot_mixer(layer: SlotMixer, activations: list[torch.Tensor],
                    backprops: torch.Tensor) -> dict[nn.Parameter, torch.Tensor]:
        if not layer.alpha.requires_grad:
            return {}
        heads, groups = layer.alpha.shape[0], layer.mask.shape[0]
        prod = _mixer_products(heads, activations[0], backprops)  # (B, H, S, S)
        masked = prod.view(groups, -1, *prod.shape[1:]) * layer.mask[:, None, None]
        return {layer.alpha: _to_columns(layer, masked.view_as(prod))}

    @register_norm_sampler(SlotMixer)
    def _slot_mixer_norm(layer: SlotMixer, activations: list[torch.Tensor],
                         backprops: torch.Tensor) -> dict[nn.Parameter, torch.Tensor]:
        if not layer.alpha.requires_grad:
            return {}
        emb, heads = activations[0], layer.alpha.shape[0]
        per = emb.shape[0] // layer.mask.shape[0]  # rows per order group
        step = per * max(1, 4096 // per)  # whole groups at a time, to bound the memory
        norms = []
        for i in range(0, emb.shape[0], step):
            prod = _mixer_products(heads, emb[i:i + step], backprops[i:i + step])
            prod = prod.view(-1, per, *prod.shape[1:])  # (G', per, H, S, S)
            prod = prod * layer.mask[i // per:(i + step) // per, None, None]
            grads = _to_columns(layer, prod)  # (G', per, H, S, C)
            norms.append(grads.flatten(2).norm(dim=2).reshape(-1))
        return {layer.alpha: torch.cat(norms)}

    _REGISTERED = True


def state_to_arrays(net: ARNet) -> dict[str, np.ndarray]:
    """The network's weights as float32 numpy arrays (no pickle)."""
    return {k: v.detach().to("cpu", torch.float32).numpy().copy()
            for k, v in net.state_dict().items()}


def arrays_to_state(net: ARNet, arrays: dict[str, np.ndarray]) -> None:
    """Load float32 arrays written by :func:`state_to_arrays` into ``net`` (strict)."""
    ref = net.state_dict()
    missing = sorted(set(ref) - set(arrays))
    extra = sorted(set(arrays) - set(ref))
    if missing or extra:
        raise KeyError(f"weights do not match the architecture: missing {missing[:5]}, "
                       f"unexpected {extra[:5]}")
    state = {}
    for k, v in ref.items():
        a = np.asarray(arrays[k])
        if tuple(a.shape) != tuple(v.shape):
            raise KeyError(f"weight {k!r} has shape {a.shape}; the architecture needs "
                           f"{tuple(v.shape)}")
        state[k] = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(v.device)
    net.load_state_dict(state)
