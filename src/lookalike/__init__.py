"""lookalike: learn a sensitive table and generate private, useful synthetic records.

>>> from lookalike import Synthesizer
>>> syn = Synthesizer(generator="linear", random_state=0)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # pragma: no cover
    from lookalike.schema import Schema
    from lookalike.synthesizer import Synthesizer

__all__ = ["Schema", "Synthesizer", "__version__", "load"]


def __getattr__(name: str) -> Any:
    # Lazy attributes keep `import lookalike` (and the CLI's start) fast.
    if name == "Synthesizer":
        from lookalike.synthesizer import Synthesizer

        return Synthesizer
    if name == "Schema":
        from lookalike.schema import Schema

        return Schema
    if name == "load":
        from lookalike.synthesizer import Synthesizer

        return Synthesizer.load
    raise AttributeError(f"module 'lookalike' has no attribute {name!r}")
