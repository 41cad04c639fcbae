"""Gates for pipelines (``--require fidelity>=0.9``) and the plain-language verdicts.

A requirement is ``KEY OP NUMBER`` with ``KEY`` a summary key of ``metrics.json`` (see
:data:`SUMMARY_KEYS`) and ``OP`` one of ``>=``, ``<=``, ``>``, ``<``. A requirement on a metric
that was not computed (e.g. ``mia_auc`` without a holdout) fails, saying why, so that a gate
can never pass by accident.

>>> check_requirements({"fidelity": 0.93, "mia_auc": 0.51}, ["fidelity>=0.9", "mia_auc<=0.55"])
[]
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lookalike.errors import InvalidParameterError

SUMMARY_KEYS: tuple[str, ...] = (
    "fidelity", "column_fidelity", "pair_fidelity",
    "qa_accuracy", "qa_univariate", "qa_bivariate", "qa_trivariate",
    "discriminator_auc",
    "tstr_auc", "trtr_auc", "tstr_accuracy", "trtr_accuracy",
    "tstr_r2", "trtr_r2", "tstr_mae", "trtr_mae",
    "utility_gap", "importance_spearman",
    "regression_mad_real", "regression_mad_synthetic", "regression_pvalue",
    "dcr_share", "dcr_median_ratio", "dcr_median", "nndr_median",
    "exact_copies", "exact_copy_share", "exact_copy_share_holdout",
    "qi_copies", "qi_copy_share", "k_anonymity", "singling_out", "singling_out_share",
    "identifiability", "identifiability_holdout",
    "mia_auc", "mia_tpr_at_1pct_fpr",
)  # fmt: skip

_REQ = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|>|<)\s*(\S+)\s*$")
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
}


@dataclass(frozen=True)
class Requirement:
    """One gate on a summary key, such as ``fidelity>=0.9``.

    Examples
    --------
    >>> Requirement.parse("mia_auc<=0.55").holds(0.52)
    True
    >>> str(Requirement.parse(" dcr_share < 0.6 "))
    'dcr_share<0.6'
    """

    key: str
    op: str
    value: float

    @classmethod
    def parse(cls, text: str) -> Requirement:
        """Parse ``key>=x``, ``key<=x``, ``key>x`` or ``key<x`` (``key`` a summary key)."""
        m = _REQ.match(text)
        if not m:
            raise InvalidParameterError(
                f"cannot read requirement {text!r}: write it as KEY>=NUMBER (or <=, >, <), "
                "e.g. fidelity>=0.9."
            )
        key, op, raw = m.groups()
        if key not in SUMMARY_KEYS:
            raise InvalidParameterError(
                f"unknown metric {key!r} in requirement {text!r}; known metrics: "
                f"{', '.join(SUMMARY_KEYS)}."
            )
        try:
            value = float(raw)
        except ValueError:
            raise InvalidParameterError(
                f"requirement {text!r}: {raw!r} is not a number."
            ) from None
        if not math.isfinite(value):
            raise InvalidParameterError(f"requirement {text!r}: the bound must be finite.")
        return cls(key, op, value)

    def holds(self, actual: float) -> bool:
        """Whether ``actual`` satisfies the requirement."""
        return _OPS[self.op](actual, self.value)

    def __str__(self) -> str:
        return f"{self.key}{self.op}{self.value:g}"


def parse_requirements(texts: Iterable[str]) -> list[Requirement]:
    """Parse several requirements; raises on the first malformed or unknown one.

    Examples
    --------
    >>> [str(r) for r in parse_requirements(["fidelity>=0.9", "mia_auc<0.6"])]
    ['fidelity>=0.9', 'mia_auc<0.6']
    """
    return [Requirement.parse(t) for t in texts]


def check_requirements(
    summary: Mapping[str, Any],
    requirements: Iterable[str | Requirement],
    skipped: Mapping[str, str] | None = None,
) -> list[str]:
    """Return one sentence per requirement that fails or could not be checked.

    ``skipped`` (``meta.skipped`` of a metrics document) supplies the reason a metric is
    missing.

    Examples
    --------
    >>> check_requirements({"fidelity": 0.8}, ["fidelity>=0.9"])
    ['fidelity>=0.9 failed: fidelity is 0.8000']
    """
    failures = []
    for req in requirements:
        r = req if isinstance(req, Requirement) else Requirement.parse(req)
        actual = summary.get(r.key)
        if actual is None or (isinstance(actual, float) and not math.isfinite(actual)):
            why = (skipped or {}).get(r.key, "not computed")
            failures.append(f"{r} could not be checked: {r.key} was not computed ({why})")
        elif not r.holds(float(actual)):
            failures.append(f"{r} failed: {r.key} is {float(actual):.4f}")
    return failures


def grade(value: float | None, good: float, fair: float, higher_is_better: bool = True) -> str:
    """``good`` / ``fair`` / ``poor`` against two thresholds (``unknown`` for ``None``).

    Examples
    --------
    >>> grade(0.95, 0.9, 0.8), grade(0.03, 0.02, 0.05, higher_is_better=False)
    ('good', 'fair')
    """
    if value is None:
        return "unknown"
    if not higher_is_better:
        value, good, fair = -value, -good, -fair
    return "good" if value >= good else "fair" if value >= fair else "poor"


def privacy_verdict(
    summary: Mapping[str, Any], noise: Mapping[str, float] | None = None
) -> tuple[str, list[str]]:
    """``pass`` / ``warn`` / ``fail`` / ``unknown`` with the reasons.

    * exact copies beyond the holdout's natural rate: warn above 0.5 points, fail above 5;
    * DCR share: warn above 0.53, fail above 0.60;
    * membership-inference AUC: warn above 0.55, fail above 0.60;
    * identifiability above its holdout baseline: warn above 5 points.

    ``noise`` gives the standard error of ``dcr_share`` / ``mia_auc`` under "no
    memorisation"; a value is then flagged only if it also exceeds 0.5 by two standard errors,
    so that small samples do not raise false alarms.

    Without a holdout (no DCR share, no membership inference) the verdict is ``unknown``
    unless exact copies already fail it.

    Examples
    --------
    >>> privacy_verdict({"dcr_share": 0.7, "mia_auc": 0.5})[0]
    'fail'
    >>> privacy_verdict({"dcr_share": 0.56, "mia_auc": 0.5}, {"dcr_share": 0.04})[0]
    'pass'
    """
    level = {"pass": 0, "warn": 1, "fail": 2}
    worst = "pass"
    reasons: list[str] = []

    def flag(status: str, text: str) -> None:
        nonlocal worst
        reasons.append(text)
        if level[status] > level[worst]:
            worst = status

    copies = summary.get("exact_copy_share")
    base = summary.get("exact_copy_share_holdout") or 0.0
    if copies is not None and copies - base > 0.005:
        flag("fail" if copies - base > 0.05 else "warn",
             f"{copies:.1%} of synthetic rows are exact copies of training rows "
             f"(real holdout rows: {base:.1%}).")
    noise = noise or {}

    def significant(key: str, value: float) -> bool:
        return value - 0.5 > 2.0 * float(noise.get(key, 0.0))

    share = summary.get("dcr_share")
    if share is not None and share > 0.53 and significant("dcr_share", share):
        flag("fail" if share > 0.60 else "warn",
             f"DCR share {share:.3f}: synthetic rows sit {'much ' if share > 0.6 else ''}closer "
             "to training rows than to unseen real rows.")
    mia = summary.get("mia_auc")
    if mia is not None and mia > 0.55 and significant("mia_auc", mia):
        flag("fail" if mia > 0.60 else "warn",
             f"membership-inference AUC {mia:.3f}: an attacker holding the synthetic table can "
             "tell which rows were in the training data"
             f"{'' if mia > 0.6 else ', a little better than chance'}.")
    ident, ident_base = summary.get("identifiability"), summary.get("identifiability_holdout")
    if ident is not None and ident_base is not None and ident - ident_base > 0.05:
        flag("warn", f"identifiability {ident:.3f} exceeds the fresh-sample baseline "
                     f"{ident_base:.3f}.")
    if share is None and mia is None and worst == "pass":
        return "unknown", reasons + [
            "no holdout table: DCR share and membership inference were not computed."
        ]
    if not reasons:
        reasons.append("no sign of memorisation: synthetic rows are no closer to training rows "
                       "than unseen real rows are.")
    return worst, reasons
