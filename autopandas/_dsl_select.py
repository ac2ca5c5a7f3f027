"""DSL functions, selection group: rows and columns picked by position, label, value or condition."""
from __future__ import annotations

import operator

import numpy as np
import pandas as pd

from .dsl import Arg, Function, is_name, kwargs, lit, register

F, S, FS = frozenset({"frame"}), frozenset({"series"}), frozenset({"frame", "series"})

OPS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, ">": operator.gt,
       "<=": operator.le, ">=": operator.ge}


def _cond(r: str, cond_of_d: str) -> str:
    """``r[cond]`` when ``r`` is a name (cond repeats it), else ``r.loc[lambda d: cond]``."""
    if is_name(r):
        return f"{r}[{cond_of_d.replace('__D__', r)}]"
    return f"{r}.loc[lambda d: {cond_of_d.replace('__D__', 'd')}]"


register(Function("head", "selection", (Arg("n", "int"),),
                  run=lambda x, a, i: x.head(a["n"]),
                  render=lambda r, a, n: f"{r}.head({a['n']})", receivers=FS))
register(Function("tail", "selection", (Arg("n", "int"),),
                  run=lambda x, a, i: x.tail(a["n"]),
                  render=lambda r, a, n: f"{r}.tail({a['n']})", receivers=FS, cost=1.05))
register(Function("getitem", "selection", (Arg("columns", "columns"),),
                  run=lambda x, a, i: x[list(a["columns"])],
                  render=lambda r, a, n: f"{r}[{lit(list(a['columns']))}]"))
register(Function("loc", "selection", (Arg("rows", "labels"),),
                  run=lambda x, a, i: x.loc[list(a["rows"])],
                  render=lambda r, a, n: f"{r}.loc[{lit(list(a['rows']))}]", receivers=FS))
register(Function("loc_rows_columns", "selection", (Arg("rows", "labels"), Arg("columns", "columns")),
                  run=lambda x, a, i: x.loc[list(a["rows"]), list(a["columns"])],
                  render=lambda r, a, n: f"{r}.loc[{lit(list(a['rows']))}, {lit(list(a['columns']))}]",
                  cost=1.1))
register(Function("xs", "selection", (Arg("key", "value"), Arg("level", "level"), Arg("axis", "axis")),
                  run=lambda x, a, i: x.xs(a["key"], level=a["level"], axis=a["axis"]),
                  render=lambda r, a, n: f"{r}.xs({lit(a['key'])}, {kwargs(level=a['level'], axis=a['axis'])})",
                  receivers=FS, cost=1.1))


def _isin_run(x, a, i):
    m = x[a["column"]].isin(list(a["values"]))
    return x[~m] if a["negate"] else x[m]


def _isin_render(r, a, n):
    c = f"__D__[{lit(a['column'])}].isin({lit(list(a['values']))})"
    return _cond(r, f"~{c}" if a["negate"] else c)


register(Function("isin", "selection",
                  (Arg("column", "column"), Arg("values", "labels"), Arg("negate", "bool")),
                  run=_isin_run, render=_isin_render))


def _query_run(x, a, i):
    lhs = x[a["column"]]
    rhs = x[a["rhs"]] if a["rhs_is_column"] else a["rhs"]
    return x[OPS[a["op"]](lhs, rhs).fillna(False).astype(bool)]


#: Names ``DataFrame.query`` resolves before (or instead of) a column, or cannot parse as one.
_QUERY_RESERVED = frozenset({"True", "False", "None", "inf", "Inf", "Timestamp", "datetime", "list",
                             "tuple"})


def _query_name(v) -> bool:
    """Whether column label ``v`` can appear bare in a ``query`` string and mean that column:
    an ASCII identifier that is neither a Python keyword nor a name query resolves itself."""
    return (isinstance(v, str) and v.isascii() and is_name(v) and v not in _QUERY_RESERVED
            and not v.startswith("__"))


def _query_text(v) -> bool:
    """Whether a text value can be written between double quotes inside a ``query`` string
    (query refuses line breaks and NUL; quotes and backslashes would need escaping)."""
    return v.isprintable() and '"' not in v and "\\" not in v


def _query_render(r, a, n):
    col, rhs = a["column"], a["rhs"]
    if isinstance(rhs, np.generic):
        rhs = rhs.item()
    simple = _query_name(col) and (
        (a["rhs_is_column"] and _query_name(rhs))
        or (not a["rhs_is_column"] and isinstance(rhs, (int, float, str)) and not isinstance(rhs, bool)
            and (not isinstance(rhs, float) or np.isfinite(rhs))
            and (not isinstance(rhs, str) or _query_text(rhs))))
    if simple:
        rsrc = rhs if a["rhs_is_column"] else (f'"{rhs}"' if isinstance(rhs, str) else lit(rhs))
        expr = f"{col} {a['op']} {rsrc}"
        return f"{r}.query({lit(expr)})"
    rs = f"__D__[{lit(rhs)}]" if a["rhs_is_column"] else lit(rhs)
    return _cond(r, f"__D__[{lit(col)}] {a['op']} {rs}")


register(Function("query", "selection",
                  (Arg("column", "column"), Arg("op", "op"), Arg("rhs", "value"),
                   Arg("rhs_is_column", "bool")),
                  run=_query_run, render=_query_render))


def _where_like(name):
    def run(x, a, i):
        cond = OPS[a["op"]](x, a["value"])
        return getattr(x, name)(cond, a["other"]) if a["other"] is not None else getattr(x, name)(cond)

    def render(r, a, n):
        other = f", {lit(a['other'])}" if a["other"] is not None else ""
        return f"{r}.{name}(lambda d: d {a['op']} {lit(a['value'])}{other})"
    return run, render


for _name in ("where", "mask"):
    _run, _render = _where_like(_name)
    register(Function(_name, "selection", (Arg("op", "op"), Arg("value", "value"), Arg("other", "value")),
                      run=_run, render=_render, receivers=FS, cost=1.2))

register(Function("filter", "selection", (Arg("like", "text"), Arg("axis", "axis")),
                  run=lambda x, a, i: x.filter(like=a["like"], axis=a["axis"]),
                  render=lambda r, a, n: f"{r}.filter({kwargs(like=a['like'], axis=a['axis'])})",
                  cost=1.15))
register(Function("take", "selection", (Arg("indices", "positions"), Arg("axis", "axis")),
                  run=lambda x, a, i: x.take(list(a["indices"]), axis=a["axis"]),
                  render=lambda r, a, n: f"{r}.take({lit(list(a['indices']))}, axis={a['axis']})",
                  receivers=FS, cost=1.15))
register(Function("drop", "selection", (Arg("columns", "columns"),),
                  run=lambda x, a, i: x.drop(columns=list(a["columns"])),
                  render=lambda r, a, n: f"{r}.drop(columns={lit(list(a['columns']))})"))
register(Function("drop_rows", "selection", (Arg("index", "labels"),),
                  run=lambda x, a, i: x.drop(index=list(a["index"])),
                  render=lambda r, a, n: f"{r}.drop(index={lit(list(a['index']))})",
                  receivers=FS, cost=1.1))


def _dd_run(x, a, i):
    sub = list(a["subset"]) if a["subset"] is not None else None
    return x.drop_duplicates(subset=sub, keep=a["keep"])


register(Function("drop_duplicates", "selection", (Arg("subset", "columns"), Arg("keep", "keep")),
                  run=_dd_run,
                  render=lambda r, a, n: f"{r}.drop_duplicates("
                  + kwargs(subset=list(a["subset"]) if a["subset"] is not None else None,
                           keep=a["keep"] if a["keep"] != "first" else None) + ")"))


def _dropna_run(x, a, i):
    sub = list(a["subset"]) if a["subset"] is not None else None
    if isinstance(x, pd.Series):
        return x.dropna()
    return x.dropna(axis=a["axis"], how=a["how"], subset=sub)


def _dropna_render(r, a, n):
    return f"{r}.dropna(" + kwargs(axis=a["axis"] or None, how=a["how"] if a["how"] != "any" else None,
                                   subset=list(a["subset"]) if a["subset"] is not None else None) + ")"


# A little cheaper than the other row filters: it is offered only where a value is missing,
# and where drop_duplicates or a filter drops the same rows (the only repeated rows are those
# holding missing values), the result is kept as dropna's, which says why the rows go.
register(Function("dropna", "selection",
                  (Arg("axis", "axis"), Arg("how", "how"), Arg("subset", "columns")),
                  run=_dropna_run, render=_dropna_render, receivers=FS, cost=0.95))

_DTYPES = {"number": "np.number", "object": "object", "bool": "bool", "datetime": "'datetime'",
           "string": "'string'"}


def _sd_run(x, a, i):
    kind = {"number": np.number, "object": object, "bool": bool, "datetime": "datetime",
            "string": "string"}[a["dtype"]]
    return x.select_dtypes(**{a["mode"]: [kind]})


register(Function("select_dtypes", "selection", (Arg("dtype", "dtype"), Arg("mode", "text")),
                  run=_sd_run,
                  render=lambda r, a, n: f"{r}.select_dtypes({a['mode']}=[{_DTYPES[a['dtype']]}])",
                  cost=1.1))
for _name in ("nlargest", "nsmallest"):
    register(Function(_name, "selection", (Arg("n", "int"), Arg("columns", "columns")),
                      run=(lambda nm: lambda x, a, i: getattr(x, nm)(a["n"], list(a["columns"])))(_name),
                      render=(lambda nm: lambda r, a, n: f"{r}.{nm}({a['n']}, {lit(list(a['columns']))})")(_name),
                      cost=1.15))
