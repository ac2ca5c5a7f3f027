"""DSL functions, missing-data, computation and types groups: fills, cumulative ops, reductions, casts."""
from __future__ import annotations

import numpy as np

from .dsl import Arg, Function, kwargs, lit, register
from .sandbox import guard_cells, text_sum_cells

F, S, FS = frozenset({"frame"}), frozenset({"series"}), frozenset({"frame", "series"})

# --- missing data
register(Function("fillna", "missing", (Arg("value", "value"),),
                  run=lambda x, a, i: x.fillna(a["value"]),
                  render=lambda r, a, n: f"{r}.fillna({lit(a['value'])})", receivers=FS))
for _name in ("ffill", "bfill"):
    register(Function(_name, "missing", (Arg("axis", "axis"),),
                      run=(lambda nm: lambda x, a, i: getattr(x, nm)(axis=a["axis"]))(_name),
                      render=(lambda nm: lambda r, a, n: f"{r}.{nm}({'axis=1' if a['axis'] else ''})")(_name),
                      receivers=FS))
for _name in ("isna", "notna"):
    register(Function(_name, "missing", (),
                      run=(lambda nm: lambda x, a, i: getattr(x, nm)())(_name),
                      render=(lambda nm: lambda r, a, n: f"{r}.{nm}()")(_name), receivers=FS, cost=1.1))

# --- cumulative and elementwise computation
def _cumulative(nm):
    def run(x, a, i):
        if nm == "cumsum" and not a["axis"]:
            guard_cells(text_sum_cells(x), "cumsum of text")
        return getattr(x, nm)(axis=a["axis"])
    return run


for _name in ("cumsum", "cummax", "cummin", "cumprod"):
    register(Function(_name, "computation", (Arg("axis", "axis"),),
                      run=_cumulative(_name),
                      render=(lambda nm: lambda r, a, n: f"{r}.{nm}({'axis=1' if a['axis'] else ''})")(_name),
                      receivers=FS, cost=1.0 if _name == "cumsum" else 1.05))
for _name in ("diff", "pct_change"):
    register(Function(_name, "computation", (Arg("periods", "int"),),
                      run=(lambda nm: lambda x, a, i: getattr(x, nm)(periods=a["periods"]))(_name),
                      render=(lambda nm: lambda r, a, n: f"{r}.{nm}({a['periods'] if a['periods'] != 1 else ''})")(_name),
                      receivers=FS, cost=1.05))
register(Function("rank", "computation", (Arg("method", "text"), Arg("ascending", "bool")),
                  run=lambda x, a, i: x.rank(method=a["method"], ascending=a["ascending"]),
                  render=lambda r, a, n: f"{r}.rank(" + kwargs(
                      method=a["method"] if a["method"] != "average" else None,
                      ascending=False if not a["ascending"] else None) + ")",
                  receivers=FS, cost=1.05))
register(Function("round", "computation", (Arg("decimals", "int"),),
                  run=lambda x, a, i: x.round(a["decimals"]),
                  render=lambda r, a, n: f"{r}.round({a['decimals'] if a['decimals'] else ''})", receivers=FS))
register(Function("abs", "computation", (), run=lambda x, a, i: x.abs(),
                  render=lambda r, a, n: f"{r}.abs()", receivers=FS))
register(Function("clip", "computation", (Arg("lower", "value"), Arg("upper", "value")),
                  run=lambda x, a, i: x.clip(lower=a["lower"], upper=a["upper"]),
                  render=lambda r, a, n: f"{r}.clip({kwargs(lower=a['lower'], upper=a['upper'])})",
                  receivers=FS, cost=1.1))

#: Named reductions ``apply`` may use (names only: never a user's callable).
REDUCTIONS = ("sum", "mean", "min", "max", "count", "median", "std", "nunique", "prod")


def _apply_run(x, a, i):
    return x.apply(a["func"], axis=a["axis"])


register(Function("apply", "computation", (Arg("func", "agg"), Arg("axis", "axis")),
                  run=_apply_run,
                  render=lambda r, a, n: f"{r}.apply({lit(a['func'])}" + (", axis=1" if a["axis"] else "") + ")",
                  cost=1.1))


def _reduce(nm):
    takes_numeric = nm not in ("count", "nunique")

    def run(x, a, i):
        kw = {"numeric_only": True} if takes_numeric and a.get("numeric_only") else {}
        return getattr(x, nm)(axis=a["axis"], **kw)

    def render(r, a, n):
        kw = kwargs(axis=a["axis"] or None,
                    numeric_only=True if takes_numeric and a.get("numeric_only") else None)
        return f"{r}.{nm}({kw})"
    args = (Arg("axis", "axis"),) + ((Arg("numeric_only", "bool"),) if takes_numeric else ())
    return run, render, args


for _name in REDUCTIONS:
    _run, _render, _args = _reduce(_name)
    register(Function(_name, "computation", _args, run=_run, render=_render,
                      cost=1.0 if _name in ("sum", "mean", "count") else 1.05))
register(Function("value_counts", "computation", (), run=lambda x, a, i: x.value_counts(),
                  render=lambda r, a, n: f"{r}.value_counts()", receivers=S))

# --- types
_DT = {"int": "int", "float": "float", "str": "str", "bool": "bool"}


register(Function("astype", "types", (Arg("dtype", "dtype"),),
                  run=lambda x, a, i: x.astype({"int": np.int64, "float": np.float64, "str": str,
                                                "bool": bool}[a["dtype"]]),
                  render=lambda r, a, n: f"{r}.astype({_DT[a['dtype']]})", receivers=FS))
register(Function("values", "types", (), run=lambda x, a, i: x.to_numpy(),
                  render=lambda r, a, n: f"{r}.values", receivers=FS, cost=1.1))
