"""DSL functions, grouping group: ``groupby`` followed by one aggregation, one call in the DSL.

``df.groupby(by)`` alone is not a value a user wants, so a group-by and its aggregation form one
DSL call (``groupby.mean``); it renders as the two chained pandas calls. An optional column
selection between them (``df.groupby('a')['b'].sum()``) is an argument.
"""
from __future__ import annotations

import pandas as pd

from .dsl import Arg, Function, lit, register
from .sandbox import guard_cells, text_sum_cells

#: Aggregations that take ``numeric_only`` (pandas 3 raises on text columns without it).
NUMERIC_ONLY = frozenset({"sum", "mean", "median", "std", "var", "prod", "min", "max", "first",
                          "last", "idxmin", "idxmax", "cumsum"})
AGGS = ("sum", "mean", "count", "size", "min", "max", "first", "last", "median", "idxmin",
        "idxmax", "nunique", "std", "var", "prod", "cumsum")
#: The aggregations that cost 1.0 (the others 1.05): as for the whole-frame reductions
#: (``_dsl_compute``), min and max are rarer than sum, mean and count.
_COMMON = frozenset({"sum", "mean", "count", "size"})


def _by(by):
    by = list(by)
    return by[0] if len(by) == 1 else by


def _groupby(x, a):
    g = x.groupby(_by(a["by"]), as_index=a["as_index"], sort=True)
    return g[a["column"]] if a["column"] is not None else g


def _gb_src(r, a):
    src = f"{r}.groupby({lit(_by(a['by']))}" + (", as_index=False" if not a["as_index"] else "") + ")"
    return src + (f"[{lit(a['column'])}]" if a["column"] is not None else "")


def _guard_text_sums(x, a, what):
    """Refuse a group-wise running or broadcast sum whose text would be too long to build."""
    sel = x[a["column"]] if a["column"] is not None else x.drop(columns=list(a["by"]))
    if isinstance(sel, pd.DataFrame) and a.get("numeric_only"):
        return
    sizes = x.groupby(_by(a["by"]), sort=False).size().to_numpy()
    guard_cells(text_sum_cells(sel, sizes), what)


def _make(agg):
    def run(x, a, i):
        if agg == "cumsum":
            _guard_text_sums(x, a, "groupby cumsum of text")
        g = _groupby(x, a)
        kw = {"numeric_only": True} if a.get("numeric_only") else {}
        return getattr(g, agg)(**kw)

    def render(r, a, n):
        return f"{_gb_src(r, a)}.{agg}({'numeric_only=True' if a.get('numeric_only') else ''})"
    return run, render


for _agg in AGGS:
    _run, _render = _make(_agg)
    _args = (Arg("by", "columns"), Arg("as_index", "bool"), Arg("column", "column"))
    if _agg in NUMERIC_ONLY:
        _args += (Arg("numeric_only", "bool"),)
    register(Function(f"groupby.{_agg}", "grouping", _args, run=_run, render=_render,
                      cost=1.0 if _agg in _COMMON else 1.05))


def _transform_run(x, a, i):
    if a["agg"] == "sum":
        _guard_text_sums(x, a, "groupby transform('sum') of text")
    g = x.groupby(_by(a["by"]), sort=True)
    g = g[a["column"]] if a["column"] is not None else g
    return g.transform(a["agg"])


def _transform_render(r, a, n):
    src = f"{r}.groupby({lit(_by(a['by']))})" + (f"[{lit(a['column'])}]" if a["column"] is not None else "")
    return f"{src}.transform({lit(a['agg'])})"


register(Function("groupby.transform", "grouping",
                  (Arg("by", "columns"), Arg("column", "column"), Arg("agg", "agg")),
                  run=_transform_run, render=_transform_render, cost=1.1))
