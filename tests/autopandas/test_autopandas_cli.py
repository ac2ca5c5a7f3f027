"""CLI smoke tests, run for real as subprocesses: CSV, Parquet, JSON, several inputs, bad input."""
from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from autopandas.equality import csv_matches, equal

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "autopandas"


def synth(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autopandas", "synth", *args],
                          capture_output=True, text=True, timeout=timeout)


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
    _bad(synth(str(FIX / "sales.csv"), str(FIX / "sales.csv"), "--max-depth", "9"), "max_depth")
    _bad(synth(str(FIX / "sales.csv")), "at least one input")
