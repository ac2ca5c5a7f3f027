"""The CLI's database handles: the database a command opens is closed on every path, and a
finished database that cannot be read back is one line, exit 2."""
from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import duckdb
import pytest
from sysml_datasets.imdb import ImdbConfig, build_database, database_path

import deepquery.__main__ as cli
from deepquery.__main__ import main

from .dq_helpers import TINY, TINY_FLAGS, held_open_for_writing
from .dq_helpers import one_line as _one_line



# --- data build reads the finished database back ------------------------------------------------
@pytest.mark.parametrize("written", [b"not a database at all" * 100, "no metadata"])
def test_data_build_that_cannot_read_the_finished_file_is_one_line_exit_2(
        tmp_path, monkeypatch, capsys, written):
    def build(config, path):  # the file in place is not (or no longer) a readable database
        if written == "no metadata":
            duckdb.connect(str(path)).close()
        else:
            path.write_bytes(written)
        return path
    monkeypatch.setattr(cli, "_build", build)
    assert main(["data", "build", *TINY_FLAGS, "--cache-dir", str(tmp_path)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert str(database_path(TINY, tmp_path)) in line and "internal error" not in line


# Before: exit 2 with json's bare 'Expecting value: line 1 column 1 (char 0)' (no file named);
# a report that was JSON but no object was printed as the report; one nested past Python's
# recursion limit was "internal error: RecursionError: ...", exit 1.
@pytest.mark.parametrize("report", ["not json {", "[1, 2]", None, "[" * 5000])
def test_data_build_of_a_database_with_a_damaged_witness_report_names_the_file(
        tmp_path, capsys, report):
    path = build_database(database_path(TINY, tmp_path), TINY)
    con = duckdb.connect(str(path))
    con.execute("UPDATE _sysml_meta SET value = ? WHERE key = 'witness_report'", [report])
    con.close()
    assert main(["data", "build", *TINY_FLAGS, "--cache-dir", str(tmp_path)]) == 2
    out = capsys.readouterr()
    assert _one_line(out.err) == (
        f"deepquery: {path}: its witness report (_sysml_meta 'witness_report') is not a JSON "
        "object: the file is damaged; data build --force rebuilds it")
    assert out.out == ""
    assert main(["data", "build", *TINY_FLAGS, "--cache-dir", str(tmp_path), "--force",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["witness_report"]["literal_cells"] > 0


# --- every command closes the connection it opened ----------------------------------------------
class _Recorded:
    """A DuckDB connection that records whether it was closed."""

    opened: ClassVar[list[_Recorded]] = []

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        self.closed = False
        _Recorded.opened.append(self)

    def close(self) -> None:
        self.closed = True
        self._con.close()

    def __getattr__(self, name: str):
        return getattr(self._con, name)


@pytest.fixture()
def recorded(monkeypatch) -> list[_Recorded]:
    real = cli.connect
    _Recorded.opened = []
    monkeypatch.setattr(cli, "connect", lambda path: _Recorded(real(path)))
    return _Recorded.opened


def _query(tmp_path: Path, sql: str) -> str:
    q = tmp_path / "q.sql"
    q.write_text(sql)
    return str(q)


GOOD = "SELECT MIN(t.title) FROM title AS t, movie_companies AS mc WHERE t.id = mc.movie_id"


@pytest.mark.parametrize("command", [["plan"], ["run", "--repeat", "1"], ["compare"],
                                     ["plan", "--cards", "true"]])
def test_a_command_closes_its_database_connection(tmp_path, imdb_db, recorded, command):
    assert main([*command, _query(tmp_path, GOOD), "--db", str(imdb_db),
                 "--cache-dir", str(tmp_path)]) == 0
    assert recorded and all(c.closed for c in recorded)


@pytest.mark.parametrize("sql", [
    "SELECT MIN(t.nope) FROM title AS t",  # parse_query refuses it
    "SELECT MIN(t.title) FROM title AS t WHERE t.title::INT > 1",  # DuckDB refuses it
])
def test_a_refused_query_closes_the_database_connection(tmp_path, imdb_db, recorded, capsys, sql):
    assert main(["run", _query(tmp_path, sql), "--db", str(imdb_db), "--repeat", "1",
                 "--cards", "true", "--cache-dir", str(tmp_path)]) == 2
    _one_line(capsys.readouterr().err)
    assert recorded and all(c.closed for c in recorded)


def test_ctrl_c_while_planning_closes_the_database_connection(tmp_path, imdb_db, recorded,
                                                               monkeypatch, capsys):
    def interrupted(name):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "get_optimizer", interrupted)
    assert main(["plan", _query(tmp_path, GOOD), "--db", str(imdb_db)]) == 1
    assert _one_line(capsys.readouterr().err) == "deepquery: interrupted"
    assert recorded and all(c.closed for c in recorded)


def test_after_a_command_the_database_opens_read_write_in_the_same_process(tmp_path, imdb_db):
    import shutil
    db = tmp_path / "copy.duckdb"
    shutil.copy(imdb_db, db)
    assert main(["plan", _query(tmp_path, GOOD), "--db", str(db)]) == 0
    duckdb.connect(str(db)).close()  # refused while a read-only handle on it is open


@pytest.mark.parametrize("command, config", [
    (["data", "build", *TINY_FLAGS], TINY),
    (["plan", "q.sql", *TINY_FLAGS[:4]], ImdbConfig(scale=0.0005, seed=3)),  # plan plants witnesses
])
def test_a_cached_database_another_process_holds_for_writing_is_one_line_exit_2(
        tmp_path, capsys, command, config):
    # DuckDB refuses a read-only open while another process writes to the file: that was taken
    # for a damaged file, and the database was rebuilt and replaced under the other process.
    import hashlib

    from sysml_datasets.imdb import build_database
    (tmp_path / "q.sql").write_text(GOOD)
    path = build_database(database_path(config, tmp_path), config)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with held_open_for_writing(path):
        args = [str(tmp_path / a) if a == "q.sql" else a for a in command]
        assert main([*args, "--cache-dir", str(tmp_path)]) == 2
        line = _one_line(capsys.readouterr().err)
        assert str(path) in line and "lock" in line
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
