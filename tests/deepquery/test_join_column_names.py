"""Join columns named with a DuckDB keyword (``a."select" = b.aid``) or with capitals: the SQL
deepquery writes from the graph's join edges (true cardinalities' COUNT(*), the planned SQL)
quotes them as every other name it writes, so it runs and counts what DuckDB counts."""
from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from deepquery import TableStats, TrueCardinality, connect, parse_query
from deepquery.cost_models import get_cost_model
from deepquery.database import schema_of
from deepquery.execute import run_plan
from deepquery.optimizers import OPTIMIZERS

from .dq_helpers import deepquery_cli

NAMES = ["select", "from", "where", "order", "group", "table", "at", "asof", "Key", "MiXed",
         "year", "Select"]
"""Reserved keywords, type_function keywords (``at``, ``asof``), mixed case, an unreserved
keyword and a keyword spelled with a capital."""


def _database(path: Path, name: str) -> Path:
    """``a(<name>, x)``, ``b(aid, "from")``, ``c(<name>)``: 2, 3 and 2 rows."""
    con = duckdb.connect(str(path))
    con.execute(f'CREATE TABLE a("{name}" INTEGER, x INTEGER)')
    con.execute('CREATE TABLE b(aid INTEGER, "from" INTEGER)')
    con.execute(f'CREATE TABLE c("{name}" INTEGER)')
    con.execute("INSERT INTO a VALUES (1, 1), (2, 2)")
    con.execute("INSERT INTO b VALUES (1, 1), (1, 2), (2, 2)")
    con.execute("INSERT INTO c VALUES (1), (2)")
    con.close()
    return path


@pytest.mark.parametrize("name", NAMES)
def test_a_keyword_or_mixed_case_join_column_is_counted_and_planned(tmp_path, name):
    # Old code: the edge's SQL held the column bare (a.select = b.aid), so COUNT(*) and the
    # planned SQL were syntax errors for the reserved and type_function keywords.
    con = connect(_database(tmp_path / "t.duckdb", name))
    sql = (f'SELECT count(*) FROM a, b, c WHERE a."{name}" = b.aid AND b.aid = c."{name}" '
           f'AND b."from" = a.x')
    expected = con.execute(sql).fetchone()[0]
    g = parse_query(sql, schema_of(con))
    stats = TableStats(con)
    for method in ("auto", "sql"):
        cards = TrueCardinality(g, stats, "fp", method=method)
        assert cards.card(g.full_mask) == expected, method
        for mask in range(1, 1 << g.n):
            if g.is_connected(mask):
                con.execute(cards.count_sql(mask)).fetchone()
        for optimizer in ("dp", "random"):
            tree = OPTIMIZERS[optimizer](g, cards, get_cost_model("cm1"))
            assert run_plan(con, g, tree).same_result, (method, optimizer)
    con.close()


def test_plan_with_true_cards_on_a_join_column_named_select(tmp_path):
    # Old code: 'internal error: ... the planned SQL does not bind in DuckDB: SQL syntax error',
    # exit 1.
    db = _database(tmp_path / "t.duckdb", "select")
    query = tmp_path / "q.sql"
    query.write_text('SELECT count(*) FROM a, b WHERE a."select" = b.aid;\n')
    r = deepquery_cli("plan", str(query), "--db", str(db), "--cards", "true", "--json",
                      cache=tmp_path / "cache")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["rows"] == 3
