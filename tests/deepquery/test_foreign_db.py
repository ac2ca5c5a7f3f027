"""Databases deepquery did not build (``--db``) or whose metadata is damaged: another tool's
``_sysml_meta``, join columns of types numpy cannot compare exactly. Planning goes on with right
counts or the database is rebuilt; never an internal error or a numpy message."""
from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from sysml_datasets.imdb import build_database, database_path

from deepquery import TableStats, TrueCardinality, connect, parse_query
from deepquery.__main__ import main
from deepquery.database import fingerprint, schema_of

from .dq_helpers import TINY, TINY_FLAGS
from .dq_helpers import one_line as _one_line

QUERY = ("SELECT MIN(t.title) FROM title AS t, movie_companies AS mc "
         "WHERE t.id = mc.movie_id AND t.production_year > 2000")


def _foreign(path: Path, id_type: str, title_ids: list[str], movie_ids: list[str],
             meta: str | None = None) -> Path:
    con = duckdb.connect(str(path))
    title_type, _, movie_type = id_type.partition("|")  # "A|B": title.id A, movie_id B
    con.execute(f"CREATE TABLE title (id {title_type}, title VARCHAR, production_year INTEGER)")
    con.execute(f"CREATE TABLE movie_companies (movie_id {movie_type or title_type})")
    for v in title_ids:
        con.execute(f"INSERT INTO title VALUES ({v}, 'x', 2001)")
    for v in movie_ids:
        con.execute(f"INSERT INTO movie_companies VALUES ({v})")
    if meta is not None:
        value_type = "INTEGER" if meta.isdigit() else "VARCHAR"
        con.execute(f"CREATE TABLE _sysml_meta (key VARCHAR, value {value_type})")
        con.execute(f"INSERT INTO _sysml_meta VALUES ('fingerprint', {meta})")
    con.close()
    return path


def _plan_true(tmp_path: Path, db: Path, capsys) -> tuple[int, str, str]:
    q = tmp_path / "q.sql"
    q.write_text(QUERY)
    rc = main(["plan", str(q), "--db", str(db), "--cards", "true", "--json",
               "--cache-dir", str(tmp_path / "cache")])
    out = capsys.readouterr()
    return rc, out.out, out.err


# Before: LIST gave exit 2 with numpy's "truth value of an array ... is ambiguous", MAP and
# STRUCT exit 1 "internal error: TypeError: '<' not supported between ... 'dict'".
@pytest.mark.parametrize("id_type, a, b", [
    ("INTEGER[]", "[1, 2]", "[1]"),
    ("MAP(INTEGER, INTEGER)", "MAP {1: 2}", "MAP {1: 3}"),
    ("STRUCT(a INTEGER)", "{'a': 1}", "{'a': 2}"),
])
def test_true_cards_join_on_nested_types_by_count_star(tmp_path, capsys, id_type, a, b):
    db = _foreign(tmp_path / "f.duckdb", id_type, [a, b, a], [a, a, b])
    rc, out, err = _plan_true(tmp_path, db, capsys)
    assert rc == 0, err
    assert '"rows": 5.0' in out  # a: 2 titles x 2 companies, b: 1 x 1


def test_true_cards_never_merge_integers_float64_cannot_tell_apart(tmp_path):
    # BIGINT and UBIGINT in one class came back as one float64 array: 2**53 and 2**53 + 1 were
    # one value, and the factorized count said 2 where the join has 1 row.
    db = _foreign(tmp_path / "f.duckdb", "BIGINT|UBIGINT", [str(2 ** 53), str(2 ** 53 + 1)],
                  [str(2 ** 53 + 1)])
    con = connect(db)
    try:
        graph = parse_query(QUERY, schema_of(con), "q")
        cards = TrueCardinality(graph, TableStats(con), "fp")
        assert cards.card(0b11) == 1.0
    finally:
        con.close()


# Before: a value that is not text was exit 1 "internal error: TypeError: the JSON object must
# be str ..." or "unhashable type: 'dict'"; text that is not JSON exit 2 with json's bare
# "Expecting value: line 1 column 1 (char 0)"; JSON nested past Python's recursion limit was
# "internal error: RecursionError: ...", exit 1.
@pytest.mark.parametrize("meta", ["5", "'not json'", """'{"a": 1}'""", "'" + "[" * 5000 + "'"])
def test_another_tools_sysml_meta_is_no_fingerprint(tmp_path, capsys, meta):
    db = _foreign(tmp_path / "f.duckdb", "INTEGER", ["1", "2"], ["1", "1"], meta=meta)
    rc, out, err = _plan_true(tmp_path, db, capsys)
    assert rc == 0, err
    assert '"rows": 2.0' in out
    con = connect(db)
    try:
        fp = fingerprint(con, db)
    finally:
        con.close()
    assert isinstance(fp, str) and len(fp) == 16


@pytest.fixture(scope="module")
def tiny_db(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny")
    return build_database(database_path(TINY, folder), TINY)


# Before: exit 1 "internal error: TypeError: the JSON object must be str ..." (an INTEGER
# value) or exit 2 "Expecting value: line 1 column 1 (char 0)": the file was never rebuilt.
@pytest.mark.parametrize("value", ["5", "'not json'"])
def test_a_cached_database_with_damaged_metadata_is_rebuilt(tmp_path, tiny_db, capsys, value):
    path = database_path(TINY, tmp_path)
    shutil.copy(tiny_db, path)
    con = duckdb.connect(str(path))
    con.execute("DROP TABLE _sysml_meta")
    value_type = "INTEGER" if value.isdigit() else "VARCHAR"
    con.execute(f"CREATE TABLE _sysml_meta (key VARCHAR, value {value_type})")
    con.execute(f"INSERT INTO _sysml_meta VALUES ('fingerprint', {value})")
    con.close()
    assert main(["data", "build", *TINY_FLAGS, "--cache-dir", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "rebuilding" in _one_line(err) and "metadata" in err
