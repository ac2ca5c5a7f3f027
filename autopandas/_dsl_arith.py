"""DSL functions, arithmetic group: ``add``, ``sub``, ``mul``, ``div`` between the receiver and an operand.

The operand is one of (as in the AutoPandas DSL, whose ``other`` may be another input or a value
computed earlier in the chain):

- another input: ``other`` is its position (type ``frame``), rendered as its name (``df1``);
- a reduction of the receiver itself: ``derived`` is ``("reduce", agg, axis)``, rendered
  ``r.div(r.sum(axis=1), axis=0)`` (normalising by row totals, subtracting column means...);
- a per-level total of the receiver's MultiIndex axis: ``derived`` is ``("level_sum", axis,
  level)``, rendered ``r.div(r.T.groupby(level=0).sum().T, axis=1, level=0)``;
- a numeric constant hinted by the task: ``derived`` is ``("scalar", v)``.

Derived operands repeat the receiver's source, so a receiver that is not a bare name is rendered
through ``.pipe(lambda d: ...)``, evaluating it once. ``axis``, ``level`` and ``fill_value`` are
pandas' own keywords.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from .dsl import Arg, Function, is_name, kwargs, lit, register

FS = frozenset({"frame", "series"})

#: The arithmetic calls and the reductions of the receiver each may use as its operand
#: (normalising divides by a total or maximum; centring subtracts a mean or minimum).
ARITH_OPS = {"div": ("sum", "max"), "sub": ("mean", "min"), "mul": (), "add": ()}


def operand(x: Any, a: dict, inputs) -> Any:
    """The operand a call's arguments name, computed from the receiver or taken from the inputs."""
    d = a["derived"]
    if d is None:
        return inputs[a["other"]]
    if d[0] == "scalar":
        return d[1]
    if d[0] == "reduce":
        return getattr(x, d[1])(axis=d[2]) if isinstance(x, pd.DataFrame) else getattr(x, d[1])()
    _, axis, level = d
    return x.groupby(level=level).sum() if axis == 0 else x.T.groupby(level=level).sum().T


def _operand_src(d: tuple, r: str) -> str:
    if d[0] == "scalar":
        return lit(d[1])
    if d[0] == "reduce":
        return f"{r}.{d[1]}({'axis=' + str(d[2]) if d[2] is not None else ''})"
    _, axis, level = d
    return f"{r}.groupby(level={level}).sum()" if axis == 0 else f"{r}.T.groupby(level={level}).sum().T"


def _arith(nm: str):
    def run(x, a, inputs):
        return getattr(x, nm)(operand(x, a, inputs), axis=a["axis"], level=a["level"],
                              fill_value=a["fill_value"])

    def render(r, a, names):
        d = a["derived"]
        kw = kwargs(axis=a["axis"], level=a["level"], fill_value=a["fill_value"])
        kw = ", " + kw if kw else ""
        if d is None:
            return f"{r}.{nm}({names[a['other']]}{kw})"
        if d[0] == "scalar" or is_name(r):
            return f"{r}.{nm}({_operand_src(d, r)}{kw})"
        return f"{r}.pipe(lambda d: d.{nm}({_operand_src(d, 'd')}{kw}))"
    return run, render


for _name in ARITH_OPS:
    _run, _render = _arith(_name)
    register(Function(_name, "computation",
                      (Arg("other", "frame"), Arg("derived", "operand"), Arg("axis", "axis"),
                       Arg("level", "level"), Arg("fill_value", "value")),
                      run=_run, render=_render, receivers=FS,
                      cost=1.05 if _name == "div" else 1.1))
