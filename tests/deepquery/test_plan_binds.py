"""``plan`` (and ``run``, before it executes) checks that DuckDB binds the planned SQL: SQL
DuckDB refuses is never printed; a query that does not bind as written is bad input (exit 2), a
rewrite that breaks a query that binds is our bug (exit 1)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import deepquery.__main__ as cli
from deepquery import (
    EstimatedCardinality,
    TableStats,
    connect,
    get_cost_model,
    parse_query,
)
from deepquery.__main__ import main
from deepquery.database import bind, schema_of
from deepquery.optimizers import get_optimizer
from deepquery.query_graph import QueryError
from deepquery.rewrite import plan_sql

from .dq_helpers import one_line

GOOD = ("SELECT MIN(t.title) FROM title AS t, movie_companies AS mc "
        "WHERE t.id = mc.movie_id AND t.production_year > 2000")


def _query(tmp_path: Path, sql: str) -> str:
    q = tmp_path / "q.sql"
    q.write_text(sql)
    return str(q)


@pytest.fixture()
def broken_rewrite(monkeypatch) -> None:
    """plan_sql renames a relation in FROM only: SQL DuckDB cannot bind (t.* unknown)."""
    real = cli.plan_sql
    monkeypatch.setattr(cli, "plan_sql",
                        lambda graph, tree, limit=True: real(graph, tree, limit).replace(
                            "title AS t", "title AS t_renamed"))


# Before: exit 0, and the SQL DuckDB refuses was printed as the plan.
@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_planned_sql_that_does_not_bind_is_an_internal_error(tmp_path, imdb_db, capsys,
                                                             broken_rewrite, json_flag):
    assert main(["plan", _query(tmp_path, GOOD), "--db", str(imdb_db), *json_flag]) == 1
    out = capsys.readouterr()
    line = one_line(out.err)
    assert line.startswith("deepquery: internal error: ") and "does not bind" in line
    assert "Binder Error" in line and out.out == ""


# Before: run executed the user's query and its own rewrite, never the SQL plan prints.
def test_run_checks_the_planned_sql_binds_before_running(tmp_path, imdb_db, capsys,
                                                         broken_rewrite):
    assert main(["run", _query(tmp_path, GOOD), "--db", str(imdb_db), "--repeat", "1"]) == 1
    assert "internal error" in one_line(capsys.readouterr().err)


# Before: exit 0 with the query printed as planned SQL: only DuckDB finds the type error.
@pytest.mark.parametrize("cards", ["estimated", "true"])
def test_a_query_duckdb_cannot_bind_is_bad_input_for_plan(tmp_path, imdb_db, capsys, cards):
    sql = GOOD.replace("MIN(t.title)", "MIN(t.title + 1)")
    assert main(["plan", _query(tmp_path, sql), "--db", str(imdb_db), "--cards", cards,
                 "--cache-dir", str(tmp_path / "cache")]) == 2
    out = capsys.readouterr()
    line = one_line(out.err)
    assert "q.sql: DuckDB: Binder Error" in line and "internal" not in line and out.out == ""


def test_plan_still_prints_sql_that_binds(tmp_path, imdb_db, capsys):
    assert main(["plan", _query(tmp_path, GOOD), "--db", str(imdb_db)]) == 0
    assert "JOIN" in capsys.readouterr().out


def test_every_job_query_plans_to_sql_that_binds(job_dir, imdb_db):
    con = connect(imdb_db)
    try:
        schema = schema_of(con)
        files = sorted(f for f in job_dir.glob("*.sql") if re.fullmatch(r"\d+[a-z]\.sql", f.name))
        assert len(files) == 113
        for f in files:
            g = parse_query(f.read_text(), schema, f.stem)
            tree = get_optimizer("greedy")(g, EstimatedCardinality(g, TableStats(con)),
                                           get_cost_model("cout"))
            bind(con, plan_sql(g, tree))
    finally:
        con.close()


def _keywords(con, bare: bool) -> set[str]:
    """The installed DuckDB's keywords that may (``bare``) or may not stand bare as a name."""
    rows = con.execute("SELECT keyword_name FROM duckdb_keywords() WHERE "
                       f"{'' if bare else 'NOT '}keyword_category IN ('unreserved', 'column_name')")
    return {k for k, in rows.fetchall()}


@pytest.fixture()
def old_sqlglot_quoting(monkeypatch):
    """sqlglot's DuckDB writer with no reserved words of its own, as sqlglot 29 and older write
    ``at`` (a DuckDB keyword every DuckDB refuses bare: ``aka_title AS at``, JOB 15a)."""
    import sqlglot

    from deepquery.query_graph import quote
    monkeypatch.setattr(sqlglot.Dialect.get_or_raise("duckdb").generator_class,
                        "RESERVED_KEYWORDS", set())
    quote.cache_clear()
    yield
    quote.cache_clear()


# Before (sqlglot 29 and older, emulated): 15a's planned SQL held 'aka_title AS at' and 'at.title',
# which DuckDB refuses ('Parser Error: syntax error at or near "at"'), and so did the user's
# query as deepquery sends it: plan said exit 2, a DuckDB error in the user's query.
def test_every_job_query_quotes_its_keyword_aliases_whatever_sqlglot_quotes(
        job_dir, imdb_db, old_sqlglot_quoting):
    from deepquery.rewrite import original_sql
    con = connect(imdb_db)
    try:
        keywords, schema = _keywords(con, bare=False), schema_of(con)
        files = sorted(f for f in job_dir.glob("*.sql") if re.fullmatch(r"\d+[a-z]\.sql", f.name))
        quoted = set()
        for f in files:
            g = parse_query(f.read_text(), schema, f.stem)
            tree = get_optimizer("greedy")(g, EstimatedCardinality(g, TableStats(con)),
                                           get_cost_model("cout"))
            for sql in (plan_sql(g, tree), original_sql(g)):
                bare = (set(re.findall(r"\bAS\s+(\w+)", sql, re.IGNORECASE))
                        | set(re.findall(r"\b(\w+)\.", sql)))
                assert not {w.lower() for w in bare} & keywords, (f.name, sql)
                quoted |= set(re.findall(r'\bAS\s+"(\w+)"', sql, re.IGNORECASE))
                bind(con, sql)
        # the test sees keyword aliases at all (15a and others), where this DuckDB has `at` as one
        # (DuckDB 1.2 does not: it takes `aka_title AS at` bare)
        assert ("at" in quoted) == ("at" in keywords)
    finally:
        con.close()


# Before (sqlglot 29 and older, emulated): a table aliased 'at', 'asof', 'anti', 'by', ... planned to
# SQL DuckDB refuses. Keywords DuckDB takes bare (unreserved: 'name', 'year'; column_name:
# 'character') stay bare, and bind.
def test_a_keyword_as_table_alias_plans_to_sql_that_binds(imdb_db, old_sqlglot_quoting):
    con = connect(imdb_db)
    try:
        schema, planned = schema_of(con), set()
        for k in sorted(_keywords(con, bare=False) | _keywords(con, bare=True)):
            sql = (f"SELECT MIN({k}.title) AS first FROM title AS {k}, movie_companies AS mc "
                   f"WHERE {k}.id = mc.movie_id AND {k}.production_year > 2000")
            try:
                g = parse_query(sql, schema, "q")
            except QueryError:  # sqlglot's reader refuses it bare: the user quotes it
                continue
            tree = get_optimizer("greedy")(g, EstimatedCardinality(g, TableStats(con)),
                                           get_cost_model("cout"))
            bind(con, plan_sql(g, tree))
            planned.add(k)
        assert {"at", "asof", "anti", "name", "character"} <= planned
    finally:
        con.close()
