"""Constructs whose result may depend on the order rows reach them, found on the sqlglot AST.

A join order changes the order rows flow in, so for a query with one of these two right plans
may return different rows, and ``run`` cannot tell a right plan from a wrong one by comparing
them. It says so ("not comparable") instead of a false DIFFER:

- DISTINCT ON, unless ORDER BY (with the DISTINCT ON keys) holds every output expression: then
  the rows it may pick between are equal in every output;
- aggregates that keep, or pick one of, their input rows in arrival order: ``string_agg`` /
  ``group_concat``, ``list``, ``array_agg``, ``any_value``, ``first``, ``last``, unless the
  call's own ORDER BY holds every value it aggregates (``list(x ORDER BY y)`` is not fixed:
  rows that tie in ``y`` come in any order, as in DISTINCT ON); ``arg_min``/``arg_max``
  (``min_by``/``max_by``) and ``mode``, which pick among ties;
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
"""Aggregates whose value follows the input order unless the call's ORDER BY fixes it."""
_AMONG_TIES = (exp.ArgMin, exp.ArgMax, exp.Mode)
"""Aggregates that pick one row among ties, whatever the call says."""
_WINDOW_ORDER = (exp.RowNumber, exp.Ntile, exp.Lag, exp.Lead, exp.FirstValue, exp.LastValue,
                 exp.NthValue)
"""Window functions whose value depends on the order of the rows within the window."""


def _order_fixes(agg: exp.Expression) -> bool:
    """Whether an aggregate call's own ORDER BY (``list(x ORDER BY y)``, ``WITHIN GROUP``) fixes
    its value: its keys hold every value the call aggregates, so the rows that tie in them are
    equal in it (the rule DISTINCT ON follows below). Constants (a separator) need no key."""
    if isinstance(agg.parent, exp.WithinGroup):
        order, values = agg.parent.expression, list(agg.iter_expressions())
    else:  # sqlglot puts the call's ORDER BY around its first argument: Order(this=x, ...)
        order = next((a for a in agg.iter_expressions() if isinstance(a, exp.Order)), None)
        values = [order.this] if order is not None else []
    if not isinstance(order, exp.Order):
        return False
    values = [v for d in values for v in (d.expressions if isinstance(d, exp.Distinct) else [d])]
    keys = {o.this.sql() for o in order.expressions}
    return all(isinstance(v, exp.Literal) or v.sql() in keys for v in values)


def _aggregate(node: exp.Expression) -> exp.Expression | None:
    """``node`` when it is an order-sensitive aggregate call, else None."""
    if isinstance(node, _AMONG_TIES):
        return node
    if isinstance(node, _IN_ARRIVAL_ORDER) and not _order_fixes(node):
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
            if isinstance(node, _AMONG_TIES):
                how = "it picks one row among ties"
            elif node.find(exp.Order) or isinstance(node.parent, exp.WithinGroup):
                how = "rows tied in its ORDER BY come in any order"
            else:
                how = "its value follows the order rows arrive in"
            return f"{node.sql(dialect='duckdb')}: {how}"
    return None
