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

import numpy as np
import torch
from torch.nn import functional as F  # noqa: N812

from lookalike.models.autoregressive.model import ARNet

#: floats held per chunk by the largest per-slot tensor (about 2 MB, to stay in cache)
CHUNK_FLOATS = 524_288


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
    probs = torch.exp(logits - logits.max(dim=-1, keepdim=True).values)
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


@torch.inference_mode()
def sample_tokens(net: ARNet, n: int, gen: torch.Generator, *, fixed: np.ndarray | None = None,
                  temperature: float = 1.0, top_p: float = 1.0) -> np.ndarray:
    """Draw ``n`` token rows (int64, (n, S)); ``fixed >= 0`` entries are kept as given.

    Examples
    --------
    >>> from lookalike.models.autoregressive.model import Architecture
    >>> net = ARNet(Architecture((3, 2), (0, 1), hidden=8, n_blocks=0), torch.Generator())
    >>> fixed = np.array([[-1, 1], [2, -1]])
    >>> out = sample_tokens(net, 2, torch.Generator().manual_seed(1), fixed=fixed)
    >>> out[0, 1], out[1, 0]
    (1, 2)
    """
    arch = net.arch
    out = np.zeros((n, arch.n_slots), dtype=np.int64)
    if n == 0 or arch.n_slots == 0:
        return out
    was_training = net.training
    net.eval()
    step = chunk_rows(net)
    weights = net.slot_weights()
    for start in range(0, n, step):
        stop = min(n, start + step)
        chunk = None if fixed is None else fixed[start:stop]
        out[start:stop] = _sample_chunk(net, weights, stop - start, gen, chunk, temperature,
                                        top_p)
    net.train(was_training)
    return out


def _sample_chunk(net: ARNet, weights: list[tuple[torch.Tensor, ...]], b: int,
                  gen: torch.Generator, fixed: np.ndarray | None, temperature: float,
                  top_p: float) -> np.ndarray:
    arch = net.arch
    device = net.offsets.device
    columns = arch.column_slots()
    tables = [net.embed.weight[o:o + c] for o, c in zip(net.offsets.tolist(),
                                                       arch.cardinalities)]
    tokens = torch.zeros((arch.n_slots, b), dtype=torch.long, device=device)  # slot-major
    # ctx: sum of the embeddings each row may condition on; count: how many (the scale)
    ctx = torch.zeros((b, arch.hidden), device=device)
    count: float | torch.Tensor = 0.0
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
                w = col_given[c].unsqueeze(1).to(ctx.dtype)
                for s in slots:
                    ctx += F.embedding(tokens[s], tables[s]) * w
                count = count + w * len(slots)
    for c, slots in enumerate(columns):
        w = None
        if col_given is not None:
            open_rows = ~col_given[c]
            if not bool(open_rows.any()):
                continue
            w = open_rows.unsqueeze(1).to(ctx.dtype)
        for s in slots:
            need = None if given is None else (~given[s] if w is None else
                                               open_rows & ~given[s])
            n_need = b if need is None else int(need.sum())
            if n_need:
                scale = torch.rsqrt(1.0 + count) if isinstance(count, torch.Tensor) else (
                    1.0 / math.sqrt(1.0 + count))
                if n_need == b:
                    tokens[s] = draw(net.slot_logits(weights[s], ctx * scale), gen,
                                     temperature, top_p)
                else:
                    rows = need.nonzero().squeeze(1)
                    z = ctx[rows] * (scale[rows] if isinstance(scale, torch.Tensor) else scale)
                    tokens[s, rows] = draw(net.slot_logits(weights[s], z), gen, temperature,
                                           top_p)
            emb = F.embedding(tokens[s], tables[s])
            if w is None:
                ctx += emb
                count = count + 1
            else:
                ctx += emb * w
                count = count + w
    return tokens.t().cpu().numpy()
