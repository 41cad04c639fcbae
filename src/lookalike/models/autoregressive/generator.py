"""AutoregressiveGenerator: the token-view generator built on :mod:`.model` (PyTorch).

torch is imported inside the methods, so importing this module (or the registry) stays cheap.
"""

from __future__ import annotations

import contextlib
import logging
import math
import numbers
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np

from lookalike._validation import Interval, OfType, Options
from lookalike.errors import InvalidDataError, InvalidParameterError, NotFittedError
from lookalike.models.base import BaseGenerator, EncodedData, Layout

log = logging.getLogger(__name__)

STATE_FORMAT = 1
#: the model refuses token layouts whose total vocabulary exceeds this (embeddings + heads)
MAX_TOTAL_VOCABULARY = 2_000_000


class AutoregressiveGenerator(BaseGenerator):
    """Any-order autoregressive network over the token view.

    Each sub-column (token slot) is predicted from the slots before it in a column order;
    training draws the order at random for groups of rows (the slots of one column stay
    together and in order), so that at sampling time any subset of columns can be given
    (``fixed``) and the rest generated consistently with it (Uria et al. 2014; MOSTLY AI's
    TabularARGN, Tiwald et al. 2025, trains flexible orders the same way). Each slot's
    context is a scaled sum of the known slots' embeddings, weighted per target slot, source
    column and head; a small per-slot MLP and softmax head follow. Unconditional sampling
    uses the table order. See :mod:`~lookalike.models.autoregressive.model` (network),
    :mod:`~lookalike.models.autoregressive.train` (training, DP-SGD),
    :mod:`~lookalike.models.autoregressive.plan` (automatic sizing) and
    :mod:`~lookalike.models.autoregressive.sampling`.

    Parameters
    ----------
    hidden : width of the embeddings; None sizes it from the rows (and caps the parameters).
    slot_width : width of the per-slot layers; None: half of ``hidden`` (at least 16).
    n_blocks : residual blocks per slot; None: 0.
    mix_heads : heads of the learned per-target source weights (0: plain masked sum);
        None: 8 for tables of up to 128 slots, 0 for wider ones.
    max_epochs : upper bound on training epochs (early stopping usually ends sooner); None:
        automatic from the row count. Under DP: the exact number of epochs (None: 40).
    batch_size : rows per step; None: automatic from the row count (and vocabulary sizes).
    learning_rate : AdamW peak learning rate; None: ``3e-3 * sqrt(batch_size / 256)``,
        clipped to [1e-3, 1e-2]; under DP 0.025 (``plan.DP_LEARNING_RATE``, measured there).
    weight_decay : AdamW weight decay.
    validation_share : share of rows held out for early stopping (not under DP).
    patience : epochs without validation improvement before stopping.
    table_order_share : share of training rows seen in the table's column order; the others
        get random column orders (any-order training for conditional sampling). Early
        stopping weights the validation loss in the table order by the same share, and the
        loss in random orders by the rest. None: 0.5, and 1.0 under DP (the noisy budget
        then all goes to the order of unconditional sampling; ``fixed`` still works where
        the given columns come first in the table, and is approximate elsewhere).
    context_dropout : probability of hiding each earlier column from a target slot during
        training (a regulariser; each target then sees a random subset of its context).
    max_training_time : seconds; training stops there keeping the best weights (None: no cap).
        A fit that hits the cap is not reproducible (where it stops depends on the clock).
    dp : None, or ``{"epsilon": float, "delta": float | None}`` to train with DP-SGD;
        delta defaults to 1/(10 n). Through :class:`~lookalike.Synthesizer` with the RDP
        accountant this is the whole fit's budget, and DP-SGD is calibrated against the
        fit's ledger (the encoder's releases already in it, ``EncodedData.privacy_ledger``);
        otherwise it is what DP-SGD alone may spend.
    max_grad_norm : per-sample clipping norm for DP-SGD.
    accountant : "rdp" (default: encoder and DP-SGD compose in one RDP ledger) or "prv"
        (Opacus's PRV accountant for DP-SGD alone; the budget is then split).
    dp_priors : under DP, start the output layer of each column's first slot at the
        marginal the encoder released (post-processing; no privacy cost).
    device : "auto" (CUDA when available), "cpu" or "cuda".
    n_jobs : threads that draw chunks of rows side by side when sampling (each chunk has
        its own random stream, so the rows do not depend on ``n_jobs``).
    n_threads : torch CPU threads during fit and sample (the process setting is restored
        afterwards); None keeps the process setting. The per-slot operations are small, and
        on a 2-core machine shared with other work two threads were 6x slower to fit and
        25x slower to sample than one (PyTorch's thread pool spins when it cannot get both
        cores). The thread count does not change the results (checked for 1 and 2 threads:
        identical weights and samples).

    Sampling options: ``temperature`` (> 0, default 1), ``top_p`` (in (0, 1], default 1),
    ``fixed`` (int array (n, n_slots): ``-1`` = generate, otherwise the given token).
    Repeated ``sample`` calls continue the passed generator's stream (different rows); the
    same seed gives the same rows.

    Examples
    --------
    >>> import numpy as np
    >>> from lookalike.encoding import TokenSlot
    >>> layout = Layout(columns=("a", "b"), column_slices={"a": slice(0, 1), "b": slice(1, 2)},
    ...                 token_slots=(TokenSlot("a", 3), TokenSlot("b", 2)))
    >>> rng = np.random.default_rng(0)
    >>> x = rng.integers(0, 2, size=(200, 1))
    >>> data = EncodedData(np.hstack([x, x]), layout)
    >>> gen = AutoregressiveGenerator(max_epochs=5).fit(data, rng)
    >>> gen.sample(4, rng, fixed=np.array([[1, -1]] * 4))[:, 0].tolist()
    [1, 1, 1, 1]
    """

    name = "autoregressive"
    view = "tokens"
    sample_options: ClassVar[frozenset[str]] = frozenset({"temperature", "top_p", "fixed"})
    calibrates_pairs: ClassVar[bool] = True
    _parameter_constraints: ClassVar[dict[str, Any]] = {
        "hidden": [Interval(int, 4, 4096), None],
        "slot_width": [Interval(int, 4, 4096), None],
        "n_blocks": [Interval(int, 0, 8), None],
        "mix_heads": [Interval(int, 0, 64), None],
        "max_epochs": [Interval(int, 1, None), None],
        "batch_size": [Interval(int, 1, None), None],
        "learning_rate": [Interval(float, 0, 1, "right"), None],
        "weight_decay": Interval(float, 0, None),
        "validation_share": Interval(float, 0, 0.5),
        "patience": Interval(int, 1, None),
        "table_order_share": [Interval(float, 0, 1), None],
        "context_dropout": Interval(float, 0, 1, "left"),
        "max_training_time": [Interval(float, 0, None, "neither"), None],
        "dp": [OfType((dict,)), None],
        "max_grad_norm": Interval(float, 0, None, "neither"),
        "accountant": Options(("rdp", "prv")),
        "dp_priors": OfType((bool,)),
        "device": Options(("auto", "cpu", "cuda")),
        "n_jobs": Interval(int, 1, None),
        "n_threads": [Interval(int, 1, None), None],
    }

    def __init__(self, *, hidden: int | None = None, slot_width: int | None = None,
                 n_blocks: int | None = None, mix_heads: int | None = None,
                 max_epochs: int | None = None, batch_size: int | None = None,
                 learning_rate: float | None = None, weight_decay: float = 0.05,
                 validation_share: float = 0.1, patience: int = 4,
                 table_order_share: float | None = None, context_dropout: float = 0.1,
                 max_training_time: float | None = None,
                 dp: dict[str, Any] | None = None, max_grad_norm: float = 1.0,
                 accountant: str = "rdp", dp_priors: bool = True, device: str = "auto",
                 n_jobs: int = 2, n_threads: int | None = 1) -> None:
        self.hidden = hidden
        self.slot_width = slot_width
        self.n_blocks = n_blocks
        self.mix_heads = mix_heads
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.validation_share = validation_share
        self.patience = patience
        self.table_order_share = table_order_share
        self.context_dropout = context_dropout
        self.max_training_time = max_training_time
        self.dp = dp
        self.max_grad_norm = max_grad_norm
        self.accountant = accountant
        self.dp_priors = dp_priors
        self.device = device
        self.n_jobs = n_jobs
        self.n_threads = n_threads

    # -- parameters --------------------------------------------------------------------
    @classmethod
    def uses_dp_ledger(cls, params: dict[str, Any]) -> bool:
        """DP-SGD composes with the encoder in the fit's ledger with the RDP accountant.

        The ledger's RDP composition of the encoder's Gaussian releases and the sampled
        Gaussian mechanism is tighter than adding two separate (epsilon, delta) guarantees;
        the PRV accountant (Opacus) composes DP-SGD alone, so it keeps the split.
        """
        return params.get("dp") is not None and params.get("accountant", "rdp") == "rdp"

    def validate_params(self) -> None:
        super().validate_params()
        if self.dp is None:
            return
        unknown = set(self.dp) - {"epsilon", "delta"}
        if unknown or "epsilon" not in self.dp:
            raise InvalidParameterError(
                f"The 'dp' parameter of {type(self).__name__} must be a dict with key "
                f"'epsilon' (and optionally 'delta'); got {self.dp!r}.")
        eps = self.dp["epsilon"]
        if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not (
                0 < eps < math.inf):
            raise InvalidParameterError(
                f"The 'dp[\"epsilon\"]' parameter of {type(self).__name__} must be a float in "
                f"(0, inf); got {eps!r}. Give a positive privacy budget, or dp=None.")
        delta = self.dp.get("delta")
        if delta is not None and (isinstance(delta, bool) or not isinstance(
                delta, numbers.Real) or not 0 < delta < 1):
            raise InvalidParameterError(
                f"The 'dp[\"delta\"]' parameter of {type(self).__name__} must be a float in "
                f"(0, 1) or None; got {delta!r}. None uses 1/(10 n).")

    # -- fitting -----------------------------------------------------------------------
    def _fit(self, data: EncodedData, rng: np.random.Generator) -> None:
        with _torch_threads(self.n_threads):
            self._fit_network(data, rng)

    def _fit_network(self, data: EncodedData, rng: np.random.Generator) -> None:
        from lookalike.models.autoregressive import plan
        from lookalike.models.autoregressive.model import ARNet
        from lookalike.models.autoregressive.train import train, train_dp
        from lookalike.random import torch_generator

        values = _check_tokens(data.values, data.layout)
        n = values.shape[0]
        if n == 0:
            raise InvalidDataError("the table has no rows; a generator needs at least one.")
        arch = plan.architecture(data.layout, n, self)
        device = _device(self.device)
        self.architecture_ = arch
        net = ARNet(arch, torch_generator(rng)).to(device)
        self.privacy_ = None
        self.training_orders_ = "any"
        if arch.n_slots == 0:
            self.net_, self.report_ = net, None
            return
        log.info("autoregressive model: %d slots, %d columns, hidden %d, %d block(s), %d "
                 "parameters, %d rows", arch.n_slots, arch.n_columns, arch.hidden,
                 arch.n_blocks, arch.n_parameters(), n)
        config = plan.train_config(arch, n, self)
        self.training_orders_ = "table" if config.canonical_share >= 1 else "any"
        if self.dp is None:
            report = train(net, values, config, rng)
        else:
            dp = plan.dp_config(arch, n, self)
            report = train_dp(net, values, config, dp, rng, ledger=data.privacy_ledger,
                              priors=data.slot_priors if self.dp_priors else None)
            self.privacy_ = report.privacy
        self.net_ = net
        self.report_ = report
        log.info("autoregressive training: %d epochs, %d steps, %.1f s, stopped: %s",
                 report.epochs, report.steps, report.seconds, report.stop_reason)

    # -- sampling ----------------------------------------------------------------------
    def _sample(self, n: int, rng: np.random.Generator, **options: Any) -> np.ndarray:
        from lookalike.models.autoregressive.sampling import sample_tokens

        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
            raise InvalidParameterError(f"The 'n' parameter must be a non-negative int; got {n!r}.")
        temperature = options.get("temperature", 1.0)
        top_p = options.get("top_p", 1.0)
        if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) or not (
                0 < temperature < math.inf):
            raise InvalidParameterError(
                f"The 'temperature' sampling option must be a float in (0, inf); got "
                f"{temperature!r}. Use 1 for the learned distribution, less for sharper.")
        if isinstance(top_p, bool) or not isinstance(top_p, numbers.Real) or not 0 < top_p <= 1:
            raise InvalidParameterError(
                f"The 'top_p' sampling option must be a float in (0, 1]; got {top_p!r}.")
        fixed = _check_fixed(options.get("fixed"), int(n), self.layout_)
        if fixed is not None:
            _warn_if_untrained_order(fixed, self.architecture_, self.training_orders_)
        with _torch_threads(self.n_threads):
            return sample_tokens(self.net_, int(n), rng, fixed=fixed,
                                 temperature=float(temperature), top_p=float(top_p),
                                 n_jobs=self.n_jobs)

    def conditional_probabilities(self, fixed: np.ndarray, slot: int, *,
                                  temperature: float = 1.0) -> np.ndarray:
        """P(token of ``slot`` | each row's ``fixed`` tokens), float (n, cardinality).

        ``fixed`` as in sampling (``-1``: not given); rows that give ``slot`` get NaN. With
        every other slot given this is the model's full conditional of ``slot``; it is what
        the facade's ``fairness`` option tilts.
        """
        from lookalike.models.autoregressive.sampling import slot_probabilities

        if not getattr(self, "fitted_", False):
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet; call fit first.")
        if isinstance(slot, bool) or not isinstance(slot, numbers.Integral) or not (
                0 <= slot < len(self.layout_.token_slots)):
            raise InvalidParameterError(
                f"slot must be an int in [0, {len(self.layout_.token_slots)}); got {slot!r}.")
        fixed = _check_fixed(fixed, len(np.asarray(fixed)), self.layout_)
        with _torch_threads(self.n_threads):
            return slot_probabilities(self.net_, fixed, int(slot), temperature=float(temperature))

    # -- privacy and persistence -------------------------------------------------------
    def privacy_events(self) -> list[dict[str, Any]]:
        """The DP-SGD event of the fit (empty without DP), JSON-able."""
        privacy = getattr(self, "privacy_", None)
        return [dict(privacy)] if privacy else []

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        from lookalike.models.autoregressive.model import state_to_arrays

        meta = {
            "format": STATE_FORMAT,
            "architecture": self.architecture_.to_json(),
            "privacy": self.privacy_,
            "training_orders": self.training_orders_,
            "training": None if self.report_ is None else self.report_.to_json(),
        }
        arrays = {f"net/{k}": v for k, v in state_to_arrays(self.net_).items()}
        return meta, arrays

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        import torch

        from lookalike.errors import ModelFileError
        from lookalike.models.autoregressive.model import (
            ARCHITECTURE_VERSION,
            Architecture,
            ARNet,
            arrays_to_state,
        )

        if meta.get("format") != STATE_FORMAT or meta.get("architecture", {}).get(
                "version") != ARCHITECTURE_VERSION:
            raise ModelFileError(
                f"the autoregressive model state has format {meta.get('format')!r} / "
                f"architecture version {meta.get('architecture', {}).get('version')!r}; this "
                f"version of lookalike reads format {STATE_FORMAT} / version "
                f"{ARCHITECTURE_VERSION}. Fit the model again with this version.")
        arch = Architecture.from_json(meta["architecture"])
        net = ARNet(arch, torch.Generator()).to(_device(self.device))
        try:
            arrays_to_state(net, {k[len("net/"):]: v for k, v in arrays.items()
                                  if k.startswith("net/")})
        except KeyError as exc:
            raise ModelFileError(f"the autoregressive model weights are damaged: {exc}") from None
        self.architecture_ = arch
        self.net_ = net
        self.privacy_ = meta.get("privacy")
        self.training_orders_ = meta.get("training_orders", "any")
        self.report_ = None
        self.training_summary_ = meta.get("training")


@contextlib.contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` torch CPU threads, restoring the previous setting (None: unchanged)."""
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise InvalidParameterError(
            "The 'device' parameter of AutoregressiveGenerator is 'cuda' but no CUDA device is "
            "available; use device='auto' or 'cpu'.")
    return name


def _check_tokens(values: np.ndarray, layout: Layout) -> np.ndarray:
    """Validate the encoded token matrix against the layout; return it as int64."""
    slots = layout.token_slots
    values = np.asarray(values)
    if values.ndim != 2 or values.shape[1] != len(slots):
        raise InvalidDataError(
            f"the token matrix has shape {values.shape}; the layout has {len(slots)} token "
            "slots. Encode the table with the token view of the same TableEncoder.")
    if not np.issubdtype(values.dtype, np.integer):
        raise InvalidDataError(f"the token matrix must hold integers; got {values.dtype}.")
    vocab = sum(s.cardinality for s in slots)
    if vocab > MAX_TOTAL_VOCABULARY:
        big = max(slots, key=lambda s: s.cardinality)
        raise InvalidDataError(
            f"the token layout has {vocab:,} token values in all (column {big.column!r} alone "
            f"has {big.cardinality:,}); the autoregressive model handles at most "
            f"{MAX_TOTAL_VOCABULARY:,}. Declare such columns as identifiers or text, or merge "
            "rare values with a larger rare_k.")
    problems = []
    for j, slot in enumerate(slots):
        if slot.cardinality < 1:
            problems.append(f"column {slot.column!r}: token slot {j} has cardinality "
                            f"{slot.cardinality}")
            continue
        col = values[:, j]
        bad = (col < 0) | (col >= slot.cardinality)
        if bad.any():
            problems.append(
                f"column {slot.column!r}: token slot {j} ({slot.role}) holds {col[bad][0]}, "
                f"outside [0, {slot.cardinality}) ({int(bad.sum())} cell(s))")
    _check_contiguous(layout, problems)
    if problems:
        raise InvalidDataError(problems)
    return values.astype(np.int64, copy=False)


def _check_contiguous(layout: Layout, problems: list[str]) -> None:
    pos = 0
    for name in layout.columns:
        sl = layout.column_slices.get(name)
        if sl is None or sl.start != pos or sl.stop <= sl.start:
            problems.append(f"column {name!r}: its token slice {sl} does not follow the previous "
                            f"column (expected to start at slot {pos})")
            return
        pos = sl.stop
    if pos != len(layout.token_slots):
        problems.append(f"the column slices cover {pos} slots but the layout has "
                        f"{len(layout.token_slots)}")


def _warn_if_untrained_order(fixed: np.ndarray, arch: Any, orders: str) -> None:
    """Warn when a model trained in table order only is asked to condition on columns
    that do not come first in the table (those conditionals were never trained)."""
    if orders != "table":
        return
    col = np.asarray(arch.column_of_slot)
    given = np.zeros((fixed.shape[0], arch.n_columns), dtype=bool)
    np.logical_or.at(given.T, col, (fixed >= 0).T)
    prefix = np.all(given[:, :-1] >= given[:, 1:], axis=1)  # given columns come first
    if not prefix.all():
        log.warning(
            "%d of %d rows give columns that do not come first in the table order, but this "
            "model was trained in table order only (table_order_share=1, the default under "
            "DP): the other columns are generated approximately. Fit with "
            "table_order_share < 1 for conditional generation.", int((~prefix).sum()),
            len(prefix))


def _check_fixed(fixed: Any, n: int, layout: Layout) -> np.ndarray | None:
    """Validate the ``fixed`` sampling option: int (n, n_slots), -1 or a valid token."""
    if fixed is None:
        return None
    arr = np.asarray(fixed)
    width = len(layout.token_slots)
    if arr.shape != (n, width) or not (np.issubdtype(arr.dtype, np.integer) or arr.size == 0):
        raise InvalidParameterError(
            f"The 'fixed' sampling option must be an integer array of shape ({n}, {width}) "
            f"(-1 = generate, otherwise the given token); got shape {arr.shape} and dtype "
            f"{arr.dtype}.")
    arr = arr.astype(np.int64, copy=False)
    cards = np.array([s.cardinality for s in layout.token_slots], dtype=np.int64)
    bad = (arr < -1) | (arr >= cards[None, :])
    if bad.any():
        r, j = map(int, np.argwhere(bad)[0])
        slot = layout.token_slots[j]
        raise InvalidParameterError(
            f"The 'fixed' sampling option holds {arr[r, j]} at row {r}, slot {j} (column "
            f"{slot.column!r}, {slot.role}); tokens of that slot lie in [0, "
            f"{slot.cardinality}), and -1 means generate.")
    return arr
