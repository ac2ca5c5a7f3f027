"""The planned SQL makes DuckDB execute exactly the planned tree (join ordering disabled)."""
from __future__ import annotations

import json

import pytest

from deepquery import EstimatedCardinality, TableStats, connect, get_cost_model, get_optimizer, parse_query
from deepquery.database import schema_of
from deepquery.execute import PLANNED_DISABLED
from deepquery.rewrite import plan_sql


def _physical_tree(node: dict):
    """DuckDB's EXPLAIN JSON reduced to nested [left, right] lists of scanned table names."""
    name = node["name"]
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
