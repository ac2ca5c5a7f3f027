"""benchmarks/deepquery_plan_bind.py: bad arguments are one line, exit 2, before any work; the
command line it prints names the queries and cache folder it used."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sysml_datasets.imdb import ImdbConfig, database_path

from .dq_helpers import one_line

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "deepquery_plan_bind.py"


def _bench(*argv: str, env: dict | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCH), *argv], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, check=False)


# Before: --repeat 0 and --scale 7 were tracebacks (StatisticsError after the whole run,
# ValueError), --optimizer nope a ValueError traceback after the database was built, and
# argparse's own errors printed the usage block too.
@pytest.mark.parametrize(("argv", "message"), [
    (["--repeat", "0"], "--repeat must be >= 1, got 0"),
    (["--scale", "7"], "scale must be in [0.0005, 1], got 7.0"),
    (["--optimizer", "nope"], "argument --optimizer: invalid choice: 'nope'"),
    (["--repeat", "x"], "argument --repeat: invalid int value: 'x'"),
    (["--cache-dir", ""], "--cache-dir: empty path"),  # was: $SYSML_CACHE, without a word
])
def test_bad_arguments_are_one_line_exit_2_before_any_work(tmp_path, job_dir, argv, message):
    p = _bench("--cache-dir", str(tmp_path / "cache"), "--queries", str(job_dir), *argv,
               env={"SYSML_CACHE": str(tmp_path / "cache")})
    assert p.returncode == 2 and p.stdout == ""
    line = one_line(p.stderr)
    assert line.startswith("deepquery_plan_bind: error: ") and message in line
    assert not (tmp_path / "cache").exists()  # nothing built


# Before: the printed command left out --queries and --cache-dir, so it did not reproduce the run.
def test_the_printed_command_names_the_queries_and_cache_folder(tmp_path, job_dir, imdb_db,
                                                               test_scale):
    queries = tmp_path / "job"
    queries.mkdir()
    shutil.copy(job_dir / "1a.sql", queries)
    cache = tmp_path / "cache"
    cache.mkdir()
    database_path(ImdbConfig(scale=test_scale), cache).symlink_to(imdb_db)
    p = _bench("--scale", str(test_scale), "--repeat", "1", "--queries", str(queries),
               "--cache-dir", str(cache), timeout=300)
    assert p.returncode == 0, p.stderr
    assert "1 JOB queries" in p.stdout and "1 planned SQL texts bind" in p.stdout
    assert p.stdout.splitlines()[-1] == (
        f"command: python benchmarks/deepquery_plan_bind.py --scale {test_scale:g} --repeat 1 "
        f"--optimizer dp --queries {queries} --cache-dir {cache}")
