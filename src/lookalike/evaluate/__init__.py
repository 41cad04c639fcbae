"""Evaluate a synthetic table: fidelity, utility and privacy, an HTML report, CI gates.

>>> import lookalike.evaluate as ev
>>> res = ev.evaluate(train, synthetic, holdout=test, target="income")  # doctest: +SKIP
>>> res.save("report/")  # metrics.json + report.html                # doctest: +SKIP
>>> res.check(["fidelity>=0.9", "dcr_share<=0.53"])                   # doctest: +SKIP
[]

The metric definitions live in the docstrings of :mod:`lookalike.evaluate.fidelity`,
:mod:`lookalike.evaluate.utility` and :mod:`lookalike.evaluate.privacy`; the layout and the
stable keys of ``metrics.json`` in :mod:`lookalike.evaluate.core`. Heavy libraries (LightGBM,
scikit-learn, SciPy, matplotlib) are imported only when a metric or the report needs them.
"""

from typing import TYPE_CHECKING, Any

from lookalike.evaluate.gates import (
    SUMMARY_KEYS,
    Requirement,
    check_requirements,
    parse_requirements,
    privacy_verdict,
)

if TYPE_CHECKING:  # pragma: no cover
    from lookalike.evaluate.core import (
        FORMAT_VERSION,
        EvaluationConfig,
        EvaluationResult,
        evaluate,
        load_metrics,
        prepare,
    )

_LAZY = ("FORMAT_VERSION", "EvaluationConfig", "EvaluationResult", "evaluate", "load_metrics",
         "prepare")

__all__ = [
    "FORMAT_VERSION",
    "SUMMARY_KEYS",
    "EvaluationConfig",
    "EvaluationResult",
    "Requirement",
    "check_requirements",
    "evaluate",
    "load_metrics",
    "parse_requirements",
    "prepare",
    "privacy_verdict",
]


def __getattr__(name: str) -> Any:
    # numpy / pandas load on first use, so the CLI (which imports this package) starts fast
    if name in _LAZY:
        from lookalike.evaluate import core

        return getattr(core, name)
    raise AttributeError(f"module 'lookalike.evaluate' has no attribute {name!r}")
