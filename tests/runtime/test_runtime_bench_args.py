"""benchmarks/runtime_bench.py's bad arguments: one line on stderr, exit 2, as the other benchmarks."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("argv, needle", [
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["--reps", "x"], "--reps"),
])
def test_runtime_bench_bad_arguments_are_one_line_exit_2(argv, needle):
    # argparse printed its usage block before the error line
    r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "runtime_bench.py"), *argv],
                       capture_output=True, text=True, timeout=120)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert lines[0].startswith("runtime_bench: error: ") and needle in lines[0], lines
