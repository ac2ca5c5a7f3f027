"""Bad input and interrupts: one clear line on stderr, the right exit code, nothing left behind."""
from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest

from deepquery.__main__ import build_parser, main
from deepquery.database import bind
from deepquery.query_graph import QueryError, parse_query
from sysml_datasets.imdb import ImdbConfig, build_database, database_path
from sysml_datasets.imdb.schema import COLUMNS
from sysml_datasets.imdb import generator

from .dq_helpers import TINY
from .dq_helpers import one_line as _one_line

REPO = Path(__file__).resolve().parents[2]


def _run(args: list[str], env_cache: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, SYSML_CACHE=str(env_cache))
    return subprocess.run([sys.executable, "-m", "deepquery", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture()
def query(tmp_path: Path) -> Path:
    q = tmp_path / "q.sql"
    q.write_text("SELECT MIN(t.title) FROM title AS t WHERE t.production_year > 2000")
    return q


# --- the cache folder ---------------------------------------------------------------------------
def test_cache_dir_that_is_a_file_exits_2_before_building(tmp_path, query):
    rules = tmp_path / "rules.txt"
    rules.write_text("keep me\n")
    r = _run(["plan", str(query), "--cache-dir", str(rules)], tmp_path)
    assert r.returncode == 2
    line = _one_line(r.stderr)
    assert "--cache-dir" in line and str(rules) in line and "not a directory" in line
    assert rules.read_text() == "keep me\n"


@pytest.mark.parametrize("kind", ["folder", "fifo", "symlink to /dev/null"])
@pytest.mark.parametrize("command", [["data", "build"], ["data", "build", "--force"], ["plan"]])
def test_a_non_file_at_the_cached_database_name_is_one_line_exit_2(tmp_path, query, capsys, kind,
                                                                    command):
    # Old code: a folder or pipe where the cached database goes was "internal error:
    # FileNotFoundError: database not found: ...", exit 1 (data build, plan); data build --force
    # said "cannot write the database in CACHE: Is a directory" of a folder that can be written,
    # and built over a pipe or a symlink to a device.
    if kind == "fifo" and not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs")
    cache = tmp_path / "cache"
    cache.mkdir()
    data = command[0] == "data"
    path = database_path(TINY if data else ImdbConfig(scale=0.0005, seed=3), cache)
    if kind == "folder":
        path.mkdir()
        (path / "keep").write_text("mine")
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/null")
    args = [*command, *([] if data else [str(query)]), "--cache-dir", str(cache), "--scale",
            "0.0005", "--seed", "3", *(["--no-witnesses"] if data else [])]
    assert main(args) == 2
    kind_said = "a folder" if kind == "folder" else "not a regular file"
    assert _one_line(capsys.readouterr().err) == (
        f"deepquery: {path}: is {kind_said}, where the cached database goes: move it away, or "
        "choose another --cache-dir")
    assert sorted(p.name for p in cache.iterdir()) == [path.name]  # nothing built beside it
    assert (path / "keep").read_text() == "mine" if kind == "folder" else \
        (path.is_fifo() if kind == "fifo" else path.is_symlink())


def test_sysml_cache_that_is_a_file_exits_2(tmp_path, query, monkeypatch, capsys):
    rules = tmp_path / "rules.txt"
    rules.write_text("")
    monkeypatch.setenv("SYSML_CACHE", str(rules))
    assert main(["data", "build", "--scale", "0.0005"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "$SYSML_CACHE" in line and str(rules) in line and "not a directory" in line


def test_cache_dir_that_cannot_be_created_exits_2(tmp_path, query, capsys):
    below_a_file = tmp_path / "rules.txt" / "cache"
    below_a_file.parent.write_text("")
    assert main(["plan", str(query), "--cache-dir", str(below_a_file)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert str(below_a_file) in line and "cannot create" in line


def _unwritable_folder(tmp_path: Path, kind: str) -> Path:
    """A folder no file can be created in, or a skip where this machine has none."""
    if kind == "proc":
        folder = Path("/proc")
        if not folder.is_dir():
            pytest.skip("no /proc")
        return folder
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        pytest.skip("root writes in a read-only folder")
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


# Before: exit 1, 'internal error: IOException: IO Error: Cannot open file "/proc/.imdb_...tmp"',
# after a 'building ... (first use)' line.
@pytest.mark.parametrize("kind", ["proc", "read-only"])
@pytest.mark.parametrize("command", [["compare"], ["plan", "QUERY"], ["data", "build"]])
def test_a_cache_dir_no_file_can_be_written_in_is_one_line_exit_2(tmp_path, query, capsys,
                                                                    kind, command):
    folder = _unwritable_folder(tmp_path, kind)
    try:
        args = [str(query) if a == "QUERY" else a for a in command]
        assert main([*args, "--scale", "0.0005", "--cache-dir", str(folder)]) == 2
        out = capsys.readouterr()
        line = _one_line(out.err)
        assert line.startswith(f"deepquery: cannot write the database in {folder}: ")
        assert "cannot create a file there" in line and out.out == ""
    finally:
        if kind == "read-only":
            folder.chmod(0o755)


# --- interrupted builds -------------------------------------------------------------------------
def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


def test_interrupted_build_removes_its_temporary_file(tmp_path):
    path = database_path(TINY, tmp_path)
    seen: list[list[str]] = []

    def progress(step: str) -> None:
        if step == "bulk insert":  # the tables are in the temporary file by now
            seen.append(_leftovers(tmp_path))
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_database(path, TINY, progress)
    assert seen and any(name.endswith(".tmp") for name in seen[0])
    assert _leftovers(tmp_path) == [] and not path.exists()


@pytest.mark.parametrize("error", [
    KeyboardInterrupt(),
    duckdb.Error("Failed to create view '_df': KeyboardInterrupt: <EMPTY MESSAGE>"),
    "wrapped",  # RuntimeError('Query interrupted') raised from the KeyboardInterrupt
])
def test_interrupted_data_build_says_interrupted_and_leaves_no_temp_file(
        tmp_path, monkeypatch, capsys, error):
    def interrupted(con, rng):
        if error == "wrapped":
            try:
                raise KeyboardInterrupt
            except KeyboardInterrupt as e:
                raise RuntimeError("Query interrupted") from e
        raise error
    monkeypatch.setattr(generator, "plant_witnesses", interrupted)
    assert main(["data", "build", "--scale", "0.0005", "--cache-dir", str(tmp_path)]) == 1
    assert _one_line(capsys.readouterr().err) == "deepquery: interrupted"
    assert _leftovers(tmp_path) == []


def test_bulk_insert_scans_the_frames_on_one_duckdb_thread(tmp_path, monkeypatch):
    # With DuckDB's worker threads, Ctrl-C during the insert returned while a worker still ran
    # the pandas scan; it reached for the GIL as Python exited and the process aborted (SIGABRT,
    # "FATAL: exception not rethrown"): 14 of 60 builds interrupted at random in _write; 0 of
    # 60 with one thread.
    seen: list[tuple[str, int]] = []

    class Recording:
        def __init__(self, con):
            self._con = con

        def __getattr__(self, name):
            return getattr(self._con, name)

        def execute(self, sql, *args):
            if sql.startswith("INSERT INTO") or sql.startswith("SELECT"):
                threads = self._con.execute("SELECT current_setting('threads')").fetchone()[0]
                seen.append((sql.split()[0] + (" _df" if "FROM _df" in sql else ""), threads))
            return self._con.execute(sql, *args)

    real = duckdb.connect
    monkeypatch.setattr(generator.duckdb, "connect", lambda *a, **k: Recording(real(*a, **k)))
    build_database(database_path(ImdbConfig(scale=0.0005, seed=3), tmp_path),
                   ImdbConfig(scale=0.0005, seed=3))
    scans = [t for what, t in seen if what == "INSERT _df"]
    others = [t for what, t in seen if what != "INSERT _df"]  # the witnesses' queries
    assert len(scans) == 21 and set(scans) == {1}
    assert others and set(others) == {real(":memory:").execute(
        "SELECT current_setting('threads')").fetchone()[0]}


@pytest.mark.parametrize("sig, said", [("SIGINT", "interrupted"), ("SIGTERM", "terminated")])
def test_ctrl_c_during_the_bulk_insert_exits_1_and_the_next_build_starts_afresh(tmp_path, capsys,
                                                                               sig, said):
    # A real SIGINT (Ctrl-C) or SIGTERM (kill, timeout) while DuckDB inserts the third table from
    # pandas: the temporary database goes (SIGTERM's default left it, exit -15)
    script = (
        "import os, signal, sys\n"
        "from sysml_datasets.imdb import generator\n"
        "from deepquery.__main__ import main\n"
        "real, calls = generator.create_table_sql, []\n"
        "def create(name):\n"
        "    calls.append(name)\n"
        "    if len(calls) == 3:\n"
        f"        os.kill(os.getpid(), signal.{sig})\n"
        "    return real(name)\n"
        "generator.create_table_sql = create\n"
        "sys.exit(main(sys.argv[1:]))\n")
    args = ["data", "build", "--scale", "0.0005", "--seed", "3", "--cache-dir", str(tmp_path)]
    r = subprocess.run([sys.executable, "-c", script, *args], cwd=REPO, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 1 and _one_line(r.stderr) == f"deepquery: {said}", (r.returncode, r.stderr)
    assert list(tmp_path.iterdir()) == []
    assert main([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["built"] is True


def test_other_build_errors_stay_internal_errors(tmp_path, monkeypatch, capsys):
    def broken(con, rng):
        raise RuntimeError("Query failed")
    monkeypatch.setattr(generator, "plant_witnesses", broken)
    assert main(["data", "build", "--scale", "0.0005", "--cache-dir", str(tmp_path)]) == 1
    line = _one_line(capsys.readouterr().err)
    assert line == "deepquery: internal error: RuntimeError: Query failed"
    assert _leftovers(tmp_path) == []


def test_build_removes_temp_files_of_dead_builds_only(tmp_path):
    path = database_path(TINY, tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    stale = [tmp_path / f".{path.name}.{host}.{dead.pid}.tmp",
             tmp_path / f".{path.name}.{host}.{dead.pid}.tmp.wal"]
    live = tmp_path / f".{path.name}.{host}.{os.getppid()}.tmp"
    # another machine's build in a shared cache folder: its pid means nothing here
    other_host = tmp_path / f".{path.name}.{host}-elsewhere.example.org.{dead.pid}.tmp"
    for p in (*stale, live, other_host):
        p.write_bytes(b"x" * 100)
    build_database(path, TINY)
    assert path.is_file()
    assert _leftovers(tmp_path) == sorted([live.name, other_host.name])


# --- misleading messages ------------------------------------------------------------------------
def test_a_directory_as_the_query_file_says_so(tmp_path, imdb_cache, capsys):
    assert main(["plan", str(tmp_path), "--cache-dir", str(imdb_cache), "--scale", "0.002"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert str(tmp_path) in line and "is a directory" in line


@pytest.mark.parametrize("args, flag", [
    (["plan", ""], "file"),  # was 'deepquery: : is a directory, not a SQL file'
    (["compare", ""], "file"),
    (["plan", "{query}", "--db", ""], "--db"),
    (["plan", "{query}", "--cache-dir", ""], "--cache-dir"),
    (["data", "list", "--cache-dir", ""], "--cache-dir"),
    (["data", "build", "--cache-dir", "", "--scale", "0.0005"], "--cache-dir"),
])
def test_an_empty_path_flag_is_refused_not_taken_as_the_default(tmp_path, query, monkeypatch,
                                                                 capsys, args, flag):
    # --db "$DB" with DB unset planned on the synthetic IMDb, and --cache-dir "" used
    # $SYSML_CACHE, both without a word (exit 0).
    monkeypatch.setenv("SYSML_CACHE", str(tmp_path / "cache"))
    assert main([a.format(query=query) for a in args]) == 2
    assert _one_line(capsys.readouterr().err) == f"deepquery: {flag}: empty path"
    assert not (tmp_path / "cache").exists()


def test_a_query_file_that_is_not_utf8_names_the_line_and_column(tmp_path, imdb_cache, capsys):
    # It said "cannot read: 'utf-8' codec can't decode byte 0xe9 in position 55: invalid
    # continuation byte" (a byte offset, in Python's words).
    q = tmp_path / "latin1.sql"
    q.write_bytes("SELECT MIN(t.title)\nFROM title AS t\nWHERE t.title = 'é".encode()
                  + b"\xe9'")
    assert main(["plan", str(q), "--cache-dir", str(imdb_cache), "--scale", "0.002"]) == 2
    assert _one_line(capsys.readouterr().err) == (
        f"deepquery: {q}: line 3, column 19: not UTF-8 text (byte 0xe9)")


def test_a_query_file_with_a_byte_order_mark_plans(tmp_path, imdb_cache, capsys):
    # A UTF-8 file saved with a byte order mark (Windows editors) was a syntax error at column 1.
    q = tmp_path / "bom.sql"
    q.write_bytes(b"\xef\xbb\xbfSELECT MIN(t.title)\r\nFROM title AS t\r\n")
    assert main(["plan", str(q), "--cache-dir", str(imdb_cache), "--scale", "0.002",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["relations"] == ["t"]


@pytest.mark.skipif(not Path("/dev/fd").is_dir(), reason="no /dev/fd")
def test_a_query_read_from_a_pipe_plans(imdb_cache, capsys):
    # plan <(...) said "/dev/fd/63: no such file": only regular files were read.
    read, write = os.pipe()
    os.write(write, b"SELECT MIN(t.title) FROM title AS t WHERE t.production_year > 2000")
    os.close(write)
    try:
        assert main(["plan", f"/dev/fd/{read}", "--cache-dir", str(imdb_cache), "--scale",
                     "0.002", "--json"]) == 0
    finally:
        os.close(read)
    out = json.loads(capsys.readouterr().out)
    assert out["relations"] == ["t"]
    # named "63" after the descriptor's number, as if a file 63.sql: now the path given
    assert out["query"] == f"/dev/fd/{read}"


def _stdin(monkeypatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


@pytest.mark.parametrize("command", ["plan", "run", "compare"])
def test_dash_reads_the_query_from_stdin(imdb_cache, capsys, monkeypatch, command):
    # Old code: 'deepquery: -: no such file', exit 2 (only /dev/stdin read standard input).
    _stdin(monkeypatch, b"SELECT MIN(t.title) FROM title AS t WHERE t.production_year > 2000")
    args = [command, "-", "--cache-dir", str(imdb_cache), "--scale", "0.002"]
    assert main([*args, *(["--repeat", "1"] if command == "run" else []), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["query"] == "stdin"


@pytest.mark.parametrize(("data", "line"), [
    (b"SELECT MIN(t.title)\nFROM title AS t WHERE t.title = '\xe9'", "deepquery: stdin: line 2, "
     "column 34: not UTF-8 text (byte 0xe9)"),
    (b"", "deepquery: stdin: empty query"),
    (b"SELECT MIN(x.y) FROM nope AS x", "deepquery: stdin: unknown table: nope"),
])
def test_bad_input_on_stdin_is_one_line_exit_2(imdb_cache, capsys, monkeypatch, data, line):
    _stdin(monkeypatch, data)
    assert main(["plan", "-", "--cache-dir", str(imdb_cache), "--scale", "0.002"]) == 2
    assert _one_line(capsys.readouterr().err) == line


def test_dash_reads_stdin_in_a_real_pipe(imdb_cache):
    r = subprocess.run([sys.executable, "-m", "deepquery", "plan", "-", "--cache-dir",
                        str(imdb_cache), "--scale", "0.002", "--json"],
                       input="SELECT MIN(t.title) FROM title AS t", capture_output=True, text=True,
                       timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["relations"] == ["t"]
    r = subprocess.run([sys.executable, "-m", "deepquery", "plan", "-", "--cache-dir",
                        str(imdb_cache), "--scale", "0.002"], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 2 and _one_line(r.stderr) == "deepquery: stdin: empty query"


def test_a_query_file_is_named_by_its_stem(tmp_path, imdb_cache, capsys):
    q = tmp_path / "q17a.sql"
    q.write_text("SELECT MIN(t.title) FROM title AS t WHERE t.production_year > 2000")
    assert main(["plan", str(q), "--cache-dir", str(imdb_cache), "--scale", "0.002", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["query"] == "q17a"


@pytest.mark.parametrize("content", [b"city,temp\nOslo,3\n", b"", b"x" * 5000])
def test_a_db_that_is_not_duckdb_says_so(tmp_path, query, capsys, content):
    db = tmp_path / "temps.csv"
    db.write_bytes(content)
    assert main(["plan", str(query), "--db", str(db)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert str(db) in line and "not a DuckDB database" in line
    assert db.read_bytes() == content


def test_a_real_duckdb_file_still_opens(query, imdb_db, capsys):
    assert main(["plan", str(query), "--db", str(imdb_db), "--json"]) == 0


@pytest.mark.parametrize("sql", [
    "SELECT MIN(t.title) FROM title AS t WHERE t.id IN (SELECT movie_id FROM movie_info)",
    "SELECT MIN(t.title) FROM title AS t WHERE t.id IN (SELECT id FROM title)",
    "SELECT MIN(t.title) FROM title AS t WHERE EXISTS "
    "(SELECT 1 FROM movie_info AS mi WHERE mi.movie_id = t.id)",
    "SELECT MIN(t.title) FROM title AS t, (SELECT movie_id FROM movie_info) AS mi "
    "WHERE mi.movie_id = t.id",
    "SELECT (SELECT MAX(id) FROM title) FROM title AS t",
])
def test_subqueries_are_reported_as_unsupported(sql):
    schema = {"title": ("id", "title"), "movie_info": ("id", "movie_id")}
    with pytest.raises(QueryError, match="subqueries are not supported"):
        parse_query(sql, schema)


def test_subquery_through_the_cli(tmp_path, imdb_cache, capsys):
    q = tmp_path / "sub.sql"
    q.write_text("SELECT MIN(t.title) FROM title AS t "
                 "WHERE t.id IN (SELECT movie_id FROM movie_info)")
    assert main(["plan", str(q), "--cache-dir", str(imdb_cache), "--scale", "0.002"]) == 2
    assert "sub.sql: subqueries are not supported" in _one_line(capsys.readouterr().err)


@pytest.mark.parametrize("sql, where, near, why", [
    ("SELECT MIN(t.title) FROM title AS t WHERE t.title = ;", "line 1, column 51",
     "WHERE t.title = ;", "incomplete expression"),
    ("SELECT MIN(t.title)\nFROM title AS t\nWHERE t.title =\n;", "line 3, column 15",
     "WHERE t.title = ;", "incomplete expression"),
    ("SELECT MIN(t.title FROM title AS t", "line 1, column 23", "MIN(t.title FROM", "Expecting )"),
    # sqlglot's token repr ('<Token token_type: TokenType.WHERE, text: WHERE, line: 1, ...>')
    # was in the message
    ("SELECT MIN(t.title) FROM WHERE t.id = 1", "line 1, column 30", "FROM WHERE",
     "(Expected table name but got 'WHERE')"),
    ("SELECT MIN(t.title) FROM title AS t JOIN", "line 1, column 40", "title AS t JOIN",
     "(Expected table name but got the end of the query)"),
])
def test_syntax_errors_say_where_in_plain_words(sql, where, near, why):
    with pytest.raises(QueryError) as err:
        parse_query(sql)
    msg = str(err.value)
    assert msg.startswith(f"SQL syntax error at {where} near '") and near in msg and why in msg
    assert "sqlglot" not in msg and "\n" not in msg and "Token" not in msg


# --- argparse and --help ------------------------------------------------------------------------
@pytest.mark.parametrize("args, fragment", [
    (["plan", "q.sql", "--optimizer", "foo"], "argument --optimizer: invalid choice: 'foo'"),
    (["plan", "q.sql", "--seed", "x"], "argument --seed: invalid int value: 'x'"),
    (["data", "frob"], "invalid choice: 'frob'"),
    ([], "the following arguments are required: command"),
])
def test_argument_errors_are_one_line(tmp_path, args, fragment):
    r = _run(args, tmp_path)
    assert r.returncode == 2
    line = _one_line(r.stderr)
    assert line.startswith("deepquery: error: ") and fragment in line and "--help" in line


def test_help_still_prints_the_usage_and_describes_true_cards(tmp_path):
    r = _run(["plan", "--help"], tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("usage: python -m deepquery plan")
    text = " ".join(r.stdout.split())
    assert "message passing over the join tree" in text and "COUNT(*)" in text
    assert "minutes" not in text


def test_help_describes_the_command_in_plain_text_and_lists_the_exit_codes(tmp_path):
    # The description was the module docstring's first line, reST markup included
    # ("``python -m deepquery``: build ..."), and no help named the exit codes.
    for args in (["--help"], ["run", "--help"]):
        r = _run(args, tmp_path)
        text = " ".join(r.stdout.split())
        assert r.returncode == 0 and "``" not in text, args
        assert ("exit codes: 0 done; 1 internal error, Ctrl-C or SIGTERM, or run's two results DIFFER; "
                "2 bad input (one line on stderr); 3 run's two results differ but cannot be "
                "compared") in text, args


def test_console_script_usage_says_deepquery(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/usr/local/bin/deepquery"])
    assert build_parser().format_usage().startswith("usage: deepquery ")
    monkeypatch.setattr(sys, "argv", [str(REPO / "deepquery" / "__main__.py")])
    assert build_parser().format_usage().startswith("usage: python -m deepquery ")


# --- queries too large for exhaustive search ---------------------------------------------------
def _thirty_tables(tmp_path: Path) -> Path:
    """30 relations joined on one column: one equality class, so a 30-clique join graph."""
    tables = ["movie_info", "movie_keyword", "movie_companies", "cast_info", "movie_info_idx"]
    rels = ["title AS t"] + [f"{tables[i % len(tables)]} AS x{i}" for i in range(29)]
    q = tmp_path / "thirty.sql"
    q.write_text("SELECT MIN(t.title) FROM " + ", ".join(rels) + " WHERE "
                 + " AND ".join(f"t.id = x{i}.movie_id" for i in range(29)))
    return q


@pytest.mark.timeout(120)
def test_thirty_relations_plan_with_dp_is_refused_in_one_line(tmp_path, imdb_cache, capsys):
    q = _thirty_tables(tmp_path)
    assert main(["plan", str(q), "--cache-dir", str(imdb_cache), "--scale", "0.002"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "thirty.sql: dp:" in line and "30 relations" in line and "greedy" in line
    assert main(["plan", str(q), "--optimizer", "greedy", "--json",
                 "--cache-dir", str(imdb_cache), "--scale", "0.002"]) == 0


@pytest.mark.timeout(120)
def test_compare_reports_the_optimizers_that_can_plan_a_huge_query(tmp_path, imdb_cache, capsys,
                                                                  monkeypatch):
    from deepquery.optimizers import dpccp, linear_dp
    monkeypatch.setattr(dpccp, "MAX_JOIN_PAIRS", 20_000)  # refuse sooner: a faster test
    monkeypatch.setattr(linear_dp, "MAX_JOIN_PAIRS", 20_000)
    q = _thirty_tables(tmp_path)
    assert main(["compare", str(q), "--json", "--cache-dir", str(imdb_cache), "--scale", "0.002"]) == 0
    out = json.loads(capsys.readouterr().out)
    costs = {r["optimizer"]: r["cost"] for r in out["optimizers"]}
    assert [k for k, v in costs.items() if v is None] == ["dp", "left-deep", "right-deep", "zigzag"]
    assert all(costs[k] > 0 for k in ("greedy", "ikkbz", "quickpick", "random"))


@pytest.mark.timeout(120)
def test_compare_says_why_an_optimizer_was_skipped_whatever_the_file_is_called(
        tmp_path, imdb_cache, capsys, monkeypatch, caplog):
    # The reason was cut out of the error's text at the first "dp: ", which a path can hold too.
    from deepquery.optimizers import dpccp, linear_dp
    monkeypatch.setattr(dpccp, "MAX_JOIN_PAIRS", 20_000)
    monkeypatch.setattr(linear_dp, "MAX_JOIN_PAIRS", 20_000)
    folder = tmp_path / "dp: left-deep: queries"
    folder.mkdir()
    q = _thirty_tables(folder)
    assert main(["compare", str(q), "--cache-dir", str(imdb_cache), "--scale", "0.002"]) == 0
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert skipped == [f"{name} skipped: the join graph of 30 relations has more than 20,000 join "
                       "pairs to cost (exhaustive search is limited to that); use greedy, ikkbz "
                       "or quickpick" for name in ("dp", "left-deep", "right-deep", "zigzag")]


def test_compare_reports_a_query_duckdb_cannot_evaluate_not_a_refusal(tmp_path, imdb_cache,
                                                                      capsys):
    # DuckDB's error while counting true cardinalities was taken for every optimizer's refusal.
    q = tmp_path / "cast.sql"
    q.write_text("SELECT MIN(t.title) FROM title AS t, movie_companies AS mc "
                 "WHERE t.id = mc.movie_id AND t.title::INTEGER < mc.company_id")
    assert main(["compare", str(q), "--cards", "true", "--cache-dir", str(imdb_cache),
                 "--scale", "0.002"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "cast.sql: DuckDB: Conversion Error" in line


# --- nothing outside the database ----------------------------------------------------------------
@pytest.mark.parametrize("sql, fragment", [
    ("SELECT MIN(t.title) FROM title AS t WHERE t.title = (read_csv('/etc/passwd'))",
     "functions that read files are not accepted"),
    ("SELECT MIN(t.title) FROM title AS t WHERE t.title = (read_parquet('/tmp/x.parquet'))",
     "functions that read files are not accepted"),
    ("SELECT MIN(t.title) FROM other.title AS t", "only tables of the database's main schema"),
    ("SELECT MIN(t.title) FROM db.main.title AS t", "only tables of the database's main schema"),
])
def test_queries_reaching_outside_the_database_are_refused(sql, fragment):
    with pytest.raises(QueryError, match=fragment):
        parse_query(sql, {"title": ("id", "title")})


def test_main_schema_qualified_tables_are_accepted():
    g = parse_query("SELECT MIN(t.title) FROM main.title AS t", {"title": ("id", "title")})
    assert g.relations[0].table == "title"


def test_connections_cannot_read_files(imdb_db, tmp_path):
    from deepquery.database import connect
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    con = connect(imdb_db)
    with pytest.raises(duckdb.Error, match="disabled"):
        con.execute(f"SELECT * FROM read_csv('{secret}')").fetchall()
    con.close()


@pytest.mark.parametrize("sql, fragment", [
    ("SELECT MIN(t.title) FROM title AS t USING SAMPLE 10%", "SAMPLE in a query is not supported"),
    ("SELECT MIN(t.title) FROM title AS t TABLESAMPLE 10%", "SAMPLE on a table is not supported"),
    ("SELECT MIN(t.title) FROM title AS t FOR UPDATE", "LOCKS in a query is not supported"),
])
def test_clauses_the_planned_sql_could_not_keep_are_refused(sql, fragment):
    with pytest.raises(QueryError, match=fragment):
        parse_query(sql, {"title": ("id", "title")})


@pytest.mark.parametrize("sql, item", [
    ("SELECT MIN(t.title) FROM title AS t(a, b)", "title AS t(a, b)"),
    ("SELECT MIN(t.a) FROM title AS t(a)", "title AS t(a)"),
    ("SELECT MIN(t.title) FROM title AS t JOIN movie_info AS mi(x) ON t.id = mi.movie_id",
     "movie_info AS mi(x)"),
])
def test_column_aliases_on_a_table_are_refused_not_dropped(tmp_path, imdb_cache, capsys, sql, item):
    # Old code dropped them from the planned SQL: `plan` printed `FROM title AS t` and exited 0
    # for a query DuckDB refuses (t(a, b) renames id and title), and called t.a, which DuckDB
    # reads, an unknown column.
    q = tmp_path / "q.sql"
    q.write_text(sql)
    assert main(["plan", str(q), "--cache-dir", str(imdb_cache), "--scale", "0.002"]) == 2
    assert _one_line(capsys.readouterr().err) == (
        f"deepquery: {q}: column aliases on a table are not supported: {item}")


# --- DuckDB refusing a query, and Ctrl-C inside DuckDB --------------------------------------------
@pytest.mark.parametrize("cmd", [["plan", "--cards", "true"], ["run", "--repeat", "1"]])
def test_a_query_duckdb_cannot_evaluate_is_one_line_exit_2(tmp_path, imdb_cache, capsys, cmd):
    q = tmp_path / "cast.sql"
    q.write_text("SELECT MIN(t.title) FROM title AS t, movie_companies AS mc "
                 "WHERE t.id = mc.movie_id AND t.title::INTEGER < mc.company_id")
    # --cards true counts the theta join with COUNT(*) while planning: it was an internal error
    args = [cmd[0], str(q), *cmd[1:], "--cache-dir", str(imdb_cache), "--scale", "0.002"]
    assert main(args) == 2
    line = _one_line(capsys.readouterr().err)
    assert "cast.sql: DuckDB: Conversion Error" in line


@pytest.mark.parametrize("cmd", [["plan"], ["plan", "--cards", "true"], ["run", "--repeat", "1"]])
def test_a_query_that_fails_to_bind_is_refused_with_duckdbs_own_error(tmp_path, imdb_cache, capsys,
                                                                       cmd):
    # The planned SQL's bind failed inside the transaction of a result read with fetchone(), which
    # aborted it: the original query's bind then said "DuckDB: TransactionContext Error: Current
    # transaction is aborted (please ROLLBACK)", not what is wrong with the query.
    q = tmp_path / "limit.sql"
    q.write_text("SELECT MIN(t.title) FROM title AS t LIMIT 99999999999999999999999")
    args = [cmd[0], str(q), *cmd[1:], "--cache-dir", str(imdb_cache), "--scale", "0.002"]
    assert main(args) == 2
    assert _one_line(capsys.readouterr().err).startswith(
        f"deepquery: {q}: DuckDB: Conversion Error: Type INT128 with value "
        "99999999999999999999999 can't be cast")


def test_bind_raises_its_own_error_after_a_result_left_unfetched():
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT range AS id FROM range(3)")
    assert con.execute("SELECT count(*) FROM t").fetchone() == (3,)  # its transaction stays open
    for _ in range(2):
        with pytest.raises(duckdb.ConversionException):
            bind(con, "SELECT t.id FROM t LIMIT 99999999999999999999999")
    bind(con, "SELECT t.id FROM t LIMIT 2")


@pytest.mark.parametrize("cmd", [["plan"], ["compare"]])
def test_a_failed_command_leaves_the_cardinality_cache_unlocked(tmp_path, imdb_cache, capsys, cmd):
    # The cache was closed only on success: its write lock outlived a failed command, and the
    # next command in the same process waited 30 s for it, then went on without the file.
    import shutil
    import sqlite3
    from sysml_datasets.imdb import ImdbConfig
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copy(database_path(ImdbConfig(scale=0.002), imdb_cache), cache)
    q = tmp_path / "cast.sql"
    q.write_text("SELECT MIN(t.title) FROM title AS t, movie_companies AS mc, company_type AS ct "
                 "WHERE t.id = mc.movie_id AND ct.id = mc.company_type_id "
                 "AND t.title::INTEGER < mc.company_id")
    assert main([*cmd, str(q), "--cards", "true", "--cache-dir", str(cache),
                 "--scale", "0.002"]) == 2
    assert "Conversion Error" in _one_line(capsys.readouterr().err)
    con = sqlite3.connect(str(cache / "true_cards.sqlite"), timeout=0)
    con.execute("BEGIN IMMEDIATE")  # "database is locked" while the command's cache is open
    assert con.execute("SELECT count(*) FROM cards").fetchone()[0] > 0  # counts made are kept
    con.rollback()
    con.close()


def test_ctrl_c_inside_duckdb_during_run_is_an_interrupt(tmp_path, imdb_cache, capsys,
                                                          monkeypatch, query):
    import deepquery.__main__ as cli

    def interrupted(*args, **kwargs):
        raise duckdb.InterruptException("INTERRUPT Error: Interrupted!")
    monkeypatch.setattr(cli, "run_plan", interrupted)
    assert main(["run", str(query), "--cache-dir", str(imdb_cache), "--scale", "0.002"]) == 1
    assert _one_line(capsys.readouterr().err) == "deepquery: interrupted"


@pytest.mark.parametrize("join, words", [
    ("NATURAL JOIN movie_companies AS mc", "NATURAL JOIN"),
    ("SEMI JOIN movie_companies AS mc ON t.id = mc.movie_id", "SEMI JOIN"),
    ("ANTI JOIN movie_companies AS mc ON t.id = mc.movie_id", "ANTI JOIN"),
    ("ASOF JOIN movie_companies AS mc ON t.id >= mc.movie_id", "ASOF JOIN"),
    ("LEFT JOIN movie_companies AS mc ON t.id = mc.movie_id", "LEFT OUTER JOIN"),
])
def test_joins_that_are_not_inner_joins_are_refused(join, words):
    # NATURAL, SEMI, ANTI and ASOF joins were planned as inner joins (NATURAL as a cross
    # product), so the planned SQL returned other rows than the query.
    with pytest.raises(QueryError, match=f"{words} is not supported"):
        parse_query(f"SELECT MIN(t.title) FROM title AS t {join}", COLUMNS)


def test_inner_and_cross_join_syntax_is_accepted():
    for sql in ("SELECT MIN(t.title) FROM title AS t CROSS JOIN kind_type AS kt "
                "WHERE t.kind_id = kt.id",
                "SELECT MIN(t.title) FROM title AS t INNER JOIN kind_type AS kt ON t.kind_id = kt.id"):
        assert len(parse_query(sql, COLUMNS).edges) == 1


@pytest.mark.parametrize("text, where, what", [
    ("SELECT COUNT(*) FROM title t\x00", "line 1, column 29", "NUL character in the query"),
    ("SELECT COUNT(*)\x00 FROM title t", "line 1, column 16", "NUL character in the query"),
    ("SELECT COUNT(*)\nFROM title t WHERE t.title = 'a\x00'", "line 2, column 32", "NUL character in the query"),
    ("SELECT COUNT(*) FROM title t\x01", "line 1, column 29", "control character U+0001 in the query"),
    ("SELECT COUNT(*)\nFROM title t\nWHERE t.title = '\x1b'", "line 3, column 18", "control character U+001B"),
])
def test_a_control_character_in_the_query_is_one_line_with_line_and_column(tmp_path, imdb_cache, capsys,
                                                                            text, where, what):
    # A NUL at the end was exit 1, "internal error: ... the planned SQL does not bind in DuckDB:
    # Parser Error: unterminated quoted identifier" (DuckDB reads up to a NUL); one elsewhere was
    # DuckDB's syntax error without a position, and \x01 after an alias planned it as "t\x01".
    q = tmp_path / "ctl.sql"
    q.write_text(text)
    assert main(["plan", str(q), "--cache-dir", str(imdb_cache), "--scale", "0.002"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"deepquery: {q}: {where}: {what}"), line


def test_tab_form_feed_and_line_breaks_are_white_space_in_a_query(tmp_path, imdb_cache, capsys):
    q = tmp_path / "ws.sql"
    q.write_text("SELECT COUNT(*)\t\x0c\r\nFROM title t\rWHERE t.id > 0\n")
    assert main(["plan", str(q), "--cache-dir", str(imdb_cache), "--scale", "0.002"]) == 0


@pytest.mark.parametrize("args", [["data", "build"], ["data", "list"], ["plan", "q.sql"]])
@pytest.mark.parametrize("seed, shown", [(2**64, str(2**64)), (10**23 - 1, str(10**23 - 1)),
                                         (10**300, "a 301-digit number"), (-1, "-1")])
def test_a_seed_past_64_bits_is_one_line_exit_2_before_any_build(tmp_path, capsys, args, seed, shown):
    # numpy takes it, so a big seed quietly built another database, and one of 250 digits or
    # more named a file too long to create: "internal error: OSError: File name too long", exit 1
    assert main([*args, "--seed", str(seed), "--scale", "0.0005", "--cache-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"deepquery: seed must be in [0, 2**64 - 1], got {shown}\n"
    assert list(tmp_path.iterdir()) == []


def test_the_largest_64_bit_seed_names_its_database():
    config = ImdbConfig(scale=0.0005, seed=2**64 - 1)
    assert f"seed{2**64 - 1}_" in database_path(config, Path("/nonexistent")).name


class _EndlessStdin:
    """Standard input that never ends (``plan - < /dev/zero``): ``chunk`` repeated; reading it
    all, or more than 64 MiB of it, fails the test."""

    def __init__(self, chunk: bytes):
        self.chunk, self.read_bytes = chunk, 0
        self.buffer = self

    def read(self, size: int = -1) -> bytes:
        assert 0 <= size and self.read_bytes < 64 << 20, "read an endless stdin to its end"
        start = self.read_bytes % len(self.chunk)
        data = (self.chunk * (size // len(self.chunk) + 2))[start:start + size]
        self.read_bytes += len(data)
        return data


@pytest.mark.parametrize(("chunk", "line"), [
    (b"\0", "deepquery: stdin: line 1, column 1: NUL character in the query"),
    (b" \xff", "deepquery: stdin: line 1, column 2: not UTF-8 text (byte 0xff)"),
    # the first chunk is whole text; the control character comes after a few lines of it
    ("é\n".encode() * 400000 + b"\x01", ("deepquery: stdin: line 400001, column 1: control "
                                        "character U+0001 in the query")),
])
def test_a_query_stream_that_never_ends_is_refused_at_its_first_bad_byte(
        imdb_cache, capsys, monkeypatch, chunk, line):
    # Old code read the query file or stdin to its end before any check: `plan /dev/zero` or
    # `plan /dev/urandom` grew until the kernel killed it (24 GB, no message, exit 137).
    stdin = _EndlessStdin(chunk)
    monkeypatch.setattr(sys, "stdin", stdin)
    assert main(["plan", "-", "--cache-dir", str(imdb_cache), "--scale", "0.002"]) == 2
    assert _one_line(capsys.readouterr().err).startswith(line)
    assert stdin.read_bytes <= 4 << 20


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs")
def test_a_query_file_that_never_ends_is_read_only_up_to_its_first_bad_byte(tmp_path, imdb_cache,
                                                                             capsys):
    # A FIFO stands for /dev/zero: old code read all of it (64 MiB here; /dev/zero: until the
    # kernel killed it) before saying the query holds a NUL.
    fifo = tmp_path / "zero.sql"
    os.mkfifo(fifo)
    written = []

    def write() -> None:
        with contextlib.suppress(BrokenPipeError), open(fifo, "wb") as f:
            for _ in range(64):
                f.write(bytes(1 << 20))
                written.append(1)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    assert main(["plan", str(fifo), "--cache-dir", str(imdb_cache), "--scale", "0.002"]) == 2
    assert _one_line(capsys.readouterr().err).startswith(
        f"deepquery: {fifo}: line 1, column 1: NUL character in the query")
    writer.join(60)
    assert len(written) < 64


@pytest.mark.parametrize("command", ["data build", "plan"])
def test_a_cache_dir_that_cannot_be_made_leaves_no_folder_it_made(tmp_path, query, capsys, command):
    # mkdir(parents=True) makes the parents before it fails on a name past 255 bytes: the refusal
    # left them behind (old: there/new/sub, empty); a folder that was there stays
    there = tmp_path / "there"
    there.mkdir()
    cache = there / "new" / "sub" / ("a" * 300) / "y"
    args = ["data", "build"] if command == "data build" else ["plan", str(query)]
    assert main([*args, "--cache-dir", str(cache), "--scale", "0.0005"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "too long" in err, err
    assert there.is_dir() and list(there.iterdir()) == []


def test_a_duckdb_internal_error_is_duckdbs_bug_exit_1_not_bad_input(tmp_path, imdb_cache,
                                                                     monkeypatch, capsys):
    # DuckDB 1.5.6 fails a QUALIFY row_number() = 1 over a self-join in one FROM order with
    # 'INTERNAL Error: Failed to cast expression to type' (its top_n_window_elimination), the
    # user's query as written or a plan's: run said bad input (exit 2) for a valid query
    import deepquery.__main__ as cli

    def internal(*args, **kwargs):
        raise duckdb.InternalException("INTERNAL Error: Failed to cast expression to type - "
                                       "expression type mismatch")
    monkeypatch.setattr(cli, "run_plan", internal)
    q = tmp_path / "q.sql"
    q.write_text("SELECT MIN(t.title) FROM title AS t, movie_companies AS mc "
                 "WHERE t.id = mc.movie_id")
    assert main(["run", str(q), "--cache-dir", str(imdb_cache), "--scale", "0.002"]) == 1
    assert _one_line(capsys.readouterr().err) == (
        f"deepquery: internal error: {q}: a DuckDB bug, not the query's fault: INTERNAL Error: "
        "Failed to cast expression to type - expression type mismatch")
