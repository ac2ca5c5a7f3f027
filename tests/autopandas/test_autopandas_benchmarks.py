"""A few of the shared AutoPandas benchmark tasks are solved (skips when ../shared is absent)."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import re
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autopandas.equality import equal
from autopandas.isolation import available
from autopandas.program import Program
from autopandas.search import SearchConfig, SearchResult, hint_constants, synthesize

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "autopandas_bench.py"
FAST_TASKS = ("SO_11881165_depth1", "SO_49592930_depth1", "SO_13647222_depth1",
              "SO_13659881_depth2", "book_dup_1", "drop_1")


@pytest.fixture(scope="module")
def tasks(shared_dir):
    path = shared_dir / "autopandas_benchmarks"
    spec = importlib.util.spec_from_file_location("_ap_bench_load", path / "load.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return {t["id"]: t for t in mod.load_benchmarks(str(path / "benchmarks.json"))}


def test_benchmark_file_has_48_tasks(tasks):
    assert len(tasks) == 48


@pytest.mark.parametrize("task_id", FAST_TASKS)
def test_benchmark_task_is_solved(tasks, task_id):
    t = tasks[task_id]
    frames = [x for x in t["inputs"] if isinstance(x, (pd.DataFrame, pd.Series))]
    hints = [x for x in t["inputs"] if isinstance(x, (str, list))]
    res = synthesize(frames, t["output"], SearchConfig(timeout_s=60), constants=hint_constants(hints))
    assert res.solved, res.summary()
    env = {"pd": pd, "np": np, **{f"df{i}": f for i, f in enumerate(frames)}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert equal(t["output"], eval(res.rendered, env))  # our own rendered program


@pytest.mark.parametrize("argv, needle", [(["--timeout", "-1"], "--timeout"),
                                          (["--timeout", "nan"], "--timeout"),
                                          (["--max-depth", "9"], "--max-depth"),
                                          (["--max-depth", "0"], "--max-depth"),
                                          (["--copies", "-1"], "--copies"),
                                          (["--memory-limit", "4X"], "--memory-limit"),
                                          (["--memory-limit", "0"], "--memory-limit"),
                                          (["--bogus"], "--bogus")])
def test_benchmark_bad_arguments_are_one_line_exit_2(argv, needle):
    p = subprocess.run([sys.executable, str(BENCH), *argv], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in p.stderr, p.stderr
    assert "max_depth" not in lines[0] and "timeout_s" not in lines[0]   # the options, not fields
    assert p.stdout == ""  # rejected before any task ran


def test_benchmark_without_shared_data_names_the_variable_to_set(tmp_path):
    env = {**os.environ, "SYSML_SHARED": str(tmp_path / "nowhere")}
    p = subprocess.run([sys.executable, str(BENCH), "--timeout", "1"], capture_output=True, text=True,
                       timeout=60, env=env)
    assert p.returncode == 2 and p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    assert "SYSML_SHARED" in lines[0] and str(tmp_path / "nowhere") in lines[0]


@pytest.mark.parametrize("only, needle", [("nosuch", "no task 'nosuch' among the 48"),
                                          ("drop_1,nosuch", "no task 'nosuch'"),
                                          (",", "--only names no task id")])
def test_benchmark_only_naming_no_task_is_one_line_exit_2(shared_dir, only, needle):
    # the old code ran the tasks that matched (none for 'nosuch': "median solve time nan") and
    # exited 0, so a typo'd id went unnoticed
    env = {**os.environ, "SYSML_SHARED": str(shared_dir)}
    p = subprocess.run([sys.executable, str(BENCH), "--only", only, "--timeout", "5", "--copies", "0"],
                       capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 2 and p.stdout == "", (p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in p.stderr, p.stderr


def test_benchmark_reports_generalisation_per_solved_task_and_in_totals(shared_dir, tmp_path):
    out = tmp_path / "rows.json"
    env = {**os.environ, "SYSML_SHARED": str(shared_dir)}
    p = subprocess.run([sys.executable, str(BENCH), "--timeout", "10", "--copies", "3",
                        "--only", "SO_49592930_depth1,book_dup_1", "--json", str(out)],
                       capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 0, p.stderr
    rows = {r["id"]: r for r in json.loads(out.read_text())}
    # found programs equal to the references (combine_first, drop_duplicates) must agree on every copy
    for tid in ("SO_49592930_depth1", "book_dup_1"):
        r = rows[tid]
        assert r["solved"] and r["generalizes"] == "yes", r
        assert r["generalize_copies"] == 3 and 0 < r["generalize_usable"] <= 3
        assert r["generalize_disagreements"] == 0 and r["reference_dsl"] is not None
    assert "solved 2/2, of which 2 generalise" in p.stdout
    assert "generalizes" in p.stdout.splitlines()[0]


def _bench_module():
    spec = importlib.util.spec_from_file_location("_ap_bench_script", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.skipif(not available(), reason="needs fork and RLIMIT_AS")
@pytest.mark.timeout(120)
def test_benchmark_stops_a_task_stuck_in_a_c_loop_at_its_timeout(shared_dir, tmp_path, monkeypatch,
                                                                  capsys):
    """The benchmark ran synthesize() in its own process with soft bounds only: one C loop (here
    about 40 s of regex backtracking the alarm cannot interrupt) overran --timeout 0.5."""
    bench = _bench_module()
    monkeypatch.setattr(bench, "SHARED", shared_dir)
    monkeypatch.setattr(bench, "synthesize", lambda *a, **k: re.match(r"(a+)+$", "a" * 29 + "b"))
    out = tmp_path / "rows.json"
    t0 = time.monotonic()
    assert bench.main(["--timeout", "0.5", "--only", "drop_1", "--copies", "0", "--json", str(out)]) == 0
    assert time.monotonic() - t0 < 15
    row, = json.loads(out.read_text())
    assert row["outcome"] == "time limit" and row["candidates"] is None and not row["solved"], row
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("drop_1"))
    assert line.split()[2:5] == ["False", line.split()[3], "-"] and line.endswith("(time limit)"), line


@pytest.mark.skipif(not available(), reason="needs fork and RLIMIT_AS")
@pytest.mark.timeout(180)
def test_benchmark_generalisation_check_kills_a_program_stuck_in_a_c_loop(shared_dir, tmp_path,
                                                                          monkeypatch, capsys):
    """The generalisation check ran the found program on the perturbed copies in the benchmark's
    own process with the sandbox's soft bounds only: one C loop there (about 40 s of regex
    backtracking the alarm cannot interrupt) stalled the benchmark whatever --timeout said."""
    bench = _bench_module()
    monkeypatch.setattr(bench, "SHARED", shared_dir)
    stuck = Program(0)          # "the input itself": not the reference (a drop), so it is compared
    found = SearchResult(stuck, True, 1, 0.0, rendered="df0")
    monkeypatch.setattr(bench, "synthesize", lambda *a, **k: found)
    real_run = Program.run

    def run(self, inputs, sandbox=None):
        if self == stuck:
            re.match(r"(a+)+$", "a" * 29 + "b")
        return real_run(self, inputs, sandbox)
    monkeypatch.setattr(Program, "run", run)
    out = tmp_path / "rows.json"
    t0 = time.monotonic()
    assert bench.main(["--timeout", "0.5", "--only", "drop_1", "--copies", "1", "--json", str(out)]) == 0
    assert time.monotonic() - t0 < 20
    row, = json.loads(out.read_text())
    assert row["solved"] and row["generalizes"] == "no", row
    assert row["generalize_usable"] == 1 and row["generalize_disagreements"] == 1
    assert row["generalize_killed"] == 1 and "time limit" in row["generalize_reason"], row
    assert row["reference_dsl"] is not None and row["reference_reproduces_output"] is True
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("drop_1"))
    assert "no (1/1)" in line, line


def _has_revision(rev: str) -> bool:
    """Whether this checkout's git history holds ``rev`` (not in an archive or a shallow clone)."""
    try:
        return subprocess.run(["git", "-C", str(BENCH.parents[1]), "cat-file", "-e", f"{rev}^{{commit}}"],
                              capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(not _has_revision("e78d760"), reason="reads the baseline (e78d760) from git history")
def test_state_key_benchmark_times_both_versions_and_compares_their_partitions(shared_dir):
    script = BENCH.parent / "autopandas_state_key.py"
    env = {**os.environ, "SYSML_SHARED": str(shared_dir)}
    p = subprocess.run([sys.executable, str(script), "--seconds", "0.5", "--per-task", "30", "--repeats", "1",
                        "--only", "SO_49592930_depth1,book_dup_1"],
                       capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 0, p.stderr
    assert re.search(r"baseline \w+ [0-9.]+ us, this tree [0-9.]+ us", p.stdout), p.stdout
    assert "identical partition" in p.stdout, p.stdout
    assert p.stdout.rstrip().splitlines()[-1].startswith("command: python benchmarks/autopandas_state_key.py")


def test_state_key_benchmark_refuses_an_only_naming_no_task(shared_dir, tmp_path):
    # it used to search nothing and end with "error: no values were recorded", naming no cause;
    # then it read the baseline from git first, so outside a git checkout (GIT_DIR naming no
    # repository here) it said "git show failed" instead
    env = {**os.environ, "SYSML_SHARED": str(shared_dir), "GIT_DIR": str(tmp_path)}
    p = subprocess.run([sys.executable, str(BENCH.parent / "autopandas_state_key.py"), "--only", "nosuch"],
                       capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 2 and p.stdout == "", (p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "no task 'nosuch' among the 48" in lines[0], p.stderr
