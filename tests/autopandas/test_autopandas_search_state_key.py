"""Deduplication keys (``search.state_key``), property-tested: frames that differ in values,
dtypes, column names, index values, index names or column order key differently; equal frames
(copies, rebuilt, sliced views) key equally; the fast paths key as the plain ones."""
from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autopandas import search
from autopandas.search import state_key

_TEXT = st.text(alphabet="ab ä", max_size=3)
# (dtype, cells) of one column; object columns mix text, numbers, booleans and missing cells
_COLUMNS = {
    "int64": st.integers(-5, 5),
    "float64": st.one_of(st.floats(-4, 4, width=32), st.just(float("nan"))),
    "bool": st.booleans(),
    "str": st.one_of(_TEXT, st.none()),
    "object": st.one_of(_TEXT, st.integers(-3, 3), st.booleans(), st.none()),
    "category": st.sampled_from(["x", "y"]),
    "datetime64[ns]": st.integers(0, 3).map(lambda d: pd.Timestamp("2024-01-01") + pd.Timedelta(days=d)),
}
_NAMES = st.one_of(st.none(), st.sampled_from(["k", "", "index"]), st.integers(0, 2), st.booleans())
_LABELS = st.one_of(st.sampled_from(["a", "b", "c", "d"]), st.integers(0, 3))


@st.composite
def frames(draw) -> pd.DataFrame:
    rows = draw(st.integers(0, 4))
    width = draw(st.integers(1, 3))
    labels = draw(st.lists(_LABELS, min_size=width, max_size=width, unique_by=lambda v: (type(v), v)))
    cols = {}
    for label in labels:
        dtype = draw(st.sampled_from(sorted(_COLUMNS)))
        cells = draw(st.lists(_COLUMNS[dtype], min_size=rows, max_size=rows))
        cols[label] = pd.Series(cells, dtype=dtype if dtype != "object" else object)
    df = pd.DataFrame(cols)
    df.columns.name = draw(_NAMES)
    kind = draw(st.sampled_from(["range", "int", "str", "float", "multi"]))
    if kind == "int":
        df.index = pd.Index(draw(st.lists(st.integers(-3, 3), min_size=rows, max_size=rows)), dtype="int64")
    elif kind == "str":
        df.index = pd.Index(draw(st.lists(_TEXT, min_size=rows, max_size=rows)), dtype="str")
    elif kind == "float":
        df.index = pd.Index(draw(st.lists(st.sampled_from([0.5, -0.0, 0.0, float("nan")]),
                                          min_size=rows, max_size=rows)), dtype="float64")
    elif kind == "multi":
        outer = draw(st.lists(st.sampled_from(["p", "q"]), min_size=rows, max_size=rows))
        inner = draw(st.lists(st.integers(0, 2), min_size=rows, max_size=rows))
        df.index = pd.MultiIndex.from_arrays([outer, inner])
        df.index.names = [draw(_NAMES), draw(_NAMES)]
    if kind != "multi":
        df.index.name = draw(_NAMES)
    return df


def _other(v):
    """A cell value unlike ``v`` (never equal to it, not even as True == 1)."""
    if isinstance(v, (bool, np.bool_)):
        return not v
    if isinstance(v, pd.Timestamp):
        return v + pd.Timedelta(days=10)
    if isinstance(v, (int, np.integer)):
        return int(v) + 10
    if isinstance(v, (float, np.floating)):
        return 9.5 if v != v else float(v) + 10.5
    if isinstance(v, str):
        return v + "z"
    return "zz"                                   # a missing cell


def _other_name(n):
    return "zz" if n is None else None


# (what it changes, the changed frame or None where the change does not apply)
def _changes(df: pd.DataFrame, draw) -> list:
    out = []
    rows, width = df.shape
    j = draw(st.integers(0, width - 1))
    if rows:
        i = draw(st.integers(0, rows - 1))
        col = df.iloc[:, j]
        if isinstance(col.dtype, pd.CategoricalDtype):
            other = "y" if col.iloc[i] == "x" else "x"
        else:
            other = _other(col.iloc[i])
        cells = col.astype(object).tolist()
        cells[i] = other
        changed = df.copy()
        changed.isetitem(j, pd.Series(cells, index=df.index, dtype=col.dtype
                                      if not isinstance(col.dtype, pd.CategoricalDtype) else "category"))
        if changed.iloc[:, j].dtype == col.dtype:
            out.append(("value", changed))
        labels = list(df.index)
        labels[i] = ("zz", 9) if isinstance(df.index, pd.MultiIndex) else _other(labels[i])
        changed = df.copy()
        changed.index = pd.MultiIndex.from_tuples(labels, names=df.index.names) \
            if isinstance(df.index, pd.MultiIndex) else pd.Index(labels, name=df.index.name)
        out.append(("index value", changed))
    to = {"int64": "float64", "float64": object, "bool": object, "str": object, "object": "str",
          "category": object, "datetime64[ns]": "datetime64[s]"}[str(df.dtypes.iloc[j])]
    changed = df.copy()
    changed.isetitem(j, df.iloc[:, j].astype(to))
    if str(changed.dtypes.iloc[j]) != str(df.dtypes.iloc[j]):
        out.append(("dtype", changed))
    changed = df.copy()
    changed.columns = [c if k != j else ("new", 1) for k, c in enumerate(df.columns)]
    changed.columns.name = df.columns.name
    out.append(("column name", changed))
    out.append(("index name", df.rename_axis(index=[_other_name(n) for n in df.index.names])))
    out.append(("columns axis name", df.rename_axis(columns=_other_name(df.columns.name))))
    if width > 1:
        order = list(range(width))
        order[0], order[1] = order[1], order[0]
        out.append(("column order", df.iloc[:, order]))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames(), st.data())
def test_frames_that_differ_in_any_part_key_differently(df, data):
    key = state_key(df)
    assert key is not None
    for what, changed in _changes(df, data.draw):
        assert state_key(changed) != key, what


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames())
def test_equal_frames_key_equally(df):
    key = state_key(df)
    rebuilt = pd.DataFrame({k: df.iloc[:, k] for k in range(df.shape[1])})
    rebuilt.columns = df.columns
    assert state_key(df.copy()) == key
    assert state_key(pickle.loads(pickle.dumps(df))) == key
    assert state_key(rebuilt) == key
    assert state_key(df.iloc[:, :]) == key and state_key(df.iloc[::1]) == key
    for j in range(df.shape[1]):
        assert state_key(df.iloc[:, j]) == state_key(df.iloc[:, j].copy())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames())
def test_fast_paths_key_as_the_plain_ones(df):
    """Columns read from the block manager key as the frame's Series do; MultiIndex levels read
    from levels and codes key as ``get_level_values`` does; a cached RangeIndex key is that of
    its values."""
    key = state_key(df)
    assert key[4] == tuple(search._array_key(df.iloc[:, j].array) for j in range(df.shape[1]))
    for ax in (df.index, df.columns):
        by_position = ax.set_names(list(range(ax.nlevels)))     # get_level_values takes names first
        levels = tuple(search._level_key(by_position.get_level_values(i)) for i in range(ax.nlevels))
        assert search._axis_key(ax)[1] == levels
    plain = pd.Index(np.arange(len(df), dtype="int64"))
    assert search._level_key(pd.RangeIndex(len(df))) == search._level_key(plain)


def test_every_level_of_a_multiindex_is_keyed_whatever_the_level_names():
    # Levels were read with get_level_values(i), which takes i for a level's name first: with
    # the first level named 1, the first level was keyed twice and the second never, so frames
    # differing only in their second index level were one state.
    a = pd.DataFrame({"v": [1, 2]}, index=pd.MultiIndex.from_arrays([["p", "q"], [0, 1]], names=[1, None]))
    b = a.set_axis(pd.MultiIndex.from_arrays([["p", "q"], [5, 6]], names=[1, None]), axis=0)
    assert state_key(a) != state_key(b)
    assert state_key(a["v"]) != state_key(b["v"])
    # a missing label: the level's values are read through pandas, by position too
    c = a.set_axis(pd.MultiIndex.from_arrays([["p", None], ["x", "y"]], names=[1, None]), axis=0)
    d = a.set_axis(pd.MultiIndex.from_arrays([["p", None], ["x", "z"]], names=[1, None]), axis=0)
    assert state_key(c) != state_key(d)
