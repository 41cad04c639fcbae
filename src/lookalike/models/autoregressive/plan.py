"""Automatic sizing of the autoregressive generator from the layout and the row count.

Rules (each can be overridden by the generator's parameters):

* ``hidden`` (embedding width) grows with the square root of the row count (a power of two
  in [16, 128]; also under DP: on Adult at epsilon = 1, 4 seeds, 128 gave QA accuracy
  0.955 against 0.953 for the former DP cap of 64) and is halved until the network has at most
  ``MAX_AUTO_PARAMETERS`` parameters, so very wide tables and very large vocabularies stay
  bounded; the per-slot layers are half as wide (at least 16); no residual blocks.
* ``mix_heads``: 8 (per-target source weights) up to 128 slots, none beyond.
* the batch is about 1/32 of the rows (a power of two in [16, 1024]), smaller when a slot's
  vocabulary is so large that the logits would not fit in about 16 MB; the learning rate is
  ``3e-3 * sqrt(batch / 256)`` in [1e-3, 1e-2].
* validation: ``validation_share`` of the rows (at most 10,000) from 200 rows on; the
  cosine schedule spans about ``STEP_BUDGET`` steps (at least 10 epochs). Smaller tables
  train about 300 steps without a validation split.
* DP-SGD: an expected batch of 1/16 of the rows (larger batches raise the signal to noise
  ratio of the noisy gradient, more steps help too: 1/16 was best of 1/8, 1/16 on Adult),
  40 epochs, all rows in table order, peak learning rate ``DP_LEARNING_RATE``. On Adult at epsilon = 0.9 for DP-SGD (encoder fitted
  without noise, ``bench/bench_autoregressive.py --dp-epsilon 0.9``) 20 epochs gave TSTR
  AUC 0.862, 40 epochs 0.873 (batch 1/8 for 20 epochs: 0.851; hidden 32: 0.834).

The row count ``n`` used here is not protected by DP (the facade decides whether it is
public or charged); see ``privacy/`` for the encoder's side.
"""

from __future__ import annotations

import math
from typing import Any

from lookalike.errors import InvalidParameterError
from lookalike.models.autoregressive.model import DENSE_MASK_SLOTS, Architecture
from lookalike.models.autoregressive.train import DPConfig, TrainConfig
from lookalike.models.base import Layout

#: automatic sizing keeps the network under this many parameters
MAX_AUTO_PARAMETERS = 16_000_000
LOGITS_BUDGET = 4_000_000  # floats of logits per training batch
MIN_VALIDATION_ROWS = 200
#: peak learning rate under DP-SGD. On Adult (facade, epsilon = 1, delta = 1/N, 40 epochs,
#: seed 0; QA accuracy / TSTR AUC): 0.003 -> 0.883 / 0.862, 0.0085 (the non-DP rule) ->
#: 0.935 / 0.878, 0.015 -> 0.944 / 0.883, 0.025 -> 0.947 / 0.888 (seed 1: 0.939 / 0.890),
#: 0.04 -> 0.945 / 0.889. Noisy gradients want larger steps than clean ones here.
DP_LEARNING_RATE = 0.025
#: optimisation steps the automatic epoch count aims at (with validation). On Adult (29k
#: training rows, 28 steps per epoch) 650 steps gave TSTR AUC 0.917/0.918 and QA accuracy
#: 0.981/0.980 in 32 s (seeds 0/1), 1000 steps 0.920/0.922 and 0.982/0.982 in 45 s.
STEP_BUDGET = 1000


def _pow2(x: float, lo: int, hi: int) -> int:
    return int(min(hi, max(lo, 2 ** round(math.log2(max(x, 1.0))))))


def architecture(layout: Layout, n_rows: int, params: Any) -> Architecture:
    """Network shape for ``layout`` and ``n_rows`` (explicit parameters win)."""
    cards = tuple(int(s.cardinality) for s in layout.token_slots)
    col_index = {name: i for i, name in enumerate(layout.columns)}
    column_of_slot = []
    for name in layout.columns:
        sl = layout.column_slices[name]
        column_of_slot += [col_index[name]] * (sl.stop - sl.start)
    hidden = params.hidden or _pow2(math.sqrt(n_rows) / 2, 16, 128)
    n_blocks = params.n_blocks if params.n_blocks is not None else 0
    if params.mix_heads is not None:
        heads = params.mix_heads
    else:
        heads = 8 if len(cards) <= DENSE_MASK_SLOTS else 0
    arch = Architecture(cards, tuple(column_of_slot), hidden, n_blocks, 0)
    if params.hidden is None:
        while arch.hidden > 8 and arch.n_parameters() > MAX_AUTO_PARAMETERS:
            arch = Architecture(cards, arch.column_of_slot, arch.hidden // 2, arch.n_blocks)
    heads = math.gcd(heads, arch.hidden) if heads else 0
    if heads and len(cards) > DENSE_MASK_SLOTS:
        raise InvalidParameterError(
            f"The 'mix_heads' parameter of AutoregressiveGenerator must be 0 for tables with "
            f"more than {DENSE_MASK_SLOTS} token slots (this one has {len(cards)}); got "
            f"{params.mix_heads}.")
    width = params.slot_width or max(16, arch.hidden // 2)
    return Architecture(cards, arch.column_of_slot, arch.hidden, arch.n_blocks, heads,
                        0 if width == arch.hidden else width)


def train_config(arch: Architecture, n_rows: int, params: Any) -> TrainConfig:
    """Optimiser and stopping settings for ``n_rows`` rows."""
    widest = max(arch.cardinalities) if arch.cardinalities else 1
    if params.dp is not None:  # large expected batches: better signal to noise under DP
        bs = params.batch_size or int(min(n_rows, max(64, round(n_rows / 16))))
    else:
        bs = params.batch_size or _pow2(n_rows / 32, 16, 1024)
    bs = max(1, min(bs, max(8, LOGITS_BUDGET // max(widest, 1))))
    n_val = 0
    if params.dp is None and n_rows >= MIN_VALIDATION_ROWS:
        n_val = min(10_000, round(params.validation_share * n_rows))
    n_train = n_rows - n_val
    steps_per_epoch = max(1, n_train // max(1, min(bs, n_train)))
    if params.max_epochs is not None:
        max_epochs = params.max_epochs
    elif n_val:  # the cosine schedule spans about STEP_BUDGET steps
        max_epochs = max(10, min(300, math.ceil(STEP_BUDGET / steps_per_epoch)))
    else:  # no validation: a fixed budget of about 300 steps
        max_epochs = max(5, min(200, math.ceil(300 / steps_per_epoch)))
    if params.dp is not None:
        lr = params.learning_rate or DP_LEARNING_RATE
    else:
        lr = params.learning_rate or min(1e-2, max(1e-3, 3e-3 * math.sqrt(bs / 256)))
    share = params.table_order_share
    if share is None:
        share = 1.0 if params.dp is not None else 0.5
    return TrainConfig(
        batch_size=bs, learning_rate=lr, weight_decay=params.weight_decay,
        max_epochs=max_epochs, patience=params.patience, n_val=n_val,
        max_training_time=params.max_training_time,
        canonical_share=share,
        context_dropout=params.context_dropout,
        any_order_weight=1.0 - share,
        warmup_steps=min(100, 2 * steps_per_epoch),
    )


def dp_config(arch: Architecture, n_rows: int, params: Any) -> DPConfig:
    """DP-SGD settings: delta defaults to 1/(10 n); the epochs are fixed in advance."""
    dp = params.dp
    delta = dp.get("delta") or 1.0 / (10 * n_rows)
    epochs = params.max_epochs or 40
    return DPConfig(epsilon=float(dp["epsilon"]), delta=float(delta),
                    max_grad_norm=params.max_grad_norm, epochs=epochs,
                    accountant=params.accountant)
