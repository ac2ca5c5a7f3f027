"""DSL functions, reshaping group: pivots, melts, stacks, index moves, sorts and renames."""
from __future__ import annotations

import pandas as pd

from .dsl import Arg, Function, kwargs, lit, register
from .sandbox import guard_cells

F, S, FS = frozenset({"frame"}), frozenset({"series"}), frozenset({"frame", "series"})


def _one_or_list(v):
    """A tuple of labels as a list, or the single label itself when there is one."""
    v = list(v)
    return v[0] if len(v) == 1 else v


def _pivot_run(x, a, i):
    idx, col, val = a["index"], a["columns"], a["values"]
    nval = 1 if val is not None else max(1, x.shape[1] - 2)
    guard_cells(x[idx].nunique() * x[col].nunique() * nval, "pivot")
    return x.pivot(index=idx, columns=col, values=val)


register(Function("pivot", "reshaping",
                  (Arg("index", "column"), Arg("columns", "column"), Arg("values", "column")),
                  run=_pivot_run,
                  render=lambda r, a, n: f"{r}.pivot({kwargs(index=a['index'], columns=a['columns'], values=a['values'])})"))


def _pt_run(x, a, i):
    idx = list(a["index"])
    cols = list(a["columns"]) if a["columns"] is not None else []
    rows = x[idx].drop_duplicates().shape[0]
    width = x[cols].drop_duplicates().shape[0] if cols else 1
    guard_cells(rows * width * (1 if a["values"] is not None else x.shape[1]), "pivot_table")
    return x.pivot_table(index=_one_or_list(idx), columns=_one_or_list(cols) if cols else None,
                         values=a["values"], aggfunc=a["aggfunc"])


def _pt_render(r, a, n):
    cols = _one_or_list(a["columns"]) if a["columns"] is not None else None
    return f"{r}.pivot_table(" + kwargs(index=_one_or_list(a["index"]), columns=cols, values=a["values"],
                                        aggfunc=a["aggfunc"] if a["aggfunc"] != "mean" else None) + ")"


register(Function("pivot_table", "reshaping",
                  (Arg("index", "columns"), Arg("columns", "columns"), Arg("values", "column"),
                   Arg("aggfunc", "agg")),
                  run=_pt_run, render=_pt_render, cost=1.05))


def _melt_run(x, a, i):
    guard_cells(x.size * 3, "melt")
    return x.melt(id_vars=list(a["id_vars"]) or None,
                  value_vars=list(a["value_vars"]) if a["value_vars"] is not None else None,
                  var_name=a["var_name"], value_name=a["value_name"])


def _melt_render(r, a, n):
    return f"{r}.melt(" + kwargs(
        id_vars=list(a["id_vars"]) or None,
        value_vars=list(a["value_vars"]) if a["value_vars"] is not None else None,
        var_name=a["var_name"], value_name=a["value_name"] if a["value_name"] != "value" else None) + ")"


register(Function("melt", "reshaping",
                  (Arg("id_vars", "columns"), Arg("value_vars", "columns"), Arg("var_name", "text"),
                   Arg("value_name", "text")),
                  run=_melt_run, render=_melt_render))


def _stack_run(x, a, i):
    guard_cells(x.size * 2, "stack")
    return x.stack()


register(Function("stack", "reshaping", (), run=_stack_run, render=lambda r, a, n: f"{r}.stack()"))


def _unstack_run(x, a, i):
    lev = a["level"]
    if isinstance(x.index, pd.MultiIndex):
        width = x.index.get_level_values(lev).nunique()
        rest = len(x.index.droplevel(lev).unique())
    else:
        width, rest = len(x.index), 1
    ncol = x.shape[1] if isinstance(x, pd.DataFrame) else 1
    guard_cells(width * rest * ncol, "unstack")
    return x.unstack(lev)


register(Function("unstack", "reshaping", (Arg("level", "level"),), run=_unstack_run,
                  render=lambda r, a, n: f"{r}.unstack({lit(a['level']) if a['level'] != -1 else ''})",
                  receivers=FS))
register(Function("set_index", "reshaping", (Arg("keys", "columns"), Arg("drop", "bool")),
                  run=lambda x, a, i: x.set_index(_one_or_list(a["keys"]), drop=a["drop"]),
                  render=lambda r, a, n: f"{r}.set_index({lit(_one_or_list(a['keys']))}"
                  + (", drop=False" if not a["drop"] else "") + ")"))
register(Function("reset_index", "reshaping", (Arg("drop", "bool"),),
                  run=lambda x, a, i: x.reset_index(drop=a["drop"]),
                  render=lambda r, a, n: f"{r}.reset_index({'drop=True' if a['drop'] else ''})",
                  receivers=FS))
register(Function("T", "reshaping", (), run=lambda x, a, i: x.T, render=lambda r, a, n: f"{r}.T"))


def _sv_run(x, a, i):
    if isinstance(x, pd.Series):
        return x.sort_values(ascending=a["ascending"])
    asc = list(a["ascending"]) if isinstance(a["ascending"], tuple) else a["ascending"]
    return x.sort_values(by=list(a["by"]), ascending=asc)


def _sv_render(r, a, n):
    asc = list(a["ascending"]) if isinstance(a["ascending"], tuple) else a["ascending"]
    if a["by"] is None:
        return f"{r}.sort_values({'ascending=False' if asc is False else ''})"
    by = _one_or_list(a["by"])
    return f"{r}.sort_values({lit(by)}" + (f", ascending={lit(asc)}" if asc is not True else "") + ")"


register(Function("sort_values", "reshaping", (Arg("by", "columns"), Arg("ascending", "bool")),
                  run=_sv_run, render=_sv_render, receivers=FS))
register(Function("sort_index", "reshaping", (Arg("axis", "axis"), Arg("ascending", "bool")),
                  run=lambda x, a, i: x.sort_index(axis=a["axis"], ascending=a["ascending"]),
                  render=lambda r, a, n: f"{r}.sort_index("
                  + kwargs(axis=a["axis"] or None, ascending=a["ascending"] if not a["ascending"] else None) + ")",
                  receivers=FS))


def _rename_run(x, a, i):
    return x.rename(**{a["axis"]: {a["old"]: a["new"]}})


register(Function("rename", "reshaping", (Arg("old", "value"), Arg("new", "value"), Arg("axis", "text")),
                  run=_rename_run,
                  render=lambda r, a, n: f"{r}.rename({a['axis']}={{{lit(a['old'])}: {lit(a['new'])}}})",
                  cost=1.1))
register(Function("reorder_levels", "reshaping", (Arg("order", "positions"), Arg("axis", "axis")),
                  run=lambda x, a, i: x.reorder_levels(list(a["order"]), axis=a["axis"]),
                  render=lambda r, a, n: f"{r}.reorder_levels({lit(list(a['order']))}"
                  + (f", axis={a['axis']}" if a["axis"] else "") + ")", receivers=FS, cost=1.15))
register(Function("swaplevel", "reshaping", (Arg("axis", "axis"),),
                  run=lambda x, a, i: x.swaplevel(axis=a["axis"]),
                  render=lambda r, a, n: f"{r}.swaplevel({'axis=1' if a['axis'] else ''})",
                  receivers=FS, cost=1.15))
register(Function("droplevel", "reshaping", (Arg("level", "level"), Arg("axis", "axis")),
                  run=lambda x, a, i: x.droplevel(a["level"], axis=a["axis"]),
                  render=lambda r, a, n: f"{r}.droplevel({lit(a['level'])}"
                  + (f", axis={a['axis']}" if a["axis"] else "") + ")", receivers=FS, cost=1.1))
register(Function("add_prefix", "reshaping", (Arg("prefix", "text"),),
                  run=lambda x, a, i: x.add_prefix(a["prefix"]),
                  render=lambda r, a, n: f"{r}.add_prefix({lit(a['prefix'])})", receivers=FS, cost=1.15))
register(Function("add_suffix", "reshaping", (Arg("suffix", "text"),),
                  run=lambda x, a, i: x.add_suffix(a["suffix"]),
                  render=lambda r, a, n: f"{r}.add_suffix({lit(a['suffix'])})", receivers=FS, cost=1.15))
register(Function("to_frame", "reshaping", (), run=lambda x, a, i: x.to_frame(),
                  render=lambda r, a, n: f"{r}.to_frame()", receivers=S))
