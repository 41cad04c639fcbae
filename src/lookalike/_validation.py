"""Declared parameter checks, in the manner of scikit-learn's ``_parameter_constraints``.

>>> check_params("ClustMix", {"epsilon": -1.0}, {"epsilon": Interval(float, 0, None, "neither")})
Traceback (most recent call last):
...
lookalike.errors.InvalidParameterError: The 'epsilon' parameter of ClustMix must be a float in (0, inf); got -1.0.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from lookalike.errors import InvalidParameterError


@dataclass(frozen=True)
class Interval:
    """A numeric range; ``closed`` is "both", "left", "right" or "neither"."""

    type: type
    low: float | None
    high: float | None
    closed: Literal["both", "left", "right", "neither"] = "both"

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool):
            return False
        if self.type is int and not isinstance(value, numbers.Integral):
            return False
        if self.type is float and not isinstance(value, numbers.Real):
            return False
        if self.low is not None:
            if value < self.low or (value == self.low and self.closed in ("right", "neither")):
                return False
        if self.high is not None:
            if value > self.high or (value == self.high and self.closed in ("left", "neither")):
                return False
        return True

    def describe(self) -> str:
        kind = "an int" if self.type is int else "a float"
        left = "[" if self.closed in ("both", "left") else "("
        right = "]" if self.closed in ("both", "right") else ")"
        lo = "-inf" if self.low is None else _fmt(self.low)
        hi = "inf" if self.high is None else _fmt(self.high)
        return f"{kind} in {left}{lo}, {hi}{right}"


@dataclass(frozen=True)
class Options:
    """One of a fixed set of values."""

    values: tuple[Any, ...]

    def accepts(self, value: Any) -> bool:
        return value in self.values

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


@dataclass(frozen=True)
class OfType:
    """Any instance of the given types (``None`` allowed when listed as ``type(None)``)."""

    types: tuple[type, ...]

    def accepts(self, value: Any) -> bool:
        return isinstance(value, self.types)

    def describe(self) -> str:
        names = ["None" if t is type(None) else t.__name__ for t in self.types]
        return "of type " + " or ".join(names)


Constraint = Interval | Options | OfType | None


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def check_params(owner: str, params: Mapping[str, Any],
                 constraints: Mapping[str, Constraint | list[Constraint]]) -> None:
    """Raise :class:`InvalidParameterError` for the first parameter outside its constraints.

    A list of constraints means "any of these"; ``None`` in a list allows ``None``.
    """
    for name, value in params.items():
        if name not in constraints:
            continue
        allowed = constraints[name]
        allowed = allowed if isinstance(allowed, list) else [allowed]
        if value is None and None in allowed:
            continue
        checks = [c for c in allowed if c is not None]
        if any(c.accepts(value) for c in checks):
            continue
        what = " or ".join(c.describe() for c in checks)
        if None in allowed:
            what += " or None"
        raise InvalidParameterError(
            f"The {name!r} parameter of {owner} must be {what}; got {value!r}."
        )
