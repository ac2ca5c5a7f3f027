"""Reading example files for ``synth``: CSV, Parquet and JSON (``orient="table"``); never pickles.

The index rule, by format:

- **CSV** flattens indexes, so a CSV file is read *as written* (``pd.read_csv(path)``: a default
  RangeIndex, the header as column labels, no index column guessed). A program's result matches
  a CSV output file when it equals the file either as ``result.to_csv(index=False)`` would write
  it, or after ``result.reset_index()`` (so ``df.groupby('a').sum()`` matches a file with column
  ``a`` first), or as ``result.to_csv()`` writes it (an unnamed index under an empty header,
  which read_csv calls ``Unnamed: 0``). Column labels compare as text; a Series counts as its
  one column. See ``equality.csv_matches``. A header that repeats a name is refused (pandas
  would rename the second ``a`` to ``a.1``), and so is a row with fewer fields than the header
  (pandas would pad it with NaN); an empty field (``1,2,`` under ``a,b,c``) is a missing value.
- **Parquet** and **JSON** written with ``orient="table"`` keep the index, MultiIndex and column
  labels; they are read back exactly and matched exactly (``equality.equal``).

Every problem (missing file, unknown or mismatched extension, unparsable content) raises
:class:`InputError` with one line naming the file.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".json": "json"}
_REFUSED = {".pkl": "pickle", ".pickle": "pickle", ".p": "pickle"}


class InputError(ValueError):
    """A user's example file can't be used; the message is one line naming the file."""


def file_format(path: str | Path) -> str:
    """``csv``, ``parquet`` or ``json`` from the extension; refuses pickles and anything else."""
    ext = Path(path).suffix.lower()
    if ext in _REFUSED:
        raise InputError(f"{path}: pickle files are never read (loading one runs code); use CSV, Parquet or JSON")
    if ext not in FORMATS:
        raise InputError(f"{path}: unsupported extension {ext or '(none)'!r}; use .csv, .parquet or .json")
    return FORMATS[ext]


def read_frame(path: str | Path) -> tuple[pd.DataFrame, str]:
    """Read one example file; returns the frame and its format."""
    if not str(path):
        raise InputError("'': an empty file name")     # Path('') is the working folder
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{path}: is a directory, not a file")
    fmt = file_format(p)
    if not p.is_file():
        raise InputError(f"{path}: {'not a regular file' if p.exists() else 'no such file'}")
    try:
        with p.open("rb") as fh:
            head = fh.read(4)
    except OSError as e:                                # unreadable: permissions, I/O error
        raise InputError(f"{path}: cannot read: {e.strerror or e}") from None
    if fmt != "parquet" and head == b"PAR1":
        raise InputError(f"{path}: this is a Parquet file but the extension says {fmt}")
    if fmt == "parquet" and head != b"PAR1":
        raise InputError(f"{path}: not a Parquet file (extension .parquet, no PAR1 magic)")
    if fmt == "parquet":
        _refuse_unsafe_pyarrow(path)
    try:
        if fmt == "csv":
            df = pd.read_csv(p)
        elif fmt == "parquet":
            df = pd.read_parquet(p)
        else:
            df = _read_json_table(p)
    except InputError:
        raise
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text ({_first_bad_byte(p) or e.reason}); "
                         f"save it as UTF-8") from None
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: empty file") from None
    except pd.errors.ParserError as e:
        raise InputError(f"{path}: unparsable CSV: {str(e).strip().splitlines()[-1]}") from None
    except (ValueError, OSError, ImportError, NotImplementedError) as e:
        # (NotImplementedError: a table JSON of a type pandas writes but cannot read, "duration")
        why = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise InputError(f"{path}: cannot read as {fmt}: {why}") from None
    if fmt == "csv":
        _refuse_duplicate_header(p, df)
        if not df.index.equals(pd.RangeIndex(len(df))):
            # pandas' implicit index: rows one field longer than the header make the first
            # field an unnamed index, which a CSV output would then silently not compare
            raise InputError(f"{path}: the rows have {df.shape[1] + df.index.nlevels} fields but the "
                             f"header names {df.shape[1]}; name every column")
        if df.shape[1] > 1 and df.iloc[:, -1].isna().any():   # where pandas pads a short row
            _refuse_short_rows(p, df.shape[1])
    return df, fmt


def _pyarrow_hotfix_installed() -> bool:
    """Whether pyarrow-hotfix, which turns the unpickling of PyExtensionType off, is installed."""
    import importlib.util
    return importlib.util.find_spec("pyarrow_hotfix") is not None


def _pyarrow_unpickles(version: str, hotfixed: bool) -> bool:
    """Whether a pyarrow of ``version`` unpickles a file's PyExtensionType columns when it reads
    them (0.14.0 to 14.0.0, CVE-2023-47248; 14.0.1 fixed it), unless ``hotfixed``."""
    parts = [int(x) for x in re.findall(r"\d+", version)[:3]]
    release = tuple(parts + [0] * (3 - len(parts)))
    if re.match(r"^\d+\.\d+\.\d+\D", version) and release == (14, 0, 1):
        release = (14, 0, 0)        # a pre-release of 14.0.1 (14.0.1rc0) comes before the fix
    return release < (14, 0, 1) and not hotfixed


def _refuse_unsafe_pyarrow(path: str | Path) -> None:
    """Parquet is read with pyarrow; one that runs code stored in the file is refused."""
    try:
        import pyarrow
    except ImportError:
        return                      # pandas says there is no engine
    version = str(getattr(pyarrow, "__version__", ""))
    if _pyarrow_unpickles(version, _pyarrow_hotfix_installed()):
        raise InputError(f"{path}: Parquet is not read with pyarrow {version}, which runs code a "
                         f"Parquet file holds (CVE-2023-47248); install pyarrow >= 14.0.1 or "
                         f"pyarrow-hotfix")


def _refuse_short_rows(p: Path, width: int) -> None:
    """pandas pads a row with fewer fields than the header with NaN, so a missing delimiter
    (``1,2`` under ``a,b,c``) would be searched as a missing value; RFC 4180 asks every record
    for the header's field count. Empty fields (``1,2,``) have it and are read as NaN; blank
    lines (nothing but spaces or tabs) are skipped, as pandas skips them; a quoted empty field
    (``""``) is not blank: pandas reads it as a row."""
    import csv

    with p.open(newline="", encoding="utf-8-sig") as fh:
        raw: list[str] = []                     # the text of the record being read

        def lines() -> Iterator[str]:
            for line in fh:
                raw.append(line)
                yield line

        reader = csv.reader(lines())
        header_seen, end = False, 0
        for record in reader:
            start, end = end + 1, reader.line_num
            text = "".join(raw)
            raw.clear()
            if not record or (len(record) == 1 and not text.strip()):
                continue                        # a blank line: pandas skips it
            if header_seen and len(record) < width:
                raise InputError(f"{p}: line {start} has {len(record)} field{'s' * (len(record) != 1)} "
                                 f"but the header names {width}; give every row {width} fields "
                                 f"(an empty one for a missing value)")
            header_seen = True


def _first_bad_byte(p: Path) -> str:
    """Where the first byte that is not UTF-8 is, as ``byte 0xff at line 2, column 3``."""
    data = p.read_bytes()
    try:
        data.decode("utf-8")
        return ""
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        return f"byte 0x{data[e.start]:02x} at line {line}, column {col}"


def _refuse_duplicate_header(p: Path, df: pd.DataFrame) -> None:
    """pandas renames a repeated header name ``a`` to ``a.1``: a program would then name a
    column the file does not have, and an output file could never match; say so instead."""
    if not any(isinstance(c, str) and "." in c for c in df.columns):
        return                                  # nothing was renamed
    raw = pd.read_csv(p, header=None, nrows=1, dtype=str, keep_default_na=False).iloc[0].tolist()
    seen: dict = {}
    for i, name in enumerate(raw, 1):
        if name in seen and name != "":
            raise InputError(f"{p}: duplicate column name {name!r} in the header (columns {seen[name]} "
                             f"and {i}); give every column its own name")
        seen.setdefault(name, i)


class _DuplicateKey(ValueError):
    """A JSON object naming one key twice (Python's json keeps the last value, silently)."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _DuplicateKey(key)
        obj[key] = value
    return obj


def _read_json_table(p: Path) -> pd.DataFrame:
    try:
        doc: Any = json.loads(p.read_text(), object_pairs_hook=_unique_keys)
    except _DuplicateKey as e:
        # a row {"a": 1, "a": 2} would be read as a = 2, the 1 lost without a word (pandas
        # reads it so too): as a repeated CSV header name, say so
        raise InputError(f"{p}: invalid JSON: the key {e.args[0]!r} is given twice in one object") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{p}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    except RecursionError:
        raise InputError(f"{p}: invalid JSON: nested too deep") from None
    except ValueError:  # past Python's limit on the digits of an integer it converts
        raise InputError(f"{p}: invalid JSON: an integer of more than "
                         f"{sys.get_int_max_str_digits()} digits") from None
    if not isinstance(doc, dict) or "schema" not in doc or "data" not in doc:
        raise InputError(f'{p}: JSON must be written with orient="table" (needs "schema" and "data")')
    schema = doc["schema"]
    fields = schema.get("fields") if isinstance(schema, dict) else None
    if not (isinstance(fields, list)
            and all(isinstance(f, dict) and "name" in f and "type" in f for f in fields)):
        raise InputError(f'{p}: the "schema" of an orient="table" JSON needs "fields", a list of '
                         'objects with "name" and "type"')
    try:
        return pd.read_json(p, orient="table")
    except (KeyError, TypeError, IndexError, AttributeError) as e:
        # pandas reads the schema's other parts (primaryKey, tz, ...) unchecked
        what = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        raise InputError(f"{p}: cannot read as json: {type(e).__name__}: {what}") from None


def write_frame(df: pd.DataFrame, path: str | Path) -> None:
    """Write a frame in the format its extension names (CSV without the index)."""
    fmt = file_format(path)
    if fmt == "csv":
        df.to_csv(path, index=False)
    elif fmt == "parquet":
        df.to_parquet(path)
    else:
        df.to_json(path, orient="table")
