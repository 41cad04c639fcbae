"""Batched ancestral sampling from :class:`~.model.ARNet`, with given ("fixed") tokens.

Rows are drawn in chunks; inside a chunk every operation is a tensor operation over all rows
and the only Python loop runs over the slots (sub-columns). For each row the order is: the
columns whose slots are all given come first (they are known from the start), then the other
columns in table order, each column's slots in their own order. Any set of columns is the
prefix of some column order, so conditioning on it is one of the factorisations the network
was trained on (any-order training; Uria et al. 2014, sec. 3).

A column that is only partly given (some of its slots fixed, others not) is generated in its
turn; its given slots are kept and condition the slots after them. Slots generated before a
given slot of the same column do not see it (an approximation; the encoders always give or
withhold whole columns).

Temperature divides the logits; ``top_p`` keeps the smallest set of most likely tokens whose
probability reaches ``top_p`` (nucleus sampling, Holtzman et al. 2020, "The curious case of
neural text degeneration", sec. 3.1).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch.nn import functional as F

from lookalike.models.autoregressive.model import ARNet

#: floats held per chunk by the largest per-slot tensor (about 1 MB; 0.5 and 2 MB were slower on Adult)
CHUNK_FLOATS = 262_144


def chunk_rows(net: ARNet) -> int:
    """Rows per sampling chunk, so that the per-slot tensors stay in the CPU cache."""
    widest = max([net.arch.hidden, *net.arch.cardinalities]) if net.arch.n_slots else 1
    return int(max(64, min(16_384, CHUNK_FLOATS // widest)))


def draw(logits: torch.Tensor, gen: torch.Generator, temperature: float = 1.0,
         top_p: float = 1.0) -> torch.Tensor:
    """One token per row from ``softmax(logits / temperature)`` restricted to the top-p set.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> draw(torch.tensor([[0.0, 10.0], [10.0, 0.0]]), g, temperature=0.01).tolist()
    [1, 0]
    """
    if temperature != 1.0:
        logits = logits / temperature
    logits = logits.float()
    # unnormalised probabilities; inverse-CDF draw against the row's total mass
    probs = torch.exp_(logits - logits.amax(dim=-1, keepdim=True))
    u = torch.rand((probs.shape[0], 1), generator=gen, device=probs.device)
    last = probs.shape[1] - 1
    if top_p < 1.0:
        sorted_p, order = torch.sort(probs, dim=-1, descending=True)
        cdf = torch.cumsum(sorted_p, dim=-1)
        # keep the tokens whose preceding mass is below top_p of the total (at least one)
        sorted_p = torch.where(cdf - sorted_p < top_p * cdf[:, -1:], sorted_p,
                               torch.zeros_like(sorted_p))
        cdf = torch.cumsum(sorted_p, dim=-1)
        pick = torch.searchsorted(cdf, u * cdf[:, -1:], right=True).clamp_(max=last)
        return order.gather(1, pick).squeeze(1)
    cdf = torch.cumsum(probs, dim=-1)
    return torch.searchsorted(cdf, u * cdf[:, -1:], right=True).clamp_(max=last).squeeze(1)


def sample_tokens(net: ARNet, n: int, rng: np.random.Generator, *,
                  fixed: np.ndarray | None = None, temperature: float = 1.0,
                  top_p: float = 1.0, n_jobs: int = 1,
                  probe: tuple[int, np.ndarray] | None = None) -> np.ndarray:
    """Draw ``n`` token rows (int64, (n, S)); ``fixed >= 0`` entries are kept as given.

    Rows are drawn in chunks of :func:`chunk_rows` rows, each with its own torch generator
    seeded from ``rng``; ``n_jobs`` threads draw chunks side by side. The result does not
    depend on ``n_jobs``. With ``probe = (slot, out)`` the probabilities that slot is drawn
    from are written into ``out`` (n, cardinality) as well (see :func:`slot_probabilities`).

    Examples
    --------
    >>> from lookalike.models.autoregressive.model import Architecture
    >>> net = ARNet(Architecture((3, 2), (0, 1), hidden=8, n_blocks=0), torch.Generator())
    >>> fixed = np.array([[-1, 1], [2, -1]])
    >>> out = sample_tokens(net, 2, np.random.default_rng(1), fixed=fixed)
    >>> int(out[0, 1]), int(out[1, 0])
    (1, 2)
    """
    arch = net.arch
    out = np.zeros((n, arch.n_slots), dtype=np.int64)
    if n == 0 or arch.n_slots == 0:
        return out
    was_training = net.training
    net.eval()
    step = chunk_rows(net)
    starts = list(range(0, n, step))
    seeds = rng.integers(0, 2**63 - 1, size=len(starts), dtype=np.int64)
    weights = net.slot_weights()
    device = net.offsets.device

    def one(i: int) -> None:
        start, stop = starts[i], min(n, starts[i] + step)
        gen = torch.Generator(device=device).manual_seed(int(seeds[i]))
        chunk = None if fixed is None else fixed[start:stop]
        part = None if probe is None else (probe[0], probe[1][start:stop])
        with torch.inference_mode():
            out[start:stop] = _sample_chunk(net, weights, stop - start, gen, chunk,
                                            temperature, top_p, part)

    try:
        if n_jobs > 1 and len(starts) > 1:
            with ThreadPoolExecutor(max_workers=n_jobs) as pool:
                list(pool.map(one, range(len(starts))))
        else:
            for i in range(len(starts)):
                one(i)
    finally:
        net.train(was_training)
    return out


def slot_probabilities(net: ARNet, fixed: np.ndarray, slot: int, *,
                       temperature: float = 1.0) -> np.ndarray:
    """P(token of ``slot`` | the given tokens of each row): float64 (n, cardinality).

    ``fixed`` is as in :func:`sample_tokens`; the probabilities are those the sampler draws
    ``slot`` from, given the row's fixed tokens (and, for slots that are not fixed either,
    one draw of them). Rows that fix ``slot`` itself get NaN. Used to tilt one column's
    conditional distribution (``Sampler``'s fairness option).

    Examples
    --------
    >>> from lookalike.models.autoregressive.model import Architecture
    >>> net = ARNet(Architecture((3, 2), (0, 1), hidden=8, n_blocks=0), torch.Generator())
    >>> p = slot_probabilities(net, np.array([[0, -1], [2, -1]]), 1)
    >>> p.shape, bool(np.allclose(p.sum(axis=1), 1))
    ((2, 2), True)
    """
    out = np.full((len(fixed), net.arch.cardinalities[slot]), np.nan)
    sample_tokens(net, len(fixed), np.random.default_rng(0), fixed=fixed,
                  temperature=temperature, probe=(slot, out))
    return out


class _Context:
    """What each row of a chunk conditions on: the known slots' embeddings, combined.

    Without a mixer this is their running sum. With a :class:`~.model.SlotMixer` each target
    slot weights the source columns differently, so one running sum is kept per column, in
    a head-major buffer (H, C, B * dh), and each target reads its row of ``alpha``.
    """

    def __init__(self, net: ARNet, b: int, in_order: bool) -> None:
        h, device = net.arch.hidden, net.offsets.device
        self.b, self.in_order = b, in_order
        self.column_of_slot = net.arch.column_of_slot
        self.alpha = None if net.mixer is None else net.mixer.alpha.detach()
        if self.alpha is None:
            self.sum = torch.zeros((b, h), device=device)
        else:
            self.heads, self.dh = self.alpha.shape[0], h // self.alpha.shape[0]
            shape = (self.heads, net.arch.n_columns, b * self.dh)
            # in table order a column's sum is written by its first slot before it is read
            self.buf = (torch.empty if in_order else torch.zeros)(shape, device=device)
            self.started: set[int] = set()

    def add(self, s: int, emb: torch.Tensor, w: torch.Tensor | None) -> None:
        """Make slot ``s`` known (for the rows where ``w`` is 1)."""
        e = emb if w is None else emb * w
        if self.alpha is None:
            self.sum += e
            return
        c = self.column_of_slot[s]
        target = self.buf[:, c].view(self.heads, self.b, self.dh)
        head_major = e.view(self.b, self.heads, self.dh).transpose(0, 1)
        if self.in_order and c not in self.started:
            target.copy_(head_major)
            self.started.add(c)
        else:
            target += head_major

    def get(self, s: int) -> torch.Tensor:
        """Unscaled context (B, hidden) of target slot ``s``."""
        if self.alpha is None:
            return self.sum
        k = self.alpha.shape[2]
        if self.in_order:  # only the columns before the target's, and its own once begun
            c = self.column_of_slot[s]
            k = c + 1 if c in self.started else c
        z = torch.bmm(self.alpha[:, s:s + 1, :k], self.buf[:, :k])  # (H, 1, B * dh)
        return z.view(self.heads, self.b, self.dh).transpose(0, 1).reshape(self.b, -1)


def _sample_chunk(net: ARNet, weights: list[tuple[torch.Tensor, ...]], b: int,
                  gen: torch.Generator, fixed: np.ndarray | None, temperature: float,
                  top_p: float, probe: tuple[int, np.ndarray] | None = None) -> np.ndarray:
    """Tokens (b, S) of one chunk; with ``probe = (slot, out)`` the softmax of that slot's
    logits (rows that generate it) is written into ``out`` (b, cardinality) as well."""
    arch = net.arch
    device = net.offsets.device
    columns = arch.column_slots()
    tables = [net.embed.weight[o:o + c] for o, c in zip(net.offsets.tolist(),
                                                       arch.cardinalities)]
    tokens = torch.zeros((arch.n_slots, b), dtype=torch.long, device=device)  # slot-major
    ctx = _Context(net, b, in_order=fixed is None)
    count: float | torch.Tensor = 0.0  # how many slots each row conditions on (the scale)
    if fixed is None:
        given = col_given = None
    else:
        f = torch.as_tensor(fixed, dtype=torch.long, device=device).t()
        given = f >= 0
        tokens = torch.where(given, f, tokens)
        col_given = torch.stack([given[sl].all(dim=0) for sl in columns])  # (C, B)
        count = torch.zeros((b, 1), device=device)
        # columns given in full are known before anything is drawn
        for c, slots in enumerate(columns):
            if bool(col_given[c].any()):
                w = col_given[c].unsqueeze(1).to(torch.float32)
                for s in slots:
                    ctx.add(s, F.embedding(tokens[s], tables[s]), w)
                count = count + w * len(slots)
    for c, slots in enumerate(columns):
        w = None
        if col_given is not None:
            open_rows = ~col_given[c]
            if not bool(open_rows.any()):
                continue
            w = open_rows.unsqueeze(1).to(torch.float32)
        for s in slots:
            need = None if given is None else open_rows & ~given[s]
            n_need = b if need is None else int(need.sum())
            if n_need:
                scale = torch.rsqrt(1.0 + count) if isinstance(count, torch.Tensor) else (
                    1.0 / math.sqrt(1.0 + count))
                z = ctx.get(s)
                if n_need == b:
                    logits = net.slot_logits(weights[s], z, scale)
                    tokens[s] = draw(logits, gen, temperature, top_p)
                    rows = None
                else:
                    rows = need.nonzero().squeeze(1)
                    row_scale = scale[rows] if isinstance(scale, torch.Tensor) else scale
                    logits = net.slot_logits(weights[s], z[rows], row_scale)
                    tokens[s, rows] = draw(logits, gen, temperature, top_p)
                if probe is not None and s == probe[0]:
                    probs = torch.softmax(logits.float() / temperature, dim=-1).cpu().numpy()
                    if rows is None:
                        probe[1][:] = probs
                    else:
                        probe[1][rows.cpu().numpy()] = probs
            if c == len(columns) - 1 and s == slots[-1]:
                break  # nothing comes after the last slot
            ctx.add(s, F.embedding(tokens[s], tables[s]), w)
            count = count + (1 if w is None else w)
    return tokens.t().cpu().numpy()
