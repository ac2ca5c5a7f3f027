"""Implied equalities only where DuckDB's ``=`` is transitive: ``a.id = b.aid AND a.id = c.aid``
implies ``b.aid = c.aid`` when the three columns are of one domain (one type, and one collation
or none), not under ``a.id VARCHAR COLLATE NOCASE`` with uncollated b.aid and c.aid ('A'
equals 'a' and 'A', which differ), nor across types DuckDB casts (INTEGER 1 equals VARCHAR '01'
and '1'; DOUBLE 2^53 equals BIGINT 2^53 + 1 and 2^53). Every count, by both methods, and every
join order's planned SQL must give DuckDB's result for the query as written."""
from __future__ import annotations

import itertools
from pathlib import Path

import duckdb
import pytest

from deepquery import TableStats, TrueCardinality, connect, parse_query
from deepquery.cost_models import get_cost_model
from deepquery.database import primary_keys, schema_of
from deepquery.execute import run_plan
from deepquery.join_tree import from_nested
from deepquery.query_graph import QueryError

from .dq_helpers import deepquery_cli

THREE = "SELECT count(*) FROM a, b, c WHERE a.id = b.aid AND a.id = c.aid"

CASES = {
    # (a.id's type, b.aid's and c.aid's type, a's, b's, c's values): one row matches as written
    "nocase": ("VARCHAR COLLATE NOCASE", "VARCHAR", "'A'", "'a'", "'A'"),
    "noaccent": ("VARCHAR COLLATE NOACCENT", "VARCHAR", "'e'", "'é'", "'e'"),
    "integer = varchar": ("INTEGER", "VARCHAR", "1", "'01'", "'1'"),
    "double = bigint": ("DOUBLE", "BIGINT", "9007199254740992", "9007199254740993",
                        "9007199254740992"),
    "double = decimal": ("DOUBLE", "DECIMAL(20, 0)", "1e19", "10000000000000000000",
                         "10000000000000000001"),
}


def _database(path: Path, a_type: str, bc_type: str, a: str, b: str, c: str) -> Path:
    con = duckdb.connect(str(path))
    con.execute(f"CREATE TABLE a(id {a_type}, x INTEGER)")
    con.execute(f"CREATE TABLE b(aid {bc_type}, y INTEGER)")
    con.execute(f"CREATE TABLE c(aid {bc_type}, z INTEGER)")
    con.execute(f"INSERT INTO a VALUES ({a}, 1)")
    con.execute(f"INSERT INTO b VALUES ({b}, 2)")
    con.execute(f"INSERT INTO c VALUES ({c}, 3)")
    con.close()
    return path


def _trees(aliases: tuple[str, ...]):
    """Every join tree over ``aliases`` (each order of each split)."""
    if len(aliases) == 1:
        yield aliases[0]
        return
    for k in range(1, len(aliases)):
        for left in itertools.combinations(aliases, k):
            right = tuple(x for x in aliases if x not in left)
            for lt in _trees(left):
                for rt in _trees(right):
                    yield [lt, rt]


def _assert_as_written(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Both counting methods count the query's rows, and every join order returns them."""
    expected = con.execute(sql).fetchone()[0]
    g = parse_query(sql, schema_of(con))
    stats = TableStats(con)
    for method in ("auto", "sql"):
        cards = TrueCardinality(g, stats, "fp", method=method)
        assert cards.card(g.full_mask) == expected, method
    model = get_cost_model("cm1")
    for nested in _trees(g.aliases):
        tree = from_nested(nested, g, cards, model)
        assert run_plan(con, g, tree).same_result, nested


def _assert_one_row_from_the_joins_as_written(con: duckdb.DuckDBPyConnection) -> None:
    """THREE's one row, DuckDB's count, with no implied edge, by both counting methods and every
    join order; closes ``con``."""
    assert con.execute(THREE).fetchone()[0] == 1
    g = parse_query(THREE, schema_of(con))
    assert not any(e.implied for e in g.edges)
    _assert_as_written(con, THREE)
    con.close()


@pytest.mark.parametrize("case", list(CASES))
def test_no_implied_edge_across_domains(tmp_path, case):
    # Old code: b.aid = c.aid was implied, so both methods counted 0 rows where DuckDB counts
    # 1, and plans joining b to c first returned none.
    con = connect(_database(tmp_path / "t.duckdb", *CASES[case]))
    _assert_one_row_from_the_joins_as_written(con)


def test_no_implied_filter_across_domains(tmp_path):
    # a.id = b.x AND a.id = b.y implied the filter b.x = b.y: 'a' <> 'A', so the old code
    # counted 0 rows where DuckDB counts 1.
    con = duckdb.connect(str(tmp_path / "t.duckdb"))
    con.execute("CREATE TABLE a(id VARCHAR COLLATE NOCASE, v INTEGER)")
    con.execute("CREATE TABLE b(x VARCHAR, y VARCHAR)")
    con.execute("INSERT INTO a VALUES ('A', 1)")
    con.execute("INSERT INTO b VALUES ('a', 'A')")
    con.close()
    con = connect(tmp_path / "t.duckdb")
    sql = "SELECT count(*) FROM a, b WHERE a.id = b.x AND a.id = b.y"
    assert con.execute(sql).fetchone()[0] == 1
    assert parse_query(sql, schema_of(con)).filters == ((), ())
    _assert_as_written(con, sql)
    con.close()


def test_a_view_that_collates_is_a_domain_of_its_own(tmp_path):
    # The view's column compares under NOCASE; a.id and c.aid do not.
    db = _database(tmp_path / "t.duckdb", "VARCHAR", "VARCHAR", "'a'", "'x'", "'A'")
    con = duckdb.connect(str(db))
    con.execute("CREATE VIEW v AS SELECT aid COLLATE NOCASE AS aid FROM b")
    con.execute("UPDATE b SET aid = 'A'")
    con.close()
    con = connect(db)
    sql = "SELECT count(*) FROM a, v, c WHERE v.aid = a.id AND v.aid = c.aid"
    assert con.execute(sql).fetchone()[0] == 1
    _assert_as_written(con, sql)
    con.close()


def test_a_class_of_one_domain_keeps_its_implied_edges(tmp_path):
    # Integers of any width compare exactly, and so do uncollated VARCHARs (also under a
    # connection's default_collation, which applies to all of them): the edge stays implied.
    for a_type, bc_type, values in (("INTEGER", "BIGINT", ("1", "1", "1")),
                                    ("VARCHAR", "VARCHAR", ("'A'", "'A'", "'A'"))):
        db = _database(tmp_path / f"{a_type}.duckdb", a_type, bc_type, *values)
        con = connect(db)
        g = parse_query(THREE, schema_of(con))
        assert [(e.left_column, e.right_column) for e in g.edges if e.implied] == [("aid", "aid")]
        _assert_as_written(con, THREE)
        con.close()


def test_run_says_equal_for_a_nocase_class(tmp_path):
    db = _database(tmp_path / "t.duckdb", *CASES["nocase"])
    query = tmp_path / "q.sql"
    query.write_text(THREE + ";\n")
    for cards in ("true", "estimated"):
        r = deepquery_cli("run", str(query), "--db", str(db), "--cards", cards,
                          cache=tmp_path / "cache")
        assert r.returncode == 0, r.stderr
        assert "results equal (1 rows)" in r.stdout, r.stdout


@pytest.mark.parametrize(("collation", "values"), [
    ("NOCASE", ("'A'", "'a'", "'A'")),
    ("nocase", ("'A'", "'a'", "'A'")),
    ("NOACCENT", ("'e'", "'é'", "'e'")),
    ("nocase.noaccent", ("'É'", "'e'", "'E'")),
])
def test_columns_of_one_collation_keep_their_implied_edges(tmp_path, collation, values):
    # DuckDB compares two columns of one collation by the key it makes of each value (lower
    # case, accents stripped): an equivalence, so b.aid = c.aid follows. Old code: every
    # collated column was a domain of its own, and the class lost its implied edge.
    db = _database(tmp_path / "t.duckdb", f"VARCHAR COLLATE {collation}",
                   f"VARCHAR COLLATE {collation}", *values)
    con = connect(db)
    assert con.execute(THREE).fetchone()[0] == 1
    g = parse_query(THREE, schema_of(con))
    assert [(e.left_column, e.right_column) for e in g.edges if e.implied] == [("aid", "aid")]
    _assert_as_written(con, THREE)
    con.close()


def test_a_collated_column_and_an_uncollated_one_are_two_domains(tmp_path):
    # a.id and b.aid NOCASE, c.aid plain: a.id = c.aid compares under NOCASE, c.aid has no
    # collation of its own, so b.aid = c.aid is not implied (it is a class of its own).
    con = duckdb.connect(str(tmp_path / "t.duckdb"))
    con.execute("CREATE TABLE a(id VARCHAR COLLATE NOCASE, x INTEGER)")
    con.execute("CREATE TABLE b(aid VARCHAR COLLATE NOCASE, y INTEGER)")
    con.execute("CREATE TABLE c(aid VARCHAR, z INTEGER)")
    con.execute("INSERT INTO a VALUES ('A', 1)")
    con.execute("INSERT INTO b VALUES ('a', 2)")
    con.execute("INSERT INTO c VALUES ('A', 3)")
    con.close()
    con = connect(tmp_path / "t.duckdb")
    _assert_one_row_from_the_joins_as_written(con)


def test_a_collation_elsewhere_in_a_column_definition_is_a_domain_of_its_own(tmp_path):
    # A COLLATE in a default is not read as the column's collation: no domain is shared.
    con = duckdb.connect(str(tmp_path / "t.duckdb"))
    con.execute("CREATE TABLE a(id VARCHAR COLLATE NOCASE, x INTEGER)")
    for t in ("b", "c"):
        con.execute(f"CREATE TABLE {t}(aid VARCHAR DEFAULT ('x' COLLATE NOCASE), y INTEGER)")
    con.close()
    con = connect(tmp_path / "t.duckdb")
    domains = schema_of(con).domains
    assert domains[("a", "id")] == "VARCHAR COLLATE NOCASE"
    assert domains[("b", "aid")] != domains[("c", "aid")]
    assert not any(e.implied for e in parse_query(THREE, schema_of(con)).edges)
    con.close()


def test_a_table_of_an_attached_database_does_not_change_the_schema(tmp_path):
    # A library caller's connection with another database attached: information_schema lists
    # its tables under 'main' too (after the database's own when its name sorts after it).
    # Old code: z.a's VARCHAR id made a.id (INTEGER) a VARCHAR, one domain with b.aid and
    # c.aid, so b.aid = c.aid was implied ('01' <> '1': DuckDB counts 1) and the message-passing
    # count raised TypeError sorting str with int; a.other, z.a's only, was a column of a.
    db = _database(tmp_path / "t.duckdb", *CASES["integer = varchar"])
    other = duckdb.connect(str(tmp_path / "o.duckdb"))
    other.execute("CREATE TABLE a(id VARCHAR, other INTEGER)")
    other.close()
    con = duckdb.connect(str(db), read_only=True)  # deepquery's connect allows no ATTACH
    con.execute(f"ATTACH '{tmp_path / 'o.duckdb'}' AS z (READ_ONLY)")
    schema = schema_of(con)
    assert schema["a"] == ("id", "x")
    assert schema.domains[("a", "id")] == "integer"
    assert not any(e.implied for e in parse_query(THREE, schema).edges)
    _assert_as_written(con, THREE)
    con.close()


@pytest.mark.parametrize("search", ["SET schema = 'o'", "SET search_path = 'o'", "USE t.o"])
def test_the_schema_is_of_the_tables_the_search_path_reads(tmp_path, search):
    # A library caller's connection whose search path is schema o: DuckDB reads o.a and o.b,
    # and main.c (o has none). Old code read main's a, b and c, all VARCHAR: one domain, so
    # b.aid = c.aid was implied ('01' <> '1': DuckDB counts 1), a.other was a column of a and
    # main.b's primary key was o.b's.
    db = tmp_path / "t.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE a(id VARCHAR, other INTEGER)")
    con.execute("CREATE TABLE b(aid VARCHAR PRIMARY KEY, y INTEGER)")
    con.execute("CREATE TABLE c(aid VARCHAR, z INTEGER)")
    con.execute("CREATE SCHEMA o")
    con.execute("CREATE TABLE o.a(id INTEGER, x INTEGER)")
    con.execute("CREATE TABLE o.b(aid VARCHAR, y INTEGER)")
    con.execute("INSERT INTO o.a VALUES (1, 1)")
    con.execute("INSERT INTO o.b VALUES ('01', 2)")
    con.execute("INSERT INTO c VALUES ('1', 3)")
    con.close()
    con = connect(db)
    con.execute(search)
    schema = schema_of(con)
    assert (schema["a"], schema["b"], schema["c"]) == (("id", "x"), ("aid", "y"), ("aid", "z"))
    assert schema.domains[("a", "id")] == "integer"
    assert primary_keys(con) == {}
    assert not any(e.implied for e in parse_query(THREE, schema).edges)
    _assert_as_written(con, THREE)
    # with a longer search path every entry is read, in order: c is main's (test_search_path)
    con.execute("SET search_path = 'o,main'")
    assert schema_of(con) == schema
    con.close()


def test_main_dot_a_is_refused_where_the_search_path_reads_another_a(tmp_path):
    # Under SET schema = 'o' DuckDB reads main.a for 'main.a' but o.a for 'a', which is what
    # deepquery's counts and planned SQL write. Old code: 'main.a' was taken for a, counted 1
    # (o.a's row) where DuckDB counts 3.
    db = _database(tmp_path / "t.duckdb", "INTEGER", "INTEGER", "1", "1", "1")
    con = duckdb.connect(str(db))
    con.execute("INSERT INTO a VALUES (1, 2), (1, 3)")
    con.execute("CREATE SCHEMA o")
    con.execute("CREATE TABLE o.a(id INTEGER, x INTEGER)")
    con.execute("INSERT INTO o.a VALUES (1, 1)")
    con.close()
    con = connect(db)
    con.execute("SET schema = 'o'")
    schema = schema_of(con)
    sql = "SELECT count(*) FROM main.a, b WHERE a.id = b.aid"
    assert con.execute(sql).fetchone()[0] == 3
    with pytest.raises(QueryError, match="the connection reads a from another schema than main"):
        parse_query(sql, schema)
    # main.b is b (o has none), and a temporary a is what both names read
    _assert_as_written(con, "SELECT count(*) FROM a, main.b WHERE a.id = b.aid")
    con.execute("CREATE TEMP TABLE a AS SELECT 1 AS id, 1 AS x")
    _assert_as_written(con, sql)
    con.close()


@pytest.mark.parametrize("kind", ["TABLE", "VIEW"])
def test_the_schema_is_of_the_temporary_table_that_hides_the_databases(tmp_path, kind):
    # A library caller's connection with a temporary a: DuckDB reads it, not main.a. Old code
    # read main.a's VARCHAR id: one domain with b.aid and c.aid, so b.aid = c.aid was implied
    # ('01' <> '1': DuckDB counts 1; COUNT(*) counted 0, message passing raised TypeError).
    db = _database(tmp_path / "t.duckdb", "VARCHAR", "VARCHAR", "'1'", "'01'", "'1'")
    con = connect(db)
    con.execute(f"CREATE TEMP {kind} a AS SELECT 1::INTEGER AS id, 1 AS x")
    schema = schema_of(con)
    assert schema.domains[("a", "id")] == "integer"
    assert not any(e.implied for e in parse_query(THREE, schema).edges)
    _assert_as_written(con, THREE)
    con.close()
