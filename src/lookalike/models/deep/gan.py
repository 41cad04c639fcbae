"""``gan``: a conditional Wasserstein GAN with gradient penalty for tables (CTGAN-style).

The method is CTGAN (L. Xu, M. Skoularidou, A. Cuesta-Infante and K. Veeramachaneni,
"Modeling Tabular Data using Conditional GAN", NeurIPS 2019):

* **mode-specific normalisation** of numeric columns (:mod:`.normalizer`, Section 4.2);
* a **conditional vector** naming one category of one categorical column, and
  **training-by-sampling**: the column is drawn uniformly (here: the facade's ``target``
  with probability ``target_share``, 0.5 by default, which trains the class-conditional
  distributions a downstream model needs more often), the category with probability
  proportional to ``log(1 + frequency)`` and the real rows of the batch from that category,
  so rare categories are learned (Section 4.3; vectorised in :class:`.common.CondSampler`);
  the generator pays a cross-entropy when its row does not have the requested category;
* **WGAN-GP** (Gulrajani et al. 2017, Eq. 3, penalty weight 10) with a critic over packs of
  ``pac`` rows (PacGAN, Lin et al. 2018) against mode collapse; residual generator with
  batch normalisation, Gumbel-softmax (tau 0.2) for categories (Section 4.4).

What differs from the paper's implementation:

* **Atoms in the mode-specific normalisation.** A value shared by many rows (a spike such
  as ``capital-gain = 0``) and every value of a column with few distinct values is a mode
  of its own that decodes exactly (CTAB-GAN's mixed-type encoding, Zhao et al. 2021; see
  :mod:`.normalizer`). With CTGAN's Gaussian modes only, a spike decodes to values spread
  around it: on Adult, half of the synthetic ``capital-gain`` zeros came back as small
  amounts, which the real-vs-synthetic discriminator and the marginals both penalise.
* **Derived columns.** A column that is an exact function of a categorical column in the
  training data (Adult's ``education-num`` of ``education``) is not generated but looked up
  from its determinant (:mod:`.dependencies`; the rule is stored in the model file as
  JSON). CTGAN gave about half of its rows an ``education-num`` that contradicts their
  ``education``; here every row obeys the rule (Adult, seed 0, 256-wide row-shared critic:
  LightGBM discriminator AUC 0.935 -> 0.813, pair fidelity 0.891 -> 0.965, TSTR AUC
  0.881 -> 0.900). ``derive_dependent=False`` models every column.
* **Row-shared critic.** The critic's first layer embeds each row of a pack with the same
  weights before the pack's embeddings are concatenated (:func:`row_shared_critic`);
  CTGAN's critic flattens the pack, so each of its slots gets only ``1 / pac`` of the first
  layer. On wide rows (64 pixel columns of the 8x8 digits) CTGAN's critic learns nothing
  (TSTR accuracy at chance; 0.84 with the row-shared one, ``bench/digits_deep.py``); on
  Adult it also gives a better generator (seed 0, ``education-num`` generated:
  discriminator AUC 0.971 -> 0.935, fidelity 0.915 -> 0.932). ``shared_rows=False``:
  CTGAN's critic. The default row embedding is 128 wide (``discriminator_dims=(128,
  256)``): 35% cheaper a step than 256, Adult within seed noise (seed 0: TSTR AUC 0.894
  vs 0.900, discriminator AUC 0.810 vs 0.813).
* **Early stopping on validation fidelity.** ``validation_share`` of the rows are held out;
  after every epoch ``eval_rows`` rows are generated and compared with them
  (:class:`.common.FidelityReference`: marginal total variation + correlation differences,
  the target's correlations counted twice). The best weights are kept; training stops
  after ``patience`` epochs without improvement, and after ``max_epochs`` = 100 at most,
  instead of running a fixed 300 epochs (on Adult the validation fidelity still creeps up
  after 100 epochs, by less than the difference between seeds, at 3 CPU-s an epoch).
* **Divergence guard.** A NaN or infinite loss stops training, restores the best checkpoint
  and logs a warning.
* **Identifiability penalty** (ADS-GAN: J. Yoon, L. N. Drumright and M. van der Schaar,
  "Anonymization through Data Synthesis using Generative Adversarial Networks", IEEE JBHI
  2020, Eq. 6). ADS-GAN feeds a real row to the generator and rewards distance from it;
  our generator must sample without real rows, so ``identifiability_penalty = lambda > 0``
  subtracts ``lambda * mean_i min_j ||G_i - x_j|| / sqrt(d)`` from the generator loss,
  ``x_j`` being the real rows of the same batch (pushing synthetic rows away from their
  nearest real neighbours).
* **Weight averaging.** The generator that is evaluated, checkpointed and sampled from is an
  exponential moving average of the trained one (``ema_decay``; Yazici et al. 2019, "The
  Unusual Effectiveness of Averaging in GAN Training", ICLR), which damps the epoch-to-
  epoch oscillation of GAN training.
* **One generator pass per step.** The rows generated for the (last) critic update of a
  step also serve the generator update (as in DCGAN's reference training loop), instead of
  a second batch generated for it: same expectation, one generator forward pass fewer.
* Generation uses the generator in evaluation mode (batch-norm running statistics), so each
  row is independent of the others drawn with it.

Losses are logged per epoch (``logging`` at INFO) and kept in ``report_["history"]``.
"""

from __future__ import annotations

import copy
import itertools
import logging
import math
import time
from typing import Any, ClassVar

import numpy as np

from lookalike._validation import Interval, OfType
from lookalike.errors import InvalidParameterError
from lookalike.models.base import Layout
from lookalike.models.deep.common import (
    CondSampler,
    DeepGenerator,
    FidelityReference,
    ResidualGeneratorNets,
    split_validation,
)
from lookalike.random import seed_int, torch_generator

log = logging.getLogger(__name__)

_DIMS = [OfType((tuple, list))]
#: an epoch (the unit of evaluation and patience) is one pass, but at least this many steps
MIN_STEPS_PER_EPOCH = 50


def check_dims(owner: str, name: str, dims: Any) -> None:
    """Layer widths must be a non-empty sequence of ints in [1, 8192]."""
    if (not isinstance(dims, tuple | list) or not dims or
            not all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 8192
                    for d in dims)):
        raise InvalidParameterError(
            f"The {name!r} parameter of {owner} must be a non-empty tuple of ints in "
            f"[1, 8192], e.g. (256, 256); got {dims!r}."
        )


def critic_loss(d_real: Any, d_fake: Any) -> Any:
    """Wasserstein critic loss ``E[D(fake)] - E[D(real)]`` (minimised by the critic)."""
    return d_fake.mean() - d_real.mean()


def gradient_penalty(critic: Any, real: Any, fake: Any, pac: int, gen: Any) -> Any:
    """``E[(||grad D(x_hat)|| - 1)^2]`` on packed interpolates (Gulrajani et al. 2017)."""
    import torch

    width = real.shape[1]
    a = torch.rand(real.shape[0] // pac, 1, 1, generator=gen)
    a = a.expand(-1, pac, width).reshape(-1, width)
    x = (a * real + (1 - a) * fake).requires_grad_(True)
    grad = torch.autograd.grad(critic(x).sum(), x, create_graph=True)[0]
    norm = grad.reshape(-1, pac * width).norm(2, dim=1)
    return ((norm - 1.0) ** 2).mean()


def row_shared_critic(in_dim: int, hidden: Any, pac: int, p_dropout: float = 0.5) -> Any:
    """A packed critic whose first layer is applied to every row of a pack with shared weights.

    CTGAN's critic (:class:`.nets.Critic`) flattens a pack of ``pac`` rows into one input of
    ``pac * width`` values, so its first layer has a separate weight matrix per slot of the
    pack and each slot gets about ``hidden[0] / pac`` of its units; for wide rows (64 pixel
    columns of 17 modes each: 11,600 inputs for 256 units) it cannot learn the structure
    within a row, and the generator never learns it either. Here the first layer embeds each
    row with the same weights (``width -> hidden[0]``, LeakyReLU 0.2, dropout), the ``pac``
    embeddings of a pack are concatenated, and the remaining layers see the pack, so the
    critic still compares packs (PacGAN). Same cost as CTGAN's first layer.
    """
    import torch
    from torch import nn

    from lookalike.models.deep.nets import dropout

    class _Critic(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pac = pac
            self.p_dropout = p_dropout
            self.gen: torch.Generator | None = None
            self.row = nn.Linear(in_dim, hidden[0])
            dims = [hidden[0] * pac, *hidden[1:]]
            self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(dims))
            self.out = nn.Linear(dims[-1], 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = dropout(nn.functional.leaky_relu(self.row(x), 0.2), self.p_dropout, self.gen,
                        self.training)
            h = h.reshape(-1, h.shape[1] * self.pac)
            for layer in self.layers:
                h = dropout(nn.functional.leaky_relu(layer(h), 0.2), self.p_dropout, self.gen,
                            self.training)
            return self.out(h).squeeze(1)

    return _Critic()


def _ema_update(ema: Any, net: Any, decay: float) -> None:
    """``ema <- decay * ema + (1 - decay) * net`` for parameters; buffers are copied."""
    import torch

    with torch.no_grad():
        torch._foreach_lerp_(list(ema.parameters()), list(net.parameters()), 1.0 - decay)
        for b_ema, b in zip(ema.buffers(), net.buffers(), strict=True):
            b_ema.copy_(b)


class GANGenerator(ResidualGeneratorNets, DeepGenerator):
    """Conditional WGAN-GP with training-by-sampling and packing (see the module docstring).

    Parameters
    ----------
    embedding_dim : size of the noise vector.
    generator_dims : widths of the generator's residual layers.
    discriminator_dims : widths of the critic's layers (with ``shared_rows``: the first is
        the width of the row embedding, the others see the pack).
    pac : rows per pack of the critic (the batch size is rounded down to a multiple).
    batch_size : rows per step.
    generator_lr, discriminator_lr : Adam learning rates (betas 0.5, 0.9).
    weight_decay : Adam weight decay.
    discriminator_steps : critic updates per generator update.
    gradient_penalty : weight of the gradient penalty.
    max_epochs : upper bound on epochs (an epoch is one pass over the training rows, or
        ``MIN_STEPS_PER_EPOCH`` = 50 steps for small tables).
    patience : epochs without a better validation fidelity before stopping.
    validation_share : share of rows held out for the validation fidelity.
    eval_rows : rows generated (and validation rows used) per evaluation.
    identifiability_penalty : ADS-GAN-style weight (0 = off).
    gumbel_tau : Gumbel-softmax temperature during training.
    target_share : when the facade names a categorical ``target``, the share of conditional
        vectors that name it (the other columns share the rest evenly; CTGAN: uniform).
    ema_decay : decay of the exponential moving average of the generator's weights that is
        evaluated, kept and sampled from (0: the raw generator, as CTGAN).
    shared_rows : critic with a row-shared first layer (True) or CTGAN's flattened packs.
    derive_dependent : derive the columns that are a function of a categorical column from
        it instead of generating them (see :mod:`.dependencies`).

    Sampling option ``conditions`` (see :class:`.common.DeepGenerator`): the first
    conditioned column goes into the conditional vector; rows not matching (rare) and
    further columns are handled by rejection.

    Examples
    --------
    >>> from lookalike import Synthesizer
    >>> syn = Synthesizer("gan", random_state=0, max_epochs=5).fit(df)  # doctest: +SKIP
    >>> syn.sample(10, conditions={"income": 1})  # doctest: +SKIP
    """

    name = "gan"
    mode_atoms = True
    _parameter_constraints: ClassVar[dict[str, Any]] = {
        "embedding_dim": Interval(int, 1, 4096),
        "generator_dims": _DIMS,
        "discriminator_dims": _DIMS,
        "pac": Interval(int, 1, 64),
        "batch_size": Interval(int, 2, None),
        "generator_lr": Interval(float, 0, 1, "right"),
        "discriminator_lr": Interval(float, 0, 1, "right"),
        "weight_decay": Interval(float, 0, None),
        "discriminator_steps": Interval(int, 1, 20),
        "gradient_penalty": Interval(float, 0, None),
        "max_epochs": Interval(int, 1, None),
        "patience": Interval(int, 1, None),
        "validation_share": Interval(float, 0, 0.5),
        "eval_rows": Interval(int, 100, None),
        "identifiability_penalty": Interval(float, 0, None),
        "gumbel_tau": Interval(float, 0, None, "neither"),
        "target_share": Interval(float, 0, 1, "both"),
        "ema_decay": Interval(float, 0, 1, "left"),
        "shared_rows": [OfType(bool)],
        "derive_dependent": [OfType(bool)],
    }

    def __init__(self, *, embedding_dim: int = 128,
                 generator_dims: tuple[int, ...] = (256, 256),
                 discriminator_dims: tuple[int, ...] = (128, 256), pac: int = 10,
                 batch_size: int = 500, generator_lr: float = 2e-4,
                 discriminator_lr: float = 2e-4, weight_decay: float = 1e-6,
                 discriminator_steps: int = 1, gradient_penalty: float = 10.0,
                 max_epochs: int = 100, patience: int = 20, validation_share: float = 0.1,
                 eval_rows: int = 5000, identifiability_penalty: float = 0.0,
                 gumbel_tau: float = 0.2, target_share: float = 0.5,
                 ema_decay: float = 0.995, shared_rows: bool = True,
                 derive_dependent: bool = True) -> None:
        self.embedding_dim = embedding_dim
        self.generator_dims = generator_dims
        self.discriminator_dims = discriminator_dims
        self.pac = pac
        self.batch_size = batch_size
        self.generator_lr = generator_lr
        self.discriminator_lr = discriminator_lr
        self.weight_decay = weight_decay
        self.discriminator_steps = discriminator_steps
        self.gradient_penalty = gradient_penalty
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_share = validation_share
        self.eval_rows = eval_rows
        self.identifiability_penalty = identifiability_penalty
        self.gumbel_tau = gumbel_tau
        self.target_share = target_share
        self.ema_decay = ema_decay
        self.shared_rows = shared_rows
        self.derive_dependent = derive_dependent

    def _derives(self) -> bool:
        return bool(self.derive_dependent)

    def validate_params(self) -> None:
        super().validate_params()
        check_dims(type(self).__name__, "generator_dims", self.generator_dims)
        check_dims(type(self).__name__, "discriminator_dims", self.discriminator_dims)

    # -- networks and state (networks: ResidualGeneratorNets) -----------------------------
    def _extra_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return ({"cond_columns": [b.column for b in self.cond_.blocks],
                 "emphasis": self.config_.get("emphasis")},
                {f"cond_probs/{j}": p for j, p in enumerate(self.cond_.freqs)})

    def _set_extra_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        probs = [arrays[f"cond_probs/{j}"] for j in range(len(meta["cond_columns"]))]
        emphasis = meta.get("emphasis")
        self.cond_ = CondSampler(None, self.normalizer_.blocks_, columns=meta["cond_columns"],
                                 probs=probs, emphasis=tuple(emphasis) if emphasis else None)

    # -- training ------------------------------------------------------------------------
    def _train(self, z: np.ndarray, values: np.ndarray, layout: Layout,
               rng: np.random.Generator) -> None:
        import torch

        from lookalike.models.deep.nets import Checkpoint, Critic, Heads, build

        t0 = time.perf_counter()
        tgen = torch_generator(rng)
        eval_rng = np.random.default_rng(seed_int(rng))
        train_rows, val_rows = split_validation(len(z), self.validation_share, rng)
        reference = values[val_rows if len(val_rows) else train_rows][: self.eval_rows]
        scorer = FidelityReference(reference, layout)
        ztr = z[train_rows]
        emphasis = (layout.target, self.target_share) if layout.target else None
        self.cond_ = sampler = CondSampler(ztr, self.normalizer_.blocks_, emphasis=emphasis)
        cw = sampler.width
        self.config_ = {"width": int(z.shape[1]), "cond_width": cw,
                        "emphasis": None if sampler.group_cum is None else list(emphasis),
                        "embedding_dim": self.embedding_dim,
                        "generator_dims": list(self.generator_dims)}
        self._build_nets({}, tgen)
        gnet, heads = self.generator_, self.heads_
        if self.ema_decay > 0:  # evaluate and keep an average of the generator's weights
            self.generator_ = copy.deepcopy(gnet)
        ema, ema_steps = self.generator_, 0
        if self.shared_rows:
            critic = build(lambda: row_shared_critic(z.shape[1] + cw, self.discriminator_dims,
                                                     self.pac), tgen)
        else:
            critic = build(lambda: Critic(z.shape[1] + cw, self.discriminator_dims, self.pac),
                           tgen)
        critic.gen = tgen
        cond_heads = Heads(sampler.blocks)
        opt_g = torch.optim.Adam(gnet.parameters(), lr=self.generator_lr, betas=(0.5, 0.9),
                                 weight_decay=self.weight_decay)
        opt_d = torch.optim.Adam(critic.parameters(), lr=self.discriminator_lr,
                                 betas=(0.5, 0.9), weight_decay=self.weight_decay)
        data = torch.as_tensor(ztr, dtype=torch.float32)
        offsets = torch.as_tensor(sampler.offsets)
        batch = max(self.pac, min(self.batch_size, len(ztr)) // self.pac * self.pac)
        steps = max(MIN_STEPS_PER_EPOCH, len(ztr) // batch)

        def draw(m: int) -> tuple[Any, Any, Any, Any]:
            if cw == 0:
                rows = torch.as_tensor(rng.integers(0, len(ztr), m))
                return data[rows], torch.zeros(m, 0), None, None
            j, g, rows = sampler.sample_train(m, rng)
            c = torch.zeros(m, cw)
            c[torch.arange(m), torch.as_tensor(g)] = 1.0
            return data[torch.as_tensor(rows)], c, torch.as_tensor(j), torch.as_tensor(g)

        ckpt = Checkpoint({"generator": ema})
        history: list[dict[str, float]] = []
        stop = "max_epochs"
        for epoch in range(1, self.max_epochs + 1):
            gnet.train()
            critic.train()
            sums = torch.zeros(3)
            for _ in range(steps):
                critic.requires_grad_(True)
                for k in range(self.discriminator_steps):
                    real, c, j, g = draw(batch)
                    noise = torch.randn(batch, self.embedding_dim, generator=tgen)
                    if k == self.discriminator_steps - 1:
                        # the last critic step's rows feed the generator step too (as in
                        # DCGAN's reference loop): one generator pass per step, not two
                        raw = gnet(torch.cat([noise, c], 1))
                        fake = heads.gumbel(raw, self.gumbel_tau, tgen)
                        fake_d = fake.detach()
                    else:
                        with torch.no_grad():
                            fake_d = heads.gumbel(gnet(torch.cat([noise, c], 1)),
                                                  self.gumbel_tau, tgen)
                    real_c, fake_c = torch.cat([real, c], 1), torch.cat([fake_d, c], 1)
                    loss_d = critic_loss(critic(real_c), critic(fake_c))
                    gp = gradient_penalty(critic, real_c, fake_c, self.pac, tgen)
                    opt_d.zero_grad(set_to_none=True)
                    (loss_d + self.gradient_penalty * gp).backward()
                    opt_d.step()
                critic.requires_grad_(False)
                loss_g = -critic(torch.cat([fake, c], 1)).mean()
                loss_c = torch.zeros(())
                if cw:
                    logp = torch.log_softmax(cond_heads.padded(raw), dim=-1)
                    loss_c = -logp[torch.arange(batch), j, g - offsets[j]].mean()
                total = loss_g + loss_c
                if self.identifiability_penalty > 0:
                    dist = torch.cdist(fake, real).min(dim=1).values.mean()
                    total = total - self.identifiability_penalty * dist / math.sqrt(fake.shape[1])
                opt_g.zero_grad(set_to_none=True)
                total.backward()
                opt_g.step()
                if ema is not gnet:
                    ema_steps += 1
                    decay = min(self.ema_decay, (1 + ema_steps) / (10 + ema_steps))
                    _ema_update(ema, gnet, decay)
                sums += torch.stack([loss_d.detach(), loss_g.detach(), loss_c.detach()])
            means = (sums / steps).tolist()
            if not all(math.isfinite(v) for v in means):
                ckpt.restore("best")
                stop = "diverged"
                log.warning("The GAN diverged (NaN or infinite loss) in epoch %d; training "
                            "stopped and the best checkpoint (epoch %d) was restored.",
                            epoch, ckpt.best_epoch)
                break
            ckpt.mark_finite()
            ema.eval()
            with torch.no_grad():
                synth = self._draw_view(len(reference), eval_rng, {})
            score = scorer.gap(synth)
            ckpt.offer(score, epoch)
            history.append({"epoch": epoch, "loss_d": round(means[0], 5),
                            "loss_g": round(means[1], 5), "loss_cond": round(means[2], 5),
                            "fidelity_gap": round(score, 5)})
            log.info("gan epoch %d: loss_d=%.4f loss_g=%.4f loss_cond=%.4f fidelity_gap=%.4f",
                     epoch, means[0], means[1], means[2], score)
            if epoch - ckpt.best_epoch >= self.patience:
                stop = "early_stopping"
                break
        if stop != "diverged":
            ckpt.restore("best")
        ema.eval()
        self.report_ = {"epochs": len(history), "best_epoch": ckpt.best_epoch,
                        "best_fidelity_gap": ckpt.best_score if ckpt.best_epoch else None,
                        "stop_reason": stop, "steps_per_epoch": steps, "batch_size": batch,
                        "seconds": round(time.perf_counter() - t0, 3), "history": history}

    # -- generation ----------------------------------------------------------------------
    def _generate(self, m: int, rng: np.random.Generator,
                  codes: dict[str, np.ndarray]) -> np.ndarray:
        _, raw = self._conditional_raw(m, rng, codes)
        return self.heads_.sample(raw.astype(np.float64), rng)
