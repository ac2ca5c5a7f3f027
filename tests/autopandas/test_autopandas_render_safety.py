"""The printed program is code a user pastes and runs: labels and values from user CSVs must be
rendered as Python literals that make it do exactly what the verified program did.

Each test runs generated calls on frames whose column labels and values are hostile (code
injection, line breaks, quotes, backslashes, unicode, Python keywords, names ``DataFrame.query``
resolves itself, non-text labels), evaluates the rendered source and compares it with the run.
"""
from __future__ import annotations

import datetime
import json
import os

import numpy as np
import pandas as pd
import pytest

import autopandas.__main__ as cli
from autopandas import dsl
from autopandas.equality import csv_matches, equal
from autopandas.generators import GenContext

from .generated_calls import evaluate, runnable_calls

INJECT = "x'); __import__('os').system('touch PWNED'); ('"
NASTY = [INJECT, "a\nb", 'q"\\', "class", "inf", "True", "ünï b"]


def hostile_frames() -> list[pd.DataFrame]:
    a, b, c, d, e, f, g = NASTY
    text = pd.DataFrame({a: ["p", b, "p", None, g], d: [1, 2, 3, 4, 5], c: ["x", a, "x", "y", d],
                         e: [1.5, 2.5, np.nan, 0.5, 2.5], f: [3, 1, 3, 2, 0], g: ["u", "v", "u", f, c]})
    numeric_labels = pd.DataFrame([[1, 2.5, "a"], [3, np.nan, "b"], [1, 7.0, "a"]], columns=[0, 1.5, np.nan])
    return [text, numeric_labels]


@pytest.mark.parametrize("frame", [0, 1])
def test_every_call_on_hostile_labels_and_values_renders_to_equivalent_source(frame, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)             # the injection would touch ./PWNED
    df = hostile_frames()[frame]
    inputs = [df, df.iloc[:2]]
    names = ["df0", "df1"]
    checked = set()
    for fn in dsl.functions():
        for recv, recv_src in ((df, "df0"), (df.iloc[:, 1], "df0.iloc[:, 1]")):
            if not fn.accepts(recv):
                continue
            # the target suggests the hostile values and labels, so they reach the arguments
            ctx = GenContext(recv, inputs, target=df.iloc[1:3])
            for args, got in runnable_calls(fn, recv, ctx, inputs, limit=25):
                src = fn.render(recv_src, args, names)
                assert equal(got, evaluate(src, inputs)), src
                checked.add(fn.name)
    assert not (tmp_path / "PWNED").exists()
    assert {"query", "getitem", "groupby.sum", "sort_values", "rename", "isin"} <= checked


@pytest.mark.parametrize("column", ["class", "inf", "True", "lambda", "ünï"])
def test_query_on_a_column_query_cannot_name_falls_back_to_indexing(column):
    df = pd.DataFrame({column: [1, 2, 3], "b": [3, 2, 1]})
    args = {"column": column, "op": "==", "rhs": 2, "rhs_is_column": False}
    src = dsl.get("query").render("df0", args, ["df0"])
    assert ".query(" not in src
    assert equal(dsl.call(dsl.get("query"), df, args, [df]), evaluate(src, [df]))


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "nul\x00", 'q"', "b\\s"])
def test_query_with_a_value_query_cannot_quote_falls_back_to_indexing(value):
    df = pd.DataFrame({"c": [value, "z"]})
    args = {"column": "c", "op": "==", "rhs": value, "rhs_is_column": False}
    src = dsl.get("query").render("df0", args, ["df0"])
    assert ".query(" not in src
    assert evaluate(src, [df]).equals(df.iloc[:1])


def test_query_keeps_the_readable_form_for_plain_names():
    args = {"column": "units", "op": ">", "rhs": "a b", "rhs_is_column": False}
    assert dsl.get("query").render("df0", args, ["df0"]) == """df0.query('units > "a b"')"""


@pytest.mark.parametrize("label", [INJECT, "a\nb", 'q"\\', "ünï b", "1", "nan"])
def test_cli_program_over_hostile_csv_labels_runs_as_printed(label, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    df = pd.DataFrame({label: ["p", "q", "p", "q"], "n": [1, 2, 3, 4], "k": [9, 8, 7, 6]})
    df.to_csv("in.csv", index=False)
    df.groupby(label, as_index=False)["n"].sum().to_csv("out.csv", index=False)
    assert cli.main(["synth", "in.csv", "out.csv", "--timeout", "30", "--json"]) == 0
    src = json.loads(capsys.readouterr().out)["program"]
    got = evaluate(src, [pd.read_csv("in.csv")])     # as the user would: inputs read as written
    assert csv_matches(pd.read_csv("out.csv"), got), src
    assert set(os.listdir(tmp_path)) == {"in.csv", "out.csv"}     # nothing ran, nothing written


def test_synthesis_never_evaluates_text(monkeypatch):
    # The search runs the DSL's own functions on values from the data: no eval, exec, compile
    # or pandas expression evaluation (query/eval parse their string) may run during it.
    import importlib
    import pkgutil

    import autopandas
    from autopandas import SearchConfig, synthesize
    from autopandas.search import csv_matcher

    def refuse(*a, **k):
        raise AssertionError("text was evaluated during synthesis")

    df = pd.DataFrame({INJECT: ["p", "q", "p"], "n": [3, 1, 2]})
    target = df[df["n"] > 1].reset_index(drop=True)
    for mod in pkgutil.iter_modules(autopandas.__path__):      # shadow the builtins in our modules
        module = importlib.import_module(f"autopandas.{mod.name}")
        for name in ("eval", "exec", "compile", "__import__"):
            monkeypatch.setattr(module, name, refuse, raising=False)
    monkeypatch.setattr(pd, "eval", refuse)
    monkeypatch.setattr(pd.DataFrame, "eval", refuse)
    monkeypatch.setattr(pd.DataFrame, "query", refuse)
    res = synthesize([df], target, SearchConfig(timeout_s=20, max_depth=2), matcher=csv_matcher(target))
    monkeypatch.undo()
    assert res.solved
    assert csv_matches(target, evaluate(res.rendered, [df]))


@pytest.mark.parametrize("value", [
    np.datetime64("2020-01-01T00:00:00.000000000"), np.datetime64("2020-01-01T12:30:00", "us"),
    pd.Timestamp("2020-01-01", tz="Europe/Paris"), pd.NaT, np.timedelta64(5, "s"),
    datetime.date(2020, 1, 2), datetime.timedelta(hours=1)])
def test_dates_and_durations_render_as_literals_of_the_same_value(value):
    src = dsl.lit(value)
    back = evaluate(src, [])
    assert (back is pd.NaT) if value is pd.NaT else back == value, src


def test_parquet_datetime_filter_prints_a_program_instead_of_an_internal_error(tmp_path, capsys):
    # datetime64[ns].item() is an int and [us].item() a datetime: neither rendered (exit 1)
    df = pd.DataFrame({"d": pd.to_datetime(["2020-01-01", "2020-02-01", "2020-03-01"]), "v": [1, 2, 3]})
    df.to_parquet(tmp_path / "in.parquet")
    df[df["d"].isin([pd.Timestamp("2020-02-01")])].to_parquet(tmp_path / "out.parquet")
    code = cli.main(["synth", str(tmp_path / "in.parquet"), str(tmp_path / "out.parquet"), "--timeout", "20"])
    out = capsys.readouterr()
    assert code == 0, out.err
    got = evaluate(out.out.strip(), [pd.read_parquet(tmp_path / "in.parquet")])
    assert equal(pd.read_parquet(tmp_path / "out.parquet"), got)
