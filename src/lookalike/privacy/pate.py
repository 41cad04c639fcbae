"""PATE's noisy vote of two-class teachers: the mechanism, its privacy curves, its event.

PATE (Papernot, Abadi, Erlingsson, Goodfellow and Talwar 2017, "Semi-supervised Knowledge
Transfer for Deep Learning from Private Training Data", ICLR) trains ``k`` *teachers* on
disjoint partitions of the private rows and answers a query ``x`` with the noisy plurality
of their votes: with ``n_c(x)`` teachers voting for class ``c``, the answer is
``argmax_c n_c(x) + Lap(1/lambda)`` (fresh noise per count and query). PATE-GAN (Jordon,
Yoon and van der Schaar 2019, ICLR) asks two-class questions (real / generated), so here
``c`` is 0 or 1 and the answer is 1 iff ``n_1 - n_0 + L_1 - L_0 > 0``.

Neighbouring tables differ by adding or removing one row. It lies in one partition, so it
can change one teacher's vote and ``Delta = n_1 - n_0`` by at most 2 (never the other
teachers: see the generator for the conditions this puts on how teachers are trained).

The difference ``L_1 - L_0`` of two independent ``Lap(b)`` variables (``b = 1/lambda``) has
density ``(1 + |t|/b) exp(-|t|/b) / (4b)`` and tail
``P(L_1 - L_0 > t) = (2 + t/b) exp(-t/b) / 4`` for ``t >= 0``, so the probability that the
noisy answer differs from the plurality of a query with vote gap ``g = |n_1 - n_0|`` is
exactly ``q(g) = (2 + lambda g) / (4 exp(lambda g))`` (:func:`disagreement_probability`; the
PATE-GAN paper's ``q``, Papernot et al.'s bound for two classes).

Privacy curves of one answer, as *moments* ``alpha(l) = log E[(P(o|d)/P(o|d'))^l]`` (Abadi
et al. 2016, "Deep Learning with Differential Privacy", CCS, Section 3.2), equivalently
Rényi divergences of order ``a = l + 1``, ``alpha(l) = l D_{l+1}`` (Mironov 2017):

* **data-independent, Papernot et al.'s bound** (:func:`moments_data_independent`): the
  answer is ``2 lambda``-DP (report-noisy-max with counts of sensitivity 1, one up and one
  down, Papernot et al. 2017, Section 3), and an ``eps``-DP mechanism has
  ``alpha(l) <= eps^2 l (l + 1) / 2`` (Bun and Steinke 2016, Proposition 3.3; used as
  Papernot et al.'s data-independent moment bound and in the PATE-GAN paper), i.e.
  ``alpha(l) <= 2 lambda^2 l (l + 1)``;
* **data-independent, exact** (:func:`noisy_max_rdp`): the answer is one bit,
  ``Bernoulli(F(Delta))`` with ``F(Delta) = P(L_1 - L_0 > -Delta)``, so its Rényi divergence
  to a neighbour is that of two Bernoulli distributions, ``D_a(Ber(F(Delta)) ||
  Ber(F(Delta'))`` with ``|Delta - Delta'| = 2``; the worst case over every vote count
  ``Delta`` in ``{-k, -k+2, ..., k}`` is a data-independent RDP curve. It is about a quarter
  of the bound above for small ``lambda`` (``~ a lambda^2 / 2``: near a tie, one vote moves
  ``F`` by ``lambda / 2``, not by a factor ``exp(2 lambda)``) and never above it;
* **data-dependent** (:func:`moments_data_dependent`): Papernot et al. 2017, Theorem 3,
  used per query by PATE-GAN (Algorithm 1): for an ``eps``-DP answer (``eps = 2 lambda``)
  that differs from the plurality with probability at most ``q < (e^eps - 1)/(e^2eps - 1)``,
  ``alpha(l) <= log((1 - q) ((1 - q) / (1 - e^eps q))^l + q e^(eps l))``; taken with the
  minimum of the data-independent bounds. Unanimous teachers make ``q`` tiny and a query
  almost free.

**The data-dependent bound is not a differential-privacy guarantee.** It bounds the
privacy loss of *this* table against its neighbours, and its value depends on the
noiseless votes: releasing it, or stopping training when it reaches a budget (as PATE-GAN
does), releases information about the data that nothing accounts for. Papernot et al. note
this (their Section 3.3 proposes smooth sensitivity to release it privately, which PATE-GAN
does not do); Ganev, Annamalai and De Cristofaro 2024 ("The Elusive Pursuit of Reproducing
PATE-GAN: Benchmarking, Auditing, Debugging") list it among the gaps between PATE-GAN's
claims and its implementations. :class:`NoisyMaxEvent` marks such events
``data_dependent`` and the ledger holding them reports a number that is not an
(epsilon, delta)-DP guarantee.

Moments compose by addition over queries (Abadi et al. 2016, Theorem 2.1) and give
``epsilon = min_l (alpha_total(l) + log(1/delta)) / l`` (their Theorem 2.2,
:func:`moments_to_epsilon`, PATE-GAN's stopping rule). The ledger composes the same curves
as RDP and converts them with Balle et al. 2020, Theorem 21, which is never looser; moments
known only at integer ``l`` bound the Rényi divergence of a fractional order ``a`` through
the next integer order (``D_a`` is non-decreasing in ``a``, van Erven and Harremoës 2014,
Theorem 3).

Examples
--------
>>> round(float(disagreement_probability(0, 0.1)), 3)  # a tie: a fair coin
0.5
>>> ls = np.array([1.0, 2.0])
>>> moments_data_independent(0.1, ls).tolist()  # 2 lambda^2 l (l + 1)
[0.04000000000000001, 0.12000000000000002]
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from lookalike.errors import InvalidParameterError
from lookalike.privacy.events import PrivacyEvent, _label, _set
from lookalike.privacy.gdp import _check_int, _check_real
from lookalike.privacy.mechanisms import _check_rng, _standard_laplace
from lookalike.privacy.rdp import _orders_array

__all__ = [
    "NoisyMaxEvent",
    "disagreement_probability",
    "moments_data_dependent",
    "moments_data_independent",
    "moments_to_epsilon",
    "noisy_max_rdp",
    "noisy_vote",
]


def _lam(owner: str, lam: object) -> float:
    return _check_real(owner, "lam", lam, low=0.0, low_open=True,
                       hint="lam is the inverse Laplace noise scale (e.g. 0.01).")


def _ls(owner: str, ls: Sequence[float] | np.ndarray) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(ls, dtype=float))
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise InvalidParameterError(
            f"The 'ls' parameter of {owner} must be a non-empty 1-D sequence of positive "
            f"finite moment orders; got {ls!r}."
        )
    return arr


# --------------------------------------------------------------------------- pure math
def disagreement_probability(gap: Any, lam: float) -> np.ndarray:
    """``q = (2 + lam g) / (4 exp(lam g))``: P(noisy two-class vote != plurality), exactly.

    Parameters
    ----------
    gap : int or array of int
        ``|n_1 - n_0|``, the noiseless vote gap(s), >= 0.
    lam : float
        Inverse scale of the Laplace noise on each count.

    Returns
    -------
    numpy.ndarray
        ``q`` for each gap (1/2 for a tie).

    Examples
    --------
    >>> round(float(disagreement_probability(100, 0.1)), 6)
    0.000136
    """
    lam = _lam("disagreement_probability", lam)
    g = np.asarray(gap, dtype=float)
    if np.any(g < 0) or not np.all(np.isfinite(g)):
        raise InvalidParameterError(
            f"The 'gap' parameter of disagreement_probability must be >= 0; got {gap!r}."
        )
    x = lam * g
    return np.exp(np.log(2.0 + x) - x - math.log(4.0))


def moments_data_independent(lam: float, ls: Sequence[float] | np.ndarray) -> np.ndarray:
    """Papernot et al.'s data-independent moment bound of one answer: ``2 lam^2 l (l + 1)``.

    The answer is ``2 lam``-DP and an ``eps``-DP mechanism has moments at most
    ``eps^2 l (l + 1) / 2`` (Bun and Steinke 2016, Proposition 3.3).

    Parameters
    ----------
    lam : float
        Inverse Laplace scale.
    ls : sequence of float
        Moment orders ``l > 0``.

    Returns
    -------
    numpy.ndarray
        ``alpha(l)`` per order.

    Examples
    --------
    >>> moments_data_independent(0.5, [1.0, 3.0]).tolist()
    [1.0, 6.0]
    """
    lam = _lam("moments_data_independent", lam)
    ls = _ls("moments_data_independent", ls)
    return 2.0 * lam * lam * ls * (ls + 1.0)


def moments_data_dependent(lam: float, gap: Any, ls: Sequence[float] | np.ndarray) -> np.ndarray:
    """Papernot et al. (2017), Theorem 3, per query, with the data-independent bounds.

    For ``eps = 2 lam``, ``q = disagreement_probability(gap, lam)`` and
    ``q < (e^eps - 1) / (e^(2 eps) - 1)``:
    ``alpha(l) <= log((1 - q) ((1 - q) / (1 - e^eps q))^l + q e^(eps l))``; the result is the
    minimum of that, ``2 lam^2 l (l + 1)`` and ``eps l`` (pure DP). **Data-dependent**: see
    the module docstring.

    Parameters
    ----------
    lam : float
        Inverse Laplace scale.
    gap : int or array of int
        Noiseless vote gaps ``|n_1 - n_0|``.
    ls : sequence of float
        Moment orders ``l > 0``.

    Returns
    -------
    numpy.ndarray
        Shape ``(len(gap), len(ls))`` (``(len(ls),)`` for a scalar gap).

    Examples
    --------
    >>> dd = moments_data_dependent(0.05, [0, 200], [8.0])
    >>> bool(dd[1, 0] < 1e-3 < dd[0, 0] == moments_data_independent(0.05, [8.0])[0])
    True
    """
    owner = "moments_data_dependent"
    lam = _lam(owner, lam)
    ls = _ls(owner, ls)
    scalar = np.ndim(gap) == 0
    q = np.atleast_1d(disagreement_probability(gap, lam))[:, None]
    eps = 2.0 * lam
    independent = np.minimum(moments_data_independent(lam, ls), eps * ls)[None, :]
    valid = q < math.expm1(eps) / math.expm1(2.0 * eps)
    with np.errstate(divide="ignore", invalid="ignore"):
        qv = np.where(valid, q, 0.0)
        log_ratio = np.log1p(-qv) - np.log1p(-math.exp(eps) * qv)
        t_one = np.log1p(-qv) + ls[None, :] * log_ratio
        t_two = np.log(qv) + eps * ls[None, :]
        bound = np.logaddexp(t_one, t_two)
    out = np.where(valid, np.minimum(bound, independent), independent)
    return out[0] if scalar else out


def moments_to_epsilon(alpha: Sequence[float] | np.ndarray, ls: Sequence[float] | np.ndarray,
                       delta: float) -> tuple[float, float]:
    """``epsilon = min_l (alpha(l) + log(1/delta)) / l`` and the best ``l`` (Abadi et al. 2016,
    Theorem 2.2; PATE-GAN's epsilon-hat).

    Parameters
    ----------
    alpha : sequence of float
        Composed moments, one per order.
    ls : sequence of float
        Their orders ``l > 0``.
    delta : float
        Target delta in (0, 1).

    Returns
    -------
    tuple of (float, float)
        ``(epsilon, l)``.

    Examples
    --------
    >>> eps, l = moments_to_epsilon([0.5, 1.5], [1.0, 2.0], math.exp(-2.0))
    >>> eps, l
    (1.75, 2.0)
    """
    owner = "moments_to_epsilon"
    ls = _ls(owner, ls)
    a = np.atleast_1d(np.asarray(alpha, dtype=float))
    if a.shape != ls.shape or np.any(np.isnan(a)) or np.any(a < 0):
        raise InvalidParameterError(
            f"The 'alpha' parameter of {owner} must hold {ls.size} non-negative moments, one "
            f"per order; got {alpha!r}."
        )
    d = _check_real(owner, "delta", delta, low=0.0, high=1.0, low_open=True, high_open=True)
    eps = (a + math.log(1.0 / d)) / ls
    best = int(np.argmin(eps))
    return float(eps[best]), float(ls[best])


def _log_tail(delta: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """``(log F, log (1 - F))`` with ``F(Delta) = P(Delta + L_1 - L_0 > 0)``, stably."""
    x = lam * np.abs(delta)
    log_s = np.log(2.0 + x) - x - math.log(4.0)  # log P(L_1 - L_0 > |Delta|)
    log_1ms = np.log1p(-np.exp(log_s))
    pos = delta >= 0
    return np.where(pos, log_1ms, log_s), np.where(pos, log_s, log_1ms)


def _bernoulli_renyi(lp: np.ndarray, l1p: np.ndarray, lq: np.ndarray, l1q: np.ndarray,
                     orders: np.ndarray) -> np.ndarray:
    """``D_a(Ber(p) || Ber(q))`` from logs, shape ``(len(p), len(orders))``."""
    a = orders[None, :]
    s = np.logaddexp(a * lp[:, None] + (1.0 - a) * lq[:, None],
                     a * l1p[:, None] + (1.0 - a) * l1q[:, None])
    return np.maximum(s, 0.0) / (a - 1.0)


@functools.lru_cache(maxsize=64)
def _exact_table(lam: float, n_teachers: int, orders: tuple[float, ...]) -> np.ndarray:
    """Per gap ``g = 0..k``: the largest Rényi divergence from the answer at ``|Delta| = g``
    to a neighbour's (one vote changed), shape ``(k + 1, len(orders))``; rows of gaps of the
    wrong parity (impossible with ``k`` teachers) are 0."""
    k = n_teachers
    alphas = np.asarray(orders)
    delta = np.arange(-k, k + 1, 2, dtype=float)  # every possible n_1 - n_0
    lp, l1p = _log_tail(delta, lam)
    worst = np.zeros((len(delta), len(alphas)))
    if k >= 1:
        # neighbours: Delta +- 2 (one teacher changes its vote), within [-k, k]
        up = _bernoulli_renyi(lp[:-1], l1p[:-1], lp[1:], l1p[1:], alphas)
        down = _bernoulli_renyi(lp[1:], l1p[1:], lp[:-1], l1p[:-1], alphas)
        worst[:-1] = np.maximum(worst[:-1], up)
        worst[1:] = np.maximum(worst[1:], down)
    table = np.zeros((k + 1, len(alphas)))
    gaps = np.abs(delta).astype(int)
    np.maximum.at(table, gaps, worst)
    table.setflags(write=False)
    return table


def noisy_max_rdp(lam: float, n_teachers: int,
                  orders: Sequence[float] | np.ndarray, gap: int | None = None) -> np.ndarray:
    """Exact Rényi divergences of one noisy two-class vote of ``n_teachers`` teachers.

    With ``gap=None`` the worst case over every vote count (a data-independent RDP curve);
    with a ``gap`` the largest divergence from the answer at that gap to a neighbour's
    (data-dependent). Always at most ``moments_data_independent(lam, a - 1) / (a - 1)``.

    Parameters
    ----------
    lam : float
        Inverse Laplace scale.
    n_teachers : int
        Number of teachers ``k``.
    orders : sequence of float
        Rényi orders ``a > 1``.
    gap : int, optional
        Noiseless vote gap ``|n_1 - n_0|``.

    Returns
    -------
    numpy.ndarray
        RDP per order.

    Examples
    --------
    >>> exact = noisy_max_rdp(0.01, 100, [2.0, 10.0])
    >>> papernot = moments_data_independent(0.01, [1.0, 9.0]) / [1.0, 9.0]
    >>> bool(np.all(exact <= papernot / 3.9))
    True
    """
    owner = "noisy_max_rdp"
    lam = _lam(owner, lam)
    k = _check_int(owner, "n_teachers", n_teachers)
    alphas = _orders_array(owner, orders)
    table = _exact_table(lam, k, tuple(float(a) for a in alphas))
    if gap is None:
        return table.max(axis=0)
    g = _check_int(owner, "gap", gap, low=0)
    if g > k or (k - g) % 2:
        raise InvalidParameterError(
            f"The 'gap' parameter of {owner} must be one of k, k-2, ... >= 0 for k={k} "
            f"teachers; got {gap!r}."
        )
    return table[g].copy()


def _moment_orders(alphas: np.ndarray) -> np.ndarray:
    """Moment order ``l`` whose ``alpha(l) / l`` bounds ``D_a``: ``l = ceil(a) - 1``."""
    return np.maximum(np.ceil(alphas - 1e-12) - 1.0, 1.0)


# --------------------------------------------------------------------------- the mechanism
def noisy_vote(n_real: np.ndarray, n_teachers: int, lam: float,
               rng: np.random.Generator | None, *, secure: bool = False) -> np.ndarray:
    """PATE's two-class noisy plurality: 1 where ``n_real + Lap > n_fake + Lap``.

    The caller accounts each answer with :class:`NoisyMaxEvent`, spent before calling.

    Parameters
    ----------
    n_real : array of int
        Per query, the number of teachers voting 1 ("real"); the others vote 0.
    n_teachers : int
        Number of teachers.
    lam : float
        Inverse scale of the Laplace noise added to each of the two counts.
    rng : numpy.random.Generator
        Noise source (None with ``secure=True``).
    secure : bool, default False
        Draw the noise from the operating system's secure generator.

    Returns
    -------
    numpy.ndarray
        Labels (int8, 0 or 1), one per query.

    Examples
    --------
    >>> noisy_vote(np.array([100, 0]), 100, 1.0, np.random.default_rng(0)).tolist()
    [1, 0]
    """
    owner = "noisy_vote"
    lam = _lam(owner, lam)
    k = _check_int(owner, "n_teachers", n_teachers)
    gen = _check_rng(owner, rng, secure)
    n1 = np.asarray(n_real, dtype=float)
    noise = _standard_laplace(gen, (2, *n1.shape), secure) / lam
    return (n1 + noise[0] > (k - n1) + noise[1]).astype(np.int8)


# --------------------------------------------------------------------------- the event
@dataclass(frozen=True)
class NoisyMaxEvent(PrivacyEvent):
    """``queries`` noisy two-class votes of ``n_teachers`` PATE teachers (:func:`noisy_vote`).

    Accounted in RDP (the ledger calls :meth:`rdp_curve`). Without ``gap_counts`` each
    answer costs the exact worst-case curve of :func:`noisy_max_rdp` (data-independent, a
    DP guarantee). With ``gap_counts`` (``gap_counts[g]`` = number of answers whose noiseless
    vote gap was ``g``) each answer costs Papernot et al.'s Theorem 3 bound at its gap
    (data-dependent: **not** a DP guarantee, see the module docstring), and ``queries`` is
    their total.

    Parameters
    ----------
    lam : float
        Inverse Laplace scale, > 0.
    n_teachers : int
        Number of teachers, >= 1.
    queries : int
        Number of answers, >= 0.
    gap_counts : tuple of int, optional
        Data-dependent accounting: answers per noiseless gap ``0..n_teachers``.
    label : str, default ""
        What was released.

    Examples
    --------
    >>> e = NoisyMaxEvent(0.01, 100, 1000)
    >>> bool(e.rdp_curve([2.0])[0] == 1000 * noisy_max_rdp(0.01, 100, [2.0])[0])
    True
    >>> NoisyMaxEvent(0.05, 4, 3, gap_counts=(0, 0, 1, 0, 2)).data_dependent
    True
    """

    lam: float
    n_teachers: int
    queries: int
    gap_counts: tuple[int, ...] | None = None
    label: str = ""
    kind: ClassVar[str] = "pate_noisy_max"

    def __post_init__(self) -> None:
        owner = "NoisyMaxEvent"
        _set(self, "lam", _lam(owner, self.lam))
        _set(self, "n_teachers", _check_int(owner, "n_teachers", self.n_teachers))
        _set(self, "queries", _check_int(owner, "queries", self.queries, low=0))
        if self.gap_counts is not None:
            counts = tuple(int(c) for c in self.gap_counts)
            if (len(counts) != self.n_teachers + 1 or min(counts) < 0
                    or sum(counts) != self.queries):
                raise InvalidParameterError(
                    f"The 'gap_counts' parameter of {owner} must hold n_teachers + 1 = "
                    f"{self.n_teachers + 1} non-negative counts summing to queries="
                    f"{self.queries}; got {len(counts)} counts summing to {sum(counts)}."
                )
            _set(self, "gap_counts", counts)
        _set(self, "label", _label(owner, self.label))

    @property
    def data_dependent(self) -> bool:
        """Whether the cost depends on the noiseless votes (not a DP guarantee)."""
        return self.gap_counts is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``gap_counts`` as a list or None).

        Examples
        --------
        >>> NoisyMaxEvent(0.01, 10, 5).to_dict()["kind"]
        'pate_noisy_max'
        """
        out: dict[str, Any] = {"kind": self.kind}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            out[field.name] = list(value) if isinstance(value, tuple) else value
        return out

    def rdp_curve(self, orders: Sequence[float] | np.ndarray) -> np.ndarray:
        """The composed RDP of all answers at ``orders``.

        Examples
        --------
        >>> float(NoisyMaxEvent(0.01, 10, 0).rdp_curve([2.0])[0])
        0.0
        """
        alphas = _orders_array("NoisyMaxEvent.rdp_curve", orders)
        key = tuple(float(a) for a in alphas)
        worst = _exact_table(self.lam, self.n_teachers, key).max(axis=0)
        if self.gap_counts is None:
            return self.queries * worst
        per_gap = _data_dependent_table(self.lam, self.n_teachers, key)
        return np.asarray(self.gap_counts, dtype=float) @ per_gap

    def describe(self) -> str:
        """One-line description.

        Examples
        --------
        >>> NoisyMaxEvent(0.01, 10, 5).describe()
        'PATE noisy vote of 10 teachers, Laplace scale 100 per count, 5 answers'
        """
        tail = " (data-dependent accounting, not a DP guarantee)" if self.data_dependent else ""
        return (f"PATE noisy vote of {self.n_teachers} teachers, Laplace scale "
                f"{1.0 / self.lam:.6g} per count, {self.queries} answers{tail}")


@functools.lru_cache(maxsize=16)
def _data_dependent_table(lam: float, n_teachers: int,
                          orders: tuple[float, ...]) -> np.ndarray:
    """Per gap ``0..k`` and order: min(Theorem 3 at ``l = ceil(a) - 1``, exact worst case)."""
    alphas = np.asarray(orders)
    ls = _moment_orders(alphas)
    dd = moments_data_dependent(lam, np.arange(n_teachers + 1), ls) / ls[None, :]
    worst = _exact_table(lam, n_teachers, orders).max(axis=0)
    table = np.minimum(dd, worst[None, :])
    table.setflags(write=False)
    return table

