"""The README's licence table matches the runtime dependencies and their metadata."""

import re
import tomllib
from importlib.metadata import PackageNotFoundError, metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: words that a permissive licence's metadata never holds ("BSL-1.0" is Boost, permissive;
#: the Business Source License is "BUSL")
NOT_PERMISSIVE = ("GPL", "BUSL", "Business Source", "SSPL", "Commons Clause", "MPL")


def runtime_dependencies() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [re.split(r"[<>=!~;\[ ]", dep, maxsplit=1)[0] for dep in project["dependencies"]]


def declared_licence(name: str) -> str:
    meta = metadata(name)
    classifiers = [c for c in meta.get_all("Classifier") or [] if c.startswith("License")]
    return " ".join([meta.get("License-Expression") or "", *classifiers,
                     (meta.get("License") or "").splitlines()[0] if meta.get("License") else ""])


@pytest.mark.parametrize("name", runtime_dependencies())
def test_runtime_dependency_is_permissive_and_listed(name):
    try:
        licence = declared_licence(name)
    except PackageNotFoundError:
        pytest.skip(f"{name} is not installed")
    assert licence.strip(), f"{name} declares no licence in its metadata"
    assert not any(word in licence for word in NOT_PERMISSIVE), (name, licence)
    section = (ROOT / "README.md").read_text().split("## Licences", 1)[1]
    assert f"\n| {name.lower()} |" in section, f"{name} is missing from the README's table"
