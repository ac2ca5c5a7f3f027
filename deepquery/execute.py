"""Run a planned query on DuckDB next to DuckDB's own plan and compare results and latencies.

The planned SQL runs with DuckDB's join-order optimizer and its build/probe side swap disabled
(``SET disabled_optimizers = 'join_order,build_side_probe_side'``), so DuckDB keeps the given
tree; the original SQL runs with every optimizer on. Both run ``repeat`` times on the same
read-only connection and the median latency is reported.
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass

import duckdb

from .database import execute_select
from .join_tree import JoinTree
from .query_graph import QueryGraph
from .rewrite import original_sql, plan_sql

PLANNED_DISABLED = "join_order,build_side_probe_side"


@dataclass(frozen=True)
class RunResult:
    """Latencies (ms, median of repeats) and whether both queries returned the same rows."""

    planned_ms: float
    duckdb_ms: float
    same_result: bool
    rows: int
    planned_sql: str


def _timed(con: duckdb.DuckDBPyConnection, sql: str, repeat: int) -> tuple[float, list[tuple]]:
    times, rows = [], []
    for _ in range(repeat):
        t = time.perf_counter()
        rows = execute_select(con, sql)
        times.append((time.perf_counter() - t) * 1000.0)
    return statistics.median(times), rows


def _canon(rows: list[tuple]) -> list[tuple]:
    def key(v):
        if isinstance(v, float):
            return ("f", round(v, 9) if math.isfinite(v) else str(v))
        return (type(v).__name__, str(v))
    return sorted((tuple(key(v) for v in r) for r in rows))


def run_plan(con: duckdb.DuckDBPyConnection, graph: QueryGraph, tree: JoinTree,
             repeat: int = 1) -> RunResult:
    """Execute ``tree`` as forced-order SQL and the original query; compare the two."""
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}")
    sql = plan_sql(graph, tree)
    try:
        con.execute(f"SET disabled_optimizers = '{PLANNED_DISABLED}'")
        planned_ms, planned = _timed(con, sql, repeat)
    finally:
        con.execute("SET disabled_optimizers = ''")
    duck_ms, original = _timed(con, original_sql(graph), repeat)
    return RunResult(planned_ms, duck_ms, _canon(planned) == _canon(original), len(planned), sql)
