"""Package-level checks: light imports, public API, docstring examples."""

from __future__ import annotations

import doctest
import importlib
import os
import subprocess
import sys

import pytest

import lookalike.privacy

MODULES = ["gdp", "rdp", "events", "accountant", "mechanisms", "dp_stats", "pate"]


def test_import_does_not_load_torch_or_opacus() -> None:
    code = (
        "import sys, lookalike.privacy; "
        "heavy = [m for m in ('torch', 'opacus', 'dp_accounting', 'pandas', 'scipy.optimize') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True)
    assert out.stdout.strip() == ""


def test_public_api_is_exported_and_documented() -> None:
    for name in lookalike.privacy.__all__:
        obj = getattr(lookalike.privacy, name)
        if callable(obj):
            assert obj.__doc__ and "Examples" in obj.__doc__, name


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples(module: str) -> None:
    mod = importlib.import_module(f"lookalike.privacy.{module}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
