"""Training loops of the autoregressive generator: plain (early stopping) and DP-SGD.

Plain training minimises the mean per-row negative log-likelihood with AdamW (Loshchilov &
Hutter 2019). The learning rate warms up linearly, then follows one cosine cycle over the
planned epochs (Loshchilov & Hutter 2017, "SGDR", eq. 5) down to 5 %. Training stops when
the validation loss has not improved for ``patience`` epochs; the weights with the best
validation loss are kept in memory and restored at the end. The loop also stops, keeping the
best weights, on a time cap, on a non-finite loss and on ``KeyboardInterrupt`` (Ctrl-C);
:class:`TrainReport` says which. Output biases start at the training marginals.

Rows are trained in random column orders (a share ``canonical_share`` in the table order),
so that any set of columns can be given at sampling time; ``context_dropout`` hides random
earlier columns from each target (the context it would have in another order). The
validation loss mixes the table order (unconditional sampling) and fixed random orders
(conditional sampling) with weights ``1 - any_order_weight`` and ``any_order_weight``.

DP-SGD (Abadi et al. 2016, "Deep learning with differential privacy", Algorithm 1) uses
Opacus: Poisson-sampled batches, per-sample gradients clipped to ``max_grad_norm`` (ghost
clipping, see :func:`train_dp`), Gaussian noise of standard deviation
``noise_multiplier * max_grad_norm``; the noise multiplier is calibrated with Opacus's
``get_noise_multiplier`` for the target (epsilon, delta) and the planned number of steps,
and the steps taken are accounted with Opacus's RDP (Mironov 2017; Mironov, Talwar & Zhang
2019 for the subsampled Gaussian) or PRV (Gopi, Lee & Wutschitz 2021) accountant. Under DP
there is no validation split, no early stopping and no initialisation from the data (each
would read the private data outside the accounted mechanism; the output biases of the slots
with released DP marginals start at those, which is post-processing): training runs the planned
number of epochs, or fewer if the time cap hits (which spends less than the target epsilon;
the spent epsilon is what is reported).

Randomness: the row split, shuffling and Poisson sampling come from the numpy Generator;
orders, context dropout and DP noise from torch Generators seeded from it.
"""

from __future__ import annotations

import copy
import logging
import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from lookalike.errors import InvalidParameterError
from lookalike.models.autoregressive.model import (
    DENSE_MASK_SLOTS,
    ARNet,
    nll_from_logits,
    register_grad_samplers,
)
from lookalike.random import torch_generator

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run (derived by the generator from its parameters)."""

    batch_size: int
    learning_rate: float
    weight_decay: float
    max_epochs: int
    patience: int
    n_val: int
    max_training_time: float | None
    canonical_share: float
    context_dropout: float = 0.0
    any_order_weight: float = 0.5
    warmup_steps: int = 100


@dataclass(frozen=True)
class DPConfig:
    """DP-SGD settings: target (epsilon, delta) for the training, clipping and accountant."""

    epsilon: float
    delta: float
    max_grad_norm: float
    epochs: int
    accountant: str = "rdp"
    adam_eps: float = 1e-8


@dataclass
class TrainReport:
    """What happened during training (JSON-able through :meth:`to_json`)."""

    epochs: int = 0
    steps: int = 0
    best_epoch: int = 0
    best_val_loss: float | None = None
    last_train_loss: float | None = None
    stop_reason: str = "max_epochs"
    seconds: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)
    privacy: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "epochs", "steps", "best_epoch", "best_val_loss", "last_train_loss",
            "stop_reason", "seconds", "history", "privacy")}


def random_ranks(n_orders: int, n_columns: int, canonical_share: float,
                 gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """Column ranks (G, C) of ``G = n_orders`` orders: uniform random orders, each one the
    table order with probability ``canonical_share``."""
    ranks = torch.argsort(torch.rand((n_orders, n_columns), generator=gen, device=device),
                          dim=1)
    if canonical_share > 0:
        keep = torch.rand((n_orders, 1), generator=gen, device=device) < canonical_share
        ranks = torch.where(keep, torch.arange(n_columns, device=device), ranks)
    return ranks


@torch.no_grad()
def mean_nll(net: ARNet, tokens: torch.Tensor, seed: int | None = None,
             batch: int = 4096) -> float:
    """Mean per-row NLL (nats): in the table order, or (with ``seed``) in random column
    orders drawn from that seed, the same ones at every call."""
    was = net.training
    net.eval()
    gen = None if seed is None else torch.Generator(device=tokens.device).manual_seed(seed)
    total = 0.0
    for start in range(0, tokens.shape[0], batch):
        t = tokens[start:start + batch]
        if gen is None:
            ranks = net.default_rank()
        else:
            ranks = random_ranks(net.n_orders(t.shape[0]), net.arch.n_columns, 0.0, gen,
                                 tokens.device)
        total += float(net.row_nll(t, ranks).sum())
    net.train(was)
    return total / max(tokens.shape[0], 1)


def validation_loss(net: ARNet, val: torch.Tensor, seed: int, any_order_weight: float
                    ) -> tuple[float, float, float | None]:
    """(criterion, table-order NLL, random-order NLL) on the validation rows."""
    table = mean_nll(net, val)
    if any_order_weight <= 0:
        return table, table, None
    anyo = mean_nll(net, val, seed)
    return (1 - any_order_weight) * table + any_order_weight * anyo, table, anyo


def _schedule(step: int, warmup: int, total: int, floor: float = 0.05) -> float:
    """Learning-rate factor: linear warm-up, then cosine decay to ``floor`` at ``total``.

    (Loshchilov & Hutter 2017, "SGDR", eq. 5, one cycle.)

    >>> [round(_schedule(s, 10, 110), 3) for s in (0, 9, 60, 110)]
    [0.1, 1.0, 0.525, 0.05]
    """
    warm = min(1.0, (step + 1) / max(warmup, 1))
    frac = min(1.0, max(0, step - warmup) / max(total - warmup, 1))
    return warm * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * frac)))


def _time_left(t0: float, cap: float | None) -> bool:
    return cap is None or time.monotonic() - t0 < cap


def batch_loss(net: ARNet, tokens: torch.Tensor, ranks: torch.Tensor,
               keep: torch.Tensor | None = None) -> torch.Tensor:
    """Mean row NLL of one batch (the training objective)."""
    return net.row_nll(tokens, ranks, keep).mean()


class _NonFinite(Exception):
    """The training or validation loss became NaN or infinite."""


def train(net: ARNet, data: np.ndarray, config: TrainConfig,
          rng: np.random.Generator) -> TrainReport:
    """Fit ``net`` on token rows ``data`` with early stopping; returns the report.

    On return ``net`` holds the best weights seen: lowest validation loss, or the last
    finished epoch's weights when the table is too small for a validation split.
    """
    t0 = time.monotonic()
    device = net.offsets.device
    gen = torch_generator(rng, device=str(device))
    perm = rng.permutation(data.shape[0])
    val = torch.as_tensor(data[perm[:config.n_val]], dtype=torch.long, device=device)
    trn = torch.as_tensor(data[perm[config.n_val:]], dtype=torch.long, device=device)
    val_seed = int(rng.integers(0, 2**62))
    net.init_output_bias(trn)
    opt = torch.optim.AdamW(net.parameters(), lr=config.learning_rate,
                            weight_decay=config.weight_decay)
    report = TrainReport()
    best_state = copy.deepcopy(net.state_dict())
    best_loss, stall = math.inf, 0
    net.train()
    try:
        for epoch in range(1, config.max_epochs + 1):
            train_loss, lr = _train_epoch(net, trn, opt, config, report, gen, rng, t0)
            report.epochs, report.last_train_loss = epoch, train_loss
            entry: dict[str, Any] = {"epoch": epoch, "train": train_loss, "lr": lr}
            if len(val):
                loss, table, any_order = validation_loss(net, val, val_seed,
                                                         config.any_order_weight)
                if not math.isfinite(loss):
                    raise _NonFinite
                entry.update(val=loss, val_table=table, val_any_order=any_order)
                log.debug("epoch %d/%d: train %.4f, validation %.4f", epoch,
                          config.max_epochs, train_loss, loss)
            report.history.append(entry)
            if not len(val):  # no validation split: a fixed budget, keep the last weights
                best_state, report.best_epoch = copy.deepcopy(net.state_dict()), epoch
            elif loss < best_loss:
                best_loss, stall = loss, 0
                best_state = copy.deepcopy(net.state_dict())
                report.best_epoch, report.best_val_loss = epoch, loss
            else:
                stall += 1
            if len(val) and stall >= config.patience:
                report.stop_reason = "converged"
                break
            if not _time_left(t0, config.max_training_time):
                report.stop_reason = "time"
                log.info("training stopped at the time cap (%.0f s) after %d epochs; keeping "
                         "the best weights (epoch %d).", config.max_training_time, epoch,
                         report.best_epoch)
                break
    except _NonFinite:
        _stop_nan(report, config)
    except KeyboardInterrupt:
        report.stop_reason = "interrupted"
        log.warning(
            "training interrupted after %d epoch(s) and %d step(s); the generator keeps the "
            "best weights so far (epoch %d, validation loss %s) and is fitted: sample or save "
            "it as usual, or fit again with a larger budget.", report.epochs, report.steps,
            report.best_epoch, _fmt(report.best_val_loss))
    net.load_state_dict(best_state)
    report.seconds = time.monotonic() - t0
    return report


def _train_epoch(net: ARNet, trn: torch.Tensor, opt: torch.optim.Optimizer,
                 config: TrainConfig, report: TrainReport, gen: torch.Generator,
                 rng: np.random.Generator, t0: float) -> tuple[float, float]:
    """One pass over shuffled training rows (the last partial batch is dropped); returns
    the mean batch loss and the last learning rate. Raises :class:`_NonFinite`."""
    device = trn.device
    bs = min(config.batch_size, len(trn))
    steps = max(1, len(trn) // bs)
    total = steps * config.max_epochs
    order = torch.as_tensor(rng.permutation(len(trn)), device=device)
    run_loss, lr = 0.0, config.learning_rate
    for b in range(steps):
        lr = config.learning_rate * _schedule(report.steps, config.warmup_steps, total)
        for group in opt.param_groups:
            group["lr"] = lr
        batch = trn[order[b * bs:(b + 1) * bs]]
        n_orders = net.n_orders(batch.shape[0])
        ranks = random_ranks(n_orders, net.arch.n_columns, config.canonical_share, gen, device)
        keep = None
        if config.context_dropout > 0 and net.arch.n_slots <= DENSE_MASK_SLOTS:
            keep = net.context_keep(n_orders, config.context_dropout, gen)
        loss = batch_loss(net, batch, ranks, keep)
        if not torch.isfinite(loss):
            raise _NonFinite
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        report.steps += 1
        run_loss += float(loss.detach())
        if not _time_left(t0, config.max_training_time):
            return run_loss / (b + 1), lr
    return run_loss / steps, lr


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def _stop_nan(report: TrainReport, config: TrainConfig) -> None:
    if report.best_epoch == 0:
        raise InvalidParameterError(
            f"training diverged (the loss became NaN or infinite) in epoch {report.epochs + 1}, "
            f"before any epoch had finished; lower the 'learning_rate' parameter (got "
            f"{config.learning_rate}) and fit again.")
    report.stop_reason = "nan"
    log.warning(
        "the training loss became NaN or infinite in epoch %d; training stopped and the best "
        "weights so far (epoch %d, validation loss %s) were restored. If quality is poor, "
        "fit again with a lower 'learning_rate' (got %g).", report.epochs + 1,
        report.best_epoch, _fmt(report.best_val_loss), config.learning_rate)


# -- DP-SGD -------------------------------------------------------------------------------
def calibrate_noise(dp: DPConfig, sample_rate: float, steps: int) -> float:
    """Noise multiplier that spends at most ``dp.epsilon`` in ``steps`` Poisson steps."""
    from opacus.accountants.utils import get_noise_multiplier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Opacus' note on the alpha range
        return float(get_noise_multiplier(target_epsilon=dp.epsilon, target_delta=dp.delta,
                                          sample_rate=sample_rate, steps=steps,
                                          accountant=dp.accountant, epsilon_tolerance=0.005))


def make_accountant(name: str) -> Any:
    from opacus.accountants import PRVAccountant, RDPAccountant

    return RDPAccountant() if name == "rdp" else PRVAccountant()


def train_dp(net: ARNet, data: np.ndarray, config: TrainConfig, dp: DPConfig,
             rng: np.random.Generator, ledger: Any = None,
             priors: dict[int, np.ndarray] | None = None) -> TrainReport:
    """DP-SGD training with Opacus (see the module docstring); fills ``report.privacy``.

    With ``ledger`` (the whole fit's :class:`~lookalike.privacy.PrivacyLedger`, the
    encoder's releases already in it) the noise multiplier is the smallest for which the
    planned steps, composed in RDP with what the ledger holds, fit its budget
    (:meth:`~lookalike.privacy.PrivacyLedger.calibrate_noise_multiplier`), and the steps
    taken are recorded there as one sampled Gaussian event (Mironov, Talwar and Zhang
    2019); ``report.privacy`` then carries the ledger's composed ``epsilon_total``.
    Without it, Opacus's accountant (``dp.accountant``) calibrates and counts DP-SGD alone
    against ``dp.epsilon``.

    Per-sample gradients are clipped with Opacus's ghost clipping (Li et al. 2022, "Large
    language models can be strong differentially private learners", sec. 4): the
    per-sample gradient norms come from activations and output gradients (norm rules for
    the per-slot layers in :func:`~.model.register_grad_samplers`), and a second backward
    pass of the clip-weighted loss gives the sum of clipped gradients, to which
    ``DPOptimizerFastGradientClipping`` adds the Gaussian noise. This is the same
    mechanism as materialised per-sample gradients, at about twice the cost of a plain step.
    """
    from opacus.grad_sample import GradSampleModuleFastGradientClipping
    from opacus.optimizers import DPOptimizerFastGradientClipping
    from opacus.utils.fast_gradient_clipping_utils import DPTensorFastGradientClipping

    register_grad_samplers()
    if priors:
        net.init_output_bias_from(priors)
    t0 = time.monotonic()
    device = net.offsets.device
    gen = torch_generator(rng, device=str(device))
    noise_gen = torch_generator(rng, device=str(device))
    n = data.shape[0]
    trn = torch.as_tensor(data, dtype=torch.long, device=device)
    expected_bs = max(1, min(config.batch_size, n))
    q = expected_bs / n
    steps_per_epoch = max(1, round(1 / q))
    planned = steps_per_epoch * dp.epochs
    if ledger is not None:
        sigma = float(ledger.calibrate_noise_multiplier(q, planned))
    else:
        sigma = calibrate_noise(dp, q, planned)
    gsm = GradSampleModuleFastGradientClipping(
        net, batch_first=False, loss_reduction="mean", max_grad_norm=dp.max_grad_norm,
        use_ghost_clipping=True, strict=False)
    opt = DPOptimizerFastGradientClipping(
        torch.optim.AdamW(net.parameters(), lr=config.learning_rate,
                          weight_decay=config.weight_decay, eps=dp.adam_eps),
        noise_multiplier=sigma, max_grad_norm=dp.max_grad_norm,
        expected_batch_size=expected_bs, loss_reduction="mean", generator=noise_gen)
    accountant = make_accountant(dp.accountant)
    opt.attach_step_hook(accountant.get_optimizer_hook_fn(sample_rate=q))
    report = TrainReport()
    n_cols = net.arch.n_columns
    net.train()
    last_good = copy.deepcopy(net.state_dict())
    try:
        for epoch in range(1, dp.epochs + 1):
            run_loss, n_rows = 0.0, 0
            for _ in range(steps_per_epoch):
                for group in opt.param_groups:
                    group["lr"] = config.learning_rate * _schedule(
                        report.steps, config.warmup_steps, planned)
                rows = np.flatnonzero(rng.random(n) < q)  # Poisson sampling
                if len(rows):
                    batch = trn[torch.as_tensor(rows, device=device)]
                    ranks = random_ranks(net.n_orders(len(rows)), n_cols,
                                         config.canonical_share, gen, device)
                    per_row = gsm(batch, ranks)
                    per_row = nll_from_logits(per_row, batch, net.bucket_index())
                    with warnings.catch_warnings():  # hooks on a module with int inputs
                        warnings.filterwarnings("ignore", message="Full backward hook")
                        DPTensorFastGradientClipping(gsm, opt, per_row, "mean").backward()
                    run_loss += float(per_row.detach().sum())
                    n_rows += len(rows)
                else:  # an empty Poisson batch: the update is noise only
                    for p in net.parameters():
                        p.grad = torch.zeros_like(p)
                opt.step()
                opt.zero_grad(set_to_none=True)
                report.steps += 1
                if not math.isfinite(run_loss):
                    net.load_state_dict(last_good)
                    report.stop_reason = "nan"
                    log.warning("the DP training loss became NaN or infinite in epoch %d; "
                                "the weights of the last finished epoch were restored.", epoch)
                    raise StopIteration
                if not _time_left(t0, config.max_training_time):
                    break
            last_good = copy.deepcopy(net.state_dict())
            report.epochs = epoch
            report.last_train_loss = run_loss / max(n_rows, 1)
            report.history.append({"epoch": epoch, "train": report.last_train_loss})
            log.debug("DP epoch %d/%d: train %.4f", epoch, dp.epochs, report.last_train_loss)
            if not _time_left(t0, config.max_training_time):
                report.stop_reason = "time"
                log.info("DP training stopped at the time cap after %d of %d epochs; it spent "
                         "less than the target epsilon.", epoch, dp.epochs)
                break
    except StopIteration:
        pass
    except KeyboardInterrupt:
        net.load_state_dict(last_good)
        report.stop_reason = "interrupted"
        log.warning("DP training interrupted after %d step(s); the generator keeps the weights "
                    "of the last finished epoch and is fitted: sample or save it as usual. The "
                    "privacy report counts every step taken.", report.steps)
    finally:
        gsm._close()
    report.best_epoch = report.epochs
    report.seconds = time.monotonic() - t0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Opacus' note on the alpha range
        spent = float(accountant.get_epsilon(delta=dp.delta)) if report.steps else 0.0
    report.privacy = {
        "mechanism": "dp-sgd", "accountant": dp.accountant, "noise_multiplier": sigma,
        "sample_rate": q, "steps": report.steps, "planned_steps": planned,
        "max_grad_norm": dp.max_grad_norm, "epsilon": spent, "delta": dp.delta,
        "target_epsilon": dp.epsilon,
    }
    if ledger is not None:
        from lookalike.privacy.events import SampledGaussianEvent

        if report.steps:
            ledger.spend(SampledGaussianEvent(sigma, q, report.steps, label="dp-sgd"))
        total = ledger.spent
        report.privacy.update({
            "accountant": "rdp (lookalike ledger, composed with the encoder's releases)",
            "epsilon_total": total.epsilon, "delta_total": total.delta,
            "ledger": ledger.to_dict(),
        })
    return report


