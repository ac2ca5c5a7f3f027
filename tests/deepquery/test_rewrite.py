"""The planned SQL returns the rows of the user's query as DuckDB runs it (a multiset; in order
where ORDER BY fixes it), for every optimizer's tree."""
from __future__ import annotations

from collections import Counter

import pytest

from deepquery import (
    EstimatedCardinality,
    TableStats,
    TrueCardinality,
    connect,
    get_cost_model,
    get_optimizer,
    parse_query,
)
from deepquery.database import schema_of
from deepquery.execute import PLANNED_DISABLED
from deepquery.optimizers import OPTIMIZERS
from deepquery.rewrite import plan_sql


@pytest.fixture(scope="module")
def con(imdb_db):
    c = connect(imdb_db)
    c.execute("SET threads = 1")
    yield c
    c.close()


def _planned_rows(con, sql: str, optimizer: str = "dp") -> tuple[list[tuple], list[tuple]]:
    """The user's ``sql`` run on DuckDB as written, and the planned SQL of ``optimizer``."""
    g = parse_query(sql, schema_of(con))
    tree = get_optimizer(optimizer)(g, EstimatedCardinality(g, TableStats(con)),
                                    get_cost_model("cout"))
    want = con.execute(sql).fetchall()
    con.execute(f"SET disabled_optimizers = '{PLANNED_DISABLED}'")
    try:
        got = con.execute(plan_sql(g, tree)).fetchall()
    finally:
        con.execute("SET disabled_optimizers = ''")
    return want, got


# (pi.id % 3 = 1 OR n.id % 3 = 1) joins two relations: it goes into a join's ON beside the
# equi-join, where it was written without its parentheses (ON a = b AND x OR y).
OR_ACROSS_TABLES = ("SELECT pi.id, n.id FROM person_info AS pi, name AS n "
                    "WHERE pi.person_id = n.id AND (pi.id % 3 = 1 OR n.id % 3 = 1) AND pi.id < 300")


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_an_or_across_two_tables_keeps_its_parentheses_in_the_join(con, optimizer):
    want, got = _planned_rows(con, OR_ACROSS_TABLES, optimizer)
    assert want and Counter(got) == Counter(want)


def test_true_cardinality_of_an_or_across_two_tables_counts_the_query(con):
    g = parse_query(OR_ACROSS_TABLES, schema_of(con))
    cards = TrueCardinality(g, TableStats(con), "test", cache=None)
    want = con.execute(f"SELECT count(*) FROM ({OR_ACROSS_TABLES})").fetchone()[0]
    assert cards.card(g.full_mask) == want
