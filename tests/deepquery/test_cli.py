"""Smoke tests: the CLI as a subprocess, on the session's small database."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from deepquery.__main__ import main
from deepquery.optimizers import OPTIMIZERS

REPO = Path(__file__).resolve().parents[2]


def _run(args: list[str], cache: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, SYSML_CACHE=str(cache))
    return subprocess.run([sys.executable, "-m", "deepquery", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


TEST_SCALE = 0.002  # tests/deepquery/conftest.py builds the database at this scale


def _flags(cache: Path) -> list[str]:
    return ["--scale", str(TEST_SCALE), "--cache-dir", str(cache)]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cli_scale_matches_the_fixture(test_scale):
    assert test_scale == TEST_SCALE


def test_plan_json_has_the_documented_keys(imdb_cache, job_dir):
    r = _run(["plan", str(job_dir / "1a.sql"), "--json", "--cost-model", "cm1",
              *_flags(imdb_cache)], imdb_cache)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    for key in ("relations", "plan", "cost", "cost_model", "optimizer", "planning_ms", "sql", "db"):
        assert key in out
    assert sorted(out["relations"]) == ["ct", "it", "mc", "mi_idx", "t"]
    assert out["cost_model"] == "cm1" and out["optimizer"] == "dp"

    def flat(p):
        return [p] if isinstance(p, str) else flat(p[0]) + flat(p[1])
    assert sorted(flat(out["plan"])) == sorted(out["relations"])


def test_plan_human_output_and_true_cards(imdb_cache, job_dir):
    r = _run(["plan", str(job_dir / "3a.sql"), "--optimizer", "greedy", "--cards", "true",
              *_flags(imdb_cache)], imdb_cache)
    assert r.returncode == 0, r.stderr
    assert "greedy" in r.stdout and "JOIN" in r.stdout and "cost" in r.stdout
    assert (imdb_cache / "true_cards.sqlite").exists()


def test_run_reports_both_latencies_and_leaves_db_unchanged(imdb_cache, imdb_db, job_dir):
    before = _digest(imdb_db)
    r = _run(["run", str(job_dir / "6a.sql"), "--json", "--repeat", "1", *_flags(imdb_cache)],
             imdb_cache)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["same_result"] is True
    assert out["planned_ms"] > 0 and out["duckdb_ms"] > 0
    assert _digest(imdb_db) == before


def test_compare_without_a_file_uses_the_builtin_example(imdb_cache):
    r = _run(["compare", "--json", *_flags(imdb_cache)], imdb_cache)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["query"] == "example"
    names = [o["optimizer"] for o in out["optimizers"]]
    assert names[0] == "dp" and "quickpick" in names and "ikkbz" in names
    assert all(o["relative_to_dp"] >= 1 - 1e-9 for o in out["optimizers"])


def test_data_build_writes_the_database(tmp_path):
    r = _run(["data", "build", "--scale", "0.0005", "--seed", "1", "--cache-dir", str(tmp_path),
              "--json"], tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert Path(out["db"]).is_file()
    assert 1264 <= out["rows"]["title"] < 1264 + 200  # 0.0005 of 2,528,312 plus planted witnesses
    assert out["witness_report"]["failed_filters"] == []


@pytest.mark.parametrize("text, fragment", [
    ("SELECT MIN(t.title) FROM title AS t WHERE t.id = = 1", "syntax error at line 1"),
    ("SELECT MIN(t.title) FROM titel AS t", "unknown table: titel"),
    ("SELECT MIN(t.nope) FROM title AS t", "unknown column: t.nope"),
    ("", "empty query"),
    ("SELECT 1 FROM title AS t; SELECT 2 FROM title AS t;", "expected one statement"),
    ("DROP TABLE title", "only a read-only SELECT"),
    ("UPDATE title SET title = 'x'", "only a read-only SELECT"),
    ("INSERT INTO title (id) VALUES (1)", "only a read-only SELECT"),
    ("COPY title TO 'out.csv'", "only a read-only SELECT"),
    ("PRAGMA table_info('title')", "only a read-only SELECT"),
    ("ATTACH 'x.db' AS x", "syntax error"),
    ("SELECT MIN(t.title) FROM title AS t -- comment\n; DROP TABLE title", "expected one statement"),
    ("SELECT MIN(t.title) FROM title AS t /* ; */; COPY title TO 'x.csv'", "expected one statement"),
])
def test_bad_input_exits_2_with_one_line(imdb_cache, imdb_db, tmp_path, capsys, text, fragment):
    # In-process (the CLI as a subprocess is smoke-tested below): a subprocess per case made
    # this test a third of the package's test time.
    before = _digest(imdb_db)
    q = tmp_path / "bad.sql"
    q.write_text(text)
    cmds = ("plan", "run") if "read-only" in fragment or "syntax" in fragment else ("plan",)
    for cmd in cmds:
        assert main([cmd, str(q), *_flags(imdb_cache)]) == 2, cmd
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and fragment in lines[0] and "bad.sql" in lines[0], err
        assert "Traceback" not in err
    assert _digest(imdb_db) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.sql"]  # nothing written


def test_bad_input_through_a_subprocess(imdb_cache, imdb_db, tmp_path):
    before = _digest(imdb_db)
    q = tmp_path / "bad.sql"
    q.write_text("SELECT MIN(t.title) FROM title AS t; DROP TABLE title")
    r = _run(["run", str(q), *_flags(imdb_cache)], imdb_cache)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [f"deepquery: {q}: expected one statement, found 2"]
    assert _digest(imdb_db) == before


# EXPLAIN and SHOW printed sqlglot's "'EXPLAIN ...' contains unsupported syntax. Falling back to
# parsing as a 'Command'." warning before the refusal, which said "found COMMAND"; CHECKPOINT
# said "found COLUMN".
@pytest.mark.parametrize("text, kind", [
    ("EXPLAIN SELECT MIN(t.title) FROM title AS t", "EXPLAIN"),
    ("SHOW TABLES", "SHOW"),
    ("CHECKPOINT", "CHECKPOINT"),
])
def test_statements_sqlglot_does_not_know_are_refused_in_one_line_by_name(imdb_cache, tmp_path,
                                                                          text, kind):
    q = tmp_path / "other.sql"
    q.write_text(text)
    r = _run(["plan", str(q), *_flags(imdb_cache)], imdb_cache)
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        f"deepquery: {q}: only a read-only SELECT is accepted, found {kind}"]


def test_missing_file_and_database_exit_2(imdb_cache, tmp_path, capsys):
    assert main(["plan", str(tmp_path / "nope.sql"), *_flags(imdb_cache)]) == 2
    assert "no such file" in capsys.readouterr().err
    q = tmp_path / "q.sql"
    q.write_text("SELECT MIN(t.title) FROM title AS t")
    assert main(["plan", str(q), "--db", str(tmp_path / "missing.duckdb")]) == 2
    assert "database not found" in capsys.readouterr().err


def test_compare_does_not_call_a_costly_plan_as_good_as_a_free_dp_plan(imdb_cache, tmp_path,
                                                                       capsys):
    # A filter matching nothing: DP's C_out is 0, a random order's is not. Its ratio was 1.000.
    q = tmp_path / "empty.sql"
    q.write_text("SELECT MIN(t.title) FROM title AS t, movie_companies AS mc, movie_info AS mi, "
                 "movie_keyword AS mk WHERE t.id = mc.movie_id AND t.id = mi.movie_id AND "
                 "t.id = mk.movie_id AND t.title = 'no such title at all'")
    assert main(["compare", str(q), "--cards", "true", "--json", *_flags(imdb_cache)]) == 0
    rows = json.loads(capsys.readouterr().out)["optimizers"]
    assert rows[0]["cost"] == 0 and any(r["cost"] > 0 for r in rows)
    for r in rows:
        assert (r["relative_to_dp"] == 1.0) == (r["cost"] == 0), r
        assert (r["relative_to_dp"] is None) == (r["cost"] > 0), r


def test_the_cli_does_not_import_pandas_until_it_builds():
    # pandas took over half of every CLI call's time (1.4 s of 2.6 s imports, loaded machine)
    # and only building the database needs it.
    code = ("import sys, deepquery.__main__, sysml_datasets.imdb as imdb; "
            "assert 'pandas' not in sys.modules; imdb.build_database; "
            "assert 'pandas' in sys.modules")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr


class _ClosedPipe:
    """A stdout whose reader has gone (``| head -1``), as with PYTHONUNBUFFERED=1."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        pass


def test_stdout_closed_by_its_reader_is_not_an_internal_error(imdb_cache, monkeypatch, capsys):
    # `python -m deepquery compare | head -1` said "internal error: BrokenPipeError".
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    assert main(["compare", *_flags(imdb_cache)]) == 1
    assert capsys.readouterr().err == ""


class _FullDisk:
    """A stdout on a full disk: buffered writes succeed, the flush fails."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        raise OSError(28, "No space left on device")


# `python -m deepquery plan q.sql > /dev/full` said "internal error: OSError: [Errno 28] No space
# left on device"; with a buffered stdout on a full disk, main returned 0 and the error came at
# exit, after it.
@pytest.mark.parametrize("stdout", ["/dev/full", "buffered"])
def test_output_that_cannot_be_written_is_one_line_not_an_internal_error(imdb_cache, monkeypatch,
                                                                        capsys, stdout):
    if stdout == "/dev/full":
        if not Path("/dev/full").exists():
            pytest.skip("no /dev/full")
        with open("/dev/full", "w") as full:
            r = subprocess.run([sys.executable, "-m", "deepquery", "compare", "--json",
                                *_flags(imdb_cache)], cwd=REPO, stdout=full, stderr=subprocess.PIPE,
                               text=True, timeout=120, check=False)
        code, err = r.returncode, r.stderr
    else:
        monkeypatch.setattr(sys, "stdout", _FullDisk())
        code, err = main(["compare", "--json", *_flags(imdb_cache)]), capsys.readouterr().err
    assert (code, err) == (1, "deepquery: cannot write the output: No space left on device\n")


def test_run_of_a_limit_query_is_not_reported_as_different(imdb_cache, tmp_path, capsys):
    # LIMIT without ORDER BY keeps rows of DuckDB's choosing: run said DIFFER, exit 1.
    q = tmp_path / "limited.sql"
    q.write_text("SELECT t.title, mc.note FROM title AS t, movie_companies AS mc, "
                 "company_type AS ct WHERE t.id = mc.movie_id AND ct.id = mc.company_type_id "
                 "LIMIT 5")
    for optimizer in ("dp", "left-deep", "right-deep"):
        assert main(["run", str(q), "--optimizer", optimizer, "--repeat", "1", "--json",
                     *_flags(imdb_cache)]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["same_result"] is True and out["rows"] == 5


def test_run_builds_the_planned_sql_once_and_runs_the_sql_plan_prints(imdb_cache, job_dir,
                                                                       monkeypatch, capsys):
    # run built plan_sql(graph, tree) twice: once for the bind check, once in run_plan.
    import deepquery.__main__ as cli
    from deepquery import execute
    from deepquery.rewrite import plan_sql
    assert main(["plan", str(job_dir / "6a.sql"), "--json", *_flags(imdb_cache)]) == 0
    printed = json.loads(capsys.readouterr().out)["sql"]
    built = []

    def counted(graph, tree, limit=True):
        built.append(limit)
        return plan_sql(graph, tree, limit)
    monkeypatch.setattr(cli, "plan_sql", counted)
    monkeypatch.setattr(execute, "plan_sql", counted)
    assert main(["run", str(job_dir / "6a.sql"), "--json", "--repeat", "1",
                 *_flags(imdb_cache)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert built == [True] and out["sql"] == printed and out["same_result"] is True


def _strict_json(text: str):
    """JSON as RFC 8259 has it: no Infinity, no NaN (jq and most readers refuse them)."""
    def refuse(name):
        raise ValueError(f"not JSON: {name}")
    return json.loads(text, parse_constant=refuse)


def test_json_of_a_plan_whose_cost_overflows_is_json(imdb_cache, tmp_path, capsys):
    # 80 cast_info relations chained by theta joins (1/3 each): every plan's estimated cost
    # passes 1e308. --json wrote "cost": Infinity and "relative_to_dp": NaN; they are null.
    n = 80
    q = tmp_path / "huge.sql"
    q.write_text(f"SELECT COUNT(*) FROM {', '.join(f'cast_info AS c{i}' for i in range(n))} "
                 f"WHERE {' AND '.join(f'c{i}.id < c{i + 1}.id' for i in range(n - 1))}")
    assert main(["plan", str(q), "--optimizer", "greedy", "--json", *_flags(imdb_cache)]) == 0
    out = _strict_json(capsys.readouterr().out)
    assert out["cost"] is None and out["rows"] is None and len(out["relations"]) == n
    assert main(["compare", str(q), "--json", *_flags(imdb_cache)]) == 0
    rows = _strict_json(capsys.readouterr().out)["optimizers"]
    assert [r["optimizer"] for r in rows if r["plan"] is not None] == list(OPTIMIZERS)
    assert all(r["cost"] is None and r["relative_to_dp"] is None for r in rows)
