"""A join tree back to SQL: the query with explicit, parenthesised JOINs in the plan's order.

The left child of each join comes first (DuckDB's probe side), the right child second (its
build side). Each join's ON clause holds one predicate per equality class linking the two sides
(implied duplicates are left out; an edge between two domains is a class of its own) plus any
non-equi predicate between them; a join with none is
a CROSS JOIN. Base-table filters stay in WHERE; DuckDB pushes them into the scans.
"""
from __future__ import annotations

from sqlglot import exp

from .join_tree import JoinTree
from .query_graph import (
    QueryGraph,
    equality_classes,
    parse_statement,
    quote,
    quote_keywords,
    star_modifier_items,
    star_owns,
    strip_schema_qualifiers,
)


def _on(graph: QueryGraph, left: int, right: int) -> list[str]:
    # Transitive classes come first and are disjoint: setdefault keeps a column's own.
    klass: dict[tuple[int, str], int] = {}
    for k, cls in enumerate(equality_classes(graph)):
        for m in cls:
            klass.setdefault(m, k)
    seen, out = set(), []
    for e in graph.edges_between(left, right):
        if e.sql == "TRUE":
            continue
        if e.equi and e.transitive:  # an edge between two domains implies no other: each stays
            k = klass[(e.left, e.left_column)]
            if k in seen:
                continue
            seen.add(k)
        out.append(e.sql)
    return out


def from_clause(graph: QueryGraph, tree: JoinTree) -> str:
    """The FROM clause of a join tree."""
    if tree.is_leaf:
        r = graph.relations[tree.relation]
        return f"{quote(r.table)} AS {quote(r.alias)}"
    left = from_clause(graph, tree.left)
    right = from_clause(graph, tree.right)
    if not tree.right.is_leaf:
        right = f"({right})"
    preds = _on(graph, tree.left.mask, tree.right.mask)
    if not preds:
        return f"{left} CROSS JOIN {right}"
    return f"{left} JOIN {right} ON {' AND '.join(preds)}"


_FROM, _WHERE = "__deepquery_from__", "__deepquery_where__"


_LIMITS = ("limit", "offset")
"""The clauses that keep some of the rows (LIMIT, FETCH FIRST, OFFSET)."""


def has_limit(graph: QueryGraph) -> bool:
    """Whether the query keeps only some of its rows (LIMIT, FETCH FIRST or OFFSET): which ones
    may depend on the plan, unless ORDER BY fixes them."""
    stmt = parse_statement(graph.sql)
    return any(stmt.args.get(k) for k in _LIMITS)


def _statement(graph: QueryGraph, limit: bool) -> exp.Select:
    """The query's statement; ``limit=False``: every row it has before LIMIT and OFFSET, in no
    particular order (ORDER BY would sort the whole result for nothing; it stays where DISTINCT
    ON picks its rows by it)."""
    stmt = strip_schema_qualifiers(parse_statement(graph.sql))
    if not limit:
        for k in _LIMITS:
            stmt.set(k, None)
        distinct = stmt.args.get("distinct")
        if not (distinct and distinct.args.get("on")):
            stmt.set("order", None)
    return stmt


def _per_relation(graph: QueryGraph, star: exp.Star) -> list[exp.Expression]:
    """``* EXCLUDE (...) REPLACE (...) RENAME (...)`` as one ``alias.*`` per relation in the
    query's order, each with the modifiers that touch its columns, as DuckDB applies them: an
    unqualified EXCLUDE or RENAME name acts on every relation that has the column, a qualified
    one on its relation only; a REPLACE names one relation's column (parse_query refuses
    others). A relation whose columns are all excluded is left out."""
    excluded, replaced, renamed = star_modifier_items(star)
    out: list[exp.Expression] = []
    for r in graph.relations:
        gone = [c for c in excluded if star_owns(r, c)]
        if len({c.name.lower() for c in gone}) == len(r.columns):
            continue
        mods = {
            "except_": [exp.column(c.name) for c in gone],
            "replace": [item.copy() for item in replaced if item.alias.lower() in r.columns],
            "rename": [exp.alias_(exp.column(item.this.name), item.alias)
                       for item in renamed if star_owns(r, item.this)],
        }
        out.append(exp.Column(this=exp.Star(**{k: v for k, v in mods.items() if v}),
                              table=exp.to_identifier(r.alias)))
    return out or [star]  # all excluded: DuckDB refuses the query as written, and so this


def _stars_in_query_order(graph: QueryGraph, select: list[exp.Expression]) -> list[exp.Expression]:
    """The SELECT list with each bare ``*`` written as every relation's ``alias.*`` in the
    query's FROM order: ``*`` lists columns in FROM order, and the planned FROM is the plan's.
    A star with EXCLUDE, REPLACE or RENAME is spelled out the same way (:func:`_per_relation`)."""
    out: list[exp.Expression] = []
    for e in select:
        if isinstance(e, exp.Star) and not any(e.args.get(k) for k in exp.Star.arg_types):
            out.extend(exp.Column(this=exp.Star(), table=exp.to_identifier(a)) for a in graph.aliases)
        elif isinstance(e, exp.Star):
            out.extend(_per_relation(graph, e))
        else:
            out.append(e)
    return out


def plan_sql(graph: QueryGraph, tree: JoinTree, limit: bool = True) -> str:
    """The whole query rewritten to join in the order of ``tree``; ``limit=False`` leaves out
    LIMIT and OFFSET (every row the query has before them, unordered: see :func:`_statement`).

    Only FROM and WHERE change (and a bare ``SELECT *``, spelled out per relation so that its
    columns keep the query's order): the statement is printed with placeholders in their place,
    so every other clause (DISTINCT, GROUP BY, HAVING, WINDOW, QUALIFY, ORDER BY, LIMIT) stays as
    the user wrote it."""
    if sorted(tree.leaves()) != list(range(graph.n)):
        raise ValueError("the tree must cover every relation exactly once")
    stmt = _statement(graph, limit)
    stmt.set("expressions", _stars_in_query_order(graph, stmt.expressions))
    stmt.set("joins", None)
    stmt.set("from_" if "from_" in stmt.args else "from", exp.From(this=exp.to_table(_FROM)))
    filters = [f"({p})" for f in graph.filters for p in f]
    stmt.set("where", exp.Where(this=exp.column(_WHERE)) if filters else None)
    text = quote_keywords(stmt).sql(dialect="duckdb", pretty=False)
    if text.count(_FROM) != 1 or text.count(_WHERE) != bool(filters):
        raise ValueError("the query contains deepquery's placeholder names")
    text = text.replace(f" FROM {_FROM}", f"\nFROM {from_clause(graph, tree)}")
    return text.replace(f" WHERE {_WHERE}", "\nWHERE " + "\n  AND ".join(filters))


def original_sql(graph: QueryGraph, limit: bool = True) -> str:
    """The user's query in DuckDB's dialect (``limit=False``: without LIMIT and OFFSET, and
    unordered, see :func:`_statement`)."""
    return quote_keywords(_statement(graph, limit)).sql(dialect="duckdb")
