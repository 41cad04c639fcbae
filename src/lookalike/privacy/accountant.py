"""The privacy ledger: records noisy releases, composes them, refuses to overspend.

STYLE.md item 5: noise is a ledger, not a decremented float. A :class:`PrivacyLedger` has a
declared budget (epsilon, delta) and an append-only list of
:mod:`~lookalike.privacy.events`; :meth:`PrivacyLedger.spend` checks an event *before*
recording it and raises :class:`~lookalike.errors.BudgetExceededError` if the composed loss
would exceed the budget. Every ``fit`` must build its own ledger, so a second fit starts
from a full budget instead of silently inheriting a smaller one.

How events compose (each bound below is a valid (epsilon, delta)-DP guarantee for the
whole sequence; the ledger reports, and checks against, the smallest):

1. *Split bound.* The pure-DP events (Laplace, exponential mechanism) compose by basic
   composition, ``sum epsilon_i`` (Dwork, McSherry, Nissim and Smith 2006), and are added
   to the loss of the other events at delta (basic composition of the two groups):

   * if all other events are Gaussian (plain, or thresholded counts), exactly by Gaussian
     DP: ``mu = sqrt(sum mu_i^2)`` (Dong, Roth and Su 2019, Corollary 3.3) converted with
     their Corollary 2.13 - tight for Gaussian noise;
   * otherwise (DP-SGD present) by RDP: the curves add order by order (Mironov 2017,
     Proposition 1), the Gaussian one being ``alpha mu^2 / 2`` and the sampled Gaussian
     one from Mironov, Talwar and Zhang (2019), converted with Balle et al. (2020),
     Theorem 21.

2. *Full RDP bound.* All events together in RDP, the pure ones with the exact Laplace
   curve (Mironov 2017, Proposition 6) or the ``epsilon^2/2``-zCDP bound of any
   epsilon-DP mechanism (Bun and Steinke 2016, Proposition 3.3). This wins when many
   Laplace releases are composed with Gaussian noise.

Events that carry their own RDP curve (an ``rdp_curve(orders)`` method, e.g. PATE's noisy
vote, :class:`lookalike.privacy.pate.NoisyMaxEvent`) are composed like DP-SGD: in RDP.

Thresholded-count events are approximately Gaussian except for an event of probability
``extra_delta``; these probabilities add up and are taken off delta before the conversion
(approximate zCDP composition, Bun and Steinke 2016, Section 8).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lookalike.errors import (
    BudgetExceededError,
    InvalidParameterError,
    ModelFileError,
)
from lookalike.privacy import gdp, rdp
from lookalike.privacy.events import (
    ComposedEvent,
    GaussianEvent,
    GaussianThresholdEvent,
    LaplaceEvent,
    PrivacyEvent,
    PureDPEvent,
    SampledGaussianEvent,
    event_from_dict,
)
from lookalike.privacy.gdp import _check_int, _check_real, _root_on_safe_side

__all__ = ["PrivacyLedger", "PrivacySpent"]

LEDGER_FORMAT = "lookalike.privacy_ledger"
LEDGER_VERSION = 1


@dataclass(frozen=True)
class PrivacySpent:
    """The privacy loss of a ledger's events: they are (epsilon, delta)-DP.

    Parameters
    ----------
    epsilon : float
        Spent epsilon.
    delta : float
        The delta it holds at (0 when only pure-DP events were spent).
    method : str
        Which composition gave it: ``"none"``, ``"pure"``, ``"gdp"``, ``"rdp"``,
        ``"pure+gdp"``, ``"pure+rdp"`` or ``"full rdp"``.

    Examples
    --------
    >>> PrivacySpent(0.5, 1e-6, "gdp").epsilon
    0.5
    """

    epsilon: float
    delta: float
    method: str


def _exact_add(partials: tuple[float, ...], x: float) -> tuple[float, ...]:
    """Add ``x`` to a sum kept as non-overlapping partials (Shewchuk 1997, as in ``fsum``).

    ``math.fsum(partials)`` is then the correctly rounded sum of everything added, in O(1)
    amortised time per addition: k additions of the same x read exactly ``k * x``.
    """
    out: list[float] = []
    for y in partials:
        if abs(x) < abs(y):
            x, y = y, x
        hi = x + y
        lo = y - (hi - x)
        if lo:
            out.append(lo)
        x = hi
    out.append(x)
    return tuple(out)


@dataclass(frozen=True)
class _Totals:
    """Composed state of a sequence of events (private; replaced on every spend).

    Sums are kept as exact partials (:func:`_exact_add`) so the composed mu and epsilon
    do not depend on how releases were grouped into events.
    """

    n_events: int = 0
    pure_terms: tuple[float, ...] = ()
    mu_sq_terms: tuple[float, ...] = ()
    extra_delta_terms: tuple[float, ...] = ()
    has_nonpure: bool = False
    gdp_ok: bool = True
    rdp_nonpure: np.ndarray | None = None
    rdp_pure: np.ndarray | None = None

    @property
    def pure_epsilon(self) -> float:
        return math.fsum(self.pure_terms)

    @property
    def mu(self) -> float:
        return math.sqrt(math.fsum(self.mu_sq_terms))

    @property
    def extra_delta(self) -> float:
        return math.fsum(self.extra_delta_terms)


def _add_event(totals: _Totals, event: PrivacyEvent, orders: np.ndarray, mult: int = 1) -> _Totals:
    """Return ``totals`` with ``mult`` repetitions of ``event`` composed in."""
    zeros = np.zeros_like(orders)
    r_np = totals.rdp_nonpure if totals.rdp_nonpure is not None else zeros
    r_p = totals.rdp_pure if totals.rdp_pure is not None else zeros
    if isinstance(event, ComposedEvent):
        for sub in event.events:
            totals = _add_event(totals, sub, orders, mult * event.count)
        return totals
    n = totals.n_events + 1
    if isinstance(event, GaussianEvent | GaussianThresholdEvent):
        if isinstance(event, GaussianEvent):
            mu_sq = mult * (event.sensitivity / event.sigma) ** 2
            extra = totals.extra_delta_terms
        else:
            mu_sq = mult * (1.0 / event.sigma) ** 2
            extra = _exact_add(totals.extra_delta_terms, mult * event.extra_delta)
        return _Totals(
            n, totals.pure_terms, _exact_add(totals.mu_sq_terms, mu_sq), extra, True,
            totals.gdp_ok,
            r_np + orders * (mu_sq / 2.0), r_p,
        )
    if isinstance(event, SampledGaussianEvent):
        curve = rdp.subsampled_gaussian_rdp(
            event.noise_multiplier, event.sample_rate, event.steps, orders
        )
        return _Totals(
            n, totals.pure_terms, totals.mu_sq_terms, totals.extra_delta_terms, True, False,
            r_np + mult * curve, r_p,
        )
    if isinstance(event, LaplaceEvent | PureDPEvent):
        eps = event.epsilon
        curve = rdp.laplace_rdp(eps, orders) if isinstance(event, LaplaceEvent) else (
            rdp.pure_dp_rdp(eps, orders))
        return _Totals(
            n, _exact_add(totals.pure_terms, mult * eps), totals.mu_sq_terms,
            totals.extra_delta_terms,
            totals.has_nonpure, totals.gdp_ok, r_np, r_p + mult * curve,
        )
    curve_of = getattr(event, "rdp_curve", None)
    if isinstance(event, PrivacyEvent) and callable(curve_of):
        curve = np.asarray(curve_of(orders), dtype=float)
        return _Totals(
            n, totals.pure_terms, totals.mu_sq_terms, totals.extra_delta_terms, True, False,
            r_np + mult * curve, r_p,
        )
    raise InvalidParameterError(
        f"The 'event' parameter of PrivacyLedger.spend must be a privacy event from "
        f"lookalike.privacy.events; got {event!r}."
    )


class PrivacyLedger:
    """Append-only record of noisy releases with a declared (epsilon, delta) budget.

    Parameters
    ----------
    epsilon : float
        Budget epsilon, > 0.
    delta : float, default 0.0
        Budget delta in [0, 1); 0 allows only pure-DP (Laplace / exponential) events.
    orders : sequence of float, optional
        RDP orders; default :data:`lookalike.privacy.rdp.DEFAULT_ORDERS`.

    Examples
    --------
    >>> ledger = PrivacyLedger(epsilon=1.0, delta=1e-5)
    >>> sigma = ledger.calibrate_gaussian(sensitivity=1.0)
    >>> spent = ledger.spend(GaussianEvent(sigma, 1.0, label="mean"))
    >>> spent.epsilon <= 1.0, spent.method
    (True, 'gdp')
    >>> ledger.can_spend(LaplaceEvent(scale=1.0))
    False
    """

    def __init__(
        self, epsilon: float, delta: float = 0.0, *, orders: Sequence[float] | None = None
    ) -> None:
        self._epsilon = _check_real("PrivacyLedger", "epsilon", epsilon, low=0.0, low_open=True,
                                    hint="Declare a finite positive privacy budget.")
        self._delta = _check_real("PrivacyLedger", "delta", delta, low=0.0, high=1.0,
                                  high_open=True, hint="Typical values are below 1/n_rows.")
        self._custom_orders = orders is not None
        self._orders = rdp._orders_array(
            "PrivacyLedger", rdp.DEFAULT_ORDERS if orders is None else orders
        )
        self._events: list[PrivacyEvent] = []
        self._totals = _Totals()

    # ------------------------------------------------------------------ properties
    @property
    def epsilon(self) -> float:
        """Budget epsilon."""
        return self._epsilon

    @property
    def delta(self) -> float:
        """Budget delta."""
        return self._delta

    @property
    def orders(self) -> tuple[float, ...]:
        """RDP orders used when RDP composition is needed."""
        return tuple(float(a) for a in self._orders)

    @property
    def events(self) -> tuple[PrivacyEvent, ...]:
        """The recorded events, oldest first."""
        return tuple(self._events)

    @property
    def spent(self) -> PrivacySpent:
        """The (epsilon, delta) spent so far, at the budget delta."""
        return self._report(self._totals)

    @property
    def remaining_epsilon(self) -> float:
        """``budget epsilon - spent epsilon`` (informative: losses do not add linearly)."""
        return max(0.0, self._epsilon - self.spent.epsilon)

    def __len__(self) -> int:
        return len(self._events)

    def __repr__(self) -> str:
        s = self.spent
        return (f"PrivacyLedger(epsilon={self._epsilon:g}, delta={self._delta:g}; spent "
                f"epsilon={s.epsilon:.4g} in {len(self._events)} events)")

    # ------------------------------------------------------------------ accounting
    def _epsilon_bounds(self, t: _Totals, delta: float) -> list[tuple[float, str]]:
        """Every valid epsilon bound of ``t`` at ``delta``, with the method's name."""
        if t.n_events == 0:
            return [(0.0, "none")]
        d_rest = delta - t.extra_delta
        eps_pure = t.pure_epsilon
        if not t.has_nonpure:
            split = (eps_pure, "pure")
        elif d_rest <= 0.0:
            split = (math.inf, "gdp" if t.gdp_ok else "rdp")
        elif t.gdp_ok:
            split = (eps_pure + gdp.epsilon_from_mu(t.mu, min(d_rest, 1.0)), "gdp")
        else:
            split = (eps_pure + rdp.rdp_to_epsilon(t.rdp_nonpure, d_rest, self._orders)[0], "rdp")
        if t.pure_terms and t.has_nonpure:
            split = (split[0], "pure+" + split[1])
        bounds = [split]
        if t.pure_terms and d_rest > 0.0:
            full = t.rdp_pure if t.rdp_nonpure is None else t.rdp_nonpure + t.rdp_pure
            bounds.append((rdp.rdp_to_epsilon(full, d_rest, self._orders)[0], "full rdp"))
        return bounds

    def _fits(self, t: _Totals, epsilon: float) -> bool:
        """Whether ``t`` is (epsilon, budget delta)-DP by one of the bounds, checked exactly.

        The Gaussian-DP bound is checked in delta space (``delta(epsilon_rest) <= delta``)
        with the same arithmetic as :func:`gdp.sigma_for_epsilon_delta`, so a sigma
        calibrated there is accepted here.
        """
        if t.n_events == 0:
            return True
        d_rest = self._delta - t.extra_delta
        eps_rest = epsilon - t.pure_epsilon
        if eps_rest >= 0.0:
            if not t.has_nonpure:
                return True
            if d_rest > 0.0:
                if t.gdp_ok:
                    if gdp._log_delta(t.mu, eps_rest) <= math.log(d_rest):
                        return True
                elif rdp.rdp_to_epsilon(t.rdp_nonpure, d_rest, self._orders)[0] <= eps_rest:
                    return True
        if t.pure_terms and d_rest > 0.0:
            full = t.rdp_pure if t.rdp_nonpure is None else t.rdp_nonpure + t.rdp_pure
            return rdp.rdp_to_epsilon(full, d_rest, self._orders)[0] <= epsilon
        return False

    def _report(self, t: _Totals) -> PrivacySpent:
        eps, method = min(self._epsilon_bounds(t, self._delta), key=lambda b: b[0])
        if eps > self._epsilon and self._fits(t, self._epsilon):
            eps = self._epsilon  # root-finding rounding: the exact check says it fits
        delta = 0.0 if method in ("none", "pure") else self._delta
        return PrivacySpent(float(eps), delta, method)

    def epsilon_at(self, delta: float) -> float:
        """epsilon of the recorded events at any ``delta`` (for reports and plots).

        Examples
        --------
        >>> ledger = PrivacyLedger(2.0, 1e-5)
        >>> _ = ledger.spend(GaussianEvent(sigma=3.0))
        >>> ledger.epsilon_at(1e-3) < ledger.epsilon_at(1e-6)
        True
        """
        d = _check_real("PrivacyLedger.epsilon_at", "delta", delta, low=0.0, high=1.0)
        return float(min(b[0] for b in self._epsilon_bounds(self._totals, d)))

    def would_spend(self, event: PrivacyEvent) -> PrivacySpent:
        """The spent (epsilon, delta) if ``event`` were recorded now (nothing is recorded).

        Examples
        --------
        >>> PrivacyLedger(1.0).would_spend(LaplaceEvent(scale=4.0)).epsilon
        0.25
        """
        return self._report(_add_event(self._totals, event, self._orders))

    def can_spend(self, event: PrivacyEvent) -> bool:
        """Whether ``event`` fits in the remaining budget.

        Examples
        --------
        >>> PrivacyLedger(1.0).can_spend(LaplaceEvent(scale=0.5))
        False
        """
        return self._fits(_add_event(self._totals, event, self._orders), self._epsilon)

    def spend(self, event: PrivacyEvent) -> PrivacySpent:
        """Record ``event``, or raise before recording anything if it would overspend.

        Parameters
        ----------
        event : PrivacyEvent
            The release about to be made (spend first, then draw the noise).

        Returns
        -------
        PrivacySpent
            The new total.

        Raises
        ------
        BudgetExceededError
            If the composed loss would exceed the budget; the ledger is unchanged.

        Examples
        --------
        >>> ledger = PrivacyLedger(1.0)
        >>> ledger.spend(LaplaceEvent(scale=2.0, label="count")).epsilon
        0.5
        >>> ledger.spend(LaplaceEvent(scale=1.0, label="sum"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        lookalike.errors.BudgetExceededError: Spending 'sum' ...
        """
        candidate = _add_event(self._totals, event, self._orders)
        if not self._fits(candidate, self._epsilon):
            raise BudgetExceededError(self._overspend_message(event, candidate))
        self._events.append(event)
        self._totals = candidate
        return self._report(candidate)

    def _overspend_message(self, event: PrivacyEvent, candidate: _Totals) -> str:
        would = self._report(candidate)
        now = self.spent
        name = f"'{event.label}'" if event.label else type(event).__name__
        fix = "add more noise, release less, or declare a larger budget"
        if now.epsilon >= self._epsilon * (1.0 - 1e-9):
            return (
                f"Spending {name} ({event.describe()}) is impossible: the budget "
                f"epsilon={self._epsilon:g}, delta={self._delta:g} is used up by "
                f"{len(self._events)} events. Nothing was recorded; declare a larger budget "
                "or release less earlier."
            )
        try:
            if isinstance(event, GaussianEvent) and event.sensitivity > 0:
                fix = (f"use sigma >= {self.calibrate_gaussian(event.sensitivity):.6g} for this "
                       "release, release less, or declare a larger budget")
            elif isinstance(event, SampledGaussianEvent) and event.sample_rate > 0:
                z = self.calibrate_noise_multiplier(event.sample_rate, event.steps)
                fix = (f"use noise_multiplier >= {z:.6g}, fewer steps or a smaller sample "
                       "rate, or declare a larger budget")
        except (BudgetExceededError, InvalidParameterError):
            fix = "the budget is already used up: declare a larger budget"
        return (
            f"Spending {name} ({event.describe()}) would bring the privacy loss to "
            f"epsilon={would.epsilon:.6g} at delta={self._delta:g}, over the budget "
            f"epsilon={self._epsilon:g} (already spent: epsilon={now.epsilon:.6g} in "
            f"{len(self._events)} events). Nothing was recorded; {fix}."
        )

    # ------------------------------------------------------------------ calibration
    def _calibrate(
        self, make: Callable[[float], PrivacyEvent], target_epsilon: float | None, owner: str
    ) -> float:
        target = self._epsilon if target_epsilon is None else _check_real(
            owner, "target_epsilon", target_epsilon, low=0.0, high=self._epsilon, low_open=True,
            hint="It must not exceed the ledger's budget epsilon.")

        def total(sigma: float) -> _Totals:
            return _add_event(self._totals, make(sigma), self._orders)

        def g(sigma: float) -> float:
            return min(b[0] for b in self._epsilon_bounds(total(sigma), self._delta)) - target

        hi = 1.0
        while g(hi) > 0:
            hi *= 2.0
            if hi > 1e9:
                raise BudgetExceededError(
                    f"{owner}: no noise level up to 1e9 fits epsilon={target:g} at "
                    f"delta={self._delta:g} (already spent epsilon={self.spent.epsilon:.6g}). "
                    "Declare a larger budget (a Gaussian release needs delta > 0)."
                )
        lo = hi / 2.0
        while g(lo) <= 0 and lo > 1e-9:
            lo /= 2.0
        sigma = _root_on_safe_side(g, lo, hi, feasible="hi")
        step = sigma * 1e-15
        for _ in range(200):  # also make the reported total (root-found) read <= target,
            # and the exact check pass at the budget too (what spend() asks): at the
            # boundary the float delta(epsilon) curve is not monotone to the last ulp
            t = total(sigma)
            if self._fits(t, target) and self._fits(t, self._epsilon) and g(sigma) <= 0:
                return sigma
            sigma += step
            step *= 2.0
        raise ArithmeticError(f"{owner}: calibration did not converge")  # pragma: no cover

    def calibrate_gaussian(
        self, sensitivity: float = 1.0, *, count: int = 1, target_epsilon: float | None = None
    ) -> float:
        """Smallest sigma such that ``count`` Gaussian releases still fit the budget.

        Solves, by bracketing root finding on the ledger's own composition, for the
        sigma at which the total loss reaches ``target_epsilon`` (default: the budget), and
        rounds it up until :meth:`can_spend` accepts
        ``GaussianEvent(sigma, sensitivity)`` (as a ``ComposedEvent`` if ``count > 1``).

        Parameters
        ----------
        sensitivity : float, default 1.0
            L2 sensitivity of each release, > 0.
        count : int, default 1
            Number of such releases.
        target_epsilon : float, optional
            Total epsilon to reach after the releases (<= the budget), to keep some budget
            for later releases.

        Returns
        -------
        float
            sigma.

        Examples
        --------
        >>> ledger = PrivacyLedger(1.0, 1e-5)
        >>> s = ledger.calibrate_gaussian(0.02, count=100)
        >>> ledger.can_spend(ComposedEvent((GaussianEvent(s, 0.02),), count=100))
        True
        """
        owner = "PrivacyLedger.calibrate_gaussian"
        s = _check_real(owner, "sensitivity", sensitivity, low=0.0, low_open=True)
        k = _check_int(owner, "count", count)

        def make(sigma: float) -> PrivacyEvent:
            e = GaussianEvent(sigma, s)
            return e if k == 1 else ComposedEvent((e,), count=k)

        return self._calibrate(make, target_epsilon, owner)

    def calibrate_noise_multiplier(
        self, sample_rate: float, steps: int, *, target_epsilon: float | None = None
    ) -> float:
        """Smallest DP-SGD noise multiplier whose ``steps`` rounds still fit the budget.

        Like :meth:`calibrate_gaussian` for ``SampledGaussianEvent(z, sample_rate, steps)``.

        Parameters
        ----------
        sample_rate : float
            Poisson sampling probability in (0, 1].
        steps : int
            Number of rounds.
        target_epsilon : float, optional
            Total epsilon to reach (<= the budget).

        Returns
        -------
        float
            The noise multiplier.

        Examples
        --------
        >>> ledger = PrivacyLedger(3.0, 1e-5)
        >>> z = ledger.calibrate_noise_multiplier(0.01, 1000)
        >>> ledger.can_spend(SampledGaussianEvent(z, 0.01, 1000))
        True
        """
        owner = "PrivacyLedger.calibrate_noise_multiplier"
        q = _check_real(owner, "sample_rate", sample_rate, low=0.0, high=1.0, low_open=True)
        n = _check_int(owner, "steps", steps)
        return self._calibrate(lambda z: SampledGaussianEvent(z, q, n), target_epsilon, owner)

    # ------------------------------------------------------------------ persistence
    def fresh(self) -> PrivacyLedger:
        """A new, empty ledger with the same budget and orders (for a new ``fit``).

        Examples
        --------
        >>> ledger = PrivacyLedger(1.0)
        >>> _ = ledger.spend(LaplaceEvent(2.0))
        >>> len(ledger.fresh())
        0
        """
        return PrivacyLedger(
            self._epsilon, self._delta, orders=self.orders if self._custom_orders else None
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record: format, version, budget, orders, events and spent loss.

        Examples
        --------
        >>> d = PrivacyLedger(1.0, 1e-5).to_dict()
        >>> d["format"], d["version"], d["budget"]
        ('lookalike.privacy_ledger', 1, {'epsilon': 1.0, 'delta': 1e-05})
        """
        s = self.spent
        return {
            "format": LEDGER_FORMAT,
            "version": LEDGER_VERSION,
            "budget": {"epsilon": self._epsilon, "delta": self._delta},
            "orders": list(self.orders) if self._custom_orders else None,
            "events": [e.to_dict() for e in self._events],
            "spent": {"epsilon": s.epsilon, "delta": s.delta, "method": s.method},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PrivacyLedger:
        """Rebuild a ledger from :meth:`to_dict` output, re-checking every event.

        The spent loss is recomputed, never trusted from the file.

        Raises
        ------
        ModelFileError
            For another format, an unknown version, malformed events, or events that
            overspend the recorded budget.

        Examples
        --------
        >>> ledger = PrivacyLedger(1.0)
        >>> _ = ledger.spend(LaplaceEvent(4.0, label="count"))
        >>> PrivacyLedger.from_dict(ledger.to_dict()).events == ledger.events
        True
        """
        if not isinstance(data, Mapping) or data.get("format") != LEDGER_FORMAT:
            raise ModelFileError(
                f"Not a lookalike privacy ledger (expected format {LEDGER_FORMAT!r}); got "
                f"{data.get('format') if isinstance(data, Mapping) else data!r}."
            )
        if data.get("version") != LEDGER_VERSION:
            raise ModelFileError(
                f"Privacy ledger version {data.get('version')!r} is not supported (this "
                f"lookalike reads version {LEDGER_VERSION}); upgrade lookalike to load it."
            )
        try:
            budget = data["budget"]
            ledger = cls(budget["epsilon"], budget["delta"], orders=data.get("orders"))
            events = [event_from_dict(e) for e in data["events"]]
        except (KeyError, TypeError, InvalidParameterError) as exc:
            raise ModelFileError(f"Malformed privacy ledger record: {exc}") from exc
        for event in events:
            try:
                ledger.spend(event)
            except BudgetExceededError as exc:
                raise ModelFileError(
                    f"The privacy ledger in this file overspends its own budget: {exc}"
                ) from exc
        return ledger

    def summary(self) -> str:
        """Human-readable account: budget, spent loss and method, and every event.

        Examples
        --------
        >>> ledger = PrivacyLedger(1.0, 1e-5)
        >>> _ = ledger.spend(LaplaceEvent(10.0, label="row count"))
        >>> print(ledger.summary())
        Privacy ledger: budget epsilon=1, delta=1e-05
        Spent: epsilon=0.1 (10.0% of the budget), delta=0, by basic composition of pure DP
        Events (1):
          1. row count: Laplace noise scale=10, L1 sensitivity=1 (epsilon=0.1)
        """
        s = self.spent
        methods = {
            "none": "nothing spent", "pure": "basic composition of pure DP",
            "gdp": "Gaussian DP composition", "rdp": "Renyi DP composition",
            "pure+gdp": "basic composition of pure DP and Gaussian DP",
            "pure+rdp": "basic composition of pure DP and Renyi DP",
            "full rdp": "Renyi DP composition of all events",
        }
        lines = [
            f"Privacy ledger: budget epsilon={self._epsilon:g}, delta={self._delta:g}",
            f"Spent: epsilon={s.epsilon:.6g} ({100.0 * s.epsilon / self._epsilon:.1f}% of the "
            f"budget), delta={s.delta:g}, by {methods[s.method]}",
            f"Events ({len(self._events)}):",
        ]
        for i, e in enumerate(self._events, 1):
            lines.append(f"  {i}. {e.label or type(e).__name__}: {e.describe()}")
        return "\n".join(lines)
