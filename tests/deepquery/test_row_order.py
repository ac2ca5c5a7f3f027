"""Results that may depend on row order: found when parsing, and ``run`` says "not comparable"
for them instead of a false DIFFER."""
from __future__ import annotations

import dataclasses
import json

import pytest

import deepquery.__main__ as cli
from deepquery import (
    EstimatedCardinality,
    TableStats,
    connect,
    get_cost_model,
    parse_query,
)
from deepquery.database import column_types, primary_keys, schema_of
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
    return g, row_keys(g, primary_keys(con), column_types(con))


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
    types = dict(column_types(con))
    types[("movie_companies", "movie_id")] = "VARCHAR"
    cast = row_keys(g, primary_keys(con), types)
    assert ("mc", "t") in keys.fixes and cast.fixes == ()
    assert order_dependence(g.sql, cast)
