"""``dp-gan``: a conditional GAN whose discriminator is trained with DP-SGD.

Only the discriminator sees real rows, so only its training needs privacy: it is trained
with DP-SGD on Opacus (:mod:`.dp`; per-row clipping and Gaussian noise, Poisson batches),
and the generator, trained through the discriminator's outputs, is post-processing (the
DP-GAN of Xie, Lin, Wang, Wang and Zhou 2018, "Differentially Private Generative
Adversarial Network", arXiv:1802.06739, and the DP-CGAN of Torkzadehmahani, Kairouz and
Paten 2019, CVPR workshops). Because it differs from :mod:`.gan` in ways privacy dictates:

* **standard (non-saturating) GAN loss** instead of WGAN-GP: the gradient penalty needs
  second derivatives through the critic, which Opacus's per-sample gradients do not
  support;
* **no packing**: a pack mixes several rows into one per-sample gradient, and the Poisson
  subsampling analysis needs one gradient per row;
* **no training-by-sampling**: batches are Poisson samples of rows, as the accountant
  assumes. The conditional vector is the target column's one-hot only; the real rows
  carry their own, the generated rows get classes drawn from a Gaussian-noised histogram
  (``cond_share`` of epsilon), which also sets the class shares at sampling;
* **plain standardisation** of numbers (no mixture fitted to private values), a fixed number
  of epochs and no validation split.

Each step the critic sees a Poisson batch of real rows (expected size ``batch_size``) and
``batch_size`` generated rows; every row's gradient is clipped to ``max_grad_norm``, so one
real row changes the summed gradient by at most that norm. Noise is calibrated for all
planned steps on the fit's :class:`~lookalike.privacy.PrivacyLedger`.
"""

from __future__ import annotations

import logging
import time
from typing import Any, ClassVar

import numpy as np

from lookalike._validation import Interval, OfType
from lookalike.models.base import Layout
from lookalike.models.deep import dp as dpm
from lookalike.models.deep.common import CondSampler, DeepGenerator
from lookalike.models.deep.gan import _DIMS, check_dims
from lookalike.random import torch_generator

log = logging.getLogger(__name__)


class DPGANGenerator(dpm.DPMixin, dpm.ConditionalGeneratorState, DeepGenerator):
    """Conditional GAN with a DP-SGD discriminator (see the module docstring).

    Parameters
    ----------
    epsilon, delta : the privacy budget (delta None: 1 / (10 n_rows)); see :mod:`.dp`.
    dp : alternatively ``{"epsilon": e, "delta": d}``, the facade's convention, which also
        makes the encoder's statistics DP.
    epochs : the exact number of epochs (the noise is calibrated for them).
    batch_size : expected real rows per step (Poisson sampling rate ``batch_size / N``).
    max_grad_norm : per-sample gradient clipping norm of the discriminator.
    embedding_dim : size of the noise vector.
    generator_dims, discriminator_dims : layer widths.
    generator_lr, discriminator_lr : Adam learning rates.
    cond_share : share of epsilon spent on the noisy class shares (with a target only).

    Sampling option ``conditions``: a condition on the target goes into the conditional
    vector; others use rejection.

    Examples
    --------
    >>> from lookalike import Synthesizer
    >>> syn = Synthesizer("dp-gan", dp={"epsilon": 1.0}, target="income")  # doctest: +SKIP
    """

    name = "dp-gan"
    mode_specific = False
    keep_constants = False
    _parameter_constraints: ClassVar[dict[str, Any]] = {
        "epochs": Interval(int, 1, None),
        "batch_size": Interval(int, 2, None),
        "max_grad_norm": Interval(float, 0, None, "neither"),
        "embedding_dim": Interval(int, 1, 4096),
        "generator_dims": _DIMS,
        "discriminator_dims": _DIMS,
        "generator_lr": Interval(float, 0, 1, "right"),
        "discriminator_lr": Interval(float, 0, 1, "right"),
        "cond_share": Interval(float, 0, 1, "neither"),
        "dp": [OfType((dict,)), None],
    }

    def __init__(self, *, epsilon: float = 1.0, delta: float | None = None,
                 dp: dict[str, float] | None = None, epochs: int = 10,
                 batch_size: int = 1000, max_grad_norm: float = 1.0,
                 embedding_dim: int = 64, generator_dims: tuple[int, ...] = (128, 128),
                 discriminator_dims: tuple[int, ...] = (128, 128), generator_lr: float = 2e-4,
                 discriminator_lr: float = 2e-4, cond_share: float = 0.05) -> None:
        self.epsilon = epsilon
        self.delta = delta
        self.dp = dp
        self.epochs = epochs
        self.batch_size = batch_size
        self.max_grad_norm = max_grad_norm
        self.embedding_dim = embedding_dim
        self.generator_dims = generator_dims
        self.discriminator_dims = discriminator_dims
        self.generator_lr = generator_lr
        self.discriminator_lr = discriminator_lr
        self.cond_share = cond_share

    def validate_params(self) -> None:
        super().validate_params()
        check_dims(type(self).__name__, "generator_dims", self.generator_dims)
        check_dims(type(self).__name__, "discriminator_dims", self.discriminator_dims)
        self._check_budget()

    # -- training ------------------------------------------------------------------------
    def _train(self, z: np.ndarray, values: np.ndarray, layout: Layout,
               rng: np.random.Generator) -> None:
        import torch
        from torch.nn.functional import softplus

        from lookalike.models.deep.nets import Checkpoint, Critic, build

        t0 = time.perf_counter()
        n = len(z)
        ledger = dpm.make_ledger(self.epsilon, self.delta, self.dp, n)
        blocks = self.normalizer_.blocks_
        target = [b for b in blocks if b.is_category and b.column == layout.target]
        probs = []
        if target:
            b = target[0]
            counts = z[:, b.start:b.stop].sum(axis=0)
            probs = [dpm.noisy_histogram(counts, ledger, self.cond_share * ledger.epsilon, rng,
                                         label=f"class shares of {b.column!r}")]
        self.cond_ = CondSampler(None, blocks, columns=[b.column for b in target], probs=probs)
        cw = self.cond_.width
        self.config_ = {"width": int(z.shape[1]), "cond_width": cw,
                        "embedding_dim": self.embedding_dim,
                        "generator_dims": list(self.generator_dims)}
        tgen = torch_generator(rng)
        self._build_nets({}, tgen)
        gnet, heads = self.generator_, self.heads_
        critic = build(lambda: Critic(z.shape[1] + cw, self.discriminator_dims, pac=1,
                                      p_dropout=0.0), tgen)
        batch = max(2, min(self.batch_size, n))
        sgd = dpm.DPSGD(critic, ledger, n_rows=n, batch_size=batch, epochs=self.epochs,
                        max_grad_norm=self.max_grad_norm, learning_rate=self.discriminator_lr,
                        rng=rng, label="dp-gan discriminator DP-SGD", betas=(0.5, 0.999),
                        rows_per_step=2 * batch)
        opt_g = torch.optim.Adam(gnet.parameters(), lr=self.generator_lr, betas=(0.5, 0.999))
        data = torch.as_tensor(z, dtype=torch.float32)
        cond_of = (lambda x: x[:, target[0].start:target[0].stop]) if target else (
            lambda x: x[:, :0])

        def fake_batch(m: int) -> tuple[Any, Any]:
            c = torch.zeros(m, cw)
            if cw:
                c[torch.arange(m), torch.as_tensor(self.cond_.sample_cond(m, rng))] = 1.0
            noise = torch.randn(m, self.embedding_dim, generator=tgen)
            fake = heads.gumbel(gnet(torch.cat([noise, c], 1)), 0.2, tgen)
            return fake, c

        ckpt = Checkpoint({"generator": gnet})
        history: list[dict[str, float]] = []
        stop = "epochs"
        try:
            for epoch in range(1, self.epochs + 1):
                gnet.train()
                sums = np.zeros(2)
                for _ in range(sgd.steps_per_epoch):
                    real = data[torch.as_tensor(sgd.poisson_rows(rng))]
                    with torch.no_grad():
                        fake, c = fake_batch(batch)
                    x = torch.cat([torch.cat([real, cond_of(real)], 1),
                                   torch.cat([fake, c], 1)])
                    logits = sgd.module(x)
                    k = len(real)
                    per_row = torch.cat([softplus(-logits[:k]), softplus(logits[k:])])
                    sgd.step(per_row)
                    critic.requires_grad_(False)
                    sgd.module.disable_hooks()  # no per-sample gradients for G's step
                    fake, c = fake_batch(batch)
                    loss_g = softplus(-critic(torch.cat([fake, c], 1))).mean()
                    opt_g.zero_grad(set_to_none=True)
                    loss_g.backward()
                    opt_g.step()
                    sgd.module.enable_hooks()
                    critic.requires_grad_(True)
                    sums += [float(per_row.detach().sum()) / max(k + batch, 1),
                             float(loss_g.detach())]
                means = sums / sgd.steps_per_epoch
                history.append({"epoch": epoch, "loss_d": round(means[0], 5),
                                "loss_g": round(means[1], 5)})
                log.info("dp-gan epoch %d: loss_d=%.4f loss_g=%.4f", epoch, *means)
                if not np.isfinite(means).all():
                    ckpt.restore("last")
                    stop = "diverged"
                    log.warning("dp-gan diverged (NaN or infinite loss) in epoch %d; training "
                                "stopped and the generator of the last finite epoch was "
                                "restored (the budget was spent for all epochs).", epoch)
                    break
                ckpt.mark_finite()
        finally:
            sgd.close()
        gnet.eval()
        self.privacy_ = dpm.privacy_record(ledger, "dp-sgd (opacus) + gaussian histogram",
                                           **sgd.info())
        self.report_ = {"epochs": len(history), "best_epoch": len(history), "stop_reason": stop,
                        "seconds": round(time.perf_counter() - t0, 3), "history": history}

    # -- generation ----------------------------------------------------------------------
    def _generate(self, m: int, rng: np.random.Generator,
                  codes: dict[str, np.ndarray]) -> np.ndarray:
        _, raw = self._conditional_raw(m, rng, codes)
        return self.heads_.sample(raw.astype(np.float64), rng)
