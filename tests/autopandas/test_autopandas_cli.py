"""CLI smoke tests, run for real as subprocesses: CSV, Parquet, JSON, several inputs, bad input."""
from __future__ import annotations

import ast
import io
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import autopandas.__main__ as cli
from autopandas.equality import csv_matches, equal
from autopandas.search import DEPTHS_TEXT, SearchConfig

REPO = Path(__file__).resolve().parents[2]
FIX = REPO / "tests" / "fixtures" / "autopandas"
EXAMPLES = REPO / "autopandas" / "examples"


def synth(*args: str, timeout: int = 120, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autopandas", "synth", *args],
                          capture_output=True, text=True, timeout=timeout, cwd=cwd)


def run_src(src: str, inputs) -> object:
    env = {"pd": pd, "np": np, "df": inputs[0], **{f"df{i}": v for i, v in enumerate(inputs)}}
    return eval(src, env)  # the CLI's own printed program, checked against the example


def test_csv_pivot_prints_a_program_that_matches():
    p = synth(str(FIX / "temps.csv"), str(FIX / "temps_pivot.csv"), "--timeout", "30")
    assert p.returncode == 0, p.stderr
    src = p.stdout.strip()
    assert src.startswith("df0.") and "\n" not in src
    got = run_src(src, [pd.read_csv(FIX / "temps.csv")])
    assert csv_matches(pd.read_csv(FIX / "temps_pivot.csv"), got)


def test_csv_groupby_matches_after_reset_index_json_output():
    p = synth(str(FIX / "sales.csv"), str(FIX / "sales_by_region.csv"), "--json", "--timeout", "30")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert set(out) >= {"program", "solved", "candidates_tried", "seconds"}
    assert out["solved"] is True and out["candidates_tried"] > 0
    assert out["outcome"] == "solved" and out["searched"].startswith("solved after ")
    got = run_src(out["program"], [pd.read_csv(FIX / "sales.csv")])
    assert csv_matches(pd.read_csv(FIX / "sales_by_region.csv"), got)


def test_parquet_and_json_keep_the_index_and_match_exactly(tmp_path):
    df = pd.read_csv(FIX / "sales.csv")
    target = df.groupby(["region", "product"]).sum()
    df.to_parquet(tmp_path / "in.parquet")
    target.to_parquet(tmp_path / "out.parquet")
    target.to_json(tmp_path / "out.json", orient="table")
    for out in ("out.parquet", "out.json"):
        p = synth(str(tmp_path / "in.parquet"), str(tmp_path / out), "--timeout", "30")
        assert p.returncode == 0, p.stderr
        assert equal(target, run_src(p.stdout.strip(), [df]))


def test_several_inputs_last_file_is_the_output(tmp_path):
    a = pd.read_csv(FIX / "sales.csv")
    b = pd.DataFrame({"region": ["north", "south"], "boss": ["ann", "bob"]})
    b.to_csv(tmp_path / "boss.csv", index=False)
    a.merge(b).to_csv(tmp_path / "out.csv", index=False)
    p = synth(str(FIX / "sales.csv"), str(tmp_path / "boss.csv"), str(tmp_path / "out.csv"),
              "--timeout", "30")
    assert p.returncode == 0, p.stderr
    assert "df1" in p.stdout
    assert csv_matches(pd.read_csv(tmp_path / "out.csv"), run_src(p.stdout.strip(), [a, b]))


def test_unsolved_exits_1_and_says_what_was_searched(tmp_path):
    pd.DataFrame({"zz": ["never", "there"]}).to_csv(tmp_path / "out.csv", index=False)
    p = synth(str(FIX / "sales.csv"), str(tmp_path / "out.csv"), "--max-depth", "1", "--timeout", "30")
    assert p.returncode == 1
    assert "no program found" in p.stderr and "candidates" in p.stderr and "depth <= 1" in p.stderr


def _bad(p: subprocess.CompletedProcess, needle: str) -> None:
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], p.stderr
    assert "Traceback" not in p.stderr


def test_missing_file_is_bad_input(tmp_path):
    _bad(synth(str(tmp_path / "nope.csv"), str(FIX / "sales.csv")), "no such file")


def test_unparsable_csv_is_bad_input():
    _bad(synth(str(FIX / "broken.csv"), str(FIX / "sales.csv")), "broken.csv")


def test_mismatched_extension_is_bad_input(tmp_path):
    pd.read_csv(FIX / "sales.csv").to_parquet(tmp_path / "really_parquet.csv")
    _bad(synth(str(tmp_path / "really_parquet.csv"), str(FIX / "sales.csv")), "Parquet")
    (tmp_path / "text.parquet").write_text("a,b\n1,2\n")
    _bad(synth(str(tmp_path / "text.parquet"), str(FIX / "sales.csv")), "not a Parquet file")
    (tmp_path / "plain.json").write_text('[{"a": 1}]')
    _bad(synth(str(tmp_path / "plain.json"), str(FIX / "sales.csv")), 'orient="table"')


class _Evil:
    """Unpickling this creates a file: the test proves the CLI never unpickles."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def test_pickles_are_never_read(tmp_path):
    marker = tmp_path / "ran"
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(_Evil(marker)))
    _bad(synth(str(tmp_path / "evil.pkl"), str(FIX / "sales.csv")), "pickle")
    assert not marker.exists()


def test_bad_flag_values_are_bad_input():
    _bad(synth(str(FIX / "sales.csv"), str(FIX / "sales.csv"), "--max-depth", "9"), "--max-depth")
    _bad(synth(str(FIX / "sales.csv")), "at least one input")


def test_readme_merge_example_runs_as_written_from_the_repo_root():
    # the README's command, relative paths and all: the example files ship in autopandas/examples
    p = synth("autopandas/examples/orders.csv", "autopandas/examples/customers.csv",
              "autopandas/examples/orders_customers.csv", "--timeout", "30", "--max-depth", "2",
              "--json", cwd=REPO)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["solved"] is True and "df1" in out["program"]
    inputs = [pd.read_csv(EXAMPLES / "orders.csv"), pd.read_csv(EXAMPLES / "customers.csv")]
    assert csv_matches(pd.read_csv(EXAMPLES / "orders_customers.csv"), run_src(out["program"], inputs))


def test_readme_merge_then_aggregate_example_runs_as_written():
    # two tables, two steps: the merged orders summed per city (QA: not found within 30 s)
    p = synth("autopandas/examples/orders.csv", "autopandas/examples/customers.csv",
              "autopandas/examples/city_totals.csv", "--timeout", "30", "--max-depth", "2", cwd=REPO)
    assert p.returncode == 0, p.stderr
    src = p.stdout.strip()
    assert "df1" in src and "\n" not in src
    inputs = [pd.read_csv(EXAMPLES / "orders.csv"), pd.read_csv(EXAMPLES / "customers.csv")]
    assert csv_matches(pd.read_csv(EXAMPLES / "city_totals.csv"), run_src(src, inputs))


def test_nan_timeout_is_bad_input_not_an_unlimited_search(tmp_path):
    # NaN slipped past `timeout_s <= 0` and switched the time limit off
    pd.DataFrame({"zz": ["never"]}).to_csv(tmp_path / "out.csv", index=False)
    _bad(synth(str(FIX / "sales.csv"), str(tmp_path / "out.csv"), "--max-depth", "1",
               "--timeout", "nan", timeout=60), "--timeout")


def run_main(capsys, *argv: str) -> tuple[int, str, str]:
    """The CLI in process (argparse's exits included): exit code, stdout, stderr."""
    try:
        code = cli.main(list(argv))
    except SystemExit as e:
        code = e.code
    except KeyboardInterrupt:  # escaping, it would stop the whole pytest session
        pytest.fail("KeyboardInterrupt escaped main()")
    out, err = capsys.readouterr()
    return code, out, err


def _bad_in_process(result: tuple[int, str, str], needle: str) -> None:
    code, _, err = result
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], err


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-1", "abc"])
def test_timeout_must_be_a_finite_positive_number(capsys, value):
    _bad_in_process(run_main(capsys, "synth", str(FIX / "sales.csv"), str(FIX / "sales.csv"),
                             "--timeout", value), "--timeout")


@pytest.mark.parametrize("argv, needle", [
    (["synth", "a.csv", "b.csv", "--search", "foo"], "invalid choice: 'foo'"),
    (["synth", "a.csv", "b.csv", "--max-depth", "nan"], "--max-depth"),
    (["synth", "a.csv", "b.csv", "--bogus"], "--bogus"),
    (["synth"], "FILE"),
    ([], "command"),
    (["frobnicate"], "invalid choice"),
])
def test_argument_errors_are_one_line_naming_the_problem(capsys, argv, needle):
    code, _, err = run_main(capsys, *argv)
    _bad_in_process((code, "", err), needle)
    assert err.startswith("autopandas") and "usage:" not in err and "(see" in err


@pytest.mark.parametrize("argv", [["--max-depth", "0"], ["--max-depth", "4"], ["--max-depth", "-1"],
                                  ["--max-depth", "1.5"], ["--max-depth", "x"], ["--timeout", "0"],
                                  ["--timeout", "inf"], ["--search", "ranked"]])
def test_bad_option_values_are_reported_under_the_option_not_the_config_field(capsys, argv):
    """``--max-depth 0`` said ``max_depth must be 1, 2 or 3``: the message names the CLI option
    (every SearchConfig field the CLI sets: timeout_s, max_depth, search)."""
    code, _, err = run_main(capsys, "synth", str(FIX / "sales.csv"), str(FIX / "sales.csv"), *argv)
    _bad_in_process((code, "", err), argv[0])
    assert not any(field in err for field in ("max_depth", "timeout_s", "search must")), err


def test_command_lines_import_no_private_names_and_say_the_depths_as_the_config_does(capsys):
    """_cli.py imported search._DEPTHS_TEXT, a private name of another module."""
    for path in (REPO / "autopandas" / "_cli.py", REPO / "autopandas" / "__main__.py",
                 REPO / "benchmarks" / "autopandas_bench.py"):
        tree = ast.parse(path.read_text())
        imported = [a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                    for a in node.names]
        assert not [n for n in imported if n.startswith("_")], (path.name, imported)
    assert DEPTHS_TEXT == "1, 2 or 3"
    code, _, err = run_main(capsys, "synth", str(FIX / "sales.csv"), str(FIX / "sales.csv"),
                            "--max-depth", "4")
    assert code == 2 and f"must be {DEPTHS_TEXT}, got '4'" in err
    with pytest.raises(ValueError, match=f"max_depth must be {DEPTHS_TEXT}, got 4"):
        SearchConfig(max_depth=4)


def test_help_still_prints_the_full_usage_with_the_console_script_name(capsys):
    code, out, _ = run_main(capsys, "synth", "--help")
    assert code == 0
    assert out.startswith("usage: autopandas synth") and "--timeout" in out and "--max-depth" in out
    p = subprocess.run([sys.executable, "-m", "autopandas", "--help"], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0 and p.stdout.startswith("usage: python -m autopandas")


def test_a_directory_is_bad_input_that_says_so(tmp_path):
    (tmp_path / "somedir").mkdir()
    (tmp_path / "looks_like.csv").mkdir()
    _bad(synth(str(tmp_path / "somedir"), str(FIX / "sales.csv")), "is a directory")
    _bad(synth(str(FIX / "sales.csv"), str(tmp_path / "looks_like.csv")), "is a directory")


def _raise(exc: BaseException):
    def synthesize(*args, **kwargs):
        raise exc
    return synthesize


def test_ctrl_c_prints_one_line_and_exits_1(capsys, monkeypatch):
    monkeypatch.setattr(cli, "synthesize", _raise(KeyboardInterrupt()))
    code, out, err = run_main(capsys, "synth", str(FIX / "temps.csv"), str(FIX / "temps_pivot.csv"))
    assert (code, out, err) == (1, "", "autopandas: interrupted\n")


def test_internal_error_is_one_line_exit_1(capsys, monkeypatch):
    monkeypatch.setattr(cli, "synthesize", _raise(RuntimeError("boom\nsecond line")))
    code, out, err = run_main(capsys, "synth", str(FIX / "temps.csv"), str(FIX / "temps_pivot.csv"))
    assert (code, out) == (1, "")
    assert err == "autopandas: internal error: RuntimeError: boom\n"


def _bad_line(capsys, argv: list[str], needle: str) -> str:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("which", ["input", "output"])
def test_duplicate_header_names_are_bad_input_naming_the_columns(tmp_path, capsys, which):
    # pandas would read 'a,a' as 'a', 'a.1': a program naming 'a.1', or an output never matched
    (tmp_path / "dup.csv").write_text("a,a,b\n1,2,3\n4,5,6\n")
    (tmp_path / "ok.csv").write_text("a,b\n1,3\n4,6\n")
    files = ["dup.csv", "ok.csv"] if which == "input" else ["ok.csv", "dup.csv"]
    line = _bad_line(capsys, ["synth", *[str(tmp_path / f) for f in files]], "duplicate column name 'a'")
    assert "columns 1 and 2" in line


def test_header_names_that_only_look_renamed_are_fine(tmp_path, capsys):
    (tmp_path / "in.csv").write_text("a,a.1\n1,2\n3,4\n")
    (tmp_path / "out.csv").write_text("a.1\n2\n4\n")
    assert cli.main(["synth", str(tmp_path / "in.csv"), str(tmp_path / "out.csv"), "--timeout", "20"]) == 0
    src = capsys.readouterr().out.strip()
    assert "a.1" in src or "drop(columns=['a'])" in src
    assert run_src(src, [pd.read_csv(tmp_path / "in.csv")]).equals(pd.read_csv(tmp_path / "out.csv"))


def test_non_utf8_csv_names_the_byte_and_its_line(tmp_path, capsys):
    (tmp_path / "latin.csv").write_bytes("a,b\n1,2\ncaf\xe9,3\n".encode("latin-1"))
    (tmp_path / "ok.csv").write_text("a\n1\n")
    _bad_line(capsys, ["synth", str(tmp_path / "latin.csv"), str(tmp_path / "ok.csv")],
                    "not UTF-8 text (byte 0xe9 at line 3, column 4)")


def test_output_written_with_pandas_default_index_column_matches(tmp_path, capsys):
    # df.to_csv(path) writes the index under an empty header, read back as 'Unnamed: 0'
    df = pd.DataFrame({"a": [3, 1, 2], "b": ["x", "y", "z"]})
    df.to_csv(tmp_path / "in.csv", index=False)
    df.sort_values("a").to_csv(tmp_path / "out.csv")
    assert cli.main(["synth", str(tmp_path / "in.csv"), str(tmp_path / "out.csv"), "--timeout", "20"]) == 0
    src = capsys.readouterr().out.strip()
    got = run_src(src, [pd.read_csv(tmp_path / "in.csv")])
    assert got.to_csv() == (tmp_path / "out.csv").read_text()     # as the user wrote it


@pytest.mark.parametrize("content,needle", [
    (b"", "empty file"),
    (b"\n\n", "empty file"),
    (b"a,b\n1,2\n3,4,5\n", "unparsable CSV"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "not UTF-8 text"),
    (b"a,b\nx,1,2\ny,3,4\n", "the rows have 3 fields but the header names 2"),   # implicit index
    # a row with a missing delimiter: pandas padded it with NaN and the search ran on that
    (b"a,b,c\n1,2,3\n4,5\n", "line 3 has 2 fields but the header names 3"),
    (b'a,b\n"x\ny",1\n\n2\n', "line 5 has 1 field but the header names 2"),  # lines as in the file
    # a quoted empty or blank field is not a blank line: pandas reads it as a row padded with NaN
    (b'a,b,c\n1,2,3\n""\n', "line 3 has 1 field but the header names 3"),
    (b'a,b,c\n1,2,3\n" "\n', "line 3 has 1 field but the header names 3"),
])
def test_unusable_csv_content_is_one_line_exit_2(tmp_path, capsys, content, needle):
    (tmp_path / "in.csv").write_bytes(content)
    (tmp_path / "ok.csv").write_text("a\n1\n")
    line = _bad_line(capsys, ["synth", str(tmp_path / "in.csv"), str(tmp_path / "ok.csv")], needle)
    assert "in.csv" in line


def test_empty_fields_and_blank_lines_are_not_short_rows(tmp_path):
    # '1,2,' under 'a,b,c' has three fields, the last empty: a missing value (RFC 4180), read as
    # NaN; blank (or blank-looking) lines are skipped as pandas skips them, and a quoted field may
    # span lines
    from autopandas.io import read_frame

    (tmp_path / "in.csv").write_bytes(b'\na,b,c\n1,2,\n  \n,,\n"x\ny",5,6\n\n')
    df, _ = read_frame(tmp_path / "in.csv")
    assert df.shape == (3, 3) and df["c"].isna().sum() == 2 and df.loc[2, "a"] == "x\ny"


def test_bom_and_header_only_files_are_read_as_written(tmp_path, capsys):
    # a UTF-8 byte order mark is not part of the first column's name; a header-only file is a
    # frame with no rows (a valid output: the program filters every row out)
    (tmp_path / "in.csv").write_bytes("\ufeffa,b\n1,x\n2,y\n".encode("utf-8"))
    (tmp_path / "out.csv").write_text("a,b\n")
    assert cli.main(["synth", str(tmp_path / "in.csv"), str(tmp_path / "out.csv"), "--timeout", "20"]) == 0
    src = capsys.readouterr().out.strip()
    got = run_src(src, [pd.read_csv(tmp_path / "in.csv")])
    assert list(got.columns) == ["a", "b"] and len(got) == 0


def test_readme_example_output_written_with_the_default_index(capsys):
    # temps_hottest_first.csv was written by temps.sort_values('temp', ascending=False).to_csv()
    assert cli.main(["synth", str(FIX / "temps.csv"), str(FIX / "temps_hottest_first.csv"),
                     "--timeout", "30"]) == 0
    assert capsys.readouterr().out.strip() == "df0.sort_values('temp', ascending=False)"


def test_a_boolean_input_is_not_printed_for_a_csv_of_ones_and_zeros(tmp_path):
    """True matched 1 in the CSV comparison, so the input itself was 'the program' for an output
    whose column reads 1/0 (a CSV writes a boolean True/False)."""
    flags = pd.DataFrame({"k": ["a", "b", "c"], "f": [True, False, True]})
    flags.to_csv(tmp_path / "in.csv", index=False)
    flags.assign(f=[1, 0, 1]).to_csv(tmp_path / "out.csv", index=False)
    p = synth(str(tmp_path / "in.csv"), str(tmp_path / "out.csv"), "--timeout", "20", "--json")
    out = json.loads(p.stdout)
    assert out["program"] != "df0", out
    if out["solved"]:
        got = run_src(out["program"], [pd.read_csv(tmp_path / "in.csv")])
        assert csv_matches(pd.read_csv(tmp_path / "out.csv"), got)


@pytest.mark.parametrize("ext", ["parquet", "json"])
def test_a_boolean_input_is_not_printed_for_a_parquet_or_json_of_ones_and_zeros(tmp_path, capsys, ext):
    """Parquet and JSON targets were matched with True == 1 (AutoPandas' check_dtype=False), so
    the input itself was 'the program' for an output whose column holds the integers 1/0."""
    flags = pd.DataFrame({"k": ["a", "b", "c"], "f": [True, False, True]})
    ints = flags.assign(f=[1, 0, 1])
    write = {"parquet": lambda df, p: df.to_parquet(p), "json": lambda df, p: df.to_json(p, orient="table")}
    write[ext](flags, tmp_path / f"in.{ext}")
    write[ext](ints, tmp_path / f"out.{ext}")
    code = cli.main(["synth", str(tmp_path / f"in.{ext}"), str(tmp_path / f"out.{ext}"),
                     "--timeout", "10", "--max-depth", "1", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert out["program"] != "df0", out
    if out["solved"]:
        assert code == 0
        got = run_src(out["program"], [flags])
        assert equal(ints, got, bool_is_number=False)
    # the same files with their own dtypes still match
    write[ext](flags, tmp_path / f"same.{ext}")
    assert cli.main(["synth", str(tmp_path / f"in.{ext}"), str(tmp_path / f"same.{ext}"),
                     "--timeout", "10"]) == 0
    assert capsys.readouterr().out.strip() == "df0"


def test_a_memory_limit_past_floats_range_is_no_cap_not_a_traceback():
    # Old code: int(float('99...9') * 2**30) raised OverflowError inside argparse's type call,
    # which argparse does not catch: a bare traceback, exit 1. A size past what setrlimit takes
    # was already no cap at all (isolation._work); so is this one.
    from autopandas._cli import memory_limit

    assert memory_limit("9" * 400 + "G") is None
    assert memory_limit("99999999999999999999999T") == int(99999999999999999999999.0 * 2**40)
    assert memory_limit("512M") == 512 << 20
    r = synth(str(FIX / "sales.csv"), str(FIX / "sales.csv"), "--memory-limit", "9" * 400 + "G",
              "--max-depth", "1")
    assert r.returncode == 0 and r.stdout.strip() == "df0" and r.stderr == "", r.stderr


@pytest.mark.parametrize("value", ["0", "0M", "-1G", "4X", "", "nan", "1e9", "G"])
def test_a_bad_memory_limit_is_one_line_exit_2(capsys, value):
    code, _, err = run_main(capsys, "synth", str(FIX / "sales.csv"), str(FIX / "sales.csv"),
                            f"--memory-limit={value}")
    _bad_in_process((code, "", err), "argument --memory-limit: ")     # not 'unrecognized'


def test_a_huge_timeout_is_a_search_without_a_practical_limit(capsys):
    # the worker's result was awaited with one select() for the whole time limit, which
    # overflows past about 9e9 s: --timeout 1e12 was an internal error (OverflowError, exit 1)
    code, out, err = run_main(capsys, "synth", str(FIX / "sales.csv"), str(FIX / "sales.csv"),
                              "--timeout", "1e12")
    assert (code, out.strip(), err) == (0, "df0", "")


def test_an_unreadable_file_is_bad_input_naming_it(tmp_path, capsys, monkeypatch):
    # the first bytes were read outside the guarded read: a file without read permission was
    # an internal error (PermissionError, exit 1); root reads any file, so the refusal is faked
    locked = tmp_path / "locked.csv"
    locked.write_text("a\n1\n")
    real_open = Path.open

    def deny(self, *args, **kwargs):
        if self == locked:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)
    monkeypatch.setattr(Path, "open", deny)
    _bad_in_process(run_main(capsys, "synth", str(locked), str(FIX / "sales.csv")),
                    f"{locked}: cannot read: Permission denied")


def test_an_empty_file_name_and_a_fifo_are_bad_input_that_say_so(tmp_path, capsys):
    # '' was read as the working folder ("'': is a directory"); a FIFO was "no such file"
    _bad_in_process(run_main(capsys, "synth", "", str(FIX / "sales.csv")), "an empty file name")
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    _bad_in_process(run_main(capsys, "synth", str(fifo), str(FIX / "sales.csv")),
                    f"{fifo}: not a regular file")


@pytest.mark.parametrize("content, needle", [
    ('{"schema": {}, "data": []}', 'needs "fields"'),
    ('{"schema": {"fields": [{"name": "a"}]}, "data": [{"a": 1}]}', 'needs "fields"'),
    ('{"schema": 5, "data": 5}', 'needs "fields"'),
    ('{"schema": {"fields": "x"}, "data": [1]}', 'needs "fields"'),
    ('{"schema": {"fields": [{"name": "a", "type": "integer"}], "primaryKey": ["zz"]}, "data": [{"a": 1}]}',
     "cannot read as json: KeyError"),
    ('{"schema": {"fields": [{"name": "a", "type": "datetime", "tz": "No/Zone"}]}, "data": [{"a": "2020-01-01"}]}',
     "cannot read as json: TypeError"),
])
def test_a_table_json_with_a_malformed_schema_is_bad_input(tmp_path, capsys, content, needle):
    # pandas reads the schema unchecked: its KeyError / TypeError were internal errors (exit 1)
    bad = tmp_path / "in.json"
    bad.write_text(content)
    _bad_in_process(run_main(capsys, "synth", str(bad), str(FIX / "sales.csv")), f"{bad}: ")
    _, _, err = run_main(capsys, "synth", str(bad), str(FIX / "sales.csv"))
    assert needle in err, err


@pytest.mark.parametrize("content, needle", [
    ('{"schema": ' + "[" * 100_000 + "]" * 100_000 + ', "data": []}',
     "invalid JSON: nested too deep"),
    ('{"schema": {"fields": [{"name": "a", "type": "integer"}]}, "data": [{"a": ' + "9" * 5000
     + "}]}", "invalid JSON: an integer of more than 4300 digits"),
])
@pytest.mark.parametrize("which", ["input", "output"])
def test_a_json_too_deep_or_with_a_huge_integer_is_one_line_exit_2(tmp_path, capsys, content,
                                                                   needle, which):
    # Old code: "internal error: RecursionError: maximum recursion depth exceeded while decoding
    # a JSON array", exit 1; and "cannot read as json: Exceeds the limit (4300 digits) for
    # integer string conversion ...; use sys.set_int_max_str_digits() ...", advice for Python
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    files = [str(bad), str(FIX / "sales.csv")][::1 if which == "input" else -1]
    code, _, err = run_main(capsys, "synth", *files)
    assert code == 2 and err == f"autopandas: error: {bad}: {needle}\n", err


@pytest.mark.parametrize("which", ["input", "output"])
def test_a_json_row_naming_a_key_twice_is_refused_not_read_as_its_last_value(tmp_path, capsys, which):
    # {"a": 1, "a": 9}: Python's json (and pandas) keep the 9 and drop the 1 without a word, so
    # the search ran on a table the file does not hold (old: exit 0, a program for a = 9); a CSV
    # header naming a column twice is refused already
    bad = tmp_path / "dup.json"
    bad.write_text('{"schema": {"fields": [{"name": "a", "type": "integer"}]}, '
                   '"data": [{"a": 1, "a": 9}, {"a": 2}]}')
    good = tmp_path / "good.json"
    good.write_text('{"schema": {"fields": [{"name": "a", "type": "integer"}]}, '
                    '"data": [{"a": 9}, {"a": 2}]}')
    files = [str(bad), str(good)][::1 if which == "input" else -1]
    code, out, err = run_main(capsys, "synth", *files, "--timeout", "5")
    assert (code, out) == (2, "")
    assert err == f"autopandas: error: {bad}: invalid JSON: the key 'a' is given twice in one object\n", err


def _synth_into(stdout, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autopandas", "synth", *args], stdout=stdout,
                          stderr=subprocess.PIPE, text=True, timeout=120)


def test_a_reader_that_went_away_ends_the_command_quietly():
    # `python -m autopandas synth ... | head -0`: the reader is gone before the program is printed.
    read, write = os.pipe()
    os.close(read)
    try:
        p = _synth_into(write, str(FIX / "temps.csv"), str(FIX / "temps_pivot.csv"), "--timeout", "30")
    finally:
        os.close(write)
    # was "autopandas: internal error: BrokenPipeError: [Errno 32] Broken pipe"
    assert (p.returncode, p.stderr) == (1, "")


def test_a_stdout_that_cannot_be_written_is_one_line():
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full")
    with open("/dev/full", "w") as full:
        p = _synth_into(full, str(FIX / "temps.csv"), str(FIX / "temps_pivot.csv"), "--timeout", "30")
    # was "autopandas: internal error: OSError: [Errno 28] No space left on device"
    assert p.returncode == 1
    assert p.stderr.splitlines() == ["autopandas: cannot write the output: No space left on device"]


def _filter_task(tmp_path: Path) -> tuple[str, str]:
    df = pd.DataFrame({"Group": ["A", "B", "A", "C", "B"], "v": [1, 2, 3, 4, 5]})
    df.to_csv(tmp_path / "in.csv", index=False)
    df[df["Group"].isin(["A", "C"])].to_csv(tmp_path / "out.csv", index=False)
    return str(tmp_path / "in.csv"), str(tmp_path / "out.csv")


def test_constants_given_on_the_command_line_reach_the_search(tmp_path):
    # Rows with v > 2 are also the rows of groups A and C: without a constant the search returns
    # df0[df0['Group'].isin(['A', 'C'])]; given 2, a match that uses it comes first.
    df = pd.DataFrame({"Group": ["A", "B", "A", "C", "B"], "v": [4, 1, 3, 5, 2]})
    df.to_csv(tmp_path / "in.csv", index=False)
    df[df["v"] > 2].to_csv(tmp_path / "out.csv", index=False)
    src, out = str(tmp_path / "in.csv"), str(tmp_path / "out.csv")
    p = synth(src, out, "--timeout", "30", "--constant", "2", "--json")
    assert p.returncode == 0, p.stderr
    program = json.loads(p.stdout)["program"]
    assert "'v'" in program and "2" in program and "Group" not in program, program
    got = run_src(program, [pd.read_csv(src)])
    assert csv_matches(pd.read_csv(out), got)


@pytest.mark.parametrize("text, want", [("5", 5), (" -3 ", -3), ("2.5", 2.5), ("1e3", 1000.0),
                                        ("'5'", "5"), ('"A B"', "A B"), ("north", "north"),
                                        ("", ""), ("'", "'")])
def test_a_constant_is_read_as_a_number_or_text_never_evaluated(text, want):
    from autopandas._cli import constant
    got = constant(text)
    assert (type(got), got) == (type(want), want)


@pytest.mark.parametrize("text", ["1_000", "1_0.5", "\u0661\u0662", "\uff15", "\u0661.5"])
def test_a_constant_is_a_number_only_as_a_csv_file_writes_one(text):
    # Old code: int() and float() read '1_000' as 1000 and Arabic-Indic '١٢' as 12, where pandas
    # reads such a CSV cell as the text it is: a task whose table holds the text got a number.
    from autopandas._cli import constant
    assert constant(text) == text
    assert pd.read_csv(io.StringIO(f"a\n{text}\n"))["a"].tolist() == [text]


@pytest.mark.parametrize("value", ["\u0661G", "\uff15M"])
def test_a_memory_limit_in_other_scripts_digits_is_refused(value):
    # Old code: \d and float() read '١G' as 1 GiB.
    import argparse
    from autopandas._cli import memory_limit
    with pytest.raises(argparse.ArgumentTypeError, match="not a size"):
        memory_limit(value)


@pytest.mark.parametrize("value, message", [("nan", "not a finite number"), ("inf", "not a finite number"),
                                            ("x" * 1001, "longer than 1000 characters")])
def test_a_bad_constant_is_one_line_exit_2(tmp_path, value, message):
    src, out = _filter_task(tmp_path)
    p = synth(src, out, "--constant", value)
    assert p.returncode == 2
    assert len(p.stderr.splitlines()) == 1 and message in p.stderr and "--constant" in p.stderr



@pytest.mark.parametrize("version", ["14.0.0", "13.0.0", "0.17.1", "14.0.0.dev512"])
def test_a_parquet_file_is_not_read_with_a_pyarrow_that_unpickles_its_extension_types(
        tmp_path, monkeypatch, capsys, version):
    """pyarrow 0.14.0 to 14.0.0 rebuild a Parquet file's PyExtensionType columns with pickle
    (CVE-2023-47248: reading a user's file runs code stored in it), and pyproject allows 14.0.0
    (pandas 2.2 reads Parquet with pyarrow >= 10.0.1). Such a pyarrow is refused, one line naming
    the file, exit 2, unless pyarrow-hotfix is installed."""
    import pyarrow

    from autopandas import io as ap_io
    df = pd.DataFrame({"a": [1, 2]})
    df.to_parquet(tmp_path / "in.parquet")
    df.to_parquet(tmp_path / "out.parquet")
    files = [str(tmp_path / "in.parquet"), str(tmp_path / "out.parquet")]
    assert cli.main(["synth", *files]) == 0                      # the installed pyarrow reads it
    capsys.readouterr()
    monkeypatch.setattr(pyarrow, "__version__", version)
    monkeypatch.setattr(ap_io, "_pyarrow_hotfix_installed", lambda: False, raising=False)
    code = cli.main(["synth", *files])
    out, err = capsys.readouterr()
    assert code == 2 and out == "", (code, out)
    assert err.count("\n") == 1 and "CVE-2023-47248" in err and f"pyarrow {version}" in err, err
    assert files[0] in err


def test_the_pyarrow_versions_refused_are_those_before_the_fix_without_the_hotfix():
    from autopandas.io import _pyarrow_unpickles
    for version in ("0.14.0", "13.0.0", "14.0.0", "14.0.0rc1", "14.0.0.dev512", "14.0.1rc0"):
        assert _pyarrow_unpickles(version, hotfixed=False), version
        assert not _pyarrow_unpickles(version, hotfixed=True), version
    for version in ("14.0.1", "14.0.2", "15.0.0", "26.0.1", "100.0.0"):
        assert not _pyarrow_unpickles(version, hotfixed=False), version


@pytest.mark.parametrize("side", ["input", "output"])
def test_a_table_json_that_pandas_cannot_read_back_is_bad_input_naming_it(tmp_path, capsys, side):
    """pandas writes a duration column to a table JSON (type "duration", ISO text) but its reader
    raises NotImplementedError for it: 'internal error: NotImplementedError: table="orient" can
    not yet read ISO-formatted Timedelta data', exit 1."""
    df = pd.DataFrame({"a": [1, 2], "d": pd.to_timedelta([1, 2], unit="h")})
    df.to_json(tmp_path / "td.json", orient="table")
    df[["a"]].to_json(tmp_path / "ok.json", orient="table")
    files = [str(tmp_path / "td.json"), str(tmp_path / "ok.json")]
    if side == "output":
        files.reverse()
    code = cli.main(["synth", *files, "--timeout", "10"])
    _, err = capsys.readouterr()
    _bad_in_process((code, "", err), f"{tmp_path / 'td.json'}: cannot read as json")
    assert "Timedelta" in err and "internal error" not in err
