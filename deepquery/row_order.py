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
  come in any order. Not when the window's PARTITION BY and ORDER BY together hold a key of its
  input rows, so no two rows tie (the functions then, and a frame's rows, are fixed; an
  aggregate's order within its frame is not trusted to follow and stays flagged):

  - with a plain GROUP BY, its rows are groups: every GROUP BY expression is a key (ROLLUP,
    CUBE, GROUPING SETS and GROUP BY ALL are not read, and stay flagged);
  - without, its rows are the join's: one row of each relation, so the key columns
    (:class:`RowKeys`: each relation's primary key) of all relations are a key. A relation
    whose key column is equi-joined to a column of a relation already fixed is fixed too
    (``ORDER BY mc.id`` with ``mc.movie_id = t.id`` fixes t's row), when ``=`` between the
    two columns tells every two key values apart (:func:`row_keys`: not through a cast or a
    collation). ``ORDER BY t.id`` alone is no key of ``title t JOIN movie_companies mc``: a
    title has many company rows. A key compared under a collation (``NOCASE``, or any VARCHAR
    under a ``default_collation``) is no key: its 'A' and 'a' tie.

  Expressions are matched by their text (``t.id``, lower case); a select alias or position
  is not resolved, and stays flagged;
- a column compared under a collation (``NOCASE``, a view's VARCHAR, any VARCHAR under a
  ``default_collation``) in a GROUP BY, DISTINCT, window or aggregate (``min(a.s)``), or in the
  output of a query that groups or is DISTINCT: which of the values equal under it ('A', 'a')
  comes out follows row order (:attr:`RowKeys.tied`).

LIMIT without an ORDER BY that fixes its rows is not here: ``run`` re-checks it without LIMIT
(:mod:`deepquery.execute`).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlglot import exp

from .query_graph import QueryGraph, equality_classes, parse_statement


@dataclass(frozen=True)
class RowKeys:
    """What identifies a row of a query's join: per relation alias, the text of its key column
    (``t.id``: unique and never NULL in its table), and the pairs ``(a, b)`` where a's row fixes
    b's, a's column being equi-joined to b's key column."""

    columns: Mapping[str, str]
    fixes: tuple[tuple[str, str], ...] = ()
    tied: frozenset[str] = frozenset()
    """The texts (``a.s``, lower case) of the query's columns compared under a collation (a
    ``NOCASE`` column, a view's VARCHAR, any VARCHAR under a ``default_collation``): 'A' and
    'a' are one group, one DISTINCT value, a tie, and which of them comes out follows row
    order."""


def row_keys(graph: QueryGraph, primary: Mapping[str, str],
             domains: Mapping[tuple[str, str], str]) -> RowKeys:
    """The :class:`RowKeys` of ``graph`` from each table's single-column primary key
    (``table -> column``) and the domains of the columns whose ``=`` tells every two values
    apart (``(table, column) -> domain``: :func:`~deepquery.database.key_domains`): an
    equi-join fixes the keyed row only between two columns of one such domain. Not through a
    cast (VARCHAR '01' and '1' both equal INTEGER 1), nor under a collation (a key's 'A' and 'a'
    both equal a NOCASE column's 'a'); a column missing from ``domains`` fixes nothing, and is
    no key: a NOCASE key holds 'A' and 'a', which tie in an ORDER BY and share a PARTITION."""
    rels = graph.relations
    columns = {r.alias: f"{r.alias}.{primary[r.table]}".lower() for r in rels
               if r.table in primary and (r.table, primary[r.table]) in domains}
    fixes = set()
    for cls in equality_classes(graph):
        for i, c in cls:
            if primary.get(rels[i].table) != c:
                continue
            key_domain = domains.get((rels[i].table, c))
            for j, d in cls:
                if j != i and key_domain is not None and \
                        domains.get((rels[j].table, d)) == key_domain:
                    fixes.add((rels[j].alias, rels[i].alias))
    tied = frozenset(f"{r.alias}.{c}".lower() for r in rels for c in r.columns
                     if (r.table, c) not in domains)
    return RowKeys(columns, tuple(sorted(fixes)), tied)


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


def _window_keys(window: exp.Window, named: Mapping[str, exp.Window]) -> set[str]:
    """The texts of a window's PARTITION BY and ORDER BY expressions, those of the named
    windows it builds on (``OVER w``, ``OVER (w ORDER BY ...)``) included."""
    keys: set[str] = set()
    seen: set[str] = set()
    node: exp.Window | None = window
    while node is not None:
        keys |= {e.sql().lower() for e in node.args.get("partition_by") or []}
        order = node.args.get("order")
        keys |= {o.this.sql().lower() for o in (order.expressions if order else [])}
        base = node.args.get("alias")
        name = base.name.lower() if isinstance(base, exp.Identifier) else None
        if name is None or name in seen:
            break
        seen.add(name)
        node = named.get(name)
    return keys


def _fully_ordered(window: exp.Window, stmt: exp.Select, named: Mapping[str, exp.Window],
                   keys: RowKeys | None) -> bool:
    """Whether no two of the window's input rows tie in its PARTITION BY and ORDER BY: they
    hold every plain GROUP BY expression, or (no GROUP BY) fix every relation's row."""
    held = _window_keys(window, named)
    group = stmt.args.get("group")
    if group is not None:
        if any(group.args.get(k) for k in ("all", "rollup", "cube", "grouping_sets")) or any(
                isinstance(e, (exp.Rollup, exp.Cube, exp.GroupingSets)) for e in group.expressions):
            return False
        exprs = group.expressions
        return bool(exprs) and all(e.sql().lower() in held for e in exprs)
    if keys is None or not keys.columns:
        return False
    fixed = {alias for alias, column in keys.columns.items() if column in held}
    grew = True
    while grew:
        grew = False
        for a, b in keys.fixes:
            if a in fixed and b not in fixed:
                fixed.add(b)
                grew = True
    aliases = {t.alias_or_name.lower() for t in stmt.find_all(exp.Table)}
    return bool(aliases) and aliases <= {a.lower() for a in fixed}


def _collated_choice(stmt: exp.Select, tied: frozenset[str]) -> str | None:
    """A column of ``tied`` whose values equal under its collation ('A', 'a') may come out
    either way: inside a GROUP BY, DISTINCT ON, window or aggregate (``min(a.s)``), or in the
    output of a query that groups or is DISTINCT."""
    names = {t.split(".", 1)[1] for t in tied}
    grouped = bool(stmt.args.get("group") or stmt.args.get("distinct"))
    outputs = {id(e) for e in stmt.expressions}
    for col in stmt.find_all(exp.Column):
        text = f"{col.table}.{col.name}".lower()
        if not (text in tied or (not col.table and col.name.lower() in names)):
            continue
        node: exp.Expression | None = col
        while node is not None and node is not stmt:
            if isinstance(node, (exp.AggFunc, exp.Window, exp.Group, exp.Distinct)) or (
                    grouped and id(node) in outputs):
                return (f"{col.sql(dialect='duckdb')} compares under a collation: values equal "
                        "under it ('A', 'a') come out as either")
            node = node.parent
    return None


def order_dependence(sql: str, keys: RowKeys | None = None) -> str | None:
    """The first construct of the query ``sql`` whose result may depend on row order (see the
    module docstring), described in a few words, or None when there is none. ``keys``: what
    identifies a row of its join (:func:`row_keys`); without, only GROUP BY keys are known."""
    stmt = parse_statement(sql)
    found = _distinct_on(stmt)
    if found:
        return found
    named = {w.this.name.lower(): w for w in stmt.args.get("windows") or []
             if isinstance(w.this, exp.Identifier)}
    for node in stmt.walk():
        if isinstance(node, exp.Window):
            func = node.this
            if _aggregate(func) is not None or (
                    isinstance(func, _WINDOW_ORDER)
                    and not _fully_ordered(node, stmt, named, keys)):
                return f"{node.sql(dialect='duckdb')}: rows tied in its order come in any order"
        elif isinstance(node, exp.WindowSpec) and str(node.args.get("kind") or "").upper() in (
                "ROWS", "GROUPS"):
            if isinstance(node.parent, exp.Window) and _fully_ordered(node.parent, stmt, named,
                                                                      keys):
                continue
            return f"a {node.args['kind'].upper()} window frame: tied rows come in any order"
        elif _aggregate(node) is not None and not isinstance(node.parent, exp.Window):
            if isinstance(node, _AMONG_TIES):
                how = "it picks one row among ties"
            elif node.find(exp.Order) or isinstance(node.parent, exp.WithinGroup):
                how = "rows tied in its ORDER BY come in any order"
            else:
                how = "its value follows the order rows arrive in"
            return f"{node.sql(dialect='duckdb')}: {how}"
    return _collated_choice(stmt, keys.tied) if keys is not None and keys.tied else None
