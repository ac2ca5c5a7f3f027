"""The pandas program DSL: a table of whitelisted functions with typed arguments.

Each :class:`Function` names one pandas call (``sort_values``, ``groupby.mean``, ``merge``...),
its typed arguments, the receiver kinds it accepts, how to *run* it on concrete objects and how to
*render* it as Python source. Argument values come from the generators in ``generators.py``; a
function never sees user text, only labels, values and names chosen from domains computed from
the data. Running goes through :func:`call`, which refuses anything that is not in the table.

Argument types (``Arg.type``): ``column`` (one column label), ``columns`` (a list of them),
``labels`` (row labels), ``int``, ``bool``, ``axis``, ``how`` (join kind), ``agg`` (an
aggregation name), ``value`` (a scalar from the data or the target), ``op`` (a comparison),
``frame`` (the index of another input), ``level`` (an index level), ``dtype``, ``keep``, ``text``,
``operand`` (an arithmetic operand computed from the receiver or a constant: ``_dsl_arith``).

Functions are defined in the group modules ``_dsl_select``, ``_dsl_reshape``, ``_dsl_group``,
``_dsl_combine``, ``_dsl_compute`` and ``_dsl_arith``; this module holds the types and the registry.
"""
from __future__ import annotations

import datetime
import functools
import keyword
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from .equality import unnamed_label

ARG_TYPES = frozenset({"column", "columns", "labels", "int", "bool", "axis", "how", "agg", "value",
                       "op", "frame", "level", "dtype", "keep", "text", "positions", "float",
                       "operand"})
GROUPS = ("selection", "reshaping", "grouping", "combining", "missing", "computation", "types")
RECEIVERS = frozenset({"frame", "series"})


@dataclass(frozen=True)
class Arg:
    """One typed argument of a DSL function."""

    name: str
    """The argument's name (the pandas keyword where there is one)."""
    type: str
    """Its type: one of ARG_TYPES."""

    def __post_init__(self) -> None:
        if self.type not in ARG_TYPES:
            raise ValueError(f"Arg.type must be one of {sorted(ARG_TYPES)}, got {self.type!r}")


@dataclass(frozen=True)
class Function:
    """One whitelisted pandas call."""

    name: str
    """Unique name, e.g. ``"sort_values"`` or ``"groupby.mean"``."""
    group: str
    """Which group of the API it belongs to: one of GROUPS."""
    args: tuple[Arg, ...]
    """Its typed arguments, in generator order."""
    run: Callable[[Any, dict, Sequence[Any]], Any] = field(repr=False)
    """``run(receiver, args, inputs)``: the pandas call itself."""
    render: Callable[[str, dict, Sequence[str]], str] = field(repr=False)
    """``render(receiver_src, args, input_names)``: the same call as Python source."""
    receivers: frozenset = frozenset({"frame"})
    """Receiver kinds accepted: ``"frame"`` and/or ``"series"``."""
    cost: float = 1.0
    """Search cost of one call (rarer functions cost more, so they are tried later)."""

    def __post_init__(self) -> None:
        if self.group not in GROUPS:
            raise ValueError(f"Function.group must be one of {GROUPS}, got {self.group!r}")
        if not self.receivers or not self.receivers <= RECEIVERS:
            raise ValueError(f"Function.receivers must be a non-empty subset of {sorted(RECEIVERS)}")
        if self.cost <= 0:
            raise ValueError(f"Function.cost must be > 0, got {self.cost}")

    @functools.cached_property
    def input_args(self) -> tuple[str, ...]:
        """The names of its arguments that name another input (type ``frame``): the combining
        calls' ``other``, and the arithmetic calls' ``other`` when their operand is another input.
        A call of a function without one reads its receiver only, whatever its group."""
        return tuple(a.name for a in self.args if a.type == "frame")

    def accepts(self, obj: Any) -> bool:
        """Whether ``obj`` can be this function's receiver."""
        kind = receiver_kind(obj)
        return kind is not None and kind in self.receivers


def receiver_kind(obj: Any) -> str | None:
    """``"frame"``, ``"series"`` or None for anything else (arrays and scalars end a chain)."""
    if isinstance(obj, pd.DataFrame):
        return "frame"
    if isinstance(obj, pd.Series):
        return "series"
    return None


_REGISTRY: dict[str, Function] = {}


def register(fn: Function) -> Function:
    """Add ``fn`` to the table (names must be unique)."""
    if fn.name in _REGISTRY:
        raise ValueError(f"duplicate DSL function {fn.name!r}")
    _REGISTRY[fn.name] = fn
    return fn


def functions() -> tuple[Function, ...]:
    """Every DSL function, cheapest first (ties by name, so the order is deterministic)."""
    _load()
    return tuple(sorted(_REGISTRY.values(), key=lambda f: (f.cost, f.name)))


def get(name: str) -> Function:
    """The DSL function called ``name``."""
    _load()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"no DSL function {name!r}") from None


def inputs_read(fn: Function, args: dict) -> frozenset:
    """The positions of the other inputs one call of ``fn`` with ``args`` reads (none where its
    ``frame`` arguments are None: an arithmetic call on an operand computed from the receiver)."""
    return frozenset(args[n] for n in fn.input_args if args.get(n) is not None)


def call(fn: Function, receiver: Any, args: dict, inputs: Sequence[Any]) -> Any:
    """Run a whitelisted function: refuses any function object that is not in the table."""
    if _REGISTRY.get(fn.name) is not fn:
        raise PermissionError(f"{fn.name!r} is not a whitelisted DSL function")
    return fn.run(receiver, args, inputs)


def _load() -> None:
    # Importing the group modules registers their functions (idempotent: modules import once).
    from . import (  # noqa: F401
        _dsl_arith,
        _dsl_combine,
        _dsl_compute,
        _dsl_group,
        _dsl_reshape,
        _dsl_select,
    )


# ----------------------------------------------------------------------------- rendering helpers

def lit(v: Any) -> str:
    """Python source for a literal value drawn from the data."""
    if isinstance(v, np.generic) and not isinstance(v, (np.datetime64, np.timedelta64)):
        v = v.item()        # (datetime64[ns].item() is an int: kept for the Timestamp case)
    if isinstance(v, (list, tuple)) and not isinstance(v, str):
        inner = ", ".join(lit(x) for x in v)
        return f"[{inner}]" if isinstance(v, list) else f"({inner}{',' if len(v) == 1 else ''})"
    if isinstance(v, float):
        if math.isnan(v):
            return "np.nan"
        if math.isinf(v):
            return "np.inf" if v > 0 else "-np.inf"
        return repr(v)
    if v is pd.NaT:
        return "pd.NaT"
    if isinstance(v, (datetime.datetime, np.datetime64)):
        return f"pd.Timestamp({pd.Timestamp(v).isoformat()!r})"
    if isinstance(v, datetime.date):        # the program only has pd and np: no datetime module
        return f"pd.Timestamp({v.isoformat()!r}).date()"
    if isinstance(v, (datetime.timedelta, np.timedelta64)):
        return f"pd.Timedelta({str(pd.Timedelta(v))!r})"
    if v is None or isinstance(v, (bool, int, str)):
        return repr(v)
    if v is pd.NA:
        return "pd.NA"
    raise ValueError(f"cannot render literal of type {type(v).__name__}")


def is_name(src: str) -> bool:
    """Whether ``src`` is a bare variable name (then a condition can repeat it instead of a lambda)."""
    return src.isidentifier() and not keyword.iskeyword(src)


def kwargs(**kw: Any) -> str:
    """``k=v`` source for the keyword arguments that are not None."""
    return ", ".join(f"{k}={lit(v)}" for k, v in kw.items() if v is not None)


def listify(v: Any) -> list:
    """A label or tuple of labels as a list (pandas treats tuples as single MultiIndex keys)."""
    return list(v) if isinstance(v, (list, tuple)) else [v]


# ----------------------------------------------------------------------------- shape rules

#: What each call does to the number of rows (first axis), used to skip final calls that cannot
#: produce the target's length: ``same`` keeps it, ``fewer`` never increases it. Functions not
#: listed may do anything. ``loc`` is absent on purpose: duplicate labels can repeat rows.
#: The DSL tests check every generated call on the fixtures against this table.
ROW_RULES: dict[str, str] = {
    **{n: "same" for n in (
        "getitem", "drop", "set_index", "reset_index", "select_dtypes", "filter", "rename",
        "add_prefix", "add_suffix", "fillna", "ffill", "bfill", "isna", "notna", "cumsum", "cummax",
        "cummin", "cumprod", "diff", "pct_change", "rank", "round", "abs", "clip", "astype", "where",
        "mask", "sort_values", "sort_index", "reorder_levels", "swaplevel", "groupby.transform",
        "to_frame", "values")},
    **{n: "fewer" for n in (
        "head", "tail", "query", "isin", "take", "drop_rows", "drop_duplicates", "nlargest",
        "nsmallest", "dropna", "xs")},
}


def rows_possible(name: str, receiver_rows: int, target_rows: int) -> bool:
    """Whether one call of ``name`` on a receiver with ``receiver_rows`` rows can give ``target_rows``."""
    rule = ROW_RULES.get(name)
    if rule == "same":
        return receiver_rows == target_rows
    if rule == "fewer":
        return target_rows <= receiver_rows
    return True


#: Calls that, on a DataFrame, give a DataFrame with the same number of columns (on a Series, a
#: Series). Used like ROW_RULES, for final calls, when the matcher says how it compares shapes.
SAME_COLUMNS = frozenset({
    "head", "tail", "loc", "query", "isin", "drop_rows", "drop_duplicates", "nlargest", "nsmallest",
    "sort_values", "sort_index", "fillna", "ffill", "bfill", "isna", "notna", "cumsum", "cummax",
    "cummin", "cumprod", "diff", "pct_change", "rank", "round", "abs", "clip", "astype", "where",
    "mask", "rename", "add_prefix", "add_suffix", "reorder_levels", "swaplevel"})


#: Calls that, on a DataFrame, give a DataFrame with at least as many columns as the receiver
#: and as the other input (a Series counts as one): merge and join keep both sides' columns,
#: concat and combine_first take their union.
MORE_COLUMNS = frozenset({"merge", "join", "concat", "combine_first"})


def column_count(obj: Any) -> int:
    """Columns of a DataFrame; 1 for anything else (a Series is one column)."""
    return obj.shape[1] if isinstance(obj, pd.DataFrame) else 1


def columns_possible(name: str, receiver: Any, target: Any, csv: bool,
                     inputs: Sequence[Any] = ()) -> bool:
    """Whether one call of ``name`` on ``receiver`` can give something shaped like ``target``.

    Exact matching needs the same kind and column count; CSV matching (``csv=True``) compares a
    Series as one column and allows the index levels to become columns (reset_index rule).
    MORE_COLUMNS calls need a target as wide as the receiver and the narrowest other input.
    """
    if name in MORE_COLUMNS and isinstance(receiver, pd.DataFrame):
        others = [column_count(v) for v in inputs
                  if isinstance(v, (pd.DataFrame, pd.Series)) and v is not receiver]
        least = max(receiver.shape[1], min(others, default=0))
        return isinstance(target, pd.DataFrame) and target.shape[1] >= least
    if name not in SAME_COLUMNS:
        return True
    if isinstance(receiver, pd.DataFrame):
        kind, ncols, nlev = "frame", receiver.shape[1], receiver.index.nlevels
    elif isinstance(receiver, pd.Series):
        kind, ncols, nlev = "series", 1, receiver.index.nlevels
    else:
        return True
    if csv:
        if not isinstance(target, pd.DataFrame):
            return True
        return target.shape[1] in (ncols, ncols + nlev)
    if kind == "frame":
        return isinstance(target, pd.DataFrame) and target.shape[1] == ncols
    return isinstance(target, pd.Series)


# ----------------------------------------------------------------------------- label rule

#: Calls that create no column label: every label a comparison can see in the result (column
#: labels at every level, axis names, a Series' name, and the columns ``reset_index()`` makes for
#: the CSV rule) is a column label or axis name of the receiver, or one pandas makes up
#: (LABELS_MADE_UP). A final call of these cannot give a target with any other column label.
#: Absent on purpose: calls that turn values or other inputs' labels into labels (``T``, pivots,
#: ``unstack``, ``melt``, ``xs`` naming a Series by a row label, combining calls) and renames.
#: The DSL tests check every generated call on the fixtures against this table.
KEEPS_LABELS = frozenset({
    "abs", "astype", "bfill", "ffill", "fillna", "isna", "notna", "dropna", "clip", "round", "rank",
    "cumsum", "cummax", "cummin", "cumprod", "diff", "pct_change", "where", "mask",
    "getitem", "drop", "drop_duplicates", "drop_rows", "head", "tail", "isin", "loc",
    "loc_rows_columns", "query", "filter", "take", "nlargest", "nsmallest", "select_dtypes",
    "set_index", "reset_index", "sort_index", "sort_values", "stack", "droplevel", "reorder_levels",
    "swaplevel", "to_frame", "value_counts", "values", "apply", "groupby.transform",
    "sum", "mean", "min", "max", "count", "median", "std", "nunique", "prod",
    *(f"groupby.{agg}" for agg in ("sum", "mean", "count", "size", "min", "max", "first", "last",
                                   "median", "idxmin", "idxmax", "nunique", "std", "var", "prod",
                                   "cumsum"))})

#: Labels pandas makes up: an unnamed Series' column (0), reset_index's names for unnamed levels
#: (and ``level_<i>`` / ``Unnamed: <i>``, the header read_csv gives an unnamed index written by
#: ``to_csv()``, added per level), the count columns of ``size`` and ``value_counts``.
LABELS_MADE_UP = (0, "index", "size", "count", "proportion")


def label_forms(v: Any) -> frozenset:
    """The texts one label may compare equal as: a CSV header compares as text, exact matching
    compares numbers by value (``1`` equals ``1.0`` and ``True``)."""
    if isinstance(v, np.generic):
        v = v.item()
    if v is None:
        return frozenset()
    if isinstance(v, bool):
        return frozenset({str(v), str(int(v)), str(float(v))})
    if isinstance(v, int):
        return frozenset({str(v), str(float(v))})
    if isinstance(v, float) and v.is_integer():
        return frozenset({str(v), str(int(v))})
    return frozenset({str(v)})


def value_forms(column: pd.Series) -> frozenset:
    """Every text a label made from ``column``'s values may compare equal as (its categories
    too: a pivot may make a label of a category no row holds)."""
    values = list(pd.Index(column).unique())     # as an axis holds them (Timestamps, not ints)
    if isinstance(column.dtype, pd.CategoricalDtype):
        values += list(column.dtype.categories)
    out: set = set()
    for v in values:
        try:
            out |= label_forms(v)
        except (TypeError, ValueError):
            continue
    return frozenset(out)


def pivot_keys(name: str, args: dict) -> tuple[Any, Any]:
    """(the receiver column whose values label a pivot's result rows, last level; the one whose
    values label its columns, last level, or None when ``columns`` is not given) for ``pivot``
    and ``pivot_table``; (None, None) for any other call."""
    if name == "pivot":
        return args["index"], args["columns"]
    if name == "pivot_table":
        cols = args["columns"]
        return args["index"][-1], (cols[-1] if cols is not None else None)
    return None, None


def _axis_labels(ax: pd.Index, values: bool) -> list:
    out = list(ax.names)
    if values:
        for lev in range(ax.nlevels):
            out.extend(ax.get_level_values(lev))
    return out


def receiver_label_texts(obj: Any) -> frozenset:
    """Every text a KEEPS_LABELS call on ``obj`` may give a result's label (see KEEPS_LABELS)."""
    if isinstance(obj, pd.DataFrame):
        labels = _axis_labels(obj.columns, True) + _axis_labels(obj.index, False)
    elif isinstance(obj, pd.Series):
        labels = [obj.name] + _axis_labels(obj.index, False)
    else:
        return frozenset()
    nlev = obj.index.nlevels + (obj.columns.nlevels if isinstance(obj, pd.DataFrame) else 0)
    labels += list(LABELS_MADE_UP) + [f"level_{i}" for i in range(nlev + 1)] \
        + [unnamed_label(i) for i in range(nlev + 1)]
    out: set = set()
    for v in labels:
        try:
            out |= label_forms(v)
        except (TypeError, ValueError):
            continue
    return frozenset(out)


def target_label_forms(target: Any) -> tuple[frozenset, ...] | None:
    """The forms of each of a DataFrame target's column labels (every level), for
    :func:`labels_possible`; None when the rule does not apply (other targets, labels that are
    fractional floats, which exact matching compares with a tolerance).

    A Series target has no label the rule could require: exact equality ignores a Series' name,
    and its index values are data (group keys, counted values), not labels a KEEPS_LABELS call
    keeps. A CSV target is always a DataFrame, so a Series result is already covered there (it
    is compared as one column named after it)."""
    if not isinstance(target, pd.DataFrame):
        return None
    out = []
    for lev in range(target.columns.nlevels):
        for v in dict.fromkeys(target.columns.get_level_values(lev)):
            v = v.item() if isinstance(v, np.generic) else v
            if isinstance(v, float) and not v.is_integer():
                return None
            forms = label_forms(v)
            if forms:
                out.append(forms)
    return tuple(out)


def labels_possible(name: str, receiver_texts: frozenset, target_forms: Sequence[frozenset] | None) -> bool:
    """Whether one call of ``name`` on a receiver whose label texts are ``receiver_texts``
    (:func:`receiver_label_texts`) can give every column label of the target."""
    if name not in KEEPS_LABELS or not target_forms:
        return True
    return all(not forms.isdisjoint(receiver_texts) for forms in target_forms)
