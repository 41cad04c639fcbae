"""``medgan``: a GAN that generates in the code space of a pretrained auto-encoder.

The method is medGAN (E. Choi, S. Biswal, B. Malin, J. Duke, W. F. Stewart and J. Sun,
"Generating Multi-label Discrete Patient Records using Generative Adversarial Networks",
MLHC 2017), made for wide, sparse binary or count matrices such as diagnosis codes:

1. **Auto-encoder pretraining** (Section 2.2): ``Enc: x -> tanh(W_e x + b_e)`` (the code,
   ``code_dim`` wide) and ``Dec: code -> x``, trained to reconstruct the rows. The paper's
   sigmoid / ReLU outputs become the model space's heads (:class:`.nets.Heads`): a softmax
   per one-hot group (a binary column is a 2-way group; cross-entropy) and tanh / identity
   per value column (squared error).
2. **GAN in code space** (Section 2.3): the generator maps noise to a code through residual
   layers ``h + ReLU(BN(W h))`` (shortcut connections, Section 3) and a final tanh; the
   decoder turns the code into a row. The discriminator sees rows, each concatenated with
   the mean of its minibatch - **minibatch averaging** (Section 3), against mode collapse -
   and is trained with the standard GAN loss; the generator *and the decoder* are updated
   with the non-saturating loss (the paper fine-tunes the decoder with the generator).

Differences: categories of generated rows are Gumbel-softmax relaxations during training
(tau 0.2, as in :mod:`.gan`) and drawn from the softmax heads at sampling (the paper
rounds sigmoids); pretraining stops early on the held-out reconstruction loss, and GAN
training on the validation fidelity (:class:`.common.FidelityReference`) with ``patience``.

Conditional sampling (``conditions``) uses rejection only.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any, ClassVar

import numpy as np

from lookalike._validation import Interval
from lookalike.models.base import Layout
from lookalike.models.deep.common import DeepGenerator, FidelityReference, split_validation
from lookalike.models.deep.gan import _DIMS, check_dims
from lookalike.random import seed_int, torch_generator

log = logging.getLogger(__name__)


class MedGANGenerator(DeepGenerator):
    """medGAN: auto-encoder + latent-space GAN with minibatch averaging.

    Parameters
    ----------
    code_dim : width of the auto-encoder's code (and of the generator).
    noise_dim : size of the noise vector.
    generator_layers : residual layers of the generator.
    discriminator_dims : widths of the discriminator's layers.
    batch_size : rows per step.
    pretrain_epochs : upper bound on auto-encoder pretraining epochs.
    max_epochs : upper bound on GAN epochs.
    learning_rate : Adam learning rate of the GAN phase (the auto-encoder uses 1e-3).
    weight_decay : Adam weight decay (the paper's L2 term).
    patience : epochs without improvement (pretraining: validation loss; GAN: validation
        fidelity) before stopping.
    validation_share : share of rows held out for early stopping.

    Examples
    --------
    >>> from lookalike import Synthesizer
    >>> syn = Synthesizer("medgan", random_state=0).fit(codes_df)  # doctest: +SKIP
    """

    name = "medgan"
    _parameter_constraints: ClassVar[dict[str, Any]] = {
        "code_dim": Interval(int, 1, 4096),
        "noise_dim": Interval(int, 1, 4096),
        "generator_layers": Interval(int, 1, 8),
        "discriminator_dims": _DIMS,
        "batch_size": Interval(int, 2, None),
        "pretrain_epochs": Interval(int, 1, None),
        "max_epochs": Interval(int, 1, None),
        "learning_rate": Interval(float, 0, 1, "right"),
        "weight_decay": Interval(float, 0, None),
        "patience": Interval(int, 1, None),
        "validation_share": Interval(float, 0, 0.5),
    }

    def __init__(self, *, code_dim: int = 128, noise_dim: int = 128, generator_layers: int = 2,
                 discriminator_dims: tuple[int, ...] = (256, 128), batch_size: int = 500,
                 pretrain_epochs: int = 100, max_epochs: int = 300, learning_rate: float = 2e-4,
                 weight_decay: float = 1e-5, patience: int = 30,
                 validation_share: float = 0.1) -> None:
        self.code_dim = code_dim
        self.noise_dim = noise_dim
        self.generator_layers = generator_layers
        self.discriminator_dims = discriminator_dims
        self.batch_size = batch_size
        self.pretrain_epochs = pretrain_epochs
        self.max_epochs = max_epochs
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.patience = patience
        self.validation_share = validation_share

    def validate_params(self) -> None:
        super().validate_params()
        check_dims(type(self).__name__, "discriminator_dims", self.discriminator_dims)

    # -- networks ------------------------------------------------------------------------
    def _build_nets(self, meta: dict[str, Any], gen: Any = None) -> None:
        import torch
        from torch import nn

        from lookalike.models.deep.nets import Heads, LatentGenerator, build

        cfg = self.config_
        gen = gen if gen is not None else torch.Generator().manual_seed(0)
        self.heads_ = Heads(self.normalizer_.blocks_)
        self.encoder_ = build(lambda: nn.Sequential(nn.Linear(cfg["width"], cfg["code_dim"]),
                                                    nn.Tanh()), gen)
        self.decoder_ = build(lambda: nn.Linear(cfg["code_dim"], cfg["width"]), gen)
        self.generator_ = build(lambda: nn.Sequential(
            nn.Linear(cfg["noise_dim"], cfg["code_dim"]),
            LatentGenerator(cfg["code_dim"], cfg["generator_layers"])), gen)

    def _nets(self) -> dict[str, Any]:
        return {"decoder": self.decoder_, "generator": self.generator_}

    def _recon_loss(self, raw: Any, x: Any) -> Any:
        """Per-row cross-entropy of the groups + squared error of the (activated) values."""
        heads = self.heads_
        loss = heads.cross_entropy(raw, x)
        vidx = heads.value_idx
        if len(vidx):
            act = heads.activate(raw)
            loss = loss + ((act[:, vidx] - x[:, vidx]) ** 2).sum(dim=1)
        return loss

    # -- training ------------------------------------------------------------------------
    def _train(self, z: np.ndarray, values: np.ndarray, layout: Layout,
               rng: np.random.Generator) -> None:
        import torch

        from lookalike.models.deep.nets import Checkpoint, MinibatchDiscriminator, build

        t0 = time.perf_counter()
        tgen = torch_generator(rng)
        eval_rng = np.random.default_rng(seed_int(rng))
        self.config_ = {"width": int(z.shape[1]), "code_dim": self.code_dim,
                        "noise_dim": self.noise_dim, "generator_layers": self.generator_layers}
        self._build_nets({}, tgen)
        train_rows, val_rows = split_validation(len(z), self.validation_share, rng)
        reference = values[val_rows if len(val_rows) else train_rows][:5000]
        scorer = FidelityReference(reference, layout)
        data = torch.as_tensor(z, dtype=torch.float32)
        trn, val = data[torch.as_tensor(train_rows)], data[torch.as_tensor(val_rows)]
        batch = max(2, min(self.batch_size, len(trn)))
        steps = max(1, len(trn) // batch)
        ae_report = self._pretrain(trn, val, batch, steps, rng)

        disc = build(lambda: MinibatchDiscriminator(z.shape[1], self.discriminator_dims), tgen)
        g_params = list(self.generator_.parameters()) + list(self.decoder_.parameters())
        opt_g = torch.optim.Adam(g_params, lr=self.learning_rate, betas=(0.5, 0.999),
                                 weight_decay=self.weight_decay)
        opt_d = torch.optim.Adam(disc.parameters(), lr=self.learning_rate, betas=(0.5, 0.999),
                                 weight_decay=self.weight_decay)
        bce = torch.nn.functional.binary_cross_entropy_with_logits
        ckpt = Checkpoint({"decoder": self.decoder_, "generator": self.generator_})
        history: list[dict[str, float]] = []
        stop = "max_epochs"
        for epoch in range(1, self.max_epochs + 1):
            self.generator_.train()
            sums = torch.zeros(2)
            perm = torch.as_tensor(rng.permutation(len(trn)))
            for s in range(steps):
                real = trn[perm[s * batch:(s + 1) * batch]]
                m = len(real)
                with torch.no_grad():
                    fake = self._fake(m, tgen)
                d_real, d_fake = disc(real), disc(fake)
                loss_d = bce(d_real, torch.ones(m)) + bce(d_fake, torch.zeros(m))
                opt_d.zero_grad(set_to_none=True)
                loss_d.backward()
                opt_d.step()
                disc.requires_grad_(False)
                loss_g = bce(disc(self._fake(m, tgen)), torch.ones(m))
                opt_g.zero_grad(set_to_none=True)
                loss_g.backward()
                opt_g.step()
                disc.requires_grad_(True)
                sums += torch.stack([loss_d.detach(), loss_g.detach()])
            means = (sums / steps).tolist()
            if not all(math.isfinite(v) for v in means):
                ckpt.restore("best")
                stop = "diverged"
                log.warning("medGAN diverged (NaN or infinite loss) in epoch %d; training "
                            "stopped and the best checkpoint (epoch %d) was restored.",
                            epoch, ckpt.best_epoch)
                break
            ckpt.mark_finite()
            self.generator_.eval()
            with torch.no_grad():
                score = scorer.gap(self._draw_view(len(reference), eval_rng, {}))
            ckpt.offer(score, epoch)
            history.append({"epoch": epoch, "loss_d": round(means[0], 5),
                            "loss_g": round(means[1], 5), "fidelity_gap": round(score, 5)})
            log.info("medgan epoch %d: loss_d=%.4f loss_g=%.4f fidelity_gap=%.4f", epoch,
                     means[0], means[1], score)
            if epoch - ckpt.best_epoch >= self.patience:
                stop = "early_stopping"
                break
        if stop != "diverged":
            ckpt.restore("best")
        self.generator_.eval()
        self.report_ = {"autoencoder": ae_report, "epochs": len(history),
                        "best_epoch": ckpt.best_epoch, "stop_reason": stop,
                        "batch_size": batch, "seconds": round(time.perf_counter() - t0, 3),
                        "history": history}

    def _fake(self, m: int, gen: Any) -> Any:
        import torch

        code = self.generator_(torch.randn(m, self.config_["noise_dim"], generator=gen))
        return self.heads_.gumbel(self.decoder_(code), 0.2, gen)

    def _pretrain(self, trn: Any, val: Any, batch: int, steps: int,
                  rng: np.random.Generator) -> dict[str, Any]:
        import torch

        from lookalike.models.deep.nets import Checkpoint

        params = list(self.encoder_.parameters()) + list(self.decoder_.parameters())
        opt = torch.optim.Adam(params, lr=1e-3, weight_decay=self.weight_decay)
        ckpt = Checkpoint({"encoder": self.encoder_, "decoder": self.decoder_})
        epoch, loss = 0, math.nan
        for epoch in range(1, self.pretrain_epochs + 1):
            perm = torch.as_tensor(rng.permutation(len(trn)))
            for s in range(steps):
                x = trn[perm[s * batch:(s + 1) * batch]]
                loss_t = self._recon_loss(self.decoder_(self.encoder_(x)), x).mean()
                opt.zero_grad(set_to_none=True)
                loss_t.backward()
                opt.step()
            ref = val if len(val) else trn
            with torch.no_grad():
                loss = float(self._recon_loss(self.decoder_(self.encoder_(ref)), ref).mean())
            if not math.isfinite(loss):
                ckpt.restore("best")
                log.warning("medGAN's auto-encoder diverged in epoch %d; the best weights "
                            "(epoch %d) were restored.", epoch, ckpt.best_epoch)
                break
            ckpt.offer(loss, epoch)
            log.info("medgan autoencoder epoch %d: validation loss=%.4f", epoch, loss)
            if epoch - ckpt.best_epoch >= max(3, self.patience // 5):
                break
        ckpt.restore("best")
        return {"epochs": epoch, "best_epoch": ckpt.best_epoch,
                "best_loss": round(ckpt.best_score, 5)}

    # -- generation ----------------------------------------------------------------------
    def _generate(self, m: int, rng: np.random.Generator,
                  codes: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        gen = torch_generator(rng)
        out = []
        self.generator_.eval()
        with torch.no_grad():
            for start in range(0, m, 20_000):
                k = min(20_000, m - start)
                code = self.generator_(torch.randn(k, self.config_["noise_dim"], generator=gen))
                out.append(self.decoder_(code).numpy())
        raw = np.concatenate(out) if out else np.zeros((0, self.config_["width"]))
        return self.heads_.sample(raw.astype(np.float64), rng)
