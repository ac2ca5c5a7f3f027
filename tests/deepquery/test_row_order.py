"""Results that may depend on row order: found when parsing, and ``run`` says "not comparable"
for them instead of a false DIFFER."""
from __future__ import annotations

import dataclasses
import json

import duckdb
import pytest

import deepquery.__main__ as cli
from deepquery import (
    EstimatedCardinality,
    TableStats,
    connect,
    get_cost_model,
    parse_query,
)
from deepquery.database import key_domains, primary_keys, schema_of
from deepquery.execute import run_plan
from deepquery.join_tree import from_nested
from deepquery.row_order import order_dependence, row_keys

from .dq_helpers import run_plan_single_threaded

BASE = "FROM title AS t, movie_companies AS mc WHERE t.id = mc.movie_id AND t.id < 3000"

ORDER_DEPENDENT = [
    "SELECT t.kind_id, list(mc.id) {b} GROUP BY t.kind_id",
    "SELECT t.kind_id, string_agg(mc.note, ',') {b} GROUP BY t.kind_id",
    "SELECT t.kind_id, array_agg(mc.id) {b} GROUP BY t.kind_id",
    "SELECT t.kind_id, any_value(mc.id) {b} GROUP BY t.kind_id",
    "SELECT t.kind_id, first(mc.id) {b} GROUP BY t.kind_id",
    "SELECT mc.id, row_number() OVER (PARTITION BY t.kind_id) {b}",
    "SELECT DISTINCT ON (t.kind_id) t.kind_id, mc.id {b}",
    # an ORDER BY in the call that leaves ties (all rows of a group tie in its key)
    "SELECT t.kind_id, list(mc.id ORDER BY t.kind_id) {b} GROUP BY t.kind_id",
]
ORDER_FREE = [
    "SELECT t.kind_id, list(mc.id ORDER BY mc.id) {b} GROUP BY t.kind_id",
    "SELECT t.kind_id, string_agg(mc.note, ',' ORDER BY t.kind_id, mc.note) {b} GROUP BY t.kind_id",
    "SELECT t.kind_id, first(mc.id ORDER BY mc.id DESC) {b} GROUP BY t.kind_id",
    "SELECT t.kind_id, count(*), min(mc.note) {b} GROUP BY t.kind_id",
    "SELECT mc.id, rank() OVER (PARTITION BY t.kind_id ORDER BY mc.id) {b}",
    "SELECT mc.id, sum(mc.id) OVER (PARTITION BY t.kind_id) {b}",
    "SELECT DISTINCT ON (t.kind_id) t.kind_id, mc.id {b} ORDER BY t.kind_id, mc.id",
    "SELECT DISTINCT t.kind_id {b}",
]


@pytest.mark.parametrize("sql", ORDER_DEPENDENT + [
    "SELECT t.kind_id, arg_min(mc.note, mc.id) {b} GROUP BY t.kind_id",
    "SELECT mc.id, lag(mc.id) OVER (ORDER BY t.kind_id) {b}",
    "SELECT mc.id, sum(mc.id) OVER (ORDER BY t.id ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) {b}",
    "SELECT mc.id {b} QUALIFY first_value(mc.id) OVER (PARTITION BY t.kind_id) = mc.id",
    "SELECT mc.id, row_number() OVER w {b} WINDOW w AS (ORDER BY t.kind_id)",
    "SELECT t.kind_id, string_agg(mc.note, ',' ORDER BY t.kind_id) {b} GROUP BY t.kind_id",
    "SELECT t.kind_id, array_agg(DISTINCT mc.note ORDER BY t.kind_id) {b} GROUP BY t.kind_id",
    "SELECT t.kind_id, string_agg(mc.note, ',') WITHIN GROUP (ORDER BY mc.id) {b} GROUP BY t.kind_id",
])
def test_order_dependent_constructs_are_found(sql):
    assert order_dependence(sql.format(b=BASE))


@pytest.mark.parametrize("sql", ORDER_FREE)
def test_order_free_queries_are_not_flagged(sql):
    assert order_dependence(sql.format(b=BASE)) is None


@pytest.fixture()
def con(imdb_db):
    c = connect(imdb_db)
    c.execute("SET threads = 1")  # the rows each plan gives come in one order, run after run
    yield c
    c.close()


def _both_orders(con, sql):
    g = parse_query(sql.format(b=BASE), schema_of(con))
    cards, model = EstimatedCardinality(g, TableStats(con)), get_cost_model("cout")
    return g, [run_plan(con, g, from_nested(n, g, cards, model)) for n in (["t", "mc"], ["mc", "t"])]


@pytest.mark.parametrize("sql", ORDER_DEPENDENT)
def test_right_plans_of_an_order_dependent_query_are_never_a_difference(con, sql):
    # Joining t first put each kind's mc rows in another order (string_agg, list, first, ...):
    # run said DIFFER (exit 1) for a right plan.
    _, results = _both_orders(con, sql)
    assert {r.verdict for r in results} <= {"equal", "not comparable"}
    unjudged = [r for r in results if r.verdict == "not comparable"]
    assert unjudged, "neither order changed the result: the test does not exercise the verdict"
    assert all(r.order_dependent and not r.same_result for r in unjudged)


@pytest.mark.parametrize("sql", ORDER_FREE)
def test_right_plans_of_an_order_free_query_are_equal(con, sql):
    _, results = _both_orders(con, sql)
    assert all(r.verdict == "equal" and r.order_dependent is None for r in results)


def test_a_wrong_plan_of_an_order_free_query_still_differs(con):
    g = parse_query(f"SELECT t.kind_id, count(*) {BASE} GROUP BY t.kind_id",
                    schema_of(con))
    cards, model = EstimatedCardinality(g, TableStats(con)), get_cost_model("cout")
    tree = from_nested(["mc", "t"], g, cards, model)
    wrong = dataclasses.replace(g, filters=tuple(() for _ in g.filters))  # loses t.id < 3000
    r = run_plan(con, dataclasses.replace(wrong, sql=g.sql), tree)
    assert r.verdict == "DIFFER" and r.order_dependent is None


def test_run_says_not_comparable_with_its_own_exit_code_and_json(tmp_path, imdb_db, monkeypatch,
                                                                  capsys):
    run_plan_single_threaded(monkeypatch)
    q = tmp_path / "q.sql"
    q.write_text(ORDER_DEPENDENT[0].format(b=BASE))
    args = ["run", str(q), "--db", str(imdb_db), "--repeat", "1", "--optimizer"]
    codes = {}
    for optimizer in ("left-deep", "right-deep", "greedy", "dp"):
        code = cli.main([*args, optimizer, "--json"])
        out = json.loads(capsys.readouterr().out)
        assert code in (0, cli.EXIT_NOT_COMPARABLE)
        if code:
            assert out["verdict"] == "not comparable" and out["same_result"] is None
            assert "LIST(mc.id)" in out["order_dependent"]
        else:
            assert out["verdict"] == "equal" and out["same_result"] is True
        codes[optimizer] = code
    assert cli.EXIT_NOT_COMPARABLE in codes.values()
    optimizer = next(o for o, c in codes.items() if c)
    assert cli.main([*args, optimizer]) == cli.EXIT_NOT_COMPARABLE
    assert "results not comparable: the result may depend on row order" in capsys.readouterr().out


def test_no_job_query_is_flagged(job_dir):
    queries = sorted(job_dir.glob("[0-9]*.sql"))
    assert len(queries) == 113
    flagged = {q.name: order_dependence(q.read_text()) for q in queries}
    assert {name: why for name, why in flagged.items() if why} == {}


# --- a window ordered by a key of its input rows is fixed ---------------------------------------
# Its PARTITION BY and ORDER BY hold every GROUP BY expression, or fix every relation's row: by
# its primary key, or through an equi-join to its primary key (mc.id fixes mc, mc.movie_id = t.id
# then t). Before, every row_number / lag / ROWS frame was "may depend on row order".
KEYED = [
    "SELECT mc.id, row_number() OVER (PARTITION BY t.kind_id ORDER BY mc.id) {b}",
    "SELECT mc.id, row_number() OVER (ORDER BY mc.id DESC) {b}",
    "SELECT mc.id, lag(mc.note) OVER (ORDER BY t.id, mc.id) {b}",
    "SELECT mc.id, ntile(3) OVER (ORDER BY mc.id) AS n {b}",
    "SELECT mc.id, first_value(mc.note) OVER (PARTITION BY mc.id) {b}",
    "SELECT mc.id, sum(t.id) OVER (ORDER BY mc.id ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) {b}",
    "SELECT mc.id, row_number() OVER w {b} WINDOW w AS (ORDER BY mc.id)",
    "SELECT mc.id, row_number() OVER (w ORDER BY mc.id) {b} WINDOW w AS (PARTITION BY t.kind_id)",
    "SELECT t.kind_id, count(*), row_number() OVER (ORDER BY t.kind_id) {b} GROUP BY t.kind_id",
    ("SELECT t.kind_id, mc.company_type_id, lag(count(*)) OVER (PARTITION BY mc.company_type_id "
     "ORDER BY t.kind_id) {b} GROUP BY t.kind_id, mc.company_type_id"),
]
UNKEYED = [
    # a title has many company rows: t.id is no key of the join
    "SELECT t.id, row_number() OVER (ORDER BY t.id) {b}",
    "SELECT mc.id, row_number() OVER w {b} WINDOW w AS (PARTITION BY t.id)",
    # one GROUP BY key of two
    ("SELECT t.kind_id, mc.company_type_id, row_number() OVER (ORDER BY t.kind_id) {b} "
     "GROUP BY t.kind_id, mc.company_type_id"),
    # ROLLUP adds rows whose key is NULL beside the real NULL group: not read
    "SELECT t.kind_id, row_number() OVER (ORDER BY t.kind_id) {b} GROUP BY ROLLUP (t.kind_id)",
    # an aggregate's order within its frame is not trusted to follow the window's
    "SELECT mc.id, list(mc.id) OVER (ORDER BY mc.id ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) {b}",
]


def _keys(con, sql):
    g = parse_query(sql.format(b=BASE), schema_of(con))
    return g, row_keys(g, primary_keys(con), key_domains(con))


@pytest.mark.parametrize("sql", KEYED)
def test_a_window_ordered_by_a_key_of_its_rows_is_not_flagged(con, sql):
    g, keys = _keys(con, sql)
    assert order_dependence(g.sql, keys) is None
    if "GROUP BY" in sql:  # its keys are in the SQL: none needed from the database
        assert order_dependence(g.sql) is None


@pytest.mark.parametrize("sql", UNKEYED)
def test_a_window_whose_order_leaves_ties_is_still_flagged(con, sql):
    g, keys = _keys(con, sql)
    assert order_dependence(g.sql, keys)


@pytest.mark.parametrize("sql", KEYED)
def test_right_plans_of_a_keyed_window_query_are_equal(con, sql):
    _, results = _both_orders(con, sql)
    assert all(r.verdict == "equal" for r in results)


@pytest.mark.parametrize("sql", [KEYED[0], KEYED[8]])
def test_a_wrong_plan_of_a_keyed_window_query_differs(con, sql):
    # Before: "not comparable" (exit 3), never DIFFER, for a plan that loses rows.
    g = parse_query(sql.format(b=BASE), schema_of(con))
    cards, model = EstimatedCardinality(g, TableStats(con)), get_cost_model("cout")
    tree = from_nested(["mc", "t"], g, cards, model)
    wrong = dataclasses.replace(g, filters=tuple(() for _ in g.filters))  # loses t.id < 3000
    r = run_plan(con, dataclasses.replace(wrong, sql=g.sql), tree)
    assert r.verdict == "DIFFER" and r.order_dependent is None


def test_a_join_through_a_cast_fixes_no_row(con):
    # VARCHAR '01' and '1' both equal INTEGER 1: a key joined through a cast may match two rows.
    g, keys = _keys(con, KEYED[0])
    domains = dict(key_domains(con))
    domains[("movie_companies", "movie_id")] = "VARCHAR"
    cast = row_keys(g, primary_keys(con), domains)
    assert ("mc", "t") in keys.fixes and cast.fixes == ()
    assert order_dependence(g.sql, cast)


# --- a key joined under a collation fixes no row --------------------------------------------------
# DuckDB's primary key index keeps the bytes: a plain VARCHAR key (or a NOCASE one) holds 'K0'
# and 'k0', and both equal 'k0' under NOCASE. Before, an equi-join fixed the keyed row whenever
# the two columns had one type, so ORDER BY b.id was taken for a key of the join's rows.
_TIED = "SELECT b.id, a.x, row_number() OVER (ORDER BY b.id) AS r FROM a, b WHERE a.id = b.aid"


def _collated_db(tmp_path, key: str, fk: str):
    """a: 2000 rows keyed 'k0', 'K0', 'k1', 'K1', ...; b: 1000 rows, b.aid 'k0', 'k1', ...;
    the columns' declarations ``key`` and ``fk``."""
    db = tmp_path / "c.duckdb"
    con = duckdb.connect(str(db))
    con.execute(f"CREATE TABLE a(id {key} PRIMARY KEY, x INT)")
    con.execute(f"CREATE TABLE b(id INTEGER PRIMARY KEY, aid {fk})")
    con.execute("INSERT INTO a SELECT (CASE WHEN i % 2 = 0 THEN 'k' ELSE 'K' END) || (i // 2), i "
                "FROM range(2000) AS r(i)")
    con.execute("INSERT INTO b SELECT i, 'k' || i FROM range(1000) AS r(i)")
    con.close()
    return db


@pytest.mark.parametrize(("key", "fk", "setting", "rows"), [
    ("VARCHAR", "VARCHAR COLLATE NOCASE", "", 2000),
    ("VARCHAR COLLATE NOCASE", "VARCHAR", "", 2000),
    ("VARCHAR COLLATE NOCASE", "VARCHAR COLLATE NOCASE", "", 2000),
    ("VARCHAR", "VARCHAR", "SET default_collation = 'nocase'", 2000),
], ids=["nocase-column", "nocase-key", "both-nocase", "default-collation"])
def test_a_key_joined_under_a_collation_fixes_no_row(tmp_path, key, fk, setting, rows):
    con = connect(_collated_db(tmp_path, key, fk))
    if setting:
        con.execute(setting)
    assert con.execute(f"SELECT count(*) FROM ({_TIED})").fetchone()[0] == rows  # b.id ties
    g = parse_query(_TIED, schema_of(con))
    keys = row_keys(g, primary_keys(con), key_domains(con))
    assert keys.fixes == ()
    assert order_dependence(g.sql, keys)  # old code: None (b's row fixed a's)
    con.close()


def test_a_plain_varchar_key_joined_to_a_plain_varchar_fixes_its_row(tmp_path):
    con = connect(_collated_db(tmp_path, "VARCHAR", "VARCHAR"))
    g = parse_query(_TIED, schema_of(con))
    keys = row_keys(g, primary_keys(con), key_domains(con))
    assert keys.fixes == (("b", "a"),) and order_dependence(g.sql, keys) is None
    con.close()


def test_an_integer_key_joined_to_another_integer_type_fixes_its_row(tmp_path):
    # INTEGER and BIGINT compare exactly (one domain); before, only columns of one type fixed.
    db = tmp_path / "i.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE a(id INTEGER PRIMARY KEY, x INT)")
    con.execute("CREATE TABLE b(id INTEGER PRIMARY KEY, aid BIGINT)")
    con.close()
    con = connect(db)
    g = parse_query(_TIED, schema_of(con))
    assert row_keys(g, primary_keys(con), key_domains(con)).fixes == (("b", "a"),)
    con.close()


def test_run_of_a_window_tied_under_a_collation_is_never_a_difference(tmp_path, capsys):
    # The reproduction: right-deep's plan put the two a rows of each b.id in the other order,
    # and run said 'results DIFFER', exit 1, for a right plan. Now: not comparable (or equal).
    db = _collated_db(tmp_path, "VARCHAR", "VARCHAR COLLATE NOCASE")
    q = tmp_path / "q.sql"
    q.write_text(_TIED + ";\n")
    codes = set()
    for optimizer in ("right-deep", "left-deep", "greedy", "dp"):
        codes.add(cli.main(["run", str(q), "--db", str(db), "--repeat", "1", "--optimizer",
                            optimizer, "--cache-dir", str(tmp_path / "cache")]))
    capsys.readouterr()
    assert codes <= {0, cli.EXIT_NOT_COMPARABLE}


@pytest.mark.parametrize(("key", "setting"), [("VARCHAR COLLATE NOCASE", ""),
                                              ("VARCHAR", "SET default_collation = 'nocase'")],
                         ids=["nocase-key", "default-collation"])
def test_a_key_compared_under_a_collation_is_no_key_of_its_rows(tmp_path, key, setting):
    # a's key holds 'k0' and 'K0', which tie in ORDER BY a.id under NOCASE; b's row number
    # among them is either. Old code: a.id was a key of the join's rows, nothing flagged, and
    # run said DIFFER (exit 1) for the plan that met the tied rows in the other order.
    sql = ("SELECT a.id, b.id, row_number() OVER (ORDER BY a.id, b.id) AS r FROM a, b "
           "WHERE a.x = b.ax")
    db = tmp_path / "k.duckdb"
    con = duckdb.connect(str(db))
    con.execute(f"CREATE TABLE a(id {key} PRIMARY KEY, x INT)")
    con.execute("CREATE TABLE b(id INTEGER PRIMARY KEY, ax INT)")
    con.execute("INSERT INTO a SELECT (CASE WHEN i % 2 = 0 THEN 'k' ELSE 'K' END) || (i // 2), "
                "i // 2 FROM range(4000) AS r(i)")
    con.execute("INSERT INTO b SELECT i, i FROM range(2000) AS r(i)")
    con.close()
    con = connect(db)
    if setting:
        con.execute(setting)
    g = parse_query(sql, schema_of(con))
    keys = row_keys(g, primary_keys(con), key_domains(con))
    assert "a" not in keys.columns
    assert order_dependence(g.sql, keys)
    cards, model = EstimatedCardinality(g, TableStats(con)), get_cost_model("cout")
    for nested in (["a", "b"], ["b", "a"]):
        assert run_plan(con, g, from_nested(nested, g, cards, model)).verdict in \
            ("equal", "not comparable"), nested
    con.close()


_CHOOSING = [
    "SELECT a.s, count(*) AS n FROM a, b WHERE a.x = b.ax GROUP BY a.s",
    "SELECT DISTINCT a.s FROM a, b WHERE a.x = b.ax",
    "SELECT DISTINCT ON (b.id) b.id, a.s FROM a, b WHERE a.x = b.ax ORDER BY b.id, a.s",
    "SELECT b.id, min(a.s) AS m FROM a, b WHERE a.x = b.ax GROUP BY b.id",
    "SELECT b.id, list(a.s ORDER BY a.s) AS l FROM a, b WHERE a.x = b.ax GROUP BY b.id",
]


def _tied_db(tmp_path, s_type: str):
    """a: 4000 rows, a.s 'k0', 'K0', 'k1', 'K1', ... of type ``s_type`` (a.x the number);
    b: 2000 rows, b.ax 0 to 1999."""
    db = tmp_path / "s.duckdb"
    con = duckdb.connect(str(db))
    con.execute(f"CREATE TABLE a(id INTEGER PRIMARY KEY, s {s_type}, x INT)")
    con.execute("INSERT INTO a SELECT i, (CASE WHEN i % 2 = 0 THEN 'k' ELSE 'K' END) || (i // 2), "
                "i // 2 FROM range(4000) AS r(i)")
    con.execute("CREATE TABLE b(id INTEGER PRIMARY KEY, ax INT)")
    con.execute("INSERT INTO b SELECT i, i FROM range(2000) AS r(i)")
    con.close()
    return db


@pytest.mark.parametrize("sql", _CHOOSING)
def test_values_equal_under_a_collation_come_out_as_either(tmp_path, sql):
    # GROUP BY a.s under NOCASE makes 'k0' and 'K0' one group, output as the one met first;
    # so DISTINCT, DISTINCT ON's pick, min, a list's order among ties. Old code: nothing
    # flagged, and run said DIFFER (exit 1) for the plan that met the other one first.
    con = connect(_tied_db(tmp_path, "VARCHAR COLLATE NOCASE"))
    g = parse_query(sql, schema_of(con))
    keys = row_keys(g, primary_keys(con), key_domains(con))
    assert "compares under a collation" in (order_dependence(g.sql, keys) or "")
    cards, model = EstimatedCardinality(g, TableStats(con)), get_cost_model("cout")
    for nested in (["a", "b"], ["b", "a"]):
        assert run_plan(con, g, from_nested(nested, g, cards, model)).verdict in \
            ("equal", "not comparable"), nested
    con.close()


def test_an_uncollated_column_or_a_collated_one_only_filtered_is_not_flagged(tmp_path):
    con = connect(_tied_db(tmp_path, "VARCHAR"))
    for sql in _CHOOSING[:4]:
        g = parse_query(sql, schema_of(con))
        assert order_dependence(g.sql, row_keys(g, primary_keys(con), key_domains(con))) is None
    con.close()
    (tmp_path / "nocase").mkdir()
    con = connect(_tied_db(tmp_path / "nocase", "VARCHAR COLLATE NOCASE"))
    g = parse_query("SELECT count(*), min(b.id) FROM a, b WHERE a.x = b.ax AND a.s = 'k1'",
                    schema_of(con))
    assert order_dependence(g.sql, row_keys(g, primary_keys(con), key_domains(con))) is None
    con.close()
