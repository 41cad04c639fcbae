"""Column specifications and the table schema: frozen, plain-JSON round trip.

A :class:`Schema` says, for every column, what *kind* of data it holds and how it should come
back out of the generator. It holds no statistics of the data (those live in the fitted
encoders), so it can be printed, edited by a person and kept in version control.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

from lookalike.errors import InvalidParameterError

Kind = Literal["numeric", "categorical", "datetime", "identifier", "text", "constant"]
KINDS: tuple[str, ...] = ("numeric", "categorical", "datetime", "identifier", "text",
                          "constant")
DTYPES: tuple[str, ...] = ("int", "float", "bool", "string", "datetime")
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class ColumnSpec:
    """How one column is modelled and written back.

    Parameters
    ----------
    name : column name.
    kind : ``numeric``, ``categorical``, ``datetime``, ``identifier`` (unique key: never
        modelled, regenerated as fresh values of the same shape), ``text`` (high-cardinality
        strings, see ``text_mode``) or ``constant`` (one value in every row, declared by the
        user with ``value``: never modelled, written back verbatim in every synthetic row).
        Inference never chooses ``constant``: a column holding one value is an error at fit
        time until it is dropped or declared so.
    dtype : the output type: ``int``, ``float``, ``bool``, ``string`` or ``datetime``.
    decimals : numeric columns: decimal places to round generated values to (``None`` keeps
        full float precision; ``0`` for integers).
    datetime_format : datetime columns read from text: the ``strftime`` format of the input,
        used again on output. ``None`` for native datetime columns.
    text_mode : text columns: ``"categorical"`` (modelled as a categorical column; rare-value
        protection then turns most values into ``_RARE_``) or ``"exclude"`` (not modelled; the
        column is written back entirely missing, with a warning at fit time).
    id_pattern : identifier columns: the shape of fresh keys (see ``encoding.identifier``).
    lower, upper : public bounds declared by the user (numeric / datetime as ISO text). When
        given they replace the data-derived clipping range, which also matters under DP.
    categories : a public category list declared by the user (then no category is learned
        from the data, and values outside it are an error).
    rare_k, clip_quantiles : per-column overrides of the synthesizer's privacy protection.
    value : constant columns: the value every row holds (a public declaration: it costs no
        privacy budget; the training column must hold exactly this value in every row).
    reason : why inference chose this kind (informational).

    Examples
    --------
    >>> ColumnSpec("country", "constant", "string", value="AT").modelled
    False
    """

    name: str
    kind: Kind
    dtype: str
    decimals: int | None = None
    datetime_format: str | None = None
    text_mode: Literal["categorical", "exclude"] | None = None
    id_pattern: str | None = None
    lower: float | str | None = None
    upper: float | str | None = None
    categories: tuple[Any, ...] | None = None
    rare_k: int | None = None
    clip_quantiles: tuple[float, float] | None = None
    value: str | int | float | bool | None = None
    reason: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        where = f"column {self.name!r}"
        if self.kind not in KINDS:
            raise InvalidParameterError(
                f"{where}: kind must be one of {', '.join(KINDS)}; got {self.kind!r}."
            )
        if self.dtype not in DTYPES:
            raise InvalidParameterError(
                f"{where}: dtype must be one of {', '.join(DTYPES)}; got {self.dtype!r}."
            )
        if self.kind == "text" and self.text_mode not in ("categorical", "exclude"):
            raise InvalidParameterError(
                f"{where}: text columns need text_mode 'categorical' or 'exclude'; "
                f"got {self.text_mode!r}."
            )
        if self.kind == "constant":
            _check_constant(self)
        elif self.value is not None:
            raise InvalidParameterError(
                f"{where}: 'value' is only for kind 'constant'; the column is {self.kind}.")
        if self.decimals is not None and (not isinstance(self.decimals, int) or self.decimals < 0):
            raise InvalidParameterError(
                f"{where}: decimals must be a non-negative int or null; got {self.decimals!r}."
            )
        if self.rare_k is not None and (not isinstance(self.rare_k, int) or self.rare_k < 1):
            raise InvalidParameterError(
                f"{where}: rare_k must be an int >= 1; got {self.rare_k!r}."
            )
        if self.clip_quantiles is not None:
            lo, hi = self.clip_quantiles
            if not 0.0 <= lo < hi <= 1.0:
                raise InvalidParameterError(
                    f"{where}: clip_quantiles must satisfy 0 <= low < high <= 1; "
                    f"got {self.clip_quantiles!r}."
                )

    @property
    def modelled(self) -> bool:
        """Whether a generator sees this column (identifiers and excluded text are not)."""
        return self.kind not in ("identifier", "constant") and not (
            self.kind == "text" and self.text_mode == "exclude"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form; fields left at their default are omitted."""
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "dtype": self.dtype}
        defaults = {f.name: f.default for f in fields(self)}
        for key, value in asdict(self).items():
            if key in out or value == defaults[key]:
                continue
            out[key] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnSpec:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        name = data.get("name", "?")
        if unknown:
            raise InvalidParameterError(
                f"column {name!r}: unknown schema option(s) {sorted(unknown)}; "
                f"allowed: {sorted(known)}."
            )
        missing = {"name", "kind"} - set(data)
        if missing:
            raise InvalidParameterError(f"column {name!r}: schema entry lacks {sorted(missing)}.")
        values = dict(data)
        values.setdefault("dtype", _default_dtype(values["kind"], values.get("value")))
        for key in ("categories", "clip_quantiles"):
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        return cls(**values)


def _default_dtype(kind: str, value: Any = None) -> str:
    if kind == "constant" and value is not None:
        return ("bool" if isinstance(value, bool) else "int" if isinstance(value, int)
                else "float" if isinstance(value, float) else "string")
    return {"numeric": "float", "datetime": "datetime"}.get(kind, "string")


def _check_constant(spec: ColumnSpec) -> None:
    """A constant column needs a scalar ``value`` that its dtype can hold."""
    where = f"column {spec.name!r}"
    value = spec.value
    if value is None or not isinstance(value, (str, int, float, bool)):
        raise InvalidParameterError(
            f"{where}: kind 'constant' needs the value every row holds, e.g. "
            f"{{kind: constant, value: ...}}; got value {value!r}.")
    try:
        if spec.dtype in ("int", "float"):
            number = float(value)
            if spec.dtype == "int" and not number.is_integer():
                raise ValueError
        elif spec.dtype == "bool" and str(value).lower() not in ("true", "false", "1", "0"):
            raise ValueError
    except ValueError:
        raise InvalidParameterError(
            f"{where}: the constant value {value!r} is not a {spec.dtype}; fix the value or "
            "set dtype (e.g. dtype: string).") from None


@dataclass(frozen=True)
class Schema:
    """An ordered collection of :class:`ColumnSpec`, one per column of the table.

    >>> s = Schema((ColumnSpec("age", "numeric", "int", decimals=0),))
    >>> Schema.from_json(s.to_json()) == s
    True
    """

    columns: tuple[ColumnSpec, ...]

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise InvalidParameterError(f"Schema has duplicate column names: {dupes}.")

    def __iter__(self) -> Iterator[ColumnSpec]:
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    def __contains__(self, name: object) -> bool:
        return any(c.name == name for c in self.columns)

    def __getitem__(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def modelled(self) -> list[ColumnSpec]:
        return [c for c in self.columns if c.modelled]

    def of_kind(self, *kinds: str) -> list[ColumnSpec]:
        return [c for c in self.columns if c.kind in kinds]

    def to_dict(self) -> dict[str, Any]:
        return {"version": SCHEMA_VERSION, "columns": [c.to_dict() for c in self.columns]}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Schema:
        if not isinstance(data, Mapping) or "columns" not in data:
            raise InvalidParameterError(
                "A schema must be a mapping with a 'columns' list (as `lookalike schema` prints)."
            )
        version = data.get("version", SCHEMA_VERSION)
        if version > SCHEMA_VERSION:
            raise InvalidParameterError(
                f"Schema version {version} is newer than this lookalike understands "
                f"({SCHEMA_VERSION}); upgrade lookalike."
            )
        return cls(tuple(ColumnSpec.from_dict(c) for c in data["columns"]))

    @classmethod
    def from_json(cls, text: str) -> Schema:
        return cls.from_dict(json.loads(text))

    def with_overrides(self, overrides: Mapping[str, Mapping[str, Any]]) -> Schema:
        """Return a schema where the named columns get the given options.

        ``overrides`` maps column name -> options, as in a config file's ``columns:`` section.
        Changing ``kind`` resets options that only make sense for the old kind.
        """
        unknown = [n for n in overrides if n not in self]
        if unknown:
            raise InvalidParameterError(
                f"Config overrides name column(s) {unknown} that are not in the data; "
                f"columns are: {self.names}."
            )
        cols = []
        for spec in self.columns:
            opts = dict(overrides.get(spec.name, {}))
            if not opts:
                cols.append(spec)
                continue
            base = spec.to_dict()
            if "kind" in opts and opts["kind"] != spec.kind:
                base = {"name": spec.name, "kind": opts["kind"]}
                if opts["kind"] == "text":
                    base["text_mode"] = "categorical"
                if opts["kind"] == "numeric" and spec.dtype in ("int", "float"):
                    base["dtype"] = spec.dtype
                    base["decimals"] = spec.decimals
                if opts["kind"] == "datetime":
                    base["datetime_format"] = spec.datetime_format
                if opts["kind"] in ("categorical", "identifier") and spec.kind != "datetime":
                    base["dtype"] = spec.dtype
                if opts["kind"] == "constant" and "dtype" not in opts:
                    base["dtype"] = (spec.dtype if spec.dtype in ("int", "float", "bool")
                                     else _default_dtype("constant", opts.get("value")))
            base.update(opts)
            base["reason"] = "set by the user"
            cols.append(ColumnSpec.from_dict(base))
        return Schema(tuple(cols))

    def replace_column(self, name: str, **changes: Any) -> Schema:
        return Schema(tuple(replace(c, **changes) if c.name == name else c for c in self.columns))
