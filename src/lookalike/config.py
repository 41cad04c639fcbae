"""Run configuration files (YAML or JSON): every CLI option can come from one file.

``lookalike train -c FILE`` reads the top-level keys, ``lookalike generate -c FILE`` the
``generate`` section, so one file can drive both. Example ``config.yaml``::

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
      country: {kind: constant, value: US}   # one value in every row, kept verbatim
    generate:                  # `lookalike generate` (each key = the flag of that name)
      count: 10000             # -n / --count
      seed: 2                  # --seed (default: the top-level seed)
      output: synthetic.csv    # -o / --output
      balance: income          # --balance
      weights: {sex: {Female: 0.5}}   # --weight sex=Female:0.5
      fair: income:sex         # --fair (or {target: income, sensitive: sex})
      copy_guard: all          # --copy-guard: the model's own mode, or off
      calibrate: true          # --calibrate / --no-calibrate (models fitted under DP)

Options given on the command line win over the file. Relative paths in the file
(``schema``, ``generate.output``) are relative to the file's folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lookalike.errors import InvalidParameterError

_KEYS = {"generator", "seed", "target", "rare_k", "clip_quantiles", "copy_guard", "params",
         "read", "columns", "schema", "generate"}
_READ_KEYS = {"encoding", "delimiter", "header"}
_GENERATE_KEYS = {"count", "seed", "output", "balance", "weights", "fair", "copy_guard",
                  "calibrate"}


@dataclass(frozen=True)
class GenerateConfig:
    """The ``generate`` section of a configuration file (all fields optional).

    >>> GenerateConfig(count=10, fair={"target": "income", "sensitive": "sex"}).count
    10
    """

    count: int | None = None
    seed: int | None = None
    output: str | None = None
    balance: str | None = None
    weights: dict[str, dict[str, float]] | None = None
    fair: dict[str, str] | None = None
    copy_guard: str | None = None
    calibrate: bool | None = None


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
    generate: GenerateConfig = field(default_factory=GenerateConfig)

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
    generate = _generate_section(data.get("generate"), path, data.get("seed"))
    return RunConfig(
        generator=data.get("generator"),
        seed=data.get("seed"),
        target=data.get("target"),
        rare_k=data.get("rare_k"),
        clip_quantiles=tuple(cq) if cq is not None else None,
        copy_guard=_guard_mode(data.get("copy_guard")),
        params=dict(data.get("params") or {}),
        read=dict(read),
        columns={str(k): dict(v) for k, v in columns.items()},
        schema=schema,
        generate=generate,
    )


def _guard_mode(value: Any) -> Any:
    """YAML 1.1 reads an unquoted ``off`` as False: take it as the guard mode "off"."""
    return "off" if value is False else value


def parse_fair(value: str) -> dict[str, str]:
    """``"income:sex"`` -> ``{"target": "income", "sensitive": "sex"}``."""
    target, sep, sensitive = value.partition(":")
    if not sep or not target or not sensitive:
        raise InvalidParameterError(
            f"fair {value!r} must look like TARGET:SENSITIVE, e.g. income:sex.")
    return {"target": target, "sensitive": sensitive}


def _generate_section(section: Any, path: Path, seed: Any) -> GenerateConfig:
    where = f"Config file {path}, section 'generate'"
    if section is None:
        return GenerateConfig(seed=seed)
    if not isinstance(section, dict):
        raise InvalidParameterError(f"{where} must hold a mapping of options.")
    unknown = sorted(set(section) - _GENERATE_KEYS)
    if unknown:
        raise InvalidParameterError(
            f"{where}: unknown option(s) {unknown}; allowed: {sorted(_GENERATE_KEYS)}.")
    count = section.get("count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int)):
        raise InvalidParameterError(f"{where}: 'count' must be an integer; got {count!r}.")
    weights = section.get("weights")
    if weights is not None:
        ok = isinstance(weights, dict) and all(
            isinstance(v, dict) and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                        for x in v.values())
            for v in weights.values())
        if not ok:
            raise InvalidParameterError(
                f"{where}: 'weights' must map a column to {{category: share}}, e.g. "
                f"{{sex: {{Female: 0.5}}}}; got {weights!r}.")
        weights = {str(c): {str(k): float(v) for k, v in shares.items()}
                   for c, shares in weights.items()}
    fair = section.get("fair")
    if isinstance(fair, str):
        fair = parse_fair(fair)
    elif fair is not None:
        if not isinstance(fair, dict) or set(fair) != {"target", "sensitive"}:
            raise InvalidParameterError(
                f"{where}: 'fair' must be TARGET:SENSITIVE or {{target: ..., sensitive: ...}}; "
                f"got {fair!r}.")
        fair = {k: str(v) for k, v in fair.items()}
    output = section.get("output")
    return GenerateConfig(
        count=count,
        seed=section.get("seed", seed),
        output=str(path.parent / output) if output is not None else None,
        balance=section.get("balance"),
        weights=weights,
        fair=fair,
        copy_guard=_guard_mode(section.get("copy_guard")),
        calibrate=_optional_bool(section.get("calibrate"), f"{where}: 'calibrate'"),
    )


def _optional_bool(value: Any, what: str) -> bool | None:
    """None, or a YAML/JSON boolean."""
    if value is None or isinstance(value, bool):
        return value
    raise InvalidParameterError(f"{what} must be true or false; got {value!r}.")
