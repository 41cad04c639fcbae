"""Read a table from CSV / Parquet / a folder of them; write CSV / Parquet atomically.

CSV cells are read as text (``dtype=str``) so that nothing is lost before the schema decides
what each column is: leading zeros of codes survive, and mixed columns can be reported.
Empty cells and the usual missing markers (``NA``, ``N/A``, ``null``, ``NaN``...) become
missing values.

Messages about a cell name its row as "data row N" (1-based, the header is not a row). For a
CSV file whose rows are one line each (no blank lines, no line breaks inside quoted cells)
``read_table`` records the line of the first data row in ``df.attrs`` (see
:func:`lookalike.errors.data_row`), and the messages add "(line M of the file)".
"""

from __future__ import annotations

import codecs
import csv
import logging
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from lookalike.errors import (
    FIRST_LINE_ATTR,
    InputFileError,
    InvalidDataError,
    InvalidParameterError,
)

log = logging.getLogger(__name__)

CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
_DELIMITERS = ",;\t|"


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suf in CSV_SUFFIXES + PARQUET_SUFFIXES:
        if name.endswith(suf):
            return suf
    return path.suffix.lower()


def read_table(
    source: str | os.PathLike[str] | pd.DataFrame,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    header: bool | None = None,
) -> pd.DataFrame:
    """Read one table from a DataFrame, a CSV or Parquet file, or a folder of such files.

    Parameters
    ----------
    source : a DataFrame (returned as a copy), a file path, or a directory whose CSV/Parquet
        files (sorted by name) are parts of one table with the same columns.
    encoding : CSV text encoding; detected from a byte-order mark, else UTF-8.
    delimiter : CSV delimiter; sniffed among ``, ; TAB |`` when not given.
    header : whether the CSV's first line holds column names; sniffed when not given
        (without a header, columns are named ``column_1``, ``column_2``...).

    Examples
    --------
    >>> df = read_table("adult/train.csv")  # doctest: +SKIP
    """
    if isinstance(source, pd.DataFrame):
        _check_columns(list(source.columns), "the DataFrame")
        return source.copy()
    path = Path(source)
    if not path.exists():
        raise InputFileError(f"{path}: no such file or directory.")
    if path.is_dir():
        return _read_folder(path, encoding=encoding, delimiter=delimiter, header=header)
    return _read_file(path, encoding=encoding, delimiter=delimiter, header=header)


def _read_folder(path: Path, **kwargs) -> pd.DataFrame:
    parts = sorted(
        p for p in path.iterdir() if p.is_file() and _suffix(p) in CSV_SUFFIXES + PARQUET_SUFFIXES
    )
    if not parts:
        raise InputFileError(f"{path}: the folder holds no .csv or .parquet files.")
    frames = [_read_file(p, **kwargs) for p in parts]
    for frame in frames:  # rows of several files: their lines cannot be told by row number
        frame.attrs.pop(FIRST_LINE_ATTR, None)
    first = list(frames[0].columns)
    for p, frame in zip(parts[1:], frames[1:], strict=True):
        if list(frame.columns) != first:
            raise InvalidDataError(
                f"{p.name} has columns {list(frame.columns)} but {parts[0].name} has {first}; "
                "all files of a folder must be parts of one table with the same columns.",
                source=str(path),
            )
    if any(_suffix(p) in PARQUET_SUFFIXES for p in parts) and any(
        _suffix(p) in CSV_SUFFIXES for p in parts
    ):
        frames = [f.astype("string").astype(object).where(f.notna(), None) for f in frames]
    return pd.concat(frames, ignore_index=True)


def _read_file(
    path: Path, *, encoding: str | None, delimiter: str | None, header: bool | None
) -> pd.DataFrame:
    suffix = _suffix(path)
    if path.stat().st_size == 0:
        raise InputFileError(f"{path}: the file is empty; it needs a header line and data rows.")
    if suffix in PARQUET_SUFFIXES:
        try:
            df = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises many types for a broken file
            raise InputFileError(f"{path}: not a readable Parquet file ({exc}).") from exc
        _check_columns([str(c) for c in df.columns], str(path))
        return df
    return _read_csv(path, encoding=encoding, delimiter=delimiter, header=header)


def _detect_encoding(raw: bytes) -> str:
    if raw.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return "utf-8"


def _decode_error(path: Path, raw: bytes, exc: UnicodeDecodeError, encoding: str) -> InputFileError:
    line = raw[: exc.start].count(b"\n") + 1
    bad = raw[exc.start : exc.start + 1]
    return InputFileError(
        f"{path}, line {line}: byte 0x{bad.hex()} is not valid {encoding}. The file is in "
        "another encoding: pass it with --encoding (e.g. --encoding latin-1 or cp1252), or "
        "re-save the file as UTF-8."
    )


def _read_csv(
    path: Path, *, encoding: str | None, delimiter: str | None, header: bool | None
) -> pd.DataFrame:
    compression = "gzip" if path.name.lower().endswith(".gz") else None
    if compression:
        import gzip

        raw = gzip.decompress(path.read_bytes())
    else:
        raw = path.read_bytes()
    enc = encoding or _detect_encoding(raw)
    try:
        text = raw.decode(enc)
    except UnicodeDecodeError as exc:
        raise _decode_error(path, raw, exc, enc) from exc
    except LookupError as exc:
        raise InvalidParameterError(f"Unknown text encoding {enc!r} for {path}.") from exc
    if not text.strip():
        raise InputFileError(f"{path}: the file holds only blank lines; it needs data rows.")
    sample = text[:65536]
    if delimiter is None:
        delimiter = _sniff_delimiter(sample, path)
    if header is None:
        header = _sniff_header(sample, delimiter)
    lines = text.splitlines()
    first = next(csv.reader([lines[0]], delimiter=delimiter))
    if header:
        _check_columns(first, str(path))
        names = None
    else:
        names = [f"column_{i + 1}" for i in range(len(first))]
    import io as _io

    try:
        df = pd.read_csv(
            _io.StringIO(text),
            sep=delimiter,
            header=0 if header else None,
            names=names,
            dtype=str,
            keep_default_na=True,
            skipinitialspace=False,
            engine="c",
        )
    except pd.errors.ParserError as exc:
        raise InputFileError(f"{path}: malformed CSV: {_parser_message(exc)}") from exc
    except pd.errors.EmptyDataError as exc:
        raise InputFileError(f"{path}: no columns could be read ({exc}).") from exc
    if df.empty:
        raise InputFileError(
            f"{path}: the file has a header ({len(df.columns)} columns) but no data rows."
        )
    if len(lines) == len(df) + int(header):  # every row is one line: data row i is line i+k
        df.attrs[FIRST_LINE_ATTR] = 1 + int(header)
    return df


def _parser_message(exc: Exception) -> str:
    msg = str(exc).strip()
    m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", msg)
    if m:
        want, line, got = m.groups()
        return (
            f"line {line} has {got} fields but the header has {want}. Check for an unquoted "
            "delimiter inside a value on that line, or pass the right --delimiter."
        )
    return msg


def _sniff_delimiter(sample: str, path: Path) -> str:
    try:
        return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        first = sample.splitlines()[0] if sample else ""
        counts = {d: first.count(d) for d in _DELIMITERS}
        best = max(counts, key=counts.get)
        if path.suffix.lower() == ".tsv":
            return "\t"
        return best if counts[best] > 0 else ","


def _sniff_header(sample: str, delimiter: str) -> bool:
    """A first line is a header unless it looks like data (numbers where the data has them)."""
    rows = list(csv.reader(sample.splitlines()[:20], delimiter=delimiter))
    if len(rows) < 2:
        return True
    first, rest = rows[0], rows[1:]

    def is_number(value: str) -> bool:
        try:
            float(value)
        except ValueError:
            return False
        return True

    for j, cell in enumerate(first):
        column = [r[j] for r in rest if j < len(r) and r[j] != ""]
        if column and all(is_number(v) for v in column) and not is_number(cell):
            return True
    if any(is_number(c) for c in first):
        return False
    return True


def _check_columns(columns: list[str], where: str) -> None:
    problems = []
    seen: dict[str, int] = {}
    for c in columns:
        seen[str(c)] = seen.get(str(c), 0) + 1
    dupes = [c for c, k in seen.items() if k > 1]
    if dupes:
        problems.append(
            f"duplicate column name(s) {dupes}: every column needs a unique name; rename them."
        )
    blanks = [i + 1 for i, c in enumerate(columns) if str(c).strip() == ""]
    if blanks:
        problems.append(f"column(s) at position {blanks} have an empty name; name them.")
    if problems:
        raise InvalidDataError(problems, source=where)


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; give the usual mode
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_table(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``df`` to CSV or Parquet (chosen by the extension) via a temporary file + rename.

    An interrupted write never leaves a half-written file at ``path``.
    """
    path = Path(path)
    suffix = _suffix(path)
    if suffix in PARQUET_SUFFIXES:
        _atomic_write(path, lambda p: df.to_parquet(p, index=False))
    elif suffix in CSV_SUFFIXES:
        sep = "\t" if suffix.startswith(".tsv") else ","
        comp = "gzip" if suffix.endswith(".gz") else None
        _atomic_write(path, lambda p: df.to_csv(p, index=False, sep=sep, compression=comp))
    else:
        raise InvalidParameterError(
            f"Cannot tell the output format of {path}: use a .csv, .tsv, .csv.gz or .parquet "
            "extension."
        )
    return path


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write a text file atomically (temporary file + rename)."""
    path = Path(path)
    _atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))
    return path
