"""benchmarks/deepquery_cache_open.py: bad arguments are one line, exit 2, before any work; a
tiny run prints each figure and the command that made it."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .dq_helpers import one_line

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "deepquery_cache_open.py"


def _bench(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCH), *argv], capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.mark.parametrize(("argv", "needle"), [
    (["--counts", "0"], "--counts and --repeat must be >= 1"),
    (["--repeat", "0"], "--counts and --repeat must be >= 1"),
    (["--seconds", "0"], "--seconds > 0"),
    (["--seconds", "nan"], "--seconds > 0"),
    (["--seconds", "inf"], "--seconds > 0 (and finite)"),  # old code: gets and writer never end
    (["--counts", "x"], "--counts: invalid int value"),
])
def test_bad_arguments_are_one_line_exit_2(argv, needle):
    p = _bench(*argv)
    assert p.returncode == 2 and p.stdout == ""
    assert needle in one_line(p.stderr)


def test_a_tiny_run_prints_each_figure():
    p = _bench("--counts", "20", "--seconds", "0.2", "--repeat", "2")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith("file: 8 databases x 20 counts")
    assert "open (CardinalityCache, then close): median" in lines[1]
    assert "the check, count(*) of every row: median" in lines[2]
    assert "gets beside a writer: median" in lines[3]
    assert lines[-1] == ("command: python benchmarks/deepquery_cache_open.py --counts 20 "
                         "--seconds 0.2 --repeat 2")


def test_a_run_shorter_than_one_get_still_prints_each_figure():
    # Old code: no get fit in --seconds 1e-9, and the percentiles raised IndexError (exit 1).
    p = _bench("--counts", "5", "--seconds", "1e-9", "--repeat", "1")
    assert p.returncode == 0, p.stderr
    assert "1 gets beside a writer: median" in p.stdout
