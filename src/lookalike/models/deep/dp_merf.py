"""``dp-merf``: differentially private mean embeddings with random Fourier features.

The method is DP-MERF (F. Harder, K. Adamczewski and M. Park, "DP-MERF: Differentially
Private Mean Embeddings with Random Features for Practical Privacy-Preserving Data
Generation", AISTATS 2021):

1. Random Fourier features (Rahimi and Recht 2007) approximate a Gaussian kernel of
   length-scale ``l``: ``phi(x) = [cos(W^T x), sin(W^T x)] / sqrt(D)`` with the ``D``
   columns of ``W`` drawn from ``N(0, l^-2 I)``; ``||phi(x)|| = 1`` for every ``x``.
2. The data are summarised *once* by the (label-conditional) mean embedding
   ``sum_i psi(x_i) y_i^T`` (the paper's Eq. 5), ``y_i`` the one-hot label (the facade's
   categorical ``target``; a single class without one), privatised by the Gaussian
   mechanism. We append a constant to the features, ``psi(x) = [phi(x), 1] / sqrt(2)``
   (still of norm 1), so the same release also carries the noisy class counts, which set
   the class shares of the generated rows.
3. A generator ``G(noise, y)`` is trained - with no further privacy cost (post-processing)
   - to minimise ``|| m_tilde - m_hat(G) ||^2`` (the paper's Eq. 6), the squared MMD between
   the privatised embedding and the embedding of a synthetic batch whose labels follow
   the noisy class shares.

Privacy: neighbouring tables differ by adding or removing one row, which changes the
released sum by ``psi(x) y^T``, of L2 norm exactly 1 - the L2 sensitivity (the paper uses
replace-one neighbours and a mean, sensitivity 2/N). The sum is divided by the public row
count ``N`` to give the target mean embedding. ``sigma`` is calibrated on the fit's
:class:`~lookalike.privacy.PrivacyLedger` and the release is spent on it before the noise
is drawn. The length-scale is data-independent (see ``bandwidth``), unlike the paper's
median heuristic, which would look at private data; numbers are plainly standardised.

Conditional sampling: a condition on the target is the generator's label input; other
columns use rejection.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any, ClassVar

import numpy as np

from lookalike._validation import Interval, OfType
from lookalike.models.base import Layout
from lookalike.models.deep import dp as dpm
from lookalike.models.deep.common import DeepGenerator
from lookalike.models.deep.gan import _DIMS, check_dims
from lookalike.random import torch_generator

log = logging.getLogger(__name__)


class DPMERFGenerator(dpm.DPMixin, DeepGenerator):
    """DP-MERF: one Gaussian-noised random-feature mean embedding, then a generator fitted to it.

    Parameters
    ----------
    epsilon, delta : the privacy budget (delta None: 1 / (10 n_rows)); see :mod:`.dp`.
    dp : alternatively ``{"epsilon": e, "delta": d}``, the facade's convention, which also
        makes the encoder's statistics DP.
    n_features : number ``D`` of random frequencies (the embedding has ``2 D + 1`` entries
        per class).
    bandwidth : kernel length-scale ``l``; None uses ``sqrt(d_eff)``, ``d_eff`` being the
        number of value columns plus the number of one-hot groups in the features (known
        from the layout, not the data: roughly the typical distance between two rows).
    noise_dim : size of the generator's noise input.
    hidden_dims : widths of the generator's hidden layers.
    batch_size : synthetic rows per step.
    steps : training steps of the generator.
    learning_rate : Adam learning rate.
    gumbel_tau : Gumbel-softmax temperature of the generated categories during training.

    Examples
    --------
    >>> from lookalike import Synthesizer
    >>> syn = Synthesizer("dp-merf", dp={"epsilon": 1.0}, target="income")  # doctest: +SKIP
    """

    name = "dp-merf"
    mode_specific = False
    keep_constants = False
    _parameter_constraints: ClassVar[dict[str, Any]] = {
        "n_features": Interval(int, 1, 100_000),
        "bandwidth": [Interval(float, 0, None, "neither"), None],
        "noise_dim": Interval(int, 1, 4096),
        "hidden_dims": _DIMS,
        "batch_size": Interval(int, 2, None),
        "steps": Interval(int, 1, None),
        "learning_rate": Interval(float, 0, 1, "right"),
        "gumbel_tau": Interval(float, 0, None, "neither"),
        "dp": [OfType((dict,)), None],
    }

    def __init__(self, *, epsilon: float = 1.0, delta: float | None = None,
                 dp: dict[str, float] | None = None, n_features: int = 1000,
                 bandwidth: float | None = None, noise_dim: int = 32,
                 hidden_dims: tuple[int, ...] = (256, 256), batch_size: int = 500,
                 steps: int = 2000, learning_rate: float = 1e-3,
                 gumbel_tau: float = 0.2) -> None:
        self.epsilon = epsilon
        self.delta = delta
        self.dp = dp
        self.n_features = n_features
        self.bandwidth = bandwidth
        self.noise_dim = noise_dim
        self.hidden_dims = hidden_dims
        self.batch_size = batch_size
        self.steps = steps
        self.learning_rate = learning_rate
        self.gumbel_tau = gumbel_tau

    def validate_params(self) -> None:
        super().validate_params()
        check_dims(type(self).__name__, "hidden_dims", self.hidden_dims)
        self._check_budget()

    # -- networks ------------------------------------------------------------------------
    def _build_nets(self, meta: dict[str, Any], gen: Any = None) -> None:
        import torch
        from torch import nn

        from lookalike.models.deep.nets import Heads, build

        cfg = self.config_
        gen = gen if gen is not None else torch.Generator().manual_seed(0)

        def factory() -> nn.Module:
            layers: list[nn.Module] = []
            dim = cfg["noise_dim"] + cfg["n_classes"]
            for h in cfg["hidden_dims"]:
                layers += [nn.Linear(dim, h), nn.BatchNorm1d(h), nn.ReLU()]
                dim = h
            layers.append(nn.Linear(dim, cfg["width"]))
            return nn.Sequential(*layers)

        self.generator_ = build(factory, gen)
        self.heads_ = Heads(self.normalizer_.blocks_)

    def _nets(self) -> dict[str, Any]:
        return {"generator": self.generator_}

    def _extra_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"privacy": self.privacy_}, {"class_probs": self.class_probs_}

    def _set_extra_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.privacy_ = meta["privacy"]
        self.class_probs_ = np.asarray(arrays["class_probs"], dtype=np.float64)

    # -- training ------------------------------------------------------------------------
    def _label_block(self, layout: Layout) -> Any:
        for b in self.normalizer_.blocks_:
            if b.is_category and b.column == layout.target:
                return b
        return None

    def _features(self, x: Any, omega: Any) -> Any:
        """``psi(x) = [cos(x W), sin(x W), 1] / sqrt(2)`` scaled so that ``||psi|| = 1``."""
        import torch

        proj = x @ omega
        d = omega.shape[1]
        ones = torch.ones(x.shape[0], 1, dtype=x.dtype)
        return torch.cat([torch.cos(proj) / math.sqrt(d), torch.sin(proj) / math.sqrt(d),
                          ones], dim=1) / math.sqrt(2.0)

    def _train(self, z: np.ndarray, values: np.ndarray, layout: Layout,
               rng: np.random.Generator) -> None:
        import torch

        t0 = time.perf_counter()
        n = len(z)
        ledger = dpm.make_ledger(self.epsilon, self.delta, self.dp, n)
        label = self._label_block(layout)
        keep = np.ones(z.shape[1], dtype=bool)
        if label is not None:
            keep[label.start:label.stop] = False
            y = z[:, label.start:label.stop]
        else:
            y = np.ones((n, 1))
        feat_blocks = [b for b in self.normalizer_.blocks_ if b is not label]
        d_eff = sum(b.width if b.kind == "value" else 1 for b in feat_blocks)
        length = self.bandwidth if self.bandwidth is not None else math.sqrt(max(d_eff, 1))
        self.config_ = {"width": int(z.shape[1]), "n_classes": int(y.shape[1]),
                        "label_start": None if label is None else label.start,
                        "noise_dim": self.noise_dim, "hidden_dims": list(self.hidden_dims),
                        "bandwidth": float(length)}
        tgen = torch_generator(rng)
        omega = torch.randn(int(keep.sum()), self.n_features, generator=tgen,
                            dtype=torch.float64) / length
        keep_t = torch.as_tensor(np.flatnonzero(keep))
        # -- the one private release: the sum of psi(x) y^T, L2 sensitivity 1 -------------
        with torch.no_grad():
            psi = torch.cat([self._features(torch.as_tensor(z[s:s + 8192, keep]), omega)
                             for s in range(0, n, 8192)])
            total = (psi.T @ torch.as_tensor(y, dtype=torch.float64)).numpy()
        sigma = ledger.calibrate_gaussian(1.0)
        from lookalike.privacy import gaussian_mechanism

        noisy, _ = gaussian_mechanism(total, 1.0, sigma, rng, ledger=ledger,
                                      label="random-feature mean embedding")
        counts = np.clip(noisy[-1] * math.sqrt(2.0), 0.0, None)
        self.class_probs_ = (counts / counts.sum() if counts.sum() > 0
                             else np.full(len(counts), 1.0 / len(counts)))
        target = torch.as_tensor(noisy / n, dtype=torch.float32)
        # -- fit the generator to the noisy embedding (post-processing) -------------------
        self._build_nets({}, tgen)
        net, heads = self.generator_, self.heads_
        omega32 = omega.float()
        opt = torch.optim.Adam(net.parameters(), lr=self.learning_rate)
        history = []
        cum = np.cumsum(self.class_probs_)
        losses = []
        for step in range(1, self.steps + 1):
            cls = np.minimum(np.searchsorted(cum, rng.random(self.batch_size) * cum[-1],
                                             side="right"), len(cum) - 1)
            yb = torch.zeros(self.batch_size, self.config_["n_classes"])
            yb[torch.arange(self.batch_size), torch.as_tensor(cls)] = 1.0
            noise = torch.randn(self.batch_size, self.noise_dim, generator=tgen)
            fake = heads.gumbel(net(torch.cat([noise, yb], 1)), self.gumbel_tau, tgen)
            emb = self._features(fake[:, keep_t], omega32).T @ yb / self.batch_size
            loss = ((target - emb) ** 2).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            if step % 250 == 0 or step == self.steps:
                mean = float(np.mean(losses))
                losses = []
                history.append({"step": step, "mmd2": round(mean, 7)})
                log.info("dp-merf step %d: squared MMD to the noisy embedding=%.6f", step, mean)
                if not math.isfinite(mean):
                    log.warning("dp-merf: the loss became NaN or infinite at step %d; training "
                                "stopped.", step)
                    break
        net.eval()
        self.privacy_ = dpm.privacy_record(
            ledger, "gaussian (random-feature mean embedding)", sigma=float(sigma),
            sensitivity=1.0, n_features=self.n_features)
        self.report_ = {"steps": len(history) * 250, "epochs": None, "best_epoch": None,
                        "stop_reason": "steps", "bandwidth": float(length),
                        "seconds": round(time.perf_counter() - t0, 3), "history": history}

    # -- generation ----------------------------------------------------------------------
    def _generate(self, m: int, rng: np.random.Generator,
                  codes: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        gen = torch_generator(rng)
        cfg = self.config_
        k = cfg["n_classes"]
        target_col = None
        if cfg["label_start"] is not None:
            target_col = next(b.column for b in self.normalizer_.blocks_
                              if b.is_category and b.start == cfg["label_start"])
        if target_col in codes:
            cls = codes[target_col]
        else:
            cum = np.cumsum(self.class_probs_)
            cls = np.minimum(np.searchsorted(cum, rng.random(m) * cum[-1], side="right"), k - 1)
        out = []
        self.generator_.eval()
        with torch.no_grad():
            for start in range(0, m, 20_000):
                size = min(20_000, m - start)
                yb = torch.zeros(size, k)
                yb[torch.arange(size), torch.as_tensor(cls[start:start + size])] = 1.0
                noise = torch.randn(size, cfg["noise_dim"], generator=gen)
                out.append(self.generator_(torch.cat([noise, yb], 1)).numpy())
        raw = np.concatenate(out) if out else np.zeros((0, cfg["width"]))
        sampled = self.heads_.sample(raw.astype(np.float64), rng)
        if cfg["label_start"] is not None:
            s = cfg["label_start"]
            sampled[:, s:s + k] = np.eye(k)[cls]
        return sampled
