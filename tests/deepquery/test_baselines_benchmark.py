"""benchmarks/deepquery_baselines.py: bad arguments are one line, exit 2, before any work; the
queries come from ``$SYSML_SHARED/job``; a run with true cardinalities only reports."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sysml_datasets.imdb import ImdbConfig, database_path

from .dq_helpers import one_line

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "deepquery_baselines.py"


def _bench(*argv: str, env: dict | None = None, timeout: int = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCH), *argv], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, check=False)


# Before: --cost-models cm3 ran the whole benchmark to a ValueError traceback (exit 1); --cards
# exact ran 75 s to 'max() arg is an empty sequence'; --exec-repeat 0 divided by zero rows.
@pytest.mark.parametrize(("argv", "needle"), [
    (["--cost-models", "cm3", "--no-exec", "--no-witness-check"], "--cost-models: unknown 'cm3'"),
    (["--cards", "exact"], "--cards: unknown 'exact' (choose from estimated, true)"),
    (["--cards", ","], "--cards: empty"),
    (["--exec-repeat", "0"], "--exec-repeat must be >= 1"),
    (["--true-max-relations", "0"], "--true-max-relations must be >= 1"),
    (["--scale", "7"], "scale must be in"),
    (["--exec-repeat", "x"], "--exec-repeat"),
    (["--queries", "/nonexistent/job"], "--queries /nonexistent/job: no such folder"),
    # an unset shell variable: the raw measurements were silently not written
    (["--json-out", ""], "--json-out: empty path"),
])
def test_bad_arguments_are_one_line_exit_2_before_any_work(tmp_path, argv, needle):
    p = _bench(*argv, "--cache-dir", str(tmp_path / "cache"))
    assert p.returncode == 2 and p.stdout == ""
    line = one_line(p.stderr)
    assert line.startswith("deepquery_baselines: error: ") and needle in line
    assert not (tmp_path / "cache").exists()  # nothing built


# Before: the default was ../shared/job whatever SYSML_SHARED said.
def test_an_empty_cache_dir_is_refused_not_taken_as_the_default(tmp_path):
    # It used $SYSML_CACHE (or ~/.cache/sysml) without a word.
    p = _bench("--cache-dir", "", env={"SYSML_CACHE": str(tmp_path / "cache")})
    assert p.returncode == 2 and p.stdout == ""
    assert one_line(p.stderr) == "deepquery_baselines: error: --cache-dir: empty path"
    assert not (tmp_path / "cache").exists()


def test_queries_default_to_sysml_shared(tmp_path):
    p = _bench("--cache-dir", str(tmp_path), env={"SYSML_SHARED": str(tmp_path / "nowhere")})
    assert p.returncode == 2
    assert f"--queries {tmp_path / 'nowhere' / 'job'}: no such folder" in one_line(p.stderr)


# Before: exit 1, 'max() arg is an empty sequence' (the planning-time tables time estimated
# cardinalities only, and the relation counts were taken from them).
def test_true_cardinalities_alone_report(tmp_path, job_dir, imdb_db, test_scale):
    shared = tmp_path / "shared"
    (shared / "job").mkdir(parents=True)
    for name in ("1a", "3b"):
        shutil.copy(job_dir / f"{name}.sql", shared / "job")
    cache = tmp_path / "cache"
    cache.mkdir()
    db = database_path(ImdbConfig(scale=test_scale), cache)
    db.symlink_to(imdb_db)
    p = _bench("--scale", str(test_scale), "--cache-dir", str(cache), "--cards", "true",
               "--cost-models", "cout", "--no-witness-check", "--exec-repeat", "1",
               env={"SYSML_SHARED": str(shared)}, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "2 JOB queries" in p.stdout and "True cardinalities: 2 / 2 queries" in p.stdout
    assert "no planning-time table" in p.stdout
    assert "DuckDB execution: DP plan (cout, true cardinalities" in p.stdout


def _one_query_setup(tmp_path: Path, job_dir: Path, imdb_db: Path, scale: float) -> tuple[Path, Path]:
    """A $SYSML_SHARED with JOB query 1a and a cache folder holding the test database."""
    shared = tmp_path / "shared"
    (shared / "job").mkdir(parents=True)
    shutil.copy(job_dir / "1a.sql", shared / "job")
    cache = tmp_path / "cache"
    cache.mkdir()
    database_path(ImdbConfig(scale=scale), cache).symlink_to(imdb_db)
    return shared, cache


_QUICK = ("--cards", "estimated", "--cost-models", "cout", "--no-witness-check", "--no-exec")


# Before: the whole run, then a FileNotFoundError / IsADirectoryError traceback (exit 1) when
# the raw measurements were written, last.
@pytest.mark.parametrize("where", ["missing folder", "a directory"])
def test_a_json_out_that_cannot_be_written_is_refused_before_the_run(tmp_path, job_dir, imdb_db,
                                                                     test_scale, where):
    shared, cache = _one_query_setup(tmp_path, job_dir, imdb_db, test_scale)
    out = tmp_path / "nowhere" / "raw.json" if where == "missing folder" else tmp_path
    p = _bench("--scale", str(test_scale), "--cache-dir", str(cache), *_QUICK,
               "--json-out", str(out), env={"SYSML_SHARED": str(shared)}, timeout=300)
    assert p.returncode == 2 and p.stdout == ""
    expected = (f"no such folder {out.parent}" if where == "missing folder"
                else "is a directory")
    assert one_line(p.stderr) == f"deepquery_baselines: error: --json-out {out}: {expected}"


def test_json_out_is_written_whole_with_no_temporary_file_left(tmp_path, job_dir, imdb_db,
                                                               test_scale):
    import json
    shared, cache = _one_query_setup(tmp_path, job_dir, imdb_db, test_scale)
    out = tmp_path / "out" / "raw.json"
    out.parent.mkdir()
    out.write_text("an older run's file")
    p = _bench("--scale", str(test_scale), "--cache-dir", str(cache), *_QUICK,
               "--json-out", str(out), env={"SYSML_SHARED": str(shared)}, timeout=300)
    assert p.returncode == 0, p.stderr
    assert json.loads(out.read_text())["queries"] == 1
    assert sorted(f.name for f in out.parent.iterdir()) == ["raw.json"]
