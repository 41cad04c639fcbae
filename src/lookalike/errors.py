"""Exception taxonomy of lookalike.

Every error raised on purpose by the library is a :class:`LookalikeError`; each also derives
from the builtin a caller would naturally catch (``ValueError``, ``OSError``...). Messages
name the column, parameter or file, the bad value, and what to do about it.
"""

from __future__ import annotations

from collections.abc import Iterable


class LookalikeError(Exception):
    """Base class of every error lookalike raises on purpose."""


class InvalidParameterError(LookalikeError, ValueError):
    """A parameter of a public function or estimator has a bad value."""


class InvalidDataError(LookalikeError, ValueError):
    """The input table has one or more problems; ``problems`` lists every one found.

    Examples
    --------
    >>> err = InvalidDataError(["column 'age': entirely missing"])
    >>> err.problems
    ["column 'age': entirely missing"]
    """

    def __init__(self, problems: str | Iterable[str], *, source: str | None = None) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.source = source
        head = f"{source}: " if source else ""
        if len(self.problems) == 1:
            message = head + self.problems[0]
        else:
            message = head + f"{len(self.problems)} problems in the data:\n" + "\n".join(
                f"  - {p}" for p in self.problems
            )
        super().__init__(message)


class InputFileError(LookalikeError, OSError):
    """A data file cannot be read (missing, empty, malformed, wrong encoding)."""


class NotFittedError(LookalikeError, ValueError, AttributeError):
    """An estimator was used before ``fit`` (as in scikit-learn, also ValueError and AttributeError)."""


class ModelFileError(LookalikeError, OSError):
    """A model file is missing, corrupted, unsafe, or from an unsupported version."""


class BudgetExceededError(LookalikeError, ValueError):
    """A differentially private release would spend more than the declared budget."""


class GenerationError(LookalikeError, RuntimeError):
    """Sampling could not produce what was asked (e.g. the copy guard cannot fill n rows)."""
