"""DSL functions, combining group: the receiver with another input (merge, concat, join, combine_first).

The other frame is an argument of type ``frame``: the position of an original input, rendered
as its name (``df1``). Every size-multiplying call estimates its output before running it.
"""
from __future__ import annotations

import pandas as pd

from .dsl import Arg, Function, kwargs, register
from .sandbox import estimate_merge_rows, guard_cells

FS = frozenset({"frame", "series"})


def _keys(a):
    return list(a["on"]) if a["on"] is not None else None


def _merge_run(x, a, inputs):
    other = inputs[a["other"]]
    if a["left_on"] is not None:
        lk, rk = [a["left_on"]], [a["right_on"]]
    else:
        lk = rk = _keys(a) or [c for c in x.columns if c in set(other.columns)]
    if lk:
        rows = estimate_merge_rows(x, other, lk, rk, a["how"])
    else:
        rows = len(x) * len(other)
    guard_cells(rows * (x.shape[1] + other.shape[1]), "merge")
    if a["left_on"] is not None:
        return x.merge(other, how=a["how"], left_on=a["left_on"], right_on=a["right_on"])
    return x.merge(other, how=a["how"], on=_keys(a))


def _merge_render(r, a, names):
    on = _keys(a)
    kw = kwargs(how=a["how"] if a["how"] != "inner" else None,
                on=(on[0] if on and len(on) == 1 else on),
                left_on=a["left_on"], right_on=a["right_on"])
    return f"{r}.merge({names[a['other']]}{', ' + kw if kw else ''})"


register(Function("merge", "combining",
                  (Arg("other", "frame"), Arg("how", "how"), Arg("on", "columns"),
                   Arg("left_on", "column"), Arg("right_on", "column")),
                  run=_merge_run, render=_merge_render))


def _concat_run(x, a, inputs):
    other = inputs[a["other"]]
    guard_cells((x.size + other.size) * (2 if a["axis"] else 1), "concat")
    return pd.concat([x, other], axis=a["axis"], ignore_index=a["ignore_index"])


register(Function("concat", "combining",
                  (Arg("other", "frame"), Arg("axis", "axis"), Arg("ignore_index", "bool")),
                  run=_concat_run,
                  render=lambda r, a, n: f"pd.concat([{r}, {n[a['other']]}]"
                  + (f", {kwargs(axis=a['axis'] or None, ignore_index=a['ignore_index'] or None)}"
                     if a["axis"] or a["ignore_index"] else "") + ")",
                  receivers=FS))


def _join_run(x, a, inputs):
    other = inputs[a["other"]]
    guard_cells(len(x) * len(other) * (x.shape[1] + other.shape[1]), "join")
    return x.join(other, how=a["how"], lsuffix=a["lsuffix"], rsuffix=a["rsuffix"])


register(Function("join", "combining",
                  (Arg("other", "frame"), Arg("how", "how"), Arg("lsuffix", "text"), Arg("rsuffix", "text")),
                  run=_join_run,
                  render=lambda r, a, n: f"{r}.join({n[a['other']]}"
                  + (f", {kwargs(how=a['how'] if a['how'] != 'left' else None, lsuffix=a['lsuffix'] or None, rsuffix=a['rsuffix'] or None)}"
                     if a["how"] != "left" or a["lsuffix"] or a["rsuffix"] else "") + ")",
                  cost=1.05))


def _cf_run(x, a, inputs):
    other = inputs[a["other"]]
    guard_cells((len(x) + len(other)) * (x.shape[1] + other.shape[1]), "combine_first")
    return x.combine_first(other)


register(Function("combine_first", "combining", (Arg("other", "frame"),), run=_cf_run,
                  render=lambda r, a, n: f"{r}.combine_first({n[a['other']]})"))
