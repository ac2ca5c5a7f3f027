"""The DSL table: every function runs, renders to source that computes the same value, per group."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from autopandas import dsl
from autopandas.equality import csv_view, equal
from autopandas.generators import GENERATORS, GenContext
from autopandas.program import Program, Step

from .generated_calls import evaluate, runnable_calls


def sales() -> pd.DataFrame:
    return pd.DataFrame({
        "region": ["n", "s", "n", "s", "n", "e"],
        "product": ["a", "a", "b", "b", "c", "b"],
        "units": [3, 5, 2, 7, 4, 1],
        "price": [1.5, 2.0, np.nan, 3.25, 1.0, 2.5],
    })


def other() -> pd.DataFrame:
    return pd.DataFrame({"region": ["n", "s", "w"], "manager": ["ann", "bob", "cy"]})


def multi() -> pd.DataFrame:
    return sales().set_index(["region", "product"])


INPUTS = [sales(), other(), multi()]


def run_and_render(name: str, args: dict, source: int = 0):
    prog = Program(source, (Step(name, args),))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = prog.run(INPUTS)
    src = prog.render(len(INPUTS))
    assert equal(got, evaluate(src, INPUTS)), src
    return got, src


def visible_labels(got) -> list:
    """Every label a comparison can see: column labels, axis names, a Series' name, and the
    column labels of the CSV view with its index reset."""
    if not isinstance(got, (pd.DataFrame, pd.Series)):
        return []
    out = list(got.index.names)
    if isinstance(got, pd.DataFrame):
        out += list(got.columns.names)
        out += [v for lev in range(got.columns.nlevels) for v in got.columns.get_level_values(lev)]
    else:
        out.append(got.name)
    view = csv_view(got)
    if view is not None:
        try:
            out += list(view.reset_index().columns)
        except ValueError:    # reset_index refuses a name clash: CSV matching then fails too
            pass
    return [v for v in out if v is not None]


def test_table_has_at_least_60_functions_in_every_group_with_generators():
    fns = dsl.functions()
    assert len(fns) >= 60
    assert {f.group for f in fns} == set(dsl.GROUPS)
    assert set(GENERATORS) == {f.name for f in fns}
    assert dsl.KEEPS_LABELS | dsl.MORE_COLUMNS <= {f.name for f in fns}   # no stale names
    for f in fns:
        assert all(a.type in dsl.ARG_TYPES for a in f.args)


def _pivot_axes(got) -> tuple:
    """A pivot's result's row and column labels (a Series has no column labels to check)."""
    if isinstance(got, pd.DataFrame):
        return got.index, got.columns
    return (got.index,) if isinstance(got, pd.Series) else ()


@pytest.mark.parametrize("name", [f.name for f in dsl.functions()])
def test_every_generated_call_renders_to_equivalent_source(name):
    fn = dsl.get(name)
    checked = 0
    for source in (0, 2):
        recv = INPUTS[source]
        for recv_obj in (recv, recv["units"]):
            if not fn.accepts(recv_obj):
                continue
            # a hinted number, as the search gives one: add and mul on these inputs need it
            ctx = GenContext(recv_obj, INPUTS, target=None, constants=(2,))
            for args, got in runnable_calls(fn, recv_obj, ctx, INPUTS, limit=12):
                names = [f"df{i}" for i in range(len(INPUTS))]
                assert dsl.rows_possible(name, len(recv_obj), len(got)), "ROW_RULES wrong"
                if name in dsl.SAME_COLUMNS:
                    assert dsl.columns_possible(name, recv_obj, got, csv=False), "SAME_COLUMNS wrong"
                if name in dsl.MORE_COLUMNS and isinstance(recv_obj, pd.DataFrame):
                    least = max(recv_obj.shape[1], dsl.column_count(INPUTS[args["other"]]))
                    assert isinstance(got, pd.DataFrame) and got.shape[1] >= least, "MORE_COLUMNS wrong"
                for key, ax in zip(dsl.pivot_keys(name, args), _pivot_axes(got)):
                    if key is not None:
                        have = dsl.value_forms(recv_obj[key])
                        for label in ax.get_level_values(-1):
                            assert not dsl.label_forms(label).isdisjoint(have), \
                                f"pivot_keys wrong: {label!r}"
                if name in dsl.KEEPS_LABELS:
                    have = dsl.receiver_label_texts(recv_obj)
                    for label in visible_labels(got):
                        assert not dsl.label_forms(label).isdisjoint(have), f"KEEPS_LABELS wrong: {label!r}"
                recv_src = names[source] if recv_obj is recv else f"{names[source]}['units']"
                src = fn.render(recv_src, args, names)
                assert equal(got, evaluate(src, INPUTS)), src
                checked += 1
    assert checked > 0, f"no call of {name} ran on the fixtures"


def test_selection_group():
    got, src = run_and_render("query", {"column": "units", "op": ">", "rhs": 3, "rhs_is_column": False})
    assert src == "df0.query('units > 3')" and list(got["units"]) == [5, 7, 4]
    got, src = run_and_render("isin", {"column": "region", "values": ("n", "e"), "negate": False})
    assert src == "df0[df0['region'].isin(['n', 'e'])]" and len(got) == 4
    got, _ = run_and_render("xs", {"key": "n", "level": 0, "axis": 0}, source=2)
    assert list(got.index) == ["a", "b", "c"]
    got, _ = run_and_render("drop_duplicates", {"subset": ("region",), "keep": "last"})
    assert list(got.index) == [3, 4, 5]


def test_reshaping_group():
    got, src = run_and_render("pivot_table", {"index": ("region",), "columns": ("product",),
                                              "values": "units", "aggfunc": "sum"})
    assert src == "df0.pivot_table(index='region', columns='product', values='units', aggfunc='sum')"
    assert got.loc["n", "a"] == 3
    got, src = run_and_render("sort_values", {"by": ("region", "units"), "ascending": (True, False)})
    assert src == "df0.sort_values(['region', 'units'], ascending=[True, False])"
    assert list(got["units"]) == [1, 4, 3, 2, 7, 5]
    got, _ = run_and_render("melt", {"id_vars": ("region",), "value_vars": ("units",),
                                     "var_name": None, "value_name": "value"})
    assert got.shape == (6, 3)
    got, _ = run_and_render("unstack", {"level": -1}, source=2)
    assert got.shape[0] == 3


def test_grouping_group():
    got, src = run_and_render("groupby.sum", {"by": ("region",), "as_index": True, "column": "units"})
    assert src == "df0.groupby('region')['units'].sum()" and dict(got) == {"e": 1, "n": 9, "s": 12}
    got, src = run_and_render("groupby.mean", {"by": ("region",), "as_index": False, "column": None,
                                               "numeric_only": True})
    assert src == "df0.groupby('region', as_index=False).mean(numeric_only=True)"
    assert list(got.columns) == ["region", "units", "price"]
    got, _ = run_and_render("groupby.transform", {"by": ("region",), "column": "units", "agg": "max"})
    assert list(got) == [4, 7, 4, 7, 4, 1]


def test_combining_group():
    got, src = run_and_render("merge", {"other": 1, "how": "left", "on": None, "left_on": None,
                                        "right_on": None})
    assert src == "df0.merge(df1, how='left')" and got.shape == (6, 5)
    got, src = run_and_render("concat", {"other": 1, "axis": 0, "ignore_index": True})
    assert src.startswith("pd.concat([df0, df1]") and len(got) == 9
    got, _ = run_and_render("combine_first", {"other": 1})
    assert "manager" in got.columns


def test_missing_group():
    got, src = run_and_render("fillna", {"value": 0})
    assert src == "df0.fillna(0)" and got["price"].isna().sum() == 0
    got, _ = run_and_render("ffill", {"axis": 0})
    assert got.loc[2, "price"] == 2.0
    got, _ = run_and_render("isna", {})
    assert got["price"].sum() == 1


def test_computation_and_types_groups():
    got, _ = run_and_render("cumsum", {"axis": 0}, source=2)
    assert list(got["units"]) == [3, 8, 10, 17, 21, 22]
    got, src = run_and_render("mean", {"axis": 0, "numeric_only": True})
    assert src == "df0.mean(numeric_only=True)" and got["units"] == pytest.approx(22 / 6)
    got, _ = run_and_render("rank", {"method": "min", "ascending": False}, source=2)
    assert got["units"].iloc[3] == 1.0
    got, src = run_and_render("astype", {"dtype": "str"}, source=2)
    assert got["units"].iloc[0] == "3"
    got, _ = run_and_render("apply", {"func": "max", "axis": 0}, source=2)
    assert got["units"] == 7


def test_lit_renders_data_values():
    assert dsl.lit(np.int64(3)) == "3"
    assert dsl.lit(float("nan")) == "np.nan"
    assert dsl.lit(pd.Timestamp("2024-01-02")) == "pd.Timestamp('2024-01-02T00:00:00')"
    assert dsl.lit(("a", 1)) == "('a', 1)"


def test_label_rule_needs_every_target_column_label_among_the_receivers_labels():
    df = sales()
    have = dsl.receiver_label_texts(df.set_index("region"))
    target = pd.DataFrame({"region": ["n"], "units": [3], "manager": ["ann"]})
    forms = dsl.target_label_forms(target)
    assert not dsl.labels_possible("groupby.sum", have, forms)     # 'manager' is nowhere
    assert dsl.labels_possible("merge", have, forms)               # combining calls bring labels
    assert dsl.labels_possible("groupby.sum", have, forms[:2])     # region (index name), units
    # numbers compare by value, a CSV header as text: 1.0 == 1 == "1"; made-up labels are allowed
    assert dsl.labels_possible("getitem", dsl.receiver_label_texts(pd.DataFrame({1.0: [1]})),
                               dsl.target_label_forms(pd.DataFrame({"1": [1], "index": [0]})))
    assert dsl.target_label_forms(pd.Series([1])) is None
    assert dsl.target_label_forms(pd.DataFrame({0.5: [1]})) is None   # compared with a tolerance


def test_column_rule_for_combining_calls_uses_the_narrowest_other_input():
    a, b = sales(), other()              # 4 and 2 columns
    wide, narrow = pd.DataFrame({k: [1] for k in "abcd"}), pd.DataFrame({"a": [1]})
    assert dsl.columns_possible("merge", a, wide, csv=True, inputs=[a, b])
    assert not dsl.columns_possible("merge", a, narrow, csv=True, inputs=[a, b])
    assert not dsl.columns_possible("merge", b, pd.DataFrame({"x": [1]}), csv=True, inputs=[a, b])
    assert not dsl.columns_possible("concat", a, a["units"], csv=False, inputs=[a, b])
