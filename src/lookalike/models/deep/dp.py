"""Differential privacy for the deep generators: budgets, DP-SGD with Opacus, noisy marginals.

Every noisy release goes through :mod:`lookalike.privacy`: a fresh
:class:`~lookalike.privacy.PrivacyLedger` per ``fit`` holds the budget, each release is
*spent* on it before its noise is drawn, and DP-SGD's noise multiplier is calibrated by the
ledger itself (RDP accounting of the Poisson-subsampled Gaussian mechanism, Mironov, Talwar
and Zhang 2019), so the composed loss of all releases never exceeds the budget.

DP-SGD (Abadi et al. 2016, "Deep Learning with Differential Privacy", CCS) runs on Opacus:
:class:`opacus.GradSampleModule` computes per-sample gradients and
:class:`opacus.optimizers.DPOptimizer` clips them to ``max_grad_norm`` and adds Gaussian
noise drawn from a ``torch.Generator`` seeded from the caller's numpy generator. Batches
are Poisson samples (each row independently with probability ``q``), drawn with numpy, as
the accountant assumes. Neighbouring tables differ by adding or removing one row; the row
count ``N`` (which sets ``q`` and the default ``delta``) is treated as public.

Budget parameters of the ``dp-*`` generators: ``epsilon`` / ``delta`` (the generator's own
budget; the encoder's statistics are then computed without noise), or ``dp={"epsilon": e,
"delta": d}`` - the facade's convention: ``Synthesizer("dp-vae", dp={"epsilon": 1})``
spends a share of the budget on DP encoder statistics (bounds, category lists) and hands
the rest to the generator, so the whole fit is DP. ``delta`` defaults to ``1 / (10 N)``.
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

import numpy as np

from lookalike.errors import InvalidParameterError
from lookalike.models.deep.common import CondSampler, ResidualGeneratorNets

DEFAULT_DELTA_FACTOR = 10  # delta = 1 / (10 N) unless given


def check_budget(owner: str, epsilon: Any, delta: Any, dp: Any) -> None:
    """Validate the budget parameters (epsilon <= 0, inf, delta outside (0, 1) are errors).

    Examples
    --------
    >>> check_budget("DPVAEGenerator", 0.0, None, None)
    Traceback (most recent call last):
    ...
    lookalike.errors.InvalidParameterError: The 'epsilon' parameter of DPVAEGenerator must be a float in (0, inf); got 0.0. Give a positive, finite privacy budget (e.g. 1.0).
    """
    if dp is not None:
        if not isinstance(dp, dict) or "epsilon" not in dp or set(dp) - {"epsilon", "delta"}:
            raise InvalidParameterError(
                f"The 'dp' parameter of {owner} must be None or a dict with 'epsilon' (and "
                f"optionally 'delta'); got {dp!r}."
            )
        epsilon, delta = dp["epsilon"], dp.get("delta")
    if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) or not (
            0 < epsilon < math.inf):
        raise InvalidParameterError(
            f"The 'epsilon' parameter of {owner} must be a float in (0, inf); got "
            f"{epsilon!r}. Give a positive, finite privacy budget (e.g. 1.0)."
        )
    if delta is not None and (isinstance(delta, bool) or not isinstance(delta, numbers.Real)
                              or not 0 < delta < 1):
        raise InvalidParameterError(
            f"The 'delta' parameter of {owner} must be a float in (0, 1) or None; got "
            f"{delta!r}. None uses 1 / (10 n_rows)."
        )


class DPMixin:
    """What every DP deep generator shares: the budget check of its parameters and the
    privacy record of its fit (``privacy_``, set by the fit). Put it before the generator's
    base class so that :meth:`privacy_events` overrides the non-DP default."""

    epsilon: Any
    delta: Any
    dp: Any

    def _check_budget(self) -> None:
        check_budget(type(self).__name__, self.epsilon, self.delta, self.dp)

    def privacy_events(self) -> list[dict[str, Any]]:
        return [self.privacy_] if getattr(self, "privacy_", None) else []


def make_ledger(epsilon: float, delta: float | None, dp: dict | None, n_rows: int) -> Any:
    """A fresh :class:`~lookalike.privacy.PrivacyLedger` for one fit.

    Examples
    --------
    >>> make_ledger(1.0, None, None, n_rows=1000).delta
    0.0001
    """
    from lookalike.privacy import PrivacyLedger

    if dp is not None:
        epsilon, delta = dp["epsilon"], dp.get("delta")
    if delta is None:
        delta = 1.0 / (DEFAULT_DELTA_FACTOR * n_rows)
    return PrivacyLedger(float(epsilon), float(delta))


def noisy_histogram(counts: np.ndarray, ledger: Any, epsilon: float,
                    rng: np.random.Generator, label: str) -> np.ndarray:
    """Category shares from counts + Gaussian noise (L2 sensitivity 1), spending ``epsilon``.

    Negative noisy counts become 0; an all-zero result gives uniform shares.

    Examples
    --------
    >>> ledger = make_ledger(1.0, 1e-5, None, n_rows=1000)
    >>> p = noisy_histogram(np.array([900.0, 100.0]), ledger, 0.5, np.random.default_rng(0),
    ...                     label="classes")
    >>> bool(abs(p[0] - 0.9) < 0.05), ledger.spent.epsilon <= 0.5
    (True, True)
    """
    from lookalike.privacy import gaussian_mechanism

    sigma = ledger.calibrate_gaussian(1.0, target_epsilon=epsilon)
    noisy, _ = gaussian_mechanism(np.asarray(counts, float), 1.0, sigma, rng, label=label,
                                  ledger=ledger)
    noisy = np.clip(noisy, 0.0, None)
    return noisy / noisy.sum() if noisy.sum() > 0 else np.full(len(counts), 1.0 / len(counts))


class ConditionalGeneratorState(ResidualGeneratorNets):
    """Model-file state shared by the DP GANs (``dp-gan``, ``pate-gan``) on top of their
    residual generator (:class:`~.common.ResidualGeneratorNets`): the privacy record and the
    conditional frequencies. Only the generator is saved (the critics and teachers that saw
    the data stay behind)."""

    def _extra_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return ({"privacy": self.privacy_, "cond_columns": [b.column for b in self.cond_.blocks]},
                {f"cond_probs/{j}": p for j, p in enumerate(self.cond_.freqs)})

    def _set_extra_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.privacy_ = meta["privacy"]
        probs = [arrays[f"cond_probs/{j}"] for j in range(len(meta["cond_columns"]))]
        self.cond_ = CondSampler(None, self.normalizer_.blocks_,
                                 columns=meta["cond_columns"], probs=probs)


class DPSGD:
    """Opacus DP-SGD for one module, with the ledger's noise calibration and accounting.

    ``steps`` Poisson-sampled steps of expected size ``batch_size`` are spent on the ledger
    when the object is created (spend first, then draw noise); ``noise_multiplier`` is the
    smallest that keeps the ledger's total within its budget. ``rows_per_step`` is the
    expected number of per-sample gradients a step averages (default ``batch_size``; a GAN
    critic also sees a fixed number of generated rows, whose gradients are clipped too).
    """

    def __init__(self, module: Any, ledger: Any, *, n_rows: int, batch_size: int, epochs: int,
                 max_grad_norm: float, learning_rate: float, rng: np.random.Generator,
                 label: str, betas: tuple[float, float] = (0.9, 0.999),
                 rows_per_step: int | None = None) -> None:
        import torch
        from opacus import GradSampleModule
        from opacus.optimizers import DPOptimizer

        from lookalike.privacy import SampledGaussianEvent
        from lookalike.random import torch_generator

        self.batch_size = max(1, min(batch_size, n_rows))
        self.sample_rate = self.batch_size / n_rows
        self.steps_per_epoch = max(1, round(1.0 / self.sample_rate))
        self.steps = self.steps_per_epoch * epochs
        self.noise_multiplier = ledger.calibrate_noise_multiplier(self.sample_rate, self.steps)
        ledger.spend(SampledGaussianEvent(self.noise_multiplier, self.sample_rate, self.steps,
                                          label=label))
        self.max_grad_norm = max_grad_norm
        self.n_rows = n_rows
        self.module = GradSampleModule(module)
        self.optimizer = DPOptimizer(
            torch.optim.Adam(module.parameters(), lr=learning_rate, betas=betas),
            noise_multiplier=self.noise_multiplier, max_grad_norm=max_grad_norm,
            expected_batch_size=rows_per_step or self.batch_size, loss_reduction="mean",
            generator=torch_generator(rng),
        )

    def poisson_rows(self, rng: np.random.Generator) -> np.ndarray:
        """One Poisson batch: each row kept independently with probability ``sample_rate``."""
        return np.flatnonzero(rng.random(self.n_rows) < self.sample_rate)

    def step(self, per_sample_loss: Any | None) -> None:
        """Backward the mean of ``per_sample_loss`` (None: empty batch), clip, noise, update."""
        import torch

        if per_sample_loss is None or per_sample_loss.shape[0] == 0:
            for p in self.module.parameters():
                if p.requires_grad:
                    p.grad_sample = torch.zeros((0, *p.shape), dtype=p.dtype)
        else:
            with warnings.catch_warnings():
                # Opacus's full backward hooks fire on the first layer, whose input (data)
                # needs no gradient; torch warns about that case, which is expected here.
                warnings.filterwarnings("ignore", message="Full backward hook is firing")
                per_sample_loss.mean().backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def close(self) -> None:
        """Remove Opacus's hooks from the wrapped module."""
        self.module._close()

    def info(self) -> dict[str, Any]:
        return {"noise_multiplier": self.noise_multiplier, "sample_rate": self.sample_rate,
                "steps": self.steps, "batch_size": self.batch_size,
                "max_grad_norm": self.max_grad_norm}


def privacy_record(ledger: Any, mechanism: str, **details: Any) -> dict[str, Any]:
    """The fit's one privacy event (JSON-able): composed epsilon / delta and the ledger."""
    spent = ledger.spent
    return {"mechanism": mechanism, "epsilon": float(spent.epsilon), "delta": float(ledger.delta),
            "composition": spent.method, "target_epsilon": float(ledger.epsilon),
            **details, "ledger": ledger.to_dict()}
