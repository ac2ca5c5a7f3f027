"""Constructs whose result may depend on the order rows reach them, found on the sqlglot AST.

A join order changes the order rows flow in, so for a query with one of these two right plans
may return different rows, and ``run`` cannot tell a right plan from a wrong one by comparing
them. It says so ("not comparable") instead of a false DIFFER:

- DISTINCT ON, unless ORDER BY (with the DISTINCT ON keys) holds every output expression: then
  the rows it may pick between are equal in every output;
- aggregates that keep, or pick one of, their input rows in arrival order: ``string_agg`` /
  ``group_concat``, ``list``, ``array_agg`` without ORDER BY in the call; ``any_value``,
  ``first``, ``last`` without one; ``arg_min``/``arg_max`` (``min_by``/``max_by``) and ``mode``,
  which pick among ties;
- window functions that number or pick rows (``row_number``, ``ntile``, ``lag``, ``lead``,
  ``first_value``, ``last_value``, ``nth_value``), an order-sensitive aggregate over a window,
  and a ROWS or GROUPS frame: rows that tie in the window's ORDER BY (or all rows, without one)
  come in any order.

LIMIT without an ORDER BY that fixes its rows is not here: ``run`` re-checks it without LIMIT
(:mod:`deepquery.execute`).
"""
from __future__ import annotations

from sqlglot import exp

from .query_graph import parse_statement

_IN_ARRIVAL_ORDER = (exp.GroupConcat, exp.List, exp.ArrayAgg, exp.AnyValue, exp.First, exp.Last)
"""Aggregates whose value follows the input order unless the call has an ORDER BY."""
_AMONG_TIES = (exp.ArgMin, exp.ArgMax, exp.Mode)
"""Aggregates that pick one row among ties, whatever the call says."""
_WINDOW_ORDER = (exp.RowNumber, exp.Ntile, exp.Lag, exp.Lead, exp.FirstValue, exp.LastValue,
                 exp.NthValue)
"""Window functions whose value depends on the order of the rows within the window."""


def _ordered_call(agg: exp.Expression) -> bool:
    """Whether an aggregate call has its own ORDER BY (``list(x ORDER BY y)``, ``WITHIN GROUP``)."""
    if isinstance(agg.parent, exp.WithinGroup):
        return True
    return any(isinstance(a, exp.Order) for a in agg.iter_expressions())


def _aggregate(node: exp.Expression) -> exp.Expression | None:
    """``node`` when it is an order-sensitive aggregate call, else None."""
    if isinstance(node, _AMONG_TIES):
        return node
    if isinstance(node, _IN_ARRIVAL_ORDER) and not _ordered_call(node):
        return node
    return None


def _distinct_on(stmt: exp.Select) -> str | None:
    distinct = stmt.args.get("distinct")
    on = distinct.args.get("on") if distinct else None
    if on is None:
        return None
    order = stmt.args.get("order")
    keys = {e.sql() for e in (on.expressions if isinstance(on, exp.Tuple) else [on])}
    keys |= {o.this.sql() for o in (order.expressions if order else [])}
    for e in stmt.expressions:
        plain = e.this if isinstance(e, exp.Alias) else e
        if plain.sql() not in keys and not (isinstance(e, exp.Alias) and e.alias in keys):
            return f"DISTINCT ON picks one row per group, and ORDER BY does not fix {e.sql()}"
    return None


def order_dependence(sql: str) -> str | None:
    """The first construct of the query ``sql`` whose result may depend on row order (see the
    module docstring), described in a few words, or None when there is none."""
    stmt = parse_statement(sql)
    found = _distinct_on(stmt)
    if found:
        return found
    for node in stmt.walk():
        if isinstance(node, exp.Window):
            func = node.this
            if isinstance(func, _WINDOW_ORDER) or _aggregate(func) is not None:
                return f"{node.sql(dialect='duckdb')}: rows tied in its order come in any order"
        elif isinstance(node, exp.WindowSpec) and str(node.args.get("kind") or "").upper() in (
                "ROWS", "GROUPS"):
            return f"a {node.args['kind'].upper()} window frame: tied rows come in any order"
        elif _aggregate(node) is not None and not isinstance(node.parent, exp.Window):
            how = ("it picks one row among ties" if isinstance(node, _AMONG_TIES)
                   else "its value follows the order rows arrive in")
            return f"{node.sql(dialect='duckdb')}: {how}"
    return None
