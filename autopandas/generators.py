"""Argument generators: one per DSL function, built only from the choice operators.

A generator is ``gen(chooser, ctx) -> dict of arguments``. Its domains are computed from the
receiver, the other inputs and (when searching) the target output, in :class:`GenContext`; every
decision goes through ``chooser.select / subset / ordered_subset / sequence`` (``choices.py``), so
the same generator enumerates exhaustively, samples randomly, follows a model's ranking, or
replays a recorded trace.

Domains are *ordered*: what the target suggests comes first (its column labels, its cell values,
the receiver rows whose contents appear in it), then the generic domain from the receiver alone.
Target hints only reorder or add options; the generic domain is always there, so a random program
sampled without a target is always inside the exhaustive enumeration with one (the property
tests rely on this). Domains are capped (e.g. at most 3 sort keys, 12 distinct values per column)
to keep exhaustive enumeration finite; the caps are the search's bounds, documented here.
"""
from __future__ import annotations

import itertools
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from .choices import Chooser, Infeasible
from ._dsl_arith import ARITH_OPS
from ._dsl_compute import REDUCTIONS
from ._dsl_group import AGGS, NUMERIC_ONLY
from ._dsl_select import OPS

MAX_VALUES = 12      # distinct values per column offered as constants
MAX_SORT_KEYS = 3    # sort_values(by=...) length
MAX_KEYS = 2         # set_index / pivot_table keys
MAX_GROUP_KEYS = 3   # group-by keys
MAX_COLUMNS = 4      # column lists for getitem / drop
MAX_DROP_DOMAIN = 16  # columns drop's generic one- and two-column options are drawn from


def py(v: Any) -> Any:
    """A numpy scalar as the plain Python value (hashable, renders as a literal); datetimes and
    durations as pandas' (``datetime64[ns].item()`` is a bare int, and a Timestamp compares
    with the column it came from)."""
    if isinstance(v, np.datetime64):
        return pd.NaT if np.isnat(v) else pd.Timestamp(v)
    if isinstance(v, np.timedelta64):
        return pd.NaT if np.isnat(v) else pd.Timedelta(v)
    return v.item() if isinstance(v, np.generic) else v


def _uniq(seq) -> tuple:
    out, seen = [], set()
    for v in seq:
        v = py(v)
        try:
            key = (type(v).__name__, v)
            if key in seen or (isinstance(v, float) and v != v):
                continue
            seen.add(key)
        except TypeError:
            continue
        out.append(v)
    return tuple(out)


class GenContext:
    """Domains for one (receiver, function) expansion, computed lazily and cached."""

    def __init__(self, receiver: Any, inputs: Sequence[Any], target: Any = None,
                 constants: Sequence[Any] = ()) -> None:
        self.recv = receiver
        self.inputs = list(inputs)
        self.target = target
        self.constants = _uniq(constants)
        self._cache: dict = {}

    def _memo(self, key: Any, make: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    @property
    def is_frame(self) -> bool:
        return isinstance(self.recv, pd.DataFrame)

    @property
    def columns(self) -> tuple:
        """Receiver columns, those also in the target first."""
        def make():
            if not self.is_frame:
                return ()
            cols = [py(c) for c in self.recv.columns]
            tl = set(self.target_columns)
            return tuple([c for c in cols if c in tl] + [c for c in cols if c not in tl])
        return self._memo("columns", make)

    @property
    def key_columns(self) -> tuple:
        """Receiver columns ordered for use as keys (group-by, index, pivot): columns whose values
        label the target's rows or columns first, then columns the target lacks, then the rest."""
        def make():
            if not self.is_frame:
                return ()
            tl, tc = self.target_labels, set(self.target_columns)

            def score(c):
                vals = self.recv[c].dropna().to_numpy()[:200]
                hits = sum(1 for v in _uniq(vals) if v in tl)
                return (-(hits > 0), c in tc)
            return tuple(sorted(self.columns, key=score))
        return self._memo("keycols", make)

    def target_levels(self, axis: int) -> int | None:
        """Levels of the target's index (axis 0) or columns (axis 1), when it has that axis."""
        t = self.target
        if axis == 0 and isinstance(t, (pd.DataFrame, pd.Series)):
            return t.index.nlevels
        if axis == 1 and isinstance(t, pd.DataFrame):
            return t.columns.nlevels
        return None

    @property
    def sort_columns(self) -> tuple:
        """Receiver columns, those sorted (either way) in the target first: likely sort keys."""
        def make():
            t = self.target
            if not isinstance(t, pd.DataFrame) or isinstance(t.columns, pd.MultiIndex):
                return self.columns
            tc = set(self.target_columns)

            def mono(c):
                if c not in tc or t.columns.tolist().count(c) != 1:
                    return False
                try:
                    col = t[c]
                    return bool(col.is_monotonic_increasing or col.is_monotonic_decreasing)
                except TypeError:
                    return False
            return tuple(sorted(self.columns, key=lambda c: not mono(c)))
        return self._memo("sortcols", make)

    @property
    def default_index_target(self) -> bool:
        """Whether the target's rows are labelled 0..n-1 (so keys likely stayed columns)."""
        t = self.target
        return isinstance(t, (pd.DataFrame, pd.Series)) and t.index.nlevels == 1 and \
            list(t.index) == list(range(len(t)))

    @property
    def target_columns(self) -> tuple:
        def make():
            t = self.target
            if isinstance(t, pd.DataFrame) and not isinstance(t.columns, pd.MultiIndex):
                return _uniq(t.columns)
            return ()
        return self._memo("tcols", make)

    @property
    def target_labels(self) -> frozenset:
        """Every label in the target (columns, index values, index and column level values)."""
        def make():
            t, out = self.target, set()
            if isinstance(t, (pd.DataFrame, pd.Series)):
                axes = [t.index] + ([t.columns] if isinstance(t, pd.DataFrame) else [])
                for ax in axes:
                    for lev in range(ax.nlevels):
                        out.update(_uniq(ax.get_level_values(lev)[:200]))
            return frozenset(out)
        return self._memo("tlabels", make)

    @property
    def target_values(self) -> tuple:
        """Distinct cell values of the target (at most 200)."""
        def make():
            t = self.target
            if isinstance(t, pd.DataFrame):
                vals = t.to_numpy().ravel()[:2000]
            elif isinstance(t, (pd.Series, np.ndarray)):
                vals = np.asarray(t).ravel()[:2000]
            else:
                return ()
            return _uniq(vals)[:200]
        return self._memo("tvalues", make)

    def numeric(self, col: Any) -> bool:
        """Whether a receiver column holds numbers (booleans excluded)."""
        def make():
            dt = self.recv[col].dtype
            return pd.api.types.is_numeric_dtype(dt) and not pd.api.types.is_bool_dtype(dt)
        return self._memo(("numeric", col), make)

    @property
    def numeric_columns(self) -> tuple:
        return self._memo("numcols", lambda: tuple(c for c in self.columns if self.numeric(c)))

    def values(self, col: Any) -> tuple:
        """Distinct values of a receiver column (at most MAX_VALUES), target values first."""
        def make():
            vals = _uniq(self.recv[col].dropna().to_numpy()[:1000])
            tv = set(self.target_values)
            return tuple([v for v in vals if v in tv] + [v for v in vals if v not in tv])[:MAX_VALUES]
        return self._memo(("values", col), make)

    def levels(self, axis: int) -> int:
        ax = self.recv.index if axis == 0 else self.recv.columns
        return ax.nlevels

    def matched_rows(self) -> tuple:
        """Receiver row labels whose contents (on shared columns) are the target's rows, in order."""
        def make():
            t, r = self.target, self.recv
            if not isinstance(t, pd.DataFrame) or not self.is_frame or len(t) == 0 or len(t) >= len(r):
                return None
            rc = set(r.columns)
            shared = [c for c in t.columns if c in rc]
            if not shared:
                return None
            pool: dict = {}
            for lab, row in zip(r.index, r[shared].astype(object).itertuples(index=False, name=None)):
                pool.setdefault(tuple(map(_key, row)), []).append(py(lab))
            out = []
            for row in t[shared].astype(object).itertuples(index=False, name=None):
                labs = pool.get(tuple(map(_key, row)))
                if not labs:
                    return None
                out.append(labs.pop(0))
            return tuple(out)
        return self._memo("matched", make)

    def new_labels(self) -> tuple:
        """Target column labels the receiver lacks (names a rename/melt could introduce)."""
        have = set(self.columns)
        return tuple(c for c in self.target_columns if c not in have)


def _keys(c: Chooser, label: str, domain: tuple, max_len: int, preferred: int | None) -> tuple:
    """An ordered subset of key columns, the length the target's axis suggests tried first.

    The length is its own choice point (``<label>.len``), so the options are exactly those of
    ``ordered_subset(domain, 1, max_len)``, only visited in a better order."""
    top = min(max_len, len(domain))
    lengths = tuple(range(1, top + 1))
    if preferred is not None and 1 <= preferred <= top:
        lengths = (preferred,) + tuple(n for n in lengths if n != preferred)
    n = c.select(f"{label}.len", lengths)
    return c.ordered_subset(label, domain, n, n)


def _key(v: Any) -> Any:
    v = py(v)
    if isinstance(v, float) and v != v:
        return "__nan__"
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def _need_frame(x: GenContext) -> None:
    if not x.is_frame or x.recv.shape[1] == 0:
        raise Infeasible("needs a frame with columns")


def _ns(x: GenContext) -> tuple:
    n = len(x.recv)
    cand = []
    if isinstance(x.target, (pd.DataFrame, pd.Series)):
        cand.append(len(x.target))
    cand += [1, 2, 3, 5]
    return tuple(k for k in _uniq(cand) if 1 <= k < n)


def _row_lists(x: GenContext) -> tuple:
    """Candidate row-label lists: the target's rows first, then small generic combinations."""
    out = []
    m = x.matched_rows()
    if m:
        out.append(m)
    t = x.target
    if isinstance(t, (pd.DataFrame, pd.Series)) and len(t) < len(x.recv):
        idx = set(_uniq(x.recv.index))
        tl = tuple(py(v) for v in t.index)
        if all(v in idx for v in tl):
            out.append(tl)
    labels = _uniq(x.recv.index)[:8]
    if len(labels) == len(x.recv):
        out += [c for k in (1, 2) for c in itertools.combinations(labels, k)]
    return _uniq(out)


# ------------------------------------------------------------------------------------ generators

def g_head(c: Chooser, x: GenContext) -> dict:
    return {"n": c.select("head.n", _ns(x))}


def g_getitem(c: Chooser, x: GenContext) -> dict:
    _need_frame(x)
    # The target's columns in the target's order first, and its column count tried first: the
    # exact selection is then the first option, however wide the receiver.
    shared, dom = x._memo("getitem.domain", lambda: _target_first(x))
    hi = max(min(MAX_COLUMNS, len(x.columns)), len(shared))
    return {"columns": _keys(c, "getitem.columns", dom, min(hi, len(x.columns) - 1 or 1), len(shared) or None)}


def _target_first(x: GenContext) -> tuple[tuple, tuple]:
    """(the target's columns the receiver has, in the target's order; those, then the rest)."""
    have = set(x.columns)
    shared = tuple(t for t in x.target_columns if t in have)
    ss = set(shared)
    return shared, shared + tuple(k for k in x.columns if k not in ss)


def g_loc(c: Chooser, x: GenContext) -> dict:
    return {"rows": c.select("loc.rows", _row_lists(x))}


def g_loc_rows_columns(c: Chooser, x: GenContext) -> dict:
    _need_frame(x)
    rows = c.select("loc.rows", _row_lists(x))
    shared = x._memo("getitem.domain", lambda: _target_first(x))[0]
    dom = shared or x.columns
    return {"rows": rows, "columns": _keys(c, "loc.columns", dom, MAX_COLUMNS, len(shared) or None)}


def g_xs(c: Chooser, x: GenContext) -> dict:
    axis = c.select("xs.axis", (0, 1) if x.is_frame else (0,))
    ax = x.recv.index if axis == 0 else x.recv.columns
    level = c.select("xs.level", tuple(range(ax.nlevels)))
    return {"key": c.select("xs.key", _uniq(ax.get_level_values(level))[:MAX_VALUES]),
            "level": level, "axis": axis}


def g_isin(c: Chooser, x: GenContext) -> dict:
    _need_frame(x)
    col = c.select("isin.column", x._memo("isin.columns", lambda: _hinted_first(x)))
    vals = x.values(col)
    # The constants the task gives (a list of ids, say), in its order, that this column holds.
    options = [x._memo(("isin.hint", col), lambda: _hinted_values(x, col))]
    if isinstance(x.target, pd.DataFrame) and col in set(x.target_columns):
        tv = _uniq(x.target[col].dropna().to_numpy())
        if tv and set(tv) <= set(_uniq(x.recv[col].dropna().to_numpy())):
            options.append(tv)
    generic = [s for k in (1, 2) for s in itertools.combinations(vals[:6], k)]
    values = c.select("isin.values", _uniq([o for o in options if o] + generic))
    return {"column": col, "values": values, "negate": c.select("isin.negate", (False, True))}


def _hinted_values(x: GenContext, col: Any) -> tuple:
    """The task's constants (``GenContext.constants``) that column ``col`` holds, in their order."""
    if not x.constants:
        return ()
    have = set(_uniq(x.recv[col].dropna().to_numpy()))
    return tuple(v for v in x.constants if not isinstance(v, (list, tuple)) and v in have)


def _hinted_first(x: GenContext) -> tuple:
    """Receiver columns, those holding every constant the task gives first (then as before)."""
    if not x.constants:
        return x.columns
    n = sum(1 for v in x.constants if not isinstance(v, (list, tuple)))
    full = {k for k in x.columns if n and len(_hinted_values(x, k)) == n}
    return tuple(k for k in x.columns if k in full) + tuple(k for k in x.columns if k not in full)


def g_query(c: Chooser, x: GenContext) -> dict:
    _need_frame(x)
    col = c.select("query.column", x.columns)
    op = c.select("query.op", tuple(OPS))
    by_col = c.select("query.rhs_is_column", (False, True))
    if by_col:
        rhs = c.select("query.rhs", tuple(k for k in x.columns if k != col))
    else:
        consts = [v for v in x.constants if not isinstance(v, (list, tuple))]
        rhs = c.select("query.rhs", _uniq(list(x.values(col)) + [0] + consts))
    return {"column": col, "op": op, "rhs": rhs, "rhs_is_column": by_col}


def g_where(c: Chooser, x: GenContext) -> dict:
    recv = x.recv
    num = recv.select_dtypes("number") if x.is_frame else recv
    if x.is_frame and num.shape[1] != recv.shape[1] or not pd.api.types.is_numeric_dtype(num.to_numpy().dtype):
        raise Infeasible("where/mask need an all-numeric receiver")
    vals = _uniq([0] + list(_uniq(np.ravel(num.to_numpy())[:1000])[:5]))   # first cells: O(1) per call
    return {"op": c.select("where.op", tuple(OPS)), "value": c.select("where.value", vals),
            "other": c.select("where.other", (None, 0))}


def g_filter(c: Chooser, x: GenContext) -> dict:
    _need_frame(x)
    toks = []
    for col in list(x.target_columns) + list(x.columns):
        if isinstance(col, str):
            toks += [col] + [t for t in col.replace("-", "_").replace(" ", "_").split("_") if len(t) >= 2]
    toks = [t for t in _uniq(toks) if 0 < sum(isinstance(k, str) and t in k for k in x.columns)]
    return {"like": c.select("filter.like", tuple(toks)), "axis": 1}


def g_take(c: Chooser, x: GenContext) -> dict:
    axis = c.select("take.axis", (0, 1) if x.is_frame else (0,))
    n = x.recv.shape[axis]
    options = []
    m = x.matched_rows() if axis == 0 else None
    if m:
        pos = {lab: i for i, lab in enumerate(py(v) for v in x.recv.index)}
        if len(pos) == n:
            options.append(tuple(pos[lab] for lab in m))
    generic = [p for k in (1, 2) for p in itertools.permutations(range(min(n, 5)), k)]
    return {"indices": c.select("take.indices", _uniq(options + generic)), "axis": axis}


def g_drop(c: Chooser, x: GenContext) -> dict:
    _need_frame(x)
    return {"columns": c.select("drop.columns", x._memo("drop.options", lambda: _drop_options(x)))}


def _drop_options(x: GenContext) -> tuple:
    tc = set(x.target_columns)
    extra = tuple(k for k in x.columns if k not in tc)
    # Dropping every column the target lacks; when that list is the longer one, getitem of the
    # kept columns is the same program, shorter to read.
    options = [extra] if tc and 0 < len(extra) <= len(x.columns) - len(extra) else []
    # Generic options over the first MAX_DROP_DOMAIN columns only (the target's absent ones
    # first): all pairs of 3000 columns are 4.5 million options.
    ex = set(extra)
    dom = (extra + tuple(k for k in x.columns if k not in ex))[:MAX_DROP_DOMAIN]
    generic = [s for k in (1, 2) for s in itertools.combinations(dom, k) if len(s) < len(x.columns)]
    return _uniq(options + generic)


def g_drop_rows(c: Chooser, x: GenContext) -> dict:
    labels = _uniq(x.recv.index)
    if len(labels) != len(x.recv):
        raise Infeasible("duplicate row labels")
    return {"index": c.subset("drop_rows.index", labels[:8], 1, 2)}


def g_drop_duplicates(c: Chooser, x: GenContext) -> dict:
    _need_frame(x)
    sub = c.select("drop_duplicates.use_subset", (False, True))
    subset = c.subset("drop_duplicates.subset", x.columns, 1, 2) if sub else None
    return {"subset": subset, "keep": c.select("drop_duplicates.keep", ("first", "last", False))}


def g_dropna(c: Chooser, x: GenContext) -> dict:
    if not x.recv.isna().to_numpy().any():
        raise Infeasible("nothing to drop")
    if not x.is_frame:
        return {"axis": 0, "how": "any", "subset": None}
    axis = c.select("dropna.axis", (0, 1))
    how = c.select("dropna.how", ("any", "all"))
    subset = None
    if axis == 0 and how == "any":
        nan_cols = tuple(k for k in x.columns if x.recv[k].isna().any())
        subset = c.select("dropna.subset", (None,) + tuple((k,) for k in nan_cols))
    return {"axis": axis, "how": how, "subset": subset}


def g_select_dtypes(c: Chooser, x: GenContext) -> dict:
    _need_frame(x)
    return {"dtype": c.select("select_dtypes.dtype", ("number", "object", "string", "bool", "datetime")),
            "mode": c.select("select_dtypes.mode", ("include", "exclude"))}


def g_nlargest(c: Chooser, x: GenContext) -> dict:
    _need_frame(x)
    return {"n": c.select("nlargest.n", _ns(x)),
            "columns": c.ordered_subset("nlargest.columns", x.numeric_columns, 1, 2)}


def g_pivot(c: Chooser, x: GenContext) -> dict:
    _need_frame(x)
    index = c.select("pivot.index", x.key_columns)
    columns = c.select("pivot.columns", tuple(k for k in x.key_columns if k != index))
    values = c.select("pivot.values", (None,) + tuple(k for k in x.columns if k not in (index, columns)))
    return {"index": index, "columns": columns, "values": values}


PIVOT_AGGS = ("mean", "sum", "count", "nunique", "min", "max", "first", "size")


def g_pivot_table(c: Chooser, x: GenContext) -> dict:
    _need_frame(x)
    index = _keys(c, "pivot_table.index", x.key_columns, MAX_KEYS, x.target_levels(0))
    rest = tuple(k for k in x.key_columns if k not in index)
    use_cols = c.select("pivot_table.use_columns", (True, False))
    tl = x.target_levels(1)
    columns = _keys(c, "pivot_table.columns", rest, MAX_KEYS, tl) if use_cols else None
    rest2 = tuple(k for k in rest if columns is None or k not in columns)
    values = c.select("pivot_table.values", rest2 + (None,))
    return {"index": index, "columns": columns, "values": values,
            "aggfunc": c.select("pivot_table.aggfunc", PIVOT_AGGS)}


def g_melt(c: Chooser, x: GenContext) -> dict:
    _need_frame(x)
    id_vars = c.subset("melt.id_vars", x.columns, 0, MAX_KEYS)
    melted, var_names = x._memo("melt.melted", lambda: _melted(x))
    rest = tuple(k for k in x.columns if k not in id_vars)
    if not rest:
        raise Infeasible("nothing to melt")
    # Receiver columns the target holds as values were melted: when they are only some of the
    # columns, value_vars= naming exactly them is tried first (the generic options are 1 or 2
    # columns), and the target column holding them is the first var_name.
    hint = tuple(k for k in rest if k in set(melted))
    some = 0 < len(hint) < len(rest)
    use_vv = c.select("melt.use_value_vars", (True, False) if some else (False, True))
    if use_vv:
        generic = tuple(s for k in range(1, min(2, len(rest) - 1) + 1)
                        for s in itertools.combinations(rest, k))
        value_vars = c.select("melt.value_vars", _uniq(((hint,) if some else ()) + generic))
    else:
        value_vars = None
    names = tuple(k for k in x.new_labels() if isinstance(k, str))
    hinted = tuple(k for k in var_names if k in names)
    var_name = c.select("melt.var_name", _uniq(hinted + (None,) + names))
    others = tuple(k for k in names if k != var_name)
    value_name = c.select("melt.value_name",
                          _uniq(others + ("value",) if var_name in hinted else ("value",) + others))
    return {"id_vars": id_vars, "value_vars": value_vars, "var_name": var_name, "value_name": value_name}


def _melted(x: GenContext) -> tuple[tuple, tuple]:
    """(receiver column labels that are cell values of the target, the target columns holding
    them): what ``melt`` turns labels into."""
    t = x.target
    if not isinstance(t, pd.DataFrame) or isinstance(t.columns, pd.MultiIndex):
        return (), ()
    cols = set(x.columns)
    melted, holders = [], []
    for label in _uniq(t.columns):
        col = t[label]
        if isinstance(col, pd.DataFrame):        # duplicate labels
            continue
        found = [v for v in _uniq(col.dropna().to_numpy()[:200]) if v in cols]
        if found:
            holders.append(label)
            melted += found
    ms = set(melted)
    return tuple(k for k in x.columns if k in ms), tuple(holders)


def g_none(c: Chooser, x: GenContext) -> dict:
    return {}


def g_stack(c: Chooser, x: GenContext) -> dict:
    _need_frame(x)
    return {}


def g_unstack(c: Chooser, x: GenContext) -> dict:
    n = x.levels(0)
    if n < 2 and not x.is_frame:
        raise Infeasible("unstack of a flat Series")
    return {"level": c.select("unstack.level", (-1,) + tuple(range(n - 1)))}


def g_set_index(c: Chooser, x: GenContext) -> dict:
    _need_frame(x)
    return {"keys": _keys(c, "set_index.keys", x.key_columns, MAX_KEYS, x.target_levels(0)),
            "drop": c.select("set_index.drop", (True, False))}


def g_reset_index(c: Chooser, x: GenContext) -> dict:
    return {"drop": c.select("reset_index.drop", (False, True))}


def g_sort_values(c: Chooser, x: GenContext) -> dict:
    if not x.is_frame:
        return {"by": None, "ascending": c.select("sort_values.ascending", (True, False))}
    by = c.ordered_subset("sort_values.by", x.sort_columns, 1, MAX_SORT_KEYS)
    asc = c.sequence("sort_values.ascending", (True, False), len(by))
    return {"by": by, "ascending": asc[0] if len(set(asc)) == 1 else asc}


def g_sort_index(c: Chooser, x: GenContext) -> dict:
    return {"axis": c.select("sort_index.axis", (0, 1) if x.is_frame else (0,)),
            "ascending": c.select("sort_index.ascending", (True, False))}


def g_rename(c: Chooser, x: GenContext) -> dict:
    axis = c.select("rename.axis", ("columns", "index") if x.is_frame else ("index",))
    ax = x.recv.columns if axis == "columns" else x.recv.index
    have = _uniq(ax)
    tl = set(x.target_columns) | set(x.target_labels)
    old = c.select("rename.old", tuple(k for k in have if k not in tl) + tuple(k for k in have if k in tl))
    hs = set(have)
    new = tuple(k for k in (x.target_columns if axis == "columns" else tuple(x.target_labels)) if k not in hs)
    new += (f"{old}_new",) if isinstance(old, str) else ()
    return {"old": old, "new": c.select("rename.new", _uniq(new)), "axis": axis}


def _multi_axes(x: GenContext) -> tuple:
    return tuple(a for a in ((0, 1) if x.is_frame else (0,)) if x.levels(a) > 1)


def g_reorder_levels(c: Chooser, x: GenContext) -> dict:
    axis = c.select("reorder_levels.axis", _multi_axes(x))
    n = x.levels(axis)
    orders = tuple(p for p in itertools.permutations(range(n)) if p != tuple(range(n)))
    return {"order": c.select("reorder_levels.order", orders), "axis": axis}


def g_swaplevel(c: Chooser, x: GenContext) -> dict:
    return {"axis": c.select("swaplevel.axis", _multi_axes(x))}


def g_droplevel(c: Chooser, x: GenContext) -> dict:
    axis = c.select("droplevel.axis", _multi_axes(x))
    return {"level": c.select("droplevel.level", tuple(range(x.levels(axis)))), "axis": axis}


def _affixes(x: GenContext, suffix: bool) -> tuple:
    out = []
    have = [str(k) for k in (x.columns if x.is_frame else _uniq(x.recv.index))]
    for t in x.target_columns:
        t = str(t)
        for h in have:
            if t != h and (t.endswith(h) if not suffix else t.startswith(h)):
                out.append(t[: len(t) - len(h)] if not suffix else t[len(h):])
    return _uniq(out) + (("_x",) if suffix else ("x_",))


def g_add_prefix(c: Chooser, x: GenContext) -> dict:
    return {"prefix": c.select("add_prefix.prefix", _affixes(x, False))}


def g_add_suffix(c: Chooser, x: GenContext) -> dict:
    return {"suffix": c.select("add_suffix.suffix", _affixes(x, True))}


def g_to_frame(c: Chooser, x: GenContext) -> dict:
    return {}


def _g_groupby(agg: str) -> Callable[[Chooser, GenContext], dict]:
    def gen(c: Chooser, x: GenContext) -> dict:
        _need_frame(x)
        by = _keys(c, f"groupby.{agg}.by", x.key_columns, MAX_GROUP_KEYS, x.target_levels(0))
        rest = tuple(k for k in x.columns if k not in by)
        if not rest and agg != "size":
            raise Infeasible("no columns to aggregate")
        as_index = (False, True) if x.default_index_target else (True, False)
        rest = tuple(k for k in rest if x.numeric(k)) + tuple(k for k in rest if not x.numeric(k))
        out = {"by": by, "as_index": c.select(f"groupby.{agg}.as_index", as_index),
               "column": c.select(f"groupby.{agg}.column", (None,) + rest)}
        if agg in NUMERIC_ONLY:
            # numeric_only only changes a frame aggregation that has text columns.
            text = out["column"] is None and any(not x.numeric(k) for k in rest)
            out["numeric_only"] = c.select(f"groupby.{agg}.numeric_only", (True, False) if text else (False,))
        return out
    return gen


def g_transform(c: Chooser, x: GenContext) -> dict:
    _need_frame(x)
    by = c.ordered_subset("groupby.transform.by", x.key_columns, 1, MAX_KEYS)
    rest = tuple(k for k in x.columns if k not in by)
    return {"by": by, "column": c.select("groupby.transform.column", (None,) + rest),
            "agg": c.select("groupby.transform.agg", ("sum", "mean", "min", "max", "count", "first", "last"))}


def _others(x: GenContext) -> tuple:
    return tuple(i for i, v in enumerate(x.inputs) if isinstance(v, (pd.DataFrame, pd.Series)) and v is not x.recv)


def g_merge(c: Chooser, x: GenContext) -> dict:
    _need_frame(x)
    other = c.select("merge.other", tuple(i for i in _others(x) if isinstance(x.inputs[i], pd.DataFrame)))
    how = c.select("merge.how", ("inner", "left", "outer", "right"))
    ocols = _uniq(x.inputs[other].columns)
    oc = set(ocols)
    common = tuple(k for k in x.columns if k in oc)
    mode = c.select("merge.keys", ("default", "on", "left_right") if common else ("left_right",))
    out = {"other": other, "how": how, "on": None, "left_on": None, "right_on": None}
    if mode == "on":
        if len(common) < 2:
            raise Infeasible("on= equals the default with one common column")
        out["on"] = c.subset("merge.on", common, 1, MAX_KEYS)
    elif mode == "left_right":
        pairs = x._memo(("merge.pairs", other), lambda: _key_pairs(x.recv, x.inputs[other]))
        out["left_on"] = c.select("merge.left_on", tuple(dict.fromkeys(a for a, _ in pairs)))
        out["right_on"] = c.select("merge.right_on", tuple(b for a, b in pairs if a == out["left_on"]))
    return out


def _key_kind(col: pd.Series) -> str:
    """What a key column is to pandas' merge, which refuses to match a ``number`` column with a
    ``text`` one, or ``datetime`` / ``timedelta`` with anything else; ``any`` for the rest
    (booleans, categories, object columns that are not all text), which are never ruled out."""
    dt = col.dtype
    if isinstance(dt, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dt):
        return "any"
    if pd.api.types.is_numeric_dtype(dt):
        return "number"
    if pd.api.types.is_datetime64_any_dtype(dt):
        return "datetime"
    if pd.api.types.is_timedelta64_dtype(dt):
        return "timedelta"
    if pd.api.types.is_object_dtype(dt):
        return "text" if pd.api.types.infer_dtype(col, skipna=True) == "string" else "any"
    return "text" if pd.api.types.is_string_dtype(dt) else "any"


def _key_pairs(left: pd.DataFrame, right: pd.DataFrame) -> tuple:
    """(left_on, right_on) pairs of differently named columns pandas can merge on (see
    :func:`_key_kind`); pairs sharing a value first."""
    def col(frame: pd.DataFrame, label: Any) -> pd.Series:
        c = frame[label]
        return c.iloc[:, 0] if isinstance(c, pd.DataFrame) else c     # duplicate labels
    lcols, rcols = _uniq(left.columns), _uniq(right.columns)
    pairs = []
    for a in lcols:
        for b in rcols:
            ka, kb = _key_kind(col(left, a)), _key_kind(col(right, b))
            if a == b or (ka != kb and "any" not in (ka, kb)):
                continue
            lv = set(_uniq(col(left, a).dropna().to_numpy()[:1000]))
            shared = any(v in lv for v in _uniq(col(right, b).dropna().to_numpy()[:1000]))
            pairs.append((not shared, a, b))
    pairs.sort(key=lambda p: p[0])     # stable: domain order within each group
    return tuple((a, b) for _, a, b in pairs)


def g_concat(c: Chooser, x: GenContext) -> dict:
    return {"other": c.select("concat.other", _others(x)), "axis": c.select("concat.axis", (0, 1)),
            "ignore_index": c.select("concat.ignore_index", (False, True))}


def g_join(c: Chooser, x: GenContext) -> dict:
    _need_frame(x)
    other = c.select("join.other", _others(x))
    o = x.inputs[other]
    overlap = isinstance(o, pd.DataFrame) and bool(set(x.columns) & set(_uniq(o.columns)))
    sfx = c.select("join.suffixes", (("_x", "_y"), ("", "_r")) if overlap else (("", ""),))
    return {"other": other, "how": c.select("join.how", ("left", "inner", "outer", "right")),
            "lsuffix": sfx[0], "rsuffix": sfx[1]}


def g_combine_first(c: Chooser, x: GenContext) -> dict:
    return {"other": c.select("combine_first.other", _others(x))}


def g_fillna(c: Chooser, x: GenContext) -> dict:
    if not x.recv.isna().to_numpy().any():
        raise Infeasible("nothing to fill")
    have = set(_uniq(np.ravel(x.recv.to_numpy())))
    fresh = [v for v in x.target_values if v not in have][:5]
    return {"value": c.select("fillna.value", _uniq([0] + fresh + list(x.constants) + [""]))}


def g_axis(name: str) -> Callable[[Chooser, GenContext], dict]:
    def gen(c: Chooser, x: GenContext) -> dict:
        return {"axis": c.select(f"{name}.axis", (0, 1) if x.is_frame else (0,))}
    return gen


def g_periods(name: str) -> Callable[[Chooser, GenContext], dict]:
    def gen(c: Chooser, x: GenContext) -> dict:
        return {"periods": c.select(f"{name}.periods", (1, -1, 2))}
    return gen


def g_rank(c: Chooser, x: GenContext) -> dict:
    return {"method": c.select("rank.method", ("average", "min", "max", "first", "dense")),
            "ascending": c.select("rank.ascending", (True, False))}


def g_round(c: Chooser, x: GenContext) -> dict:
    return {"decimals": c.select("round.decimals", (0, 1, 2, 3))}


def g_clip(c: Chooser, x: GenContext) -> dict:
    nums = [v for v in x.target_values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    lows = _uniq(([min(nums)] if nums else []) + [0])
    highs = _uniq([max(nums)] if nums else [])
    lower = c.select("clip.lower", (None,) + lows)
    upper = c.select("clip.upper", (None,) + highs)
    if lower is None and upper is None:
        raise Infeasible("clip with no bounds is the identity")
    return {"lower": lower, "upper": upper}


def g_apply(c: Chooser, x: GenContext) -> dict:
    _need_frame(x)
    return {"func": c.select("apply.func", REDUCTIONS), "axis": c.select("apply.axis", (0, 1))}


def g_reduce(name: str) -> Callable[[Chooser, GenContext], dict]:
    def gen(c: Chooser, x: GenContext) -> dict:
        out = {"axis": c.select(f"{name}.axis", (0, 1) if x.is_frame else (0,))}
        if name not in ("count", "nunique"):
            text = x.is_frame and len(x.numeric_columns) < len(x.columns)
            out["numeric_only"] = c.select(f"{name}.numeric_only", (True, False) if text else (False,))
        return out
    return gen


def g_astype(c: Chooser, x: GenContext) -> dict:
    return {"dtype": c.select("astype.dtype", ("int", "float", "str", "bool"))}


MAX_ARITH_SCALARS = 3   # hinted numeric constants offered as an arithmetic operand


def _all_numeric(v: Any) -> bool:
    """Whether every column of a frame (or a Series) is numeric and not boolean: arithmetic's domain."""
    dtypes = list(v.dtypes) if isinstance(v, pd.DataFrame) else [v.dtype]
    return bool(dtypes) and all(pd.api.types.is_numeric_dtype(d) and not pd.api.types.is_bool_dtype(d)
                                for d in dtypes)


def _arith_operands(name: str, x: GenContext) -> tuple:
    """The operands of ``name`` on this receiver (see ``_dsl_arith``): reductions of the receiver,
    per-level totals of a MultiIndex axis (``div`` only), hinted numbers, numeric other inputs."""
    out: list = []
    for agg in ARITH_OPS[name]:
        out += [("reduce", agg, ax) for ax in (1, 0)] if x.is_frame else [("reduce", agg, None)]
    if name == "div" and x.is_frame:
        for axis, idx in ((1, x.recv.columns), (0, x.recv.index)):
            if idx.nlevels > 1:
                out += [("level_sum", axis, lev) for lev in range(idx.nlevels)]
    nums = [v for v in x.constants if isinstance(v, (int, float)) and not isinstance(v, bool)]
    out += [("scalar", v) for v in nums[:MAX_ARITH_SCALARS]]
    # a Series receiver cannot take a frame operand (pandas raises)
    out += [("input", i) for i in _others(x) if _all_numeric(x.inputs[i])
            and (x.is_frame or isinstance(x.inputs[i], pd.Series))]
    return tuple(out)


def g_arith(name: str) -> Callable[[Chooser, GenContext], dict]:
    """``add/sub/mul/div``: on numeric receivers only (anything else fails or concatenates text).

    Candidates per state: div 4 reductions on a frame (sum, max over either axis; 2 on a Series)
    plus one per level of each MultiIndex axis, sub 4 (mean, min), add and mul none; each also up
    to 3 hinted numbers and, per numeric other input, 1-2 axes x (1 + levels) x 1-2 fill values."""
    def gen(c: Chooser, x: GenContext) -> dict:
        if not _all_numeric(x.recv):
            raise Infeasible("arithmetic needs a numeric receiver")
        op = c.select(f"{name}.operand", x._memo(("arith", name), lambda: _arith_operands(name, x)))
        out = {"other": None, "derived": None, "axis": None, "level": None, "fill_value": None}
        if op[0] == "reduce":
            # a row total (axis=1) is indexed like the rows: aligned with axis=0, and vice versa
            return {**out, "derived": op, "axis": None if op[2] is None else 1 - op[2]}
        if op[0] == "level_sum":
            return {**out, "derived": op, "axis": op[1], "level": op[2]}
        if op[0] == "scalar":
            return {**out, "derived": op}
        other = x.inputs[op[1]]
        out["other"] = op[1]
        axis = None
        if x.is_frame and isinstance(other, pd.Series):
            axis = c.select(f"{name}.axis", (None, 0))        # None: pandas' default, the columns
            out["axis"] = axis
        # the receiver's axis the operand's index aligns with: the columns for a Series by default
        column_series = x.is_frame and isinstance(other, pd.Series) and axis is None
        ax, oix = (x.recv.columns if column_series else x.recv.index), other.index
        if ax.nlevels > oix.nlevels:
            out["level"] = c.select(f"{name}.level", (None,) + tuple(range(ax.nlevels)))
        if isinstance(other, pd.DataFrame) or not x.is_frame:
            differ = not ax.equals(oix) or bool(x.recv.isna().to_numpy().any()) \
                or bool(other.isna().to_numpy().any())
            if differ:
                out["fill_value"] = c.select(f"{name}.fill_value", (None, 0))
        return out
    return gen


GENERATORS: dict[str, Callable[[Chooser, GenContext], dict]] = {
    "head": g_head, "tail": g_head, "getitem": g_getitem, "loc": g_loc,
    "loc_rows_columns": g_loc_rows_columns, "xs": g_xs, "isin": g_isin, "query": g_query,
    "where": g_where, "mask": g_where, "filter": g_filter, "take": g_take, "drop": g_drop,
    "drop_rows": g_drop_rows, "drop_duplicates": g_drop_duplicates, "dropna": g_dropna,
    "select_dtypes": g_select_dtypes, "nlargest": g_nlargest, "nsmallest": g_nlargest,
    "pivot": g_pivot, "pivot_table": g_pivot_table, "melt": g_melt, "stack": g_stack,
    "unstack": g_unstack, "set_index": g_set_index, "reset_index": g_reset_index, "T": g_none,
    "sort_values": g_sort_values, "sort_index": g_sort_index, "rename": g_rename,
    "reorder_levels": g_reorder_levels, "swaplevel": g_swaplevel, "droplevel": g_droplevel,
    "add_prefix": g_add_prefix, "add_suffix": g_add_suffix, "to_frame": g_to_frame,
    "groupby.transform": g_transform, "merge": g_merge, "concat": g_concat, "join": g_join,
    "combine_first": g_combine_first, "fillna": g_fillna, "ffill": g_axis("ffill"),
    "bfill": g_axis("bfill"), "isna": g_none, "notna": g_none, "diff": g_periods("diff"),
    "pct_change": g_periods("pct_change"), "rank": g_rank, "round": g_round, "abs": g_none,
    "clip": g_clip, "apply": g_apply, "value_counts": g_none, "astype": g_astype, "values": g_none,
}
GENERATORS.update({f"groupby.{a}": _g_groupby(a) for a in AGGS})
GENERATORS.update({n: g_axis(n) for n in ("cumsum", "cummax", "cummin", "cumprod")})
GENERATORS.update({n: g_reduce(n) for n in REDUCTIONS})
GENERATORS.update({n: g_arith(n) for n in ARITH_OPS})


def generator(name: str) -> Callable[[Chooser, GenContext], dict]:
    """The argument generator of DSL function ``name``."""
    try:
        return GENERATORS[name]
    except KeyError:
        raise KeyError(f"no generator for DSL function {name!r}") from None
