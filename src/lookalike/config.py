"""Run configuration files (YAML or JSON): every CLI option can come from one file.

Example ``config.yaml``::

    generator: linear          # any name from `lookalike generators`
    seed: 7
    target: income
    rare_k: 5
    clip_quantiles: [0.001, 0.999]
    copy_guard: all
    params:                    # generator parameters
      n_components: auto
    read:                      # how to read CSV input
      delimiter: ","
      encoding: utf-8
    columns:                   # schema overrides, as `lookalike schema` prints them
      education-num: {kind: categorical}
      fnlwgt: {lower: 0, upper: 1500000}

Options given on the command line win over the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lookalike.errors import InvalidParameterError

_KEYS = {"generator", "seed", "target", "rare_k", "clip_quantiles", "copy_guard", "params",
         "read", "columns", "schema"}
_READ_KEYS = {"encoding", "delimiter", "header"}


@dataclass(frozen=True)
class RunConfig:
    """A parsed configuration file (all fields optional)."""

    generator: str | None = None
    seed: int | None = None
    target: str | None = None
    rare_k: int | None = None
    clip_quantiles: tuple[float, float] | None = None
    copy_guard: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    read: dict[str, Any] = field(default_factory=dict)
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)
    schema: str | None = None  # path of a full schema JSON file

    def synthesizer_kwargs(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("rare_k", "copy_guard", "target"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.clip_quantiles is not None:
            out["clip_quantiles"] = tuple(self.clip_quantiles)
        return out


def load_config(path: str | Path | None) -> RunConfig:
    """Read a YAML (``.yaml``/``.yml``) or JSON config; ``None`` gives the empty config."""
    if path is None:
        return RunConfig()
    path = Path(path)
    if not path.is_file():
        raise InvalidParameterError(f"Config file {path} does not exist.")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            data = json.loads(text)
    except Exception as exc:  # yaml.YAMLError / json.JSONDecodeError
        raise InvalidParameterError(f"Config file {path} cannot be parsed: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidParameterError(f"Config file {path} must hold a mapping of options.")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise InvalidParameterError(
            f"Config file {path}: unknown option(s) {unknown}; allowed: {sorted(_KEYS)}."
        )
    read = data.get("read") or {}
    bad_read = sorted(set(read) - _READ_KEYS)
    if bad_read:
        raise InvalidParameterError(
            f"Config file {path}: unknown read option(s) {bad_read}; allowed: "
            f"{sorted(_READ_KEYS)}."
        )
    columns = data.get("columns") or {}
    if not isinstance(columns, dict) or not all(isinstance(v, dict) for v in columns.values()):
        raise InvalidParameterError(
            f"Config file {path}: 'columns' must map column names to option mappings."
        )
    schema = data.get("schema")
    if schema is not None:
        schema = str((path.parent / schema).resolve())
    cq = data.get("clip_quantiles")
    return RunConfig(
        generator=data.get("generator"),
        seed=data.get("seed"),
        target=data.get("target"),
        rare_k=data.get("rare_k"),
        clip_quantiles=tuple(cq) if cq is not None else None,
        copy_guard=data.get("copy_guard"),
        params=dict(data.get("params") or {}),
        read=dict(read),
        columns={str(k): dict(v) for k, v in columns.items()},
        schema=schema,
    )
