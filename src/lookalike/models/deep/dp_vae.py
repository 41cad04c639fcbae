"""``dp-vae``: the tabular VAE of :mod:`.vae` trained with DP-SGD.

Encoder and decoder - everything that sees a real row - are trained with DP-SGD on Opacus
(:mod:`.dp`: Poisson batches, per-row clipping to ``max_grad_norm``, Gaussian noise
calibrated for all planned steps on the fit's :class:`~lookalike.privacy.PrivacyLedger`;
Abadi et al. 2016), as the DP-VAE baselines of the DP synthetic-data literature do. Because
privacy dictates it, and unlike ``vae``:

* numbers are plainly standardised: a mode-specific mixture would be fitted to private
  values without noise;
* the number of epochs is fixed and there is no validation split: early stopping would look
  at private validation rows;
* with ``conditional=True`` (and a categorical target) the class shares used at sampling
  are a Gaussian-noised histogram charged to the same ledger (``cond_share`` of epsilon);
* the decoder's scales are weights of a ``Linear`` layer (so Opacus can clip them per row).
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any, ClassVar

import numpy as np

from lookalike._validation import Interval
from lookalike.models.base import Layout
from lookalike.models.deep import dp as dpm
from lookalike.models.deep.vae import VAEGenerator

log = logging.getLogger(__name__)


class DPVAEGenerator(dpm.DPMixin, VAEGenerator):
    """``dp-vae``: the VAE trained with DP-SGD (Opacus) on encoder and decoder.

    Parameters
    ----------
    epsilon, delta : the privacy budget (delta None: 1 / (10 n_rows)); see :mod:`.dp`.
    dp : alternatively ``{"epsilon": e, "delta": d}``, the facade's convention, which also
        makes the encoder's statistics DP.
    epochs : the exact number of epochs (the noise is calibrated for them).
    max_grad_norm : per-sample gradient clipping norm.
    cond_share : share of epsilon spent on the noisy class shares (conditional only).
    Other parameters as :class:`VAEGenerator` (no early stopping, no validation split).

    Examples
    --------
    >>> from lookalike import Synthesizer
    >>> syn = Synthesizer("dp-vae", dp={"epsilon": 1.0}, target="income")  # doctest: +SKIP
    >>> syn.fit(df).privacy_report()["epsilon_spent"] <= 1.0  # doctest: +SKIP
    True
    """

    name = "dp-vae"
    dp_mode = True
    mode_specific = False
    keep_constants = False
    mode_atoms = False  # atoms would be read off the data without noise
    _parameter_constraints: ClassVar[dict[str, Any]] = {
        **VAEGenerator._parameter_constraints,
        "epochs": Interval(int, 1, None),
        "max_grad_norm": Interval(float, 0, None, "neither"),
        "cond_share": Interval(float, 0, 1, "neither"),
    }

    def __init__(self, *, epsilon: float = 1.0, delta: float | None = None,
                 dp: dict[str, float] | None = None, epochs: int = 20,
                 max_grad_norm: float = 1.0, cond_share: float = 0.05,
                 latent_dim: int = 32, hidden_dims: tuple[int, ...] = (128,),
                 batch_size: int = 1000, learning_rate: float = 2e-3,
                 loss_factor: float = 2.0, kl_anneal_epochs: int = 1,
                 conditional: bool = True) -> None:
        super().__init__(latent_dim=latent_dim, hidden_dims=hidden_dims,
                         batch_size=batch_size, learning_rate=learning_rate, weight_decay=0.0,
                         loss_factor=loss_factor, kl_anneal_epochs=kl_anneal_epochs,
                         max_epochs=epochs, conditional=conditional)
        self.epsilon = epsilon
        self.delta = delta
        self.dp = dp
        self.epochs = epochs
        self.max_grad_norm = max_grad_norm
        self.cond_share = cond_share

    def validate_params(self) -> None:
        super().validate_params()
        self._check_budget()

    def _extra_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"privacy": self.privacy_}, {"cond_probs": self.cond_probs_}

    def _set_extra_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        super()._set_extra_state(meta, arrays)
        self.privacy_ = meta["privacy"]

    def _train(self, z: np.ndarray, values: np.ndarray, layout: Layout,
               rng: np.random.Generator) -> None:
        import torch

        from lookalike.models.deep.nets import Checkpoint

        t0 = time.perf_counter()
        ledger = dpm.make_ledger(self.epsilon, self.delta, self.dp, len(z))
        tgen, data = self._setup(z, layout, rng)
        cfg = self.config_
        self.cond_probs_ = np.zeros(0)
        if cfg["cond_width"]:
            counts = self._cond(data).sum(0).double().numpy()
            self.cond_probs_ = dpm.noisy_histogram(
                counts, ledger, self.cond_share * ledger.epsilon, rng,
                label=f"class shares of {cfg['cond_column']!r}")
        ckpt = Checkpoint({"vae": self.net_})
        sgd = dpm.DPSGD(self.net_, ledger, n_rows=len(z), batch_size=self.batch_size,
                        epochs=self.epochs, max_grad_norm=self.max_grad_norm,
                        learning_rate=self.learning_rate, rng=rng, label="dp-vae DP-SGD")
        history: list[dict[str, float]] = []
        stop = "epochs"
        try:
            self.net_.train()
            for epoch in range(1, self.epochs + 1):
                beta = min(1.0, epoch / self.kl_anneal_epochs)
                total, rows_seen = 0.0, 0
                for _ in range(sgd.steps_per_epoch):
                    rows = sgd.poisson_rows(rng)
                    if len(rows) == 0:
                        sgd.step(None)
                        continue
                    x = data[torch.as_tensor(rows)]
                    eps = torch.randn(len(x), self.latent_dim, generator=tgen)
                    loss = self._loss(x, self._cond(x), eps, beta, net=sgd.module)
                    total += float(loss.detach().sum())
                    rows_seen += len(x)
                    sgd.step(loss)
                mean = total / max(rows_seen, 1)
                history.append({"epoch": epoch, "train_loss": round(mean, 5)})
                log.info("dp-vae epoch %d: train_loss=%.4f", epoch, mean)
                if not math.isfinite(mean):
                    ckpt.restore("last")
                    stop = "diverged"
                    log.warning("dp-vae: the loss became NaN or infinite in epoch %d; training "
                                "stopped and the weights of the last finite epoch were "
                                "restored (the budget was spent for all epochs).", epoch)
                    break
                ckpt.mark_finite()
        finally:
            sgd.close()
        self.net_.eval()
        self.privacy_ = dpm.privacy_record(ledger, "dp-sgd (opacus) + gaussian histogram",
                                           **sgd.info())
        self.report_ = {"epochs": len(history), "best_epoch": len(history), "stop_reason": stop,
                        "seconds": round(time.perf_counter() - t0, 3), "history": history}
