"""Exception taxonomy of lookalike.

Every error raised on purpose by the library is a :class:`LookalikeError`; each also derives
from the builtin a caller would naturally catch (``ValueError``, ``OSError``...). Messages
name the column, parameter or file, the bad value, and what to do about it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

#: ``DataFrame.attrs`` key that :func:`lookalike.io.read_table` sets on a table read from a
#: CSV file whose rows are one line each: the file line of the first data row (2 after a
#: header line), so that messages can give the line of a bad cell.
FIRST_LINE_ATTR = "lookalike_first_data_line"


def data_row(position: int, attrs: Mapping[str, Any] | None = None) -> str:
    """How messages name a row: 1-based data rows (the header is not a row), with the line
    of the file when the table was read from a CSV file.

    >>> data_row(7)
    'data row 8'
    >>> data_row(7, {FIRST_LINE_ATTR: 2})
    'data row 8 (line 9 of the file)'
    """
    first = (attrs or {}).get(FIRST_LINE_ATTR)
    text = f"data row {position + 1}"
    return text if first is None else f"{text} (line {first + position} of the file)"


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

    def with_source(self, source: str | None) -> InvalidDataError:
        """The same problems, prefixed with ``source`` (kept when one is set already)."""
        if self.source is not None or source is None:
            return self
        return InvalidDataError(self.problems, source=source)


@contextmanager
def data_source(source: Any) -> Iterator[None]:
    """Name ``source`` (a file path) in every :class:`InvalidDataError` raised inside.

    >>> with data_source("people.csv"):  # doctest: +SKIP
    ...     Synthesizer().fit(read_table("people.csv"))
    """
    try:
        yield
    except InvalidDataError as exc:
        raise exc.with_source(None if source is None else str(source)) from exc.__cause__


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
