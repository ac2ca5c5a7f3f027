"""Run a planned query on DuckDB next to DuckDB's own plan and compare results and latencies.

The planned SQL runs with DuckDB's join-order optimizer and its build/probe side swap disabled
(``SET disabled_optimizers = 'join_order,build_side_probe_side'``), so DuckDB keeps the given
tree; the original SQL runs with every optimizer on. Both run ``repeat`` times on the same
read-only connection and the median latency is reported.

Both must return the same rows (a multiset; floats to 9 digits). Under LIMIT or OFFSET that is
too strict: without an ORDER BY that fixes them, which rows are kept is DuckDB's choice and
depends on the plan. So when the two differ there, both queries run once more without LIMIT and
OFFSET; the plan is right when those return the same rows, and each limited result holds as
many rows as the other, all of them rows of the unlimited result ("same rows up to LIMIT's
choice"). A plan that loses or adds rows is still caught: its unlimited result differs.
"""
from __future__ import annotations

import math
import statistics
import time
from collections import Counter
from dataclasses import dataclass

import duckdb

from .database import execute_select
from .join_tree import JoinTree
from .query_graph import QueryGraph
from .rewrite import has_limit, original_sql, plan_sql

PLANNED_DISABLED = "join_order,build_side_probe_side"


@dataclass(frozen=True)
class RunResult:
    """Latencies (ms, median of repeats) and whether both queries returned the same rows."""

    planned_ms: float
    duckdb_ms: float
    same_result: bool
    """The plan returns the query's rows (up to which rows LIMIT keeps, see ``limit_choice``)."""
    rows: int
    planned_sql: str
    limit_choice: bool = False
    """The two kept different rows under LIMIT or OFFSET, both right (see the module docstring)."""


def _timed(con: duckdb.DuckDBPyConnection, sql: str, repeat: int) -> tuple[float, list[tuple]]:
    times, rows = [], []
    for _ in range(repeat):
        t = time.perf_counter()
        rows = execute_select(con, sql)
        times.append((time.perf_counter() - t) * 1000.0)
    return statistics.median(times), rows


def _canon(rows: list[tuple]) -> Counter:
    """The rows as a multiset of comparable tuples (floats rounded to 9 digits: sums over
    another join order may differ in the last bits)."""
    def key(v):
        if isinstance(v, float):
            return ("f", round(v, 9) if math.isfinite(v) else str(v))
        return (type(v).__name__, str(v))
    return Counter(tuple(key(v) for v in r) for r in rows)


def _planned(con: duckdb.DuckDBPyConnection, sql: str, repeat: int) -> tuple[float, list[tuple]]:
    """``_timed`` with DuckDB's join ordering off, so it keeps the planned tree."""
    try:
        con.execute(f"SET disabled_optimizers = '{PLANNED_DISABLED}'")
        return _timed(con, sql, repeat)
    finally:
        con.execute("SET disabled_optimizers = ''")


def run_plan(con: duckdb.DuckDBPyConnection, graph: QueryGraph, tree: JoinTree,
             repeat: int = 1) -> RunResult:
    """Execute ``tree`` as forced-order SQL and the original query; compare the two."""
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}")
    sql = plan_sql(graph, tree)
    planned_ms, planned = _planned(con, sql, repeat)
    duck_ms, original = _timed(con, original_sql(graph), repeat)
    kept, want = _canon(planned), _canon(original)
    if kept == want:
        return RunResult(planned_ms, duck_ms, True, len(planned), sql)
    choice = False
    if has_limit(graph) and len(planned) == len(original):
        every = _canon(execute_select(con, original_sql(graph, limit=False)))
        choice = (_canon(_planned(con, plan_sql(graph, tree, limit=False), 1)[1]) == every
                  and not kept - every and not want - every)
    return RunResult(planned_ms, duck_ms, choice, len(planned), sql, limit_choice=choice)
