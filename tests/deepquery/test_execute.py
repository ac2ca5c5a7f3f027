"""The planned SQL makes DuckDB execute exactly the planned tree (join ordering disabled)."""
from __future__ import annotations

import json
import threading
import time

import duckdb
import pytest

from deepquery import EstimatedCardinality, TableStats, connect, get_cost_model, get_optimizer, parse_query
from deepquery.database import schema_of
from deepquery.execute import PLANNED_DISABLED, run_plan, same_rows
from deepquery.join_tree import from_nested
from deepquery.rewrite import original_sql, plan_sql
from sysml_datasets.imdb.schema import COLUMNS

from .dq_helpers import run_plan_single_threaded


def _physical_tree(node: dict):
    """DuckDB's EXPLAIN JSON reduced to nested [left, right] lists of scanned table names."""
    name = node["name"].strip()  # DuckDB before 1.4 writes "SEQ_SCAN "
    kids = node.get("children", [])
    if name == "SEQ_SCAN":
        return node["extra_info"]["Table"].split(".")[-1].strip('"')
    if name.endswith("_JOIN") or name == "CROSS_PRODUCT":
        return [_physical_tree(kids[0]), _physical_tree(kids[1])]
    assert len(kids) == 1, name
    return _physical_tree(kids[0])


def _tables(nested, graph):
    if isinstance(nested, str):
        return graph.relations[graph.index(nested)].table
    return [_tables(nested[0], graph), _tables(nested[1], graph)]


@pytest.mark.parametrize("optimizer, query", [("dp", "1a"), ("random", "1a"), ("greedy", "6a"),
                                              ("right-deep", "3b"), ("quickpick", "17b")])
def test_duckdb_runs_the_planned_join_tree(imdb_db, job_dir, optimizer, query):
    con = connect(imdb_db)
    g = parse_query((job_dir / f"{query}.sql").read_text(), schema_of(con), query)
    assert len({r.table for r in g.relations}) == g.n  # table names identify relations here
    tree = get_optimizer(optimizer)(g, EstimatedCardinality(g, TableStats(con)), get_cost_model("cm1"))
    con.execute(f"SET disabled_optimizers = '{PLANNED_DISABLED}'")
    plan = json.loads(con.execute("EXPLAIN (FORMAT json) " + plan_sql(g, tree)).fetchall()[0][1])
    con.close()
    assert _physical_tree(plan[0]) == _tables(tree.nested(g), g)


# A class with two columns of one relation: t.id = ml.movie_id = ml.linked_movie_id. Joining t to
# ml states the class once (t.id = ml.movie_id); ml.movie_id = ml.linked_movie_id must still hold.
SAME_CLASS_SQL = ("SELECT t.title, ml.id FROM title AS t, movie_link AS ml, movie_companies AS mc "
                  "WHERE t.id = ml.movie_id AND t.id = ml.linked_movie_id AND mc.movie_id = t.id")


def test_two_columns_of_one_relation_in_a_class_become_a_filter():
    g = parse_query(SAME_CLASS_SQL, COLUMNS)
    assert g.filters[g.index("ml")] == ("ml.linked_movie_id = ml.movie_id",)


@pytest.mark.parametrize("optimizer", ["dp", "greedy", "random"])
def test_plans_keep_equalities_between_columns_of_one_relation(imdb_db, optimizer):
    con = connect(imdb_db)
    g = parse_query(SAME_CLASS_SQL, schema_of(con))
    assert con.execute(f"SELECT count(*) FROM ({SAME_CLASS_SQL})").fetchone()[0] < \
        con.execute("SELECT count(*) FROM movie_link").fetchone()[0]  # the filter matters here
    tree = get_optimizer(optimizer)(g, EstimatedCardinality(g, TableStats(con)), get_cost_model("cout"))
    result = run_plan(con, g, tree)
    con.close()
    assert result.same_result


@pytest.mark.parametrize("sql", [
    "SELECT DISTINCT mc.company_type_id FROM title AS t, movie_companies AS mc "
    "WHERE t.id = mc.movie_id",
    "SELECT DISTINCT ON (mc.company_type_id) mc.company_type_id FROM title AS t, "
    "movie_companies AS mc WHERE t.id = mc.movie_id",
    "SELECT t.id, row_number() OVER w AS r FROM title AS t, movie_companies AS mc "
    "WHERE t.id = mc.movie_id WINDOW w AS (ORDER BY t.id, mc.id) QUALIFY r < 3",
    "SELECT mc.company_type_id, count(*) AS n FROM title AS t, movie_companies AS mc "
    "WHERE t.id = mc.movie_id AND t.production_year > 1990 GROUP BY mc.company_type_id "
    "HAVING count(*) > 1 ORDER BY n DESC LIMIT 1 OFFSET 0",
])
def test_planned_sql_keeps_every_clause_but_from_and_where(imdb_db, sql):
    # DISTINCT, WINDOW and QUALIFY were dropped: run returned every joined row and said DIFFER.
    con = connect(imdb_db)
    g = parse_query(sql, schema_of(con))
    tree = get_optimizer("dp")(g, EstimatedCardinality(g, TableStats(con)), get_cost_model("cout"))
    result = run_plan(con, g, tree)
    con.close()
    assert result.same_result


# --- LIMIT without an ORDER BY that fixes the rows it keeps --------------------------------------
LIMITED_SQL = ("SELECT t.id, mc.id FROM title AS t, movie_companies AS mc "
               "WHERE t.id = mc.movie_id AND t.production_year > 2005 LIMIT 3")


def _run_orders(con, g):
    """run_plan of both join orders of t and mc, on one DuckDB thread (the rows LIMIT keeps are
    then the same in every run of a plan)."""
    from deepquery.join_tree import from_nested
    con.execute("SET threads = 1")
    cards, model = EstimatedCardinality(g, TableStats(con)), get_cost_model("cout")
    return [run_plan(con, g, from_nested(nested, g, cards, model))
            for nested in (["t", "mc"], ["mc", "t"])]


def test_limit_keeping_other_rows_under_another_plan_is_not_a_difference(imdb_db):
    # Both orders are right; LIMIT without ORDER BY just keeps other rows. run said DIFFER.
    con = connect(imdb_db)
    g = parse_query(LIMITED_SQL, schema_of(con))
    results = _run_orders(con, g)
    con.close()
    assert all(r.same_result and r.rows == 3 for r in results)
    assert any(r.limit_choice for r in results)  # the case this is about did happen


@pytest.mark.parametrize("keep_query_filter", [
    True,   # loses rows: each row it keeps is still a right one
    False,  # adds rows (production_year <= 2005)
])
def test_a_wrong_plan_under_limit_is_still_caught(imdb_db, keep_query_filter):
    # The wrong plan's WHERE also drops the rows the query keeps under LIMIT (DuckDB's own plan,
    # one thread: the same rows in every run), so its LIMIT rows differ from them whatever the
    # data, and only the re-check without LIMIT can tell a wrong plan from another LIMIT choice
    import dataclasses
    con = connect(imdb_db)
    g = parse_query(LIMITED_SQL, schema_of(con))
    assert g.filters == (("t.production_year > 2005",), ())
    con.execute("SET threads = 1")
    kept = [mc_id for _, mc_id in con.execute(original_sql(g)).fetchall()]
    assert len(kept) == 3
    if not keep_query_filter:  # the rows it adds
        assert con.execute("SELECT count(*) FROM title AS t, movie_companies AS mc WHERE "
                           "t.id = mc.movie_id AND NOT t.production_year > 2005").fetchone()[0] > 0
    not_kept = f"mc.id NOT IN ({', '.join(map(str, kept))})"
    filters = (g.filters[0] if keep_query_filter else (), (not_kept,))
    wrong = dataclasses.replace(g, filters=filters)  # the planned SQL's WHERE, not the query's
    results = _run_orders(con, wrong)
    con.close()
    assert not any(r.same_result or r.limit_choice for r in results)


def test_order_by_that_fixes_the_rows_is_plain_equal(imdb_db):
    con = connect(imdb_db)
    g = parse_query(LIMITED_SQL.replace("LIMIT", "ORDER BY t.id, mc.id LIMIT"), schema_of(con))
    results = _run_orders(con, g)
    con.close()
    assert all(r.same_result and not r.limit_choice for r in results)


class _CountingConnection:
    """A DuckDB connection that counts the rows fetched into Python."""

    def __init__(self, con) -> None:
        self.con, self.fetched = con, 0

    def execute(self, sql, *args):
        self.con.execute(sql, *args)
        return self

    def fetchall(self):
        rows = self.con.fetchall()
        self.fetched += len(rows)
        return rows

    def fetchone(self):
        self.fetched += 1
        return self.con.fetchone()


def test_the_limit_recheck_fetches_no_unlimited_result_into_python(imdb_db):
    """The re-check without LIMIT fetched both unlimited results into Python: a 10-row query over
    a 3-way join took 54 s and 2.4 GB at the default scale 0.01 (4.5M rows); now DuckDB compares."""
    con = connect(imdb_db)
    sql = ("SELECT t.title, ci.note, mi.info FROM title AS t, cast_info AS ci, movie_info AS mi "
           "WHERE t.id = ci.movie_id AND t.id = mi.movie_id LIMIT 10")
    g = parse_query(sql, schema_of(con))
    every = con.execute(f"SELECT count(*) FROM ({sql.removesuffix(' LIMIT 10')})").fetchone()[0]
    assert every > 10_000
    from deepquery.join_tree import from_nested
    con.execute("SET threads = 1")
    cards, model = EstimatedCardinality(g, TableStats(con)), get_cost_model("cout")
    results, fetched = [], []
    for nested in ([["ci", "t"], "mi"], [["mi", "t"], "ci"], [["t", "mi"], "ci"]):
        counting = _CountingConnection(con)
        results.append(run_plan(counting, g, from_nested(nested, g, cards, model)))
        fetched.append(counting.fetched)
    con.close()
    assert all(r.same_result and r.rows == 10 for r in results)
    assert any(r.limit_choice for r in results)     # the re-check did run
    assert max(fetched) <= 100, fetched             # the two limited results and a few counts


@pytest.mark.parametrize("sql", [
    "SELECT * FROM title AS t, movie_companies AS mc WHERE t.id = mc.movie_id AND t.id < 50",
    "SELECT mc.note, *, t.id FROM title AS t JOIN movie_companies AS mc ON t.id = mc.movie_id "
    "WHERE t.id < 50",
])
def test_select_star_keeps_the_query_s_column_order_under_any_join_order(imdb_db, sql):
    """``SELECT *`` lists columns in FROM order, and the planned SQL's FROM is the plan's order:
    a right plan joining mc first returned mc's columns first, and run said DIFFER (exit 1)."""
    from deepquery.join_tree import from_nested
    from deepquery.rewrite import original_sql
    con = connect(imdb_db)
    g = parse_query(sql, schema_of(con))
    cards, model = EstimatedCardinality(g, TableStats(con)), get_cost_model("cout")
    want = [d[0] for d in con.execute(original_sql(g)).description]
    for nested in (["t", "mc"], ["mc", "t"]):
        tree = from_nested(nested, g, cards, model)
        assert [d[0] for d in con.execute(plan_sql(g, tree)).description] == want
        result = run_plan(con, g, tree)
        assert result.same_result and result.rows > 0
    con.close()


def test_the_limit_recheck_sorts_nothing_unless_distinct_on_needs_the_order(imdb_db):
    """Without LIMIT, ORDER BY orders rows nobody reads (the re-check compares multisets) and
    made DuckDB sort the whole unlimited result: 21-26 s and 600-780 MB for a 10-row query
    with ties at scale 0.01. DISTINCT ON picks its rows by the ORDER BY, so there it stays."""
    from deepquery.join_tree import from_nested
    from deepquery.rewrite import original_sql
    con = connect(imdb_db)
    tied = LIMITED_SQL.replace("LIMIT", "ORDER BY t.production_year LIMIT")
    g = parse_query(tied, schema_of(con))
    cards, model = EstimatedCardinality(g, TableStats(con)), get_cost_model("cout")
    tree = from_nested(["mc", "t"], g, cards, model)
    for sql in (original_sql(g, limit=False), plan_sql(g, tree, limit=False)):
        assert "ORDER BY" not in sql and "LIMIT" not in sql, sql
    assert "ORDER BY" in original_sql(g) and "ORDER BY" in plan_sql(g, tree)
    results = _run_orders(con, g)
    assert all(r.same_result and r.rows == 3 for r in results)
    on = parse_query(tied.replace("SELECT", "SELECT DISTINCT ON (t.production_year)"), schema_of(con))
    for sql in (original_sql(on, limit=False), plan_sql(on, tree, limit=False)):
        assert "ORDER BY" in sql and "LIMIT" not in sql, sql
    con.close()


STAR_BASE = "FROM title AS t, movie_companies AS mc WHERE t.id = mc.movie_id AND t.id < 50"


@pytest.mark.parametrize("select", [
    "* EXCLUDE (id)",  # both tables have id: DuckDB excludes both
    "* EXCLUDE (t.id, note)",
    "* EXCLUDE (mc.id) REPLACE (t.production_year + 1 AS production_year)",
    "* REPLACE (upper(mc.note) AS note)",
    "* RENAME (id AS key, t.title AS name)",
    "* EXCLUDE (mc.id, movie_id, company_id, company_type_id, note), t.id",  # mc: nothing left
    "t.* EXCLUDE (id), mc.* RENAME (id AS mid)",
])
def test_select_star_with_modifiers_keeps_the_query_s_columns_under_any_join_order(imdb_db, select):
    """``* EXCLUDE/REPLACE/RENAME`` was left as written: its columns came in the plan's FROM
    order, and run said DIFFER for a right plan joining mc first."""
    from deepquery.join_tree import from_nested
    from deepquery.rewrite import original_sql
    con = connect(imdb_db)
    g = parse_query(f"SELECT {select} {STAR_BASE}", schema_of(con))
    cards, model = EstimatedCardinality(g, TableStats(con)), get_cost_model("cout")
    cur = con.execute(original_sql(g))
    want = ([d[0] for d in cur.description], sorted(map(str, cur.fetchall())))
    assert want[1]
    for nested in (["t", "mc"], ["mc", "t"]):
        tree = from_nested(nested, g, cards, model)
        cur = con.execute(plan_sql(g, tree))
        assert ([d[0] for d in cur.description], sorted(map(str, cur.fetchall()))) == want
        result = run_plan(con, g, tree)
        assert result.same_result and result.rows > 0
    con.close()


@pytest.mark.parametrize("select, message", [
    ("* REPLACE (1 AS id)", "several tables"),  # DuckDB keeps one id column of the two
    ("* ILIKE '%id'", "ILIKE"),
    ("* EXCLUDE (nope)", "not found"),
    ("* EXCLUDE (x.id)", "unknown table or alias"),
    ("* REPLACE (1 AS nope)", "not found"),
])
def test_select_star_modifiers_that_cannot_be_spelled_out_are_refused(imdb_db, select, message):
    from deepquery.query_graph import QueryError
    con = connect(imdb_db)
    schema = schema_of(con)
    con.close()
    with pytest.raises(QueryError, match=message):
        parse_query(f"SELECT {select} {STAR_BASE}", schema)


# --- the LIMIT re-check is bounded ---------------------------------------------------------------
CROSS_SQL = "SELECT t.title, ci.note FROM title AS t CROSS JOIN cast_info AS ci LIMIT 3"
"""A LIMIT over 367 million joined rows at scale 0.002: each join order keeps other rows, and
the re-check without LIMIT hashes them all."""


@pytest.mark.parametrize("timeout_s", [1e-9, 0.3])  # before any query starts; during one
def test_a_limit_recheck_past_its_bound_is_interrupted_and_says_unverified(imdb_db, timeout_s):
    # The re-check ran without LIMIT, unbounded: minutes for a LIMIT over a cross join.
    from deepquery.join_tree import from_nested
    con = connect(imdb_db)
    con.execute("SET threads = 1")  # each order keeps the same rows in every run
    g = parse_query(CROSS_SQL, schema_of(con))
    cards, model = EstimatedCardinality(g, TableStats(con)), get_cost_model("cout")
    results = [run_plan(con, g, from_nested(n, g, cards, model), recheck_timeout_s=timeout_s)
               for n in (["t", "ci"], ["ci", "t"])]
    assert {r.verdict for r in results} == {"equal", "LIMIT choice unverified (re-check timed out)"}
    unverified = next(r for r in results if r.limit_unverified)
    assert not unverified.same_result and not unverified.limit_choice and unverified.rows == 3
    assert con.execute("SELECT current_setting('disabled_optimizers')").fetchone()[0] == ""
    assert con.execute("SELECT count(*) FROM title").fetchone()[0] > 0  # no interrupt left over
    con.close()


class _InterruptedWhileTheTimerRuns:
    """A connection whose statements are interrupted while a re-check's timer thread is
    interrupting it, as ``con.interrupt()`` every 10 ms interrupts any statement that runs then:
    this makes the race deterministic (a reset that lands in that window)."""

    def __init__(self, con):
        self.con, self.interrupting = con, threading.Event()

    def interrupt(self):
        self.interrupting.set()
        self.con.interrupt()

    def execute(self, sql, *args):
        timer = [t for t in threading.enumerate() if t.name == "deepquery-recheck-deadline"]
        if timer and self.interrupting.is_set():
            raise duckdb.InterruptException("INTERRUPT Error: Interrupted!")
        return self.con.execute(sql, *args)


def test_a_recheck_deadline_never_interrupts_putting_join_ordering_back(imdb_db):
    # The timer kept interrupting until the re-check's finally closed it, after _tree_kept had
    # reset disabled_optimizers: a reset interrupted twice left join ordering off for every
    # later query on the connection.
    from deepquery.execute import _recheck
    from deepquery.join_tree import from_nested
    con = connect(imdb_db)
    g = parse_query(CROSS_SQL, schema_of(con))
    cards, model = EstimatedCardinality(g, TableStats(con)), get_cost_model("cout")
    tree = from_nested(["t", "ci"], g, cards, model)
    proxy = _InterruptedWhileTheTimerRuns(con)
    assert _recheck(proxy, g, tree, plan_sql(g, tree), original_sql(g), 0.3) is None
    assert proxy.interrupting.is_set()  # the timer did interrupt
    assert con.execute("SELECT current_setting('disabled_optimizers')").fetchone()[0] == ""
    assert not [t for t in threading.enumerate() if t.name == "deepquery-recheck-deadline"]
    con.close()


def test_run_with_a_timed_out_limit_recheck_exits_3_with_json(tmp_path, imdb_db, monkeypatch,
                                                             capsys):
    import deepquery.__main__ as cli
    run_plan_single_threaded(monkeypatch)
    q = tmp_path / "q.sql"
    q.write_text(CROSS_SQL)
    base = ["run", str(q), "--db", str(imdb_db), "--repeat", "1", "--recheck-timeout", "0.3"]
    codes = []
    for optimizer in ("left-deep", "right-deep"):
        codes.append(cli.main([*base, "--optimizer", optimizer, "--json"]))
        out = json.loads(capsys.readouterr().out)
        if codes[-1]:
            assert codes[-1] == cli.EXIT_NOT_COMPARABLE and out["limit_unverified"] is True
            assert out["same_result"] is None and out["verdict"].startswith("LIMIT choice unverified")
    assert cli.EXIT_NOT_COMPARABLE in codes


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
def test_a_recheck_timeout_that_is_not_positive_is_one_line_exit_2(tmp_path, imdb_db, capsys, value):
    from deepquery.__main__ import main
    q = tmp_path / "q.sql"
    q.write_text(CROSS_SQL)
    assert main(["run", str(q), "--db", str(imdb_db), "--recheck-timeout", value]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--recheck-timeout" in err[0]


@pytest.mark.parametrize("select", ["COLUMNS(*)", "min(COLUMNS(*))", "(*)", "[*]"])
def test_a_star_inside_an_expression_is_refused(imdb_db, select):
    """These list every column in FROM order too, and were left as written: a right plan
    joining mc first gave mc's columns first, and run said DIFFER."""
    from deepquery.query_graph import QueryError
    con = connect(imdb_db)
    schema = schema_of(con)
    con.close()
    with pytest.raises(QueryError, match=r"\* inside an expression"):
        parse_query(f"SELECT {select} {STAR_BASE}", schema)


@pytest.mark.parametrize("select", ["count(*)", "count(*) OVER ()",
                                    "COLUMNS(t.*)", "t.*, *"])
def test_stars_the_join_order_cannot_reorder_are_accepted(imdb_db, select):
    con = connect(imdb_db)
    g = parse_query(f"SELECT {select} {STAR_BASE}", schema_of(con))
    tree = get_optimizer("dp")(g, EstimatedCardinality(g, TableStats(con)), get_cost_model("cout"))
    assert run_plan(con, g, tree).same_result
    con.close()


def test_run_plan_checks_each_sql_once_outside_the_timed_runs(imdb_db, monkeypatch):
    # Each timed run re-parsed its SQL with sqlglot inside the clock (a median 14% of a JOB
    # query's timed run at scale 0.01), so both latencies carried the parse: 10 checks here.
    from deepquery import database
    con = connect(imdb_db)
    g = parse_query("SELECT MIN(t.title) FROM title AS t, movie_companies AS mc "
                    "WHERE t.id = mc.movie_id", schema_of(con), "q")
    tree = get_optimizer("dp")(g, EstimatedCardinality(g, TableStats(con)), get_cost_model("cout"))
    checked = []
    real = database.parse_statement
    monkeypatch.setattr(database, "parse_statement",
                        lambda sql, read="postgres": checked.append(sql) or real(sql, read=read))
    result = run_plan(con, g, tree, repeat=5)
    con.close()
    assert result.same_result
    assert sorted(checked) == sorted([result.planned_sql, original_sql(g)])


# A sum of doubles in another join order differs in its last bits at any magnitude: 2892811928.6
# against 2892811928.600022 on the test database. Rounded to 9 decimals those are two values.
FLOAT_SUMS = ("SELECT sum(ci.id * 1.1::DOUBLE), avg(ci.id / 3.0::DOUBLE), "
              "sum(ci.id * 1e10::DOUBLE + 0.1) FROM cast_info AS ci, title AS t, name AS n "
              "WHERE ci.movie_id = t.id AND ci.person_id = n.id")


def test_float_sums_in_another_join_order_are_equal_not_a_difference(imdb_db):
    con = connect(imdb_db)
    g = parse_query(FLOAT_SUMS, schema_of(con))
    cards, model = EstimatedCardinality(g, TableStats(con)), get_cost_model("cout")
    results = [run_plan(con, g, from_nested(nested, g, cards, model))
               for nested in (["ci", ["t", "n"]], [["n", "ci"], "t"], [["t", "ci"], "n"])]
    con.close()
    assert [r.verdict for r in results] == ["equal"] * 3


def test_floats_that_differ_beyond_rounding_still_differ():
    assert same_rows([(1.0, "a")], [(1.0, "a")])
    assert same_rows([(2892811928.6, 1), (0.5, 2)], [(0.5, 2), (2892811928.600022, 1)])
    assert not same_rows([(2892811928.6,)], [(2892811929.7,)])  # a value of 1.1 more
    assert not same_rows([(1.0,), (1.0,)], [(1.0,)])
    assert not same_rows([(1e-3,)], [(2e-3,)])
    assert not same_rows([(float("nan"),)], [(1.0,)])
    assert not same_rows([(1.0, "a")], [(1.0, "b")])


# Under LIMIT the two kept other groups, and the re-check without LIMIT compared the unlimited
# results by hashes of their rows, floats rounded to 9 decimals: a group's sum in another join
# order, a last bit apart (past 1e7, 9 decimals are more digits than a double has), hashed apart.
LIMITED_FLOAT_SUMS = ("SELECT t.id, sum(ci.id * 1.1::DOUBLE) AS s, avg(ci.id / 3.0::REAL) AS a "
                      "FROM cast_info AS ci, title AS t, name AS n "
                      "WHERE ci.movie_id = t.id AND ci.person_id = n.id GROUP BY t.id LIMIT 5")
FLOAT_ORDERS = (["ci", ["t", "n"]], [["n", "ci"], "t"], [["t", "ci"], "n"], [["ci", "n"], "t"])


def test_float_sums_under_limit_in_another_join_order_are_not_a_difference(imdb_db):
    con = connect(imdb_db)
    g = parse_query(LIMITED_FLOAT_SUMS, schema_of(con))
    cards, model = EstimatedCardinality(g, TableStats(con)), get_cost_model("cout")
    results = [run_plan(con, g, from_nested(nested, g, cards, model)) for nested in FLOAT_ORDERS]
    con.close()
    assert {r.verdict for r in results} <= {"equal", "equal up to LIMIT's choice"}
    assert "equal up to LIMIT's choice" in {r.verdict for r in results}  # the re-check ran


def test_a_wrong_plan_with_float_sums_under_limit_is_still_caught(imdb_db):
    import dataclasses
    con = connect(imdb_db)
    g = parse_query(LIMITED_FLOAT_SUMS, schema_of(con))
    # the same groups, other sums: the unlimited results differ in their floats alone
    i = g.index("ci")
    filters = tuple(f + (("ci.id % 7 <> 0",) if k == i else ()) for k, f in enumerate(g.filters))
    bad = dataclasses.replace(g, filters=filters)  # the planned SQL's WHERE, not the query's
    cards, model = EstimatedCardinality(g, TableStats(con)), get_cost_model("cout")
    results = [run_plan(con, bad, from_nested(nested, g, cards, model)) for nested in FLOAT_ORDERS]
    con.close()
    assert all(r.verdict == "DIFFER" for r in results), [r.verdict for r in results]


@pytest.mark.parametrize("select", ["COLUMNS('.*id')", "COLUMNS(c -> c LIKE '%id')",
                                    "COLUMNS(['id', 'note'])", "min(COLUMNS('.*id'))",
                                    "*COLUMNS('.*id')"])
def test_columns_over_every_relation_is_refused(imdb_db, select):
    """COLUMNS('.*id') lists the matching columns of t and mc in FROM order: a right plan
    joining mc first gave mc's first (other rows, and run said DIFFER)."""
    from deepquery.query_graph import QueryError
    con = connect(imdb_db)
    schema = schema_of(con)
    con.close()
    with pytest.raises(QueryError, match=r"COLUMNS\(\.\.\.\) over every relation"):
        parse_query(f"SELECT {select} {STAR_BASE}", schema)


def test_columns_of_one_relation_is_accepted(imdb_db):
    con = connect(imdb_db)
    g = parse_query(f"SELECT COLUMNS(mc.*) {STAR_BASE}", schema_of(con))
    cards, model = EstimatedCardinality(g, TableStats(con)), get_cost_model("cout")
    assert all(run_plan(con, g, from_nested(nested, g, cards, model)).verdict == "equal"
               for nested in (["t", "mc"], ["mc", "t"]))
    con.close()


@pytest.mark.parametrize("timeout_s", [1e300, 1e12])
def test_a_recheck_bound_longer_than_a_thread_can_wait_is_no_traceback(imdb_db, timeout_s):
    # run --recheck-timeout 1e300 (or 1e12, past threading.TIMEOUT_MAX): the timer thread died
    # at once, "OverflowError: timestamp out of range for platform time_t" with its traceback
    # on stderr
    from deepquery.execute import _Deadline
    errors = []
    hook = threading.excepthook
    threading.excepthook = lambda args: errors.append(args.exc_value)
    con = connect(imdb_db)
    try:
        deadline = _Deadline(con, timeout_s)
        time.sleep(0.2)
        deadline.check()  # not expired
        deadline.close()
    finally:
        threading.excepthook = hook
        con.close()
    assert errors == []
