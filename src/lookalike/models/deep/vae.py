"""``vae`` and ``dp-vae``: a tabular (conditional) variational auto-encoder, TVAE-style.

The model is TVAE (L. Xu, M. Skoularidou, A. Cuesta-Infante and K. Veeramachaneni,
"Modeling Tabular Data using Conditional GAN", NeurIPS 2019, Section 4.5 and Appendix):
an MLP encoder ``q(z | x)`` and decoder ``p(x | z)`` over the mode-specific normalised view
(:mod:`.normalizer`). The decoder has a *softmax head* per one-hot group (categories, mode
indicators, missing flags; cross-entropy loss) and a *Gaussian head* ``N(tanh(out),
sigma_j^2)`` per bounded value column (the within-mode ``alpha`` and cyclic parts; plain
standardised numbers use the identity instead of tanh), with learned scales ``sigma_j`` in
[0.01, 1]. The loss is the negative ELBO with TVAE's reconstruction weight
``loss_factor`` (2)::

    L = loss_factor * (sum_j NLL_j(x | z)) + beta * KL(q(z | x) || N(0, I))

What this implementation adds:

* **Conditional VAE** on the target column (``conditional=True`` and the facade's ``target``
  is categorical): encoder and decoder also get its one-hot ``c`` (Sohn, Lee and Yan 2015,
  "Learning Structured Output Representation using Deep Conditional Generative Models"),
  so ``conditions={target: k}`` generates class ``k`` directly; at sampling ``c`` is drawn
  from the training shares. Conditions on other columns use rejection.
* **KL annealing**: ``beta`` rises linearly from ``1 / kl_anneal_epochs`` to 1 over the first
  ``kl_anneal_epochs`` epochs (Bowman et al. 2016, "Generating Sentences from a Continuous
  Space"), so the decoder learns to use ``z`` before the KL term pulls it to the prior.
* **Early stopping** on held-out rows (from the end of the annealing on): by default on the
  validation fidelity of generated rows (:class:`.common.FidelityReference`, as ``gan``), or on
  the held-out negative ELBO (``early_stopping="loss"``); the best weights are kept and
  training stops after ``patience`` epochs without improvement.
* Sampling draws categories from the softmax heads and adds the learned Gaussian noise to
  the value heads (as TVAE's ``sample``), so marginals are not sharpened by an arg-max.

``dp-vae`` (:mod:`.dp_vae`) trains the same networks with DP-SGD.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any, ClassVar

import numpy as np

from lookalike._validation import Interval, OfType, Options
from lookalike.models.base import Layout
from lookalike.models.deep.common import DeepGenerator, FidelityReference, split_validation
from lookalike.models.deep.gan import _DIMS, check_dims
from lookalike.random import seed_int, torch_generator

log = logging.getLogger(__name__)


class VAEGenerator(DeepGenerator):
    """Tabular conditional VAE with mode-specific normalisation (see the module docstring).

    Parameters
    ----------
    latent_dim : size of ``z``.
    hidden_dims : encoder layer widths (the decoder mirrors them).
    batch_size : rows per step.
    learning_rate : Adam learning rate.
    weight_decay : Adam weight decay (L2).
    loss_factor : weight of the reconstruction term (TVAE: 2).
    kl_anneal_epochs : epochs over which the KL weight rises to 1 (1 = no annealing).
    max_epochs : upper bound on epochs.
    patience : epochs without a better validation loss before stopping.
    validation_share : share of rows held out for early stopping.
    conditional : condition on the (categorical) target column when the facade names one.
    early_stopping : what decides the best epoch and when to stop: ``"fidelity"`` (the
        validation fidelity of generated rows, :class:`.common.FidelityReference`) or ``"loss"``
        (the validation negative ELBO, which keeps improving long after the samples stop
        changing, as the learned scales shrink). Fidelity looks at marginals and pairs only:
        on wide tables whose meaning is in many columns at once (scikit-learn's 8x8 digits:
        does the image fit its label?) it stopped at epoch 12 with TSTR accuracy 0.078, where
        ``"loss"`` trained 212 epochs to 0.929 (``bench/digits_deep.py``); use ``"loss"`` there.

    Sampling option ``conditions`` (see :class:`.common.DeepGenerator`); a condition on the
    target goes into the decoder, others are met by rejection.

    Examples
    --------
    >>> from lookalike import Synthesizer
    >>> syn = Synthesizer("vae", random_state=0, target="income").fit(df)  # doctest: +SKIP
    >>> syn.sample(100, conditions={"income": 1})  # doctest: +SKIP
    """

    name = "vae"
    #: exact modes for values many rows share (CTAB-GAN, Zhao et al. 2021, sec. 3.3). On
    #: Adult (seed 0) fidelity 0.918 -> 0.936, discriminator AUC 0.954 -> 0.925, TSTR AUC
    #: 0.886 -> 0.900, QA accuracy 0.923 -> 0.931.
    mode_atoms = True
    dp_mode: ClassVar[bool] = False
    _parameter_constraints: ClassVar[dict[str, Any]] = {
        "latent_dim": Interval(int, 1, 4096),
        "hidden_dims": _DIMS,
        "batch_size": Interval(int, 1, None),
        "learning_rate": Interval(float, 0, 1, "right"),
        "weight_decay": Interval(float, 0, None),
        "loss_factor": Interval(float, 0, None, "neither"),
        "kl_anneal_epochs": Interval(int, 1, None),
        "max_epochs": Interval(int, 1, None),
        "patience": Interval(int, 1, None),
        "validation_share": Interval(float, 0, 0.5),
        "conditional": OfType((bool,)),
        "early_stopping": Options(("fidelity", "loss")),
    }

    def __init__(self, *, latent_dim: int = 128, hidden_dims: tuple[int, ...] = (128, 128),
                 batch_size: int = 500, learning_rate: float = 1e-3,
                 weight_decay: float = 1e-5, loss_factor: float = 2.0,
                 kl_anneal_epochs: int = 10, max_epochs: int = 300, patience: int = 10,
                 validation_share: float = 0.1, conditional: bool = True,
                 early_stopping: str = "fidelity") -> None:
        self.latent_dim = latent_dim
        self.hidden_dims = hidden_dims
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.loss_factor = loss_factor
        self.kl_anneal_epochs = kl_anneal_epochs
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_share = validation_share
        self.conditional = conditional
        self.early_stopping = early_stopping

    def validate_params(self) -> None:
        super().validate_params()
        check_dims(type(self).__name__, "hidden_dims", self.hidden_dims)

    # -- networks ------------------------------------------------------------------------
    def _cond_block(self, layout: Layout) -> Any:
        if not self.conditional or layout.target is None:
            return None
        for b in self.normalizer_.blocks_:
            if b.is_category and b.column == layout.target:
                return b
        return None

    def _build_nets(self, meta: dict[str, Any], gen: Any = None) -> None:
        import torch

        from lookalike.models.deep.nets import Heads, VAENet, build

        cfg = self.config_
        gen = gen if gen is not None else torch.Generator().manual_seed(0)
        self.heads_ = Heads(self.normalizer_.blocks_)
        n_values = len(self.heads_.value_idx)
        self.net_ = build(lambda: VAENet(cfg["width"], cfg["cond_width"], n_values,
                                         cfg["hidden_dims"], cfg["latent_dim"]), gen)
        with torch.no_grad():
            self.net_.log_sigma.weight.fill_(math.log(0.1))
        bounded = set(self.heads_.tanh_idx.tolist())
        self._bounded_mask = torch.as_tensor([i in bounded
                                              for i in self.heads_.value_idx.tolist()])

    def _nets(self) -> dict[str, Any]:
        return {"vae": self.net_}

    def _extra_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {}, {"cond_probs": self.cond_probs_}

    def _set_extra_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.cond_probs_ = np.asarray(arrays["cond_probs"], dtype=np.float64)

    # -- loss ----------------------------------------------------------------------------
    def _loss(self, x: Any, c: Any, eps: Any, beta: float, net: Any = None) -> Any:
        """Per-row loss ``loss_factor * NLL + beta * KL``."""
        import torch

        raw, mu, logvar, log_sigma = (net or self.net_)(x, c, eps)
        heads = self.heads_
        vidx = heads.value_idx
        nll = heads.cross_entropy(raw, x)
        if len(vidx):
            pred = raw[:, vidx]
            bounded = self._bounded_mask
            pred = torch.where(bounded, torch.tanh(pred), pred)
            nll = nll + (((x[:, vidx] - pred) ** 2) / (2 * torch.exp(2 * log_sigma))
                         + log_sigma).sum(dim=1)
        kl = -0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum(dim=1)
        return self.loss_factor * nll + beta * kl

    # -- training ------------------------------------------------------------------------
    def _setup(self, z: np.ndarray, layout: Layout, rng: np.random.Generator) -> Any:
        import torch

        block = self._cond_block(layout)
        self.config_ = {"width": int(z.shape[1]),
                        "cond_width": 0 if block is None else block.width,
                        "cond_start": None if block is None else block.start,
                        "cond_column": None if block is None else block.column,
                        "hidden_dims": list(self.hidden_dims), "latent_dim": self.latent_dim}
        tgen = torch_generator(rng)
        self._build_nets({}, tgen)
        return tgen, torch.as_tensor(z, dtype=torch.float32)

    def _cond(self, data: Any) -> Any:
        cfg = self.config_
        if not cfg["cond_width"]:
            return data[:, :0]
        return data[:, cfg["cond_start"]:cfg["cond_start"] + cfg["cond_width"]]

    def _train(self, z: np.ndarray, values: np.ndarray, layout: Layout,
               rng: np.random.Generator) -> None:
        import torch

        from lookalike.models.deep.nets import Checkpoint

        t0 = time.perf_counter()
        tgen, data = self._setup(z, layout, rng)
        cfg = self.config_
        self.cond_probs_ = (self._cond(data).mean(0).double().numpy() if cfg["cond_width"]
                            else np.zeros(0))
        train_rows, val_rows = split_validation(len(z), self.validation_share, rng)
        trn, val = data[torch.as_tensor(train_rows)], data[torch.as_tensor(val_rows)]
        reference = values[val_rows if len(val_rows) else train_rows][:5000]
        scorer = FidelityReference(reference, layout)
        eval_rng = np.random.default_rng(seed_int(rng))
        batch = max(1, min(self.batch_size, len(trn)))
        steps = max(1, len(trn) // batch)
        net = self.net_
        opt = torch.optim.Adam(net.parameters(), lr=self.learning_rate,
                               weight_decay=self.weight_decay)
        ckpt = Checkpoint({"vae": net})
        history: list[dict[str, float]] = []
        stop = "max_epochs"
        for epoch in range(1, self.max_epochs + 1):
            beta = min(1.0, epoch / self.kl_anneal_epochs)
            net.train()
            perm = torch.as_tensor(rng.permutation(len(trn)))
            total = torch.zeros(())
            for s in range(steps):
                x = trn[perm[s * batch:(s + 1) * batch]]
                eps = torch.randn(len(x), self.latent_dim, generator=tgen)
                loss = self._loss(x, self._cond(x), eps, beta).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.detach()
            train_loss = float(total) / steps
            if not math.isfinite(train_loss):
                ckpt.restore("best")
                stop = "diverged"
                log.warning("The VAE diverged (NaN or infinite loss) in epoch %d; training "
                            "stopped and the best checkpoint (epoch %d) was restored.",
                            epoch, ckpt.best_epoch)
                break
            ckpt.mark_finite()
            val_loss = train_loss
            net.eval()
            with torch.no_grad():
                if len(val):
                    eps = torch.randn(len(val), self.latent_dim, generator=tgen)
                    val_loss = float(self._loss(val, self._cond(val), eps, 1.0).mean())
                gap = scorer.gap(self._draw_view(len(reference), eval_rng, {}))
            score = gap if self.early_stopping == "fidelity" else val_loss
            history.append({"epoch": epoch, "beta": round(beta, 4),
                            "train_loss": round(train_loss, 5), "val_loss": round(val_loss, 5),
                            "fidelity_gap": round(gap, 5)})
            log.info("vae epoch %d: beta=%.3f train_loss=%.4f val_loss=%.4f fidelity_gap=%.4f",
                     epoch, beta, train_loss, val_loss, gap)
            if epoch >= self.kl_anneal_epochs:  # compare models trained at beta = 1 only
                ckpt.offer(score, epoch)
                if epoch - max(ckpt.best_epoch, self.kl_anneal_epochs) >= self.patience:
                    stop = "early_stopping"
                    break
        if stop != "diverged":
            ckpt.restore("best")
        net.eval()
        self.report_ = {"epochs": len(history), "best_epoch": ckpt.best_epoch,
                        "stop_reason": stop, "batch_size": batch, "steps_per_epoch": steps,
                        "seconds": round(time.perf_counter() - t0, 3), "history": history}

    # -- generation ----------------------------------------------------------------------
    def _generate(self, m: int, rng: np.random.Generator,
                  codes: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        gen = torch_generator(rng)
        cfg = self.config_
        cw = cfg["cond_width"]
        if cw and cfg["cond_column"] in codes:
            cls = codes[cfg["cond_column"]]
        elif cw:
            cls = np.minimum(np.searchsorted(np.cumsum(self.cond_probs_), rng.random(m) *
                                             self.cond_probs_.sum(), side="right"), cw - 1)
        out = []
        self.net_.eval()
        with torch.no_grad():
            sigma = torch.exp(self.net_.log_sigma.weight[:, 0].clamp(math.log(0.01), 0.0))
            for start in range(0, m, 20_000):
                k = min(20_000, m - start)
                c = torch.zeros(k, cw)
                if cw:
                    c[torch.arange(k), torch.as_tensor(cls[start:start + k])] = 1.0
                noise = torch.randn(k, cfg["latent_dim"], generator=gen)
                raw = self.net_.decode(noise, c)
                vidx = self.heads_.value_idx
                if len(vidx):
                    pred = raw[:, vidx]
                    pred = torch.where(self._bounded_mask, torch.tanh(pred), pred)
                    raw[:, vidx] = pred + sigma[: len(vidx)] * torch.randn(
                        pred.shape, generator=gen)
                out.append(raw.numpy())
        raw = np.concatenate(out) if out else np.zeros((0, cfg["width"]))
        sampled = self.heads_.sample(raw.astype(np.float64), rng)
        vidx = self.heads_.value_idx.numpy()
        sampled[:, vidx] = raw[:, vidx]  # already activated (and noised) above
        return sampled
