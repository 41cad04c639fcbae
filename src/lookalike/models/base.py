"""The generator protocol: every model fits on encoded arrays and samples encoded rows.

A generator never sees the raw table (STYLE.md rule 9): the :class:`Synthesizer` facade
encodes the table and hands over an :class:`EncodedData`; the generator returns encoded rows
that the facade decodes. Adding a generator means one new file with a subclass of
:class:`BaseGenerator` and one line in :mod:`lookalike.models.registry`.

Subclasses define:

* ``name`` (registry key) and ``view`` (``"continuous"`` or ``"tokens"``);
* ``_parameter_constraints`` (see :mod:`lookalike._validation`) and an ``__init__`` that only
  stores keyword parameters;
* ``_fit(data, rng)`` and ``_sample(n, rng, **options) -> np.ndarray``;
* ``_get_state() -> (json_dict, arrays)`` and ``_set_state(json_dict, arrays, data_layout)``.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from lookalike._validation import Constraint, check_params
from lookalike.encoding.base import Segment, TokenSlot
from lookalike.errors import NotFittedError

View = Literal["continuous", "tokens"]


@dataclass(frozen=True)
class Layout:
    """What a generator knows about the table: the layout of its view, never the values.

    columns : modelled column names, in order.
    column_slices : for each column, its slice of the view's matrix columns.
    segments : continuous view layout (empty for the token view).
    token_slots : token view layout (empty for the continuous view).
    target : the column named as the prediction target, if any (used by generators that
        treat it specially, e.g. as its own block).
    """

    columns: tuple[str, ...]
    column_slices: dict[str, slice]
    segments: tuple[Segment, ...] = ()
    token_slots: tuple[TokenSlot, ...] = ()
    target: str | None = None

    @property
    def width(self) -> int:
        if self.segments:
            return self.segments[-1].stop
        return len(self.token_slots)

    @property
    def cardinalities(self) -> list[int]:
        return [s.cardinality for s in self.token_slots]


@dataclass
class EncodedData:
    """The encoded training table: ``values`` (n, width) plus its :class:`Layout`.

    ``privacy_ledger``: under DP, for generators whose :meth:`BaseGenerator.uses_dp_ledger`
    is true, the whole fit's :class:`~lookalike.privacy.PrivacyLedger` (the user's budget,
    the encoder's releases already recorded); the generator calibrates its noise against it
    and records its own mechanism there, so that all of them compose in one accountant.
    """

    values: np.ndarray
    layout: Layout
    row_weights: np.ndarray | None = field(default=None)
    privacy_ledger: Any = field(default=None)
    #: under DP, ``{token slot: probabilities}`` from the encoder's released marginals
    #: (post-processing of DP releases; generators may start from them at no privacy cost)
    slot_priors: dict[int, np.ndarray] | None = field(default=None)

    @property
    def n_rows(self) -> int:
        return int(self.values.shape[0])


class BaseGenerator(ABC):
    """Template for generators: validate -> ``_fit`` ; ``_sample`` ; state round trip."""

    name: ClassVar[str]
    view: ClassVar[View]
    _parameter_constraints: ClassVar[dict[str, Constraint | list[Constraint]]] = {}
    #: sampling options this generator understands besides ``n`` and ``rng``
    sample_options: ClassVar[frozenset[str]] = frozenset()
    #: the facade stores 2-way marginals for calibrated sampling (token generators whose
    #: rows should follow them; not the independent baseline)
    calibrates_pairs: ClassVar[bool] = False

    # -- parameters (scikit-learn conventions) -----------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values()
                if p.name != "self" and p.kind == p.KEYWORD_ONLY]

    def get_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._param_names()}

    def validate_params(self) -> None:
        check_params(type(self).__name__, self.get_params(), self._parameter_constraints)

    # -- fitting and sampling ----------------------------------------------------------
    def fit(self, data: EncodedData, rng: np.random.Generator) -> BaseGenerator:
        self.validate_params()
        self.layout_ = data.layout
        self._fit(data, rng)
        self.fitted_ = True
        return self

    def sample(self, n: int, rng: np.random.Generator, **options: Any) -> np.ndarray:
        if not getattr(self, "fitted_", False):
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet; call fit first.")
        unknown = set(options) - self.sample_options
        if unknown:
            raise TypeError(f"{type(self).__name__} does not take sampling option(s) {unknown}.")
        return self._sample(n, rng, **options)

    @abstractmethod
    def _fit(self, data: EncodedData, rng: np.random.Generator) -> None: ...

    @abstractmethod
    def _sample(self, n: int, rng: np.random.Generator, **options: Any) -> np.ndarray: ...

    # -- persistence -------------------------------------------------------------------
    def privacy_events(self) -> list[dict[str, Any]]:
        """Privacy-ledger entries of the fit (empty for non-DP generators)."""
        return []

    @classmethod
    def uses_dp_ledger(cls, params: dict[str, Any]) -> bool:
        """Whether, with these parameters, the generator composes its DP mechanism with the
        encoder's in the whole fit's ledger (:attr:`EncodedData.privacy_ledger`).

        False (the default): the facade splits the budget by basic composition and passes
        the generator's part in its ``dp`` parameter.
        """
        return False

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        if not getattr(self, "fitted_", False):
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet; call fit first.")
        return self._get_state()

    @classmethod
    def from_state(cls, params: dict[str, Any], meta: dict[str, Any],
                   arrays: dict[str, np.ndarray], layout: Layout) -> BaseGenerator:
        gen = cls(**params)
        gen.layout_ = layout
        gen._set_state(meta, arrays)
        gen.fitted_ = True
        return gen

    @abstractmethod
    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]: ...

    @abstractmethod
    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None: ...
