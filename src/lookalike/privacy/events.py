"""Frozen records of noisy releases, the entries of a :class:`~lookalike.privacy.PrivacyLedger`.

Each DP mechanism in lookalike returns its value together with one of these records
(STYLE.md item 5, after ``dp_accounting/dp_event.py``). They only describe *what* was
released - noise kind, scale, sensitivity, sampling - and carry a human-readable
``label``; the accountant turns them into (epsilon, delta). Every record round-trips
through JSON with :meth:`PrivacyEvent.to_dict` / :func:`event_from_dict` so a model file
can keep its ledger.

Neighbouring tables differ by adding or removing one row (one individual), the
convention of Opacus and of the Gaussian-DP literature.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from scipy import special

from lookalike.errors import InvalidParameterError
from lookalike.privacy.gdp import _check_int, _check_real

__all__ = [
    "ComposedEvent",
    "GaussianEvent",
    "GaussianThresholdEvent",
    "LaplaceEvent",
    "PrivacyEvent",
    "PureDPEvent",
    "SampledGaussianEvent",
    "event_from_dict",
]

_REGISTRY: dict[str, type[PrivacyEvent]] = {}


class PrivacyEvent:
    """Base class of the event records (not instantiated itself).

    Subclasses are frozen dataclasses with a class-level ``kind`` tag used in JSON.

    Examples
    --------
    >>> isinstance(GaussianEvent(sigma=2.0), PrivacyEvent)
    True
    """

    kind: ClassVar[str] = ""
    label: str

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            _REGISTRY[cls.kind] = cls

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: ``{"kind": ..., <fields>}``.

        Examples
        --------
        >>> GaussianEvent(sigma=2.0, label="means").to_dict()
        {'kind': 'gaussian', 'sigma': 2.0, 'sensitivity': 1.0, 'label': 'means'}
        """
        out: dict[str, Any] = {"kind": self.kind}
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            out[field.name] = getattr(self, field.name)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PrivacyEvent:
        """Rebuild an event from :meth:`to_dict` output (dispatching on ``kind``).

        Examples
        --------
        >>> PrivacyEvent.from_dict({"kind": "laplace", "scale": 2.0, "sensitivity": 1.0,
        ...                         "label": "count"})
        LaplaceEvent(scale=2.0, sensitivity=1.0, label='count')
        """
        event = event_from_dict(data)
        if cls is not PrivacyEvent and not isinstance(event, cls):
            raise InvalidParameterError(
                f"The 'data' parameter of {cls.__name__}.from_dict describes a "
                f"{type(event).__name__}; use PrivacyEvent.from_dict or event_from_dict."
            )
        return event

    def describe(self) -> str:  # pragma: no cover - overridden
        """One-line human description of the release."""
        raise NotImplementedError


def event_from_dict(data: Mapping[str, Any]) -> PrivacyEvent:
    """Rebuild any event from its :meth:`PrivacyEvent.to_dict` form.

    Parameters
    ----------
    data : mapping
        A dict with a ``"kind"`` key and the event's fields.

    Returns
    -------
    PrivacyEvent

    Raises
    ------
    InvalidParameterError
        For an unknown ``kind``, missing or unexpected fields, or invalid values.

    Examples
    --------
    >>> e = SampledGaussianEvent(1.1, 0.01, 500, label="epoch 1")
    >>> event_from_dict(e.to_dict()) == e
    True
    """
    if not isinstance(data, Mapping) or "kind" not in data:
        raise InvalidParameterError(
            f"The 'data' parameter of event_from_dict must be a dict with a 'kind' key; got "
            f"{data!r}."
        )
    kind = data["kind"]
    cls = _REGISTRY.get(kind)  # type: ignore[arg-type]
    if cls is None:
        raise InvalidParameterError(
            f"Unknown privacy event kind {kind!r}; known kinds are {sorted(_REGISTRY)}. The "
            "record may come from a newer lookalike version: upgrade lookalike to read it."
        )
    fields = {k: v for k, v in data.items() if k != "kind"}
    if cls is ComposedEvent:
        if not isinstance(fields.get("events"), list | tuple):
            raise InvalidParameterError(
                "A 'composed' privacy event needs a list of 'events'; got "
                f"{fields.get('events')!r}."
            )
        fields["events"] = tuple(event_from_dict(e) for e in fields["events"])
    try:
        return cls(**fields)
    except TypeError as exc:
        names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        raise InvalidParameterError(
            f"A {kind!r} privacy event takes the fields {names}; got {sorted(fields)}."
        ) from exc


def _label(owner: str, label: object) -> str:
    if not isinstance(label, str):
        raise InvalidParameterError(
            f"The 'label' parameter of {owner} must be a str; got {label!r}."
        )
    return label


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


@dataclass(frozen=True)
class GaussianEvent(PrivacyEvent):
    """Gaussian noise N(0, sigma^2 I) added to a statistic of L2 sensitivity ``sensitivity``.

    It is ``sensitivity / sigma``-GDP (Dong, Roth and Su 2019, Theorem 2.7) and
    ``alpha (sensitivity/sigma)^2 / 2``-RDP (Mironov 2017, Proposition 7).

    Parameters
    ----------
    sigma : float
        Noise standard deviation, > 0.
    sensitivity : float, default 1.0
        L2 sensitivity of the whole released vector, >= 0.
    label : str, default ""
        What was released, e.g. ``"cluster means"``.

    Examples
    --------
    >>> GaussianEvent(sigma=4.0, sensitivity=2.0).mu
    0.5
    """

    sigma: float
    sensitivity: float = 1.0
    label: str = ""
    kind: ClassVar[str] = "gaussian"

    def __post_init__(self) -> None:
        owner = "GaussianEvent"
        _set(self, "sigma", _check_real(owner, "sigma", self.sigma, low=0.0, low_open=True))
        _set(self, "sensitivity", _check_real(owner, "sensitivity", self.sensitivity, low=0.0))
        _set(self, "label", _label(owner, self.label))

    @property
    def mu(self) -> float:
        """GDP parameter ``sensitivity / sigma``."""
        return self.sensitivity / self.sigma

    def describe(self) -> str:
        """One-line description.

        Examples
        --------
        >>> GaussianEvent(4.0, 2.0).describe()
        'Gaussian noise sigma=4, L2 sensitivity=2 (mu=0.5)'
        """
        return (f"Gaussian noise sigma={self.sigma:.6g}, L2 sensitivity={self.sensitivity:.6g} "
                f"(mu={self.mu:.4g})")


@dataclass(frozen=True)
class LaplaceEvent(PrivacyEvent):
    """Laplace noise of scale ``scale`` added to a statistic of L1 sensitivity ``sensitivity``.

    It is ``sensitivity / scale``-DP (Dwork, McSherry, Nissim and Smith 2006) and has the
    RDP curve of Mironov (2017), Proposition 6.

    Parameters
    ----------
    scale : float
        Laplace scale b, > 0.
    sensitivity : float, default 1.0
        L1 sensitivity of the whole released vector, >= 0.
    label : str, default ""
        What was released.

    Examples
    --------
    >>> LaplaceEvent(scale=2.0).epsilon
    0.5
    """

    scale: float
    sensitivity: float = 1.0
    label: str = ""
    kind: ClassVar[str] = "laplace"

    def __post_init__(self) -> None:
        owner = "LaplaceEvent"
        _set(self, "scale", _check_real(owner, "scale", self.scale, low=0.0, low_open=True))
        _set(self, "sensitivity", _check_real(owner, "sensitivity", self.sensitivity, low=0.0))
        _set(self, "label", _label(owner, self.label))

    @property
    def epsilon(self) -> float:
        """Pure-DP epsilon ``sensitivity / scale``."""
        return self.sensitivity / self.scale

    def describe(self) -> str:
        """One-line description.

        Examples
        --------
        >>> LaplaceEvent(2.0).describe()
        'Laplace noise scale=2, L1 sensitivity=1 (epsilon=0.5)'
        """
        return (f"Laplace noise scale={self.scale:.6g}, L1 sensitivity={self.sensitivity:.6g} "
                f"(epsilon={self.epsilon:.4g})")


@dataclass(frozen=True)
class PureDPEvent(PrivacyEvent):
    """Any epsilon-DP release, e.g. one draw of the exponential mechanism.

    The accountant uses basic composition for it and, inside RDP composition, the bound
    ``min(epsilon, alpha epsilon^2 / 2)`` (Bun and Steinke 2016, Proposition 3.3).

    Parameters
    ----------
    epsilon : float
        The pure-DP epsilon, >= 0.
    label : str, default ""
        What was released.

    Examples
    --------
    >>> PureDPEvent(0.1, label="median").epsilon
    0.1
    """

    epsilon: float
    label: str = ""
    kind: ClassVar[str] = "pure_dp"

    def __post_init__(self) -> None:
        _set(self, "epsilon", _check_real("PureDPEvent", "epsilon", self.epsilon, low=0.0))
        _set(self, "label", _label("PureDPEvent", self.label))

    def describe(self) -> str:
        """One-line description.

        Examples
        --------
        >>> PureDPEvent(0.1).describe()
        'pure DP release (epsilon=0.1)'
        """
        return f"pure DP release (epsilon={self.epsilon:.4g})"


@dataclass(frozen=True)
class SampledGaussianEvent(PrivacyEvent):
    """``steps`` rounds of the Poisson-subsampled Gaussian mechanism (DP-SGD).

    Every round samples each row with probability ``sample_rate``, clips per-row
    contributions to L2 norm C and adds N(0, (noise_multiplier C)^2) noise. Accounted with
    RDP (Mironov, Talwar and Zhang 2019).

    Parameters
    ----------
    noise_multiplier : float
        sigma / C, > 0.
    sample_rate : float
        Poisson sampling probability in [0, 1].
    steps : int
        Number of rounds, >= 1.
    label : str, default ""
        E.g. ``"vae epoch 3"``.

    Examples
    --------
    >>> SampledGaussianEvent(1.1, 0.01, steps=100).steps
    100
    """

    noise_multiplier: float
    sample_rate: float
    steps: int
    label: str = ""
    kind: ClassVar[str] = "sampled_gaussian"

    def __post_init__(self) -> None:
        owner = "SampledGaussianEvent"
        _set(self, "noise_multiplier", _check_real(
            owner, "noise_multiplier", self.noise_multiplier, low=0.0, low_open=True))
        _set(self, "sample_rate", _check_real(
            owner, "sample_rate", self.sample_rate, low=0.0, high=1.0))
        _set(self, "steps", _check_int(owner, "steps", self.steps))
        _set(self, "label", _label(owner, self.label))

    def describe(self) -> str:
        """One-line description.

        Examples
        --------
        >>> SampledGaussianEvent(1.1, 0.01, 100).describe()
        'sampled Gaussian (DP-SGD) noise_multiplier=1.1, sample_rate=0.01, steps=100'
        """
        return (f"sampled Gaussian (DP-SGD) noise_multiplier={self.noise_multiplier:.6g}, "
                f"sample_rate={self.sample_rate:.6g}, steps={self.steps}")


@dataclass(frozen=True)
class GaussianThresholdEvent(PrivacyEvent):
    """Noisy counts of the categories present in the data, kept if above ``threshold``.

    Each individual contributes 1 to one category's count. Counts get N(0, sigma^2) noise;
    only categories whose noisy count exceeds ``threshold`` are released (Gaussian
    thresholding for partition selection: Korolova, Kenthapadi, Mishra and Ntoulas 2009;
    Wilson, Zhang, Lam, Desfontaines, Simmons-Marengo and Gipson 2020; Gopi, Gulhane,
    Kulkarni, Shen, Shokouhi and Yekhanin 2020). Apart from an event of probability
    ``extra_delta = Phi((1 - threshold) / sigma)`` - a category held by the one
    differing individual alone is released - it is a Gaussian mechanism with
    sensitivity 1, so it is "``extra_delta``-approximately" ``1/sigma``-GDP and the
    accountant adds ``extra_delta`` to delta (Bun and Steinke 2016, Section 8).

    Parameters
    ----------
    sigma : float
        Noise standard deviation on every count, > 0.
    threshold : float
        Release threshold on the noisy counts, >= 1.
    label : str, default ""
        E.g. ``"categories of 'city'"``.

    Examples
    --------
    >>> e = GaussianThresholdEvent(sigma=4.0, threshold=20.0)
    >>> e.extra_delta < 1e-5
    True
    """

    sigma: float
    threshold: float
    label: str = ""
    kind: ClassVar[str] = "gaussian_threshold"

    def __post_init__(self) -> None:
        owner = "GaussianThresholdEvent"
        _set(self, "sigma", _check_real(owner, "sigma", self.sigma, low=0.0, low_open=True))
        _set(self, "threshold", _check_real(owner, "threshold", self.threshold, low=1.0))
        _set(self, "label", _label(owner, self.label))

    @property
    def mu(self) -> float:
        """GDP parameter of the noisy counts, ``1 / sigma``."""
        return 1.0 / self.sigma

    @property
    def extra_delta(self) -> float:
        """Probability that a count of 1 passes the threshold, ``Phi((1 - threshold)/sigma)``."""
        return float(special.ndtr((1.0 - self.threshold) / self.sigma))

    def describe(self) -> str:
        """One-line description.

        Examples
        --------
        >>> GaussianThresholdEvent(4.0, 20.0).describe()[:40]
        'Gaussian thresholded counts sigma=4, thr'
        """
        return (f"Gaussian thresholded counts sigma={self.sigma:.6g}, threshold="
                f"{self.threshold:.6g} (mu={self.mu:.4g}, extra delta={self.extra_delta:.3g})")


@dataclass(frozen=True)
class ComposedEvent(PrivacyEvent):
    """``count`` repetitions of a sequence of events, e.g. labelled steps of one fit.

    Parameters
    ----------
    events : tuple of PrivacyEvent
        The sub-events, each with its own label (non-empty).
    count : int, default 1
        How many times the whole sequence ran.
    label : str, default ""
        Label of the group.

    Examples
    --------
    >>> e = ComposedEvent((GaussianEvent(2.0, label="mean"), LaplaceEvent(1.0, label="n")),
    ...                   count=3, label="3 rounds")
    >>> len(e.events), e.count
    (2, 3)
    """

    events: tuple[PrivacyEvent, ...]
    count: int = 1
    label: str = ""
    kind: ClassVar[str] = "composed"

    def __post_init__(self) -> None:
        owner = "ComposedEvent"
        events = tuple(self.events) if isinstance(self.events, list | tuple) else None
        if not events or not all(isinstance(e, PrivacyEvent) for e in events):
            raise InvalidParameterError(
                f"The 'events' parameter of {owner} must be a non-empty tuple of privacy "
                f"events; got {self.events!r}."
            )
        _set(self, "events", events)
        _set(self, "count", _check_int(owner, "count", self.count))
        _set(self, "label", _label(owner, self.label))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with the sub-events nested.

        Examples
        --------
        >>> ComposedEvent((PureDPEvent(0.1),), count=2).to_dict()["events"]
        [{'kind': 'pure_dp', 'epsilon': 0.1, 'label': ''}]
        """
        return {"kind": self.kind, "events": [e.to_dict() for e in self.events],
                "count": self.count, "label": self.label}

    def describe(self) -> str:
        """One-line description.

        Examples
        --------
        >>> ComposedEvent((PureDPEvent(0.1),), count=2).describe()
        '2 x [pure DP release (epsilon=0.1)]'
        """
        inner = "; ".join(
            (f"{e.label}: " if e.label else "") + e.describe() for e in self.events
        )
        return f"{self.count} x [{inner}]"
