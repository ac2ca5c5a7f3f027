"""Equality of a candidate's result with the target, as AutoPandas defines it.

AutoPandas' checker is ``pd.testing.assert_frame_equal(expected, got, check_names=False,
check_dtype=False)`` (``assert_series_equal(check_dtype=False)`` for Series, ``np.array_equal`` for
arrays). This module implements the same relation directly, because the search calls it on every
candidate and ``assert_frame_equal`` costs about a millisecond:

- the kinds must agree (DataFrame with DataFrame, Series with Series, array with array);
- shapes, row order and column order matter;
- index and column *values* matter, level by level for a MultiIndex; their dtypes and index
  classes do not (``Index([0, 1])`` equals ``RangeIndex(2)``, ``"a"`` as object equals ``"a"`` as
  the pandas 3 string dtype);
- axis names (``index.name``, ``columns.name``, a Series' name) do not matter;
- cell dtypes do not matter: ``1`` equals ``1.0`` and ``True`` equals ``1``;
- missing values equal each other (``NaN``, ``None``, ``pd.NA``, ``NaT``);
- floats compare with a tolerance: ``|a - b| <= atol + rtol * |b|`` with pandas' defaults
  ``rtol=1e-5``, ``atol=1e-8``; a column compares exactly when either side is integer or boolean
  (nullable too), as ``assert_frame_equal`` does since pandas 2.2 (a tolerance made a total of
  1,000,000 equal one of 1,000,009, or of 1,000,009.0); datetimes and durations compare exactly,
  whatever their units (as float nanoseconds, the tolerance was hours wide); so does a single
  value (a scalar result) when either side is an integer or boolean.

CSV targets (see ``io.py``) compare through :func:`csv_matches`, which adds the CSV index rule
and one rule of CSV text: a boolean (written ``True``/``False``) never equals a number (``1``/``0``).
Parquet and JSON targets keep their dtypes, so the command line compares them with
``equal(..., bool_is_number=False)``: the same relation, except that a boolean never equals a
number there either (in cells, index or column labels). ``equal``'s default keeps ``True == 1``
because it is AutoPandas' own checker (``check_dtype=False``), which the benchmark's targets follow.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

RTOL = 1e-5
ATOL = 1e-8


def _raw(values: Any) -> np.ndarray:
    return values.to_numpy() if hasattr(values, "to_numpy") else np.asarray(values)


def _exact(values: Any) -> bool:
    """Whether ``assert_series_equal`` compares these values exactly (its ``check_exact``
    default since pandas 2.2): integers and booleans, nullable ones too, and datetimes."""
    kind = getattr(getattr(values, "dtype", None), "kind", "")
    return kind in ("b", "i", "u", "m", "M")


def _as_array(values: Any) -> np.ndarray:
    arr = _raw(values)
    if arr.dtype.kind in "mM":
        return arr.view("i8").astype("float64") if not np.isnat(arr).any() else arr.astype(object)
    return arr


def _is_num(arr: np.ndarray) -> bool:
    return arr.dtype.kind in "biuf"


def values_equal(a: Any, b: Any, rtol: float = RTOL, atol: float = ATOL) -> bool:
    """Elementwise equality of two 1-d value sequences under the rules above."""
    raw_x, raw_y = _raw(a), _raw(b)
    if raw_x.dtype.kind in "mM" and raw_x.dtype.kind == raw_y.dtype.kind:
        # instants and durations exactly, in whatever unit each side holds (as float nanoseconds
        # the tolerance was hours wide), as assert_series_equal compares them
        if raw_x.shape != raw_y.shape:
            return False
        return bool(np.array_equal(raw_x, raw_y, equal_nan=True))
    x, y = _as_array(raw_x), _as_array(raw_y)
    if x.shape != y.shape:
        return False
    if x.dtype.kind in "biu" and y.dtype.kind in "biu":
        return bool(np.array_equal(x, y))       # integers exactly, as pandas >= 2.2 checks them
    if _is_num(x) and _is_num(y):
        xf, yf = x.astype("float64"), y.astype("float64")
        if _exact(a) or _exact(b):
            # pandas >= 2.2 compares exactly when either side is integer or boolean (or a
            # datetime): a float total of 1,000,009.0 is not an integer target's 1,000,000
            return bool(np.array_equal(xf, yf, equal_nan=True))
        return bool(np.allclose(xf, yf, rtol=rtol, atol=atol, equal_nan=True))
    if _exact(a) or _exact(b):
        rtol = atol = 0.0           # (object cells against an integer or boolean side: exactly)
    xm, ym = pd.isna(x), pd.isna(y)
    if not np.array_equal(xm, ym):
        return False
    keep = ~xm
    xs, ys = x[keep], y[keep]
    try:
        eq = np.asarray(xs == ys, dtype=bool)
        if eq.shape != xs.shape:
            raise TypeError
    except (TypeError, ValueError):
        eq = np.array([_scalar_eq(p, q, rtol, atol) for p, q in zip(xs, ys)], dtype=bool)
    if eq.all():
        return True
    return all(_scalar_eq(p, q, rtol, atol) for p, q in zip(xs[~eq], ys[~eq]))


def _scalar_eq(p: Any, q: Any, rtol: float = RTOL, atol: float = ATOL) -> bool:
    num = (int, float, np.integer, np.floating, bool, np.bool_)
    if isinstance(p, num) and isinstance(q, num):
        return abs(float(p) - float(q)) <= atol + rtol * abs(float(q))
    if isinstance(p, tuple) and isinstance(q, tuple):
        return len(p) == len(q) and all(
            (pd.isna(u) and pd.isna(v)) if _scalar_na(u) or _scalar_na(v) else _scalar_eq(u, v)
            for u, v in zip(p, q))
    try:
        return bool(p == q)
    except (TypeError, ValueError):
        return False


def _scalar_na(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def index_equal(a: pd.Index, b: pd.Index, bool_is_number: bool = True) -> bool:
    """Index values equal level by level; classes, dtypes and names ignored (but with
    ``bool_is_number=False`` a boolean never equals a number)."""
    if len(a) != len(b) or a.nlevels != b.nlevels:
        return False
    levels = [(a, b)] if a.nlevels == 1 else \
        [(a.get_level_values(i), b.get_level_values(i)) for i in range(a.nlevels)]
    return all(_typed_values_equal(x, y, bool_is_number) for x, y in levels)


def _typed_values_equal(a: Any, b: Any, bool_is_number: bool, rtol: float = RTOL,
                        atol: float = ATOL) -> bool:
    # values first: they usually differ, and finding the booleans of a text column is slower
    return values_equal(a, b, rtol, atol) and (bool_is_number or _same_bools(a, b))


def equal(expected: Any, got: Any, rtol: float = RTOL, atol: float = ATOL,
          bool_is_number: bool = True) -> bool:
    """AutoPandas equality of ``got`` with ``expected`` (see the module docstring); with
    ``bool_is_number=False`` a boolean never equals a number (targets whose dtypes are real:
    Parquet, JSON)."""
    same = bool_is_number
    if isinstance(expected, pd.DataFrame):
        if not isinstance(got, pd.DataFrame) or got.shape != expected.shape:
            return False
        if not index_equal(expected.columns, got.columns, same) or \
                not index_equal(expected.index, got.index, same):
            return False
        return all(_typed_values_equal(expected.iloc[:, i], got.iloc[:, i], same, rtol, atol)
                   for i in range(expected.shape[1]))
    if isinstance(expected, pd.Series):
        if not isinstance(got, pd.Series) or len(got) != len(expected):
            return False
        return index_equal(expected.index, got.index, same) and \
            _typed_values_equal(expected, got, same, rtol, atol)
    if isinstance(expected, np.ndarray):
        if not isinstance(got, np.ndarray) or got.shape != expected.shape:
            return False
        return _typed_values_equal(expected.ravel(), got.ravel(), same, rtol, atol)
    if isinstance(got, (pd.DataFrame, pd.Series, np.ndarray)):
        return False
    if not same and isinstance(expected, (bool, np.bool_)) != isinstance(got, (bool, np.bool_)):
        return False
    if isinstance(expected, _INTEGRAL) or isinstance(got, _INTEGRAL):
        rtol = atol = 0.0  # one value exactly when either side is integer, as a column is
    return _scalar_eq(expected, got, rtol, atol)


_INTEGRAL = (int, np.integer, np.bool_)  # bool is an int


def csv_view(result: Any) -> pd.DataFrame | None:
    """What ``result.to_csv(index=False)`` would hold, as a frame with text column labels.

    A Series becomes its one column (named as pandas names it in a CSV: its name, or ``0``).
    Results that CSV cannot hold faithfully (MultiIndex columns, arrays, scalars) give None.
    """
    if isinstance(result, pd.Series):
        result = result.to_frame(name=0 if result.name is None else result.name)
    if not isinstance(result, pd.DataFrame) or isinstance(result.columns, pd.MultiIndex):
        return None
    return result


def csv_matches(target: pd.DataFrame, result: Any) -> bool:
    """CSV rule: ``result`` matches a target read from CSV as written with ``index=False``, or
    with its index (after ``reset_index()``, or as ``to_csv()`` writes an unnamed index: an empty
    header read back as ``Unnamed: 0``). Column labels compare as text (a CSV header is text)."""
    view = csv_view(result)
    if view is None:
        return False
    if view.shape[1] == target.shape[1] and len(view) == len(target):
        if _csv_frame_equal(target, view):
            return True
    nl = view.index.nlevels
    if view.shape[1] + nl == target.shape[1] and len(view) == len(target):
        try:
            flat = view.reset_index()
        except (ValueError, TypeError):
            return False
        if _csv_frame_equal(target, flat):
            return True
        # As ``result.to_csv()`` writes it (pandas' default, index=True): an unnamed index level
        # gets an empty header, which read_csv names ``Unnamed: <position>``.
        names = list(view.index.names)
        if any(n is None for n in names):
            flat.columns = [unnamed_label(i) if n is None else n for i, n in enumerate(names)] \
                + list(flat.columns[nl:])
            return _csv_frame_equal(target, flat)
    return False


def unnamed_label(position: int) -> str:
    """The column label read_csv gives an empty header cell at ``position``."""
    return f"Unnamed: {position}"


def _csv_frame_equal(target: pd.DataFrame, view: pd.DataFrame) -> bool:
    if [str(c) for c in target.columns] != [str(c) for c in view.columns]:
        return False
    for i in range(target.shape[1]):
        t, v = target.iloc[:, i], view.iloc[:, i]
        # Values first, unless booleans sit in other places on the two sides: a CSV writes a
        # boolean as True/False, never as 1/0, while values_equal has True == 1.
        if _same_bools(t, v) and values_equal(t, v):
            continue
        # CSV text loses types: compare as the text a CSV would hold.
        if not values_equal(t.astype(str), v.astype(str)):
            return False
    return True


def _same_bools(a: Any, b: Any) -> bool:
    """Whether two columns (Series, Index levels or 1-d arrays) hold booleans at the same
    positions (a CSV writes those as text)."""
    x, y = _bools(a), _bools(b)
    if x is None or y is None:
        return x is None and y is None
    return bool(np.array_equal(x, y))


def _bools(col: Any) -> np.ndarray | None:
    """Where a column holds booleans (bool, numpy bool, the ``boolean`` dtype), None for nowhere."""
    if col.dtype.kind == "b":
        mask = ~np.asarray(pd.isna(col), dtype=bool)
    elif col.dtype.kind == "O" and not isinstance(col.dtype, pd.StringDtype):
        values = col.to_numpy() if hasattr(col, "to_numpy") else np.asarray(col)
        mask = np.fromiter((isinstance(v, (bool, np.bool_)) for v in values), dtype=bool,
                           count=len(col))
    else:
        return None
    return mask if mask.any() else None
