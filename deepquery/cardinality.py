"""Cardinalities of any sub-join: an independence-based estimator and true counts from DuckDB.

Both implement :class:`Cardinality`: ``card(mask)`` for a bitset of relations (memoised per
set), ``base_rows(i)`` for relation ``i``'s table before its filters.

Estimator (System R style, with measured base selectivities):
``|S| = prod_{r in S} |sigma(r)| * prod_{classes E} min_{m in E|S} d_m / prod_{m in E|S} d_m``,
where ``E|S`` are the members (relation, column) of an equality class inside ``S`` and ``d_m``
is the column's distinct count, capped by the filtered row count of its relation. Dividing by
all but the smallest distinct count of each class is the usual treatment of equivalence classes:
it counts each class once however many implied edges connect it. Non-equi join predicates get
the textbook 1/3; cross-product edges 1.

True cardinalities are exact counts of the sub-query, kept in a persistent
:class:`~deepquery._card_cache.CardinalityCache` keyed by the canonical ``SELECT count(*)`` text
and a fingerprint of what the count depends on besides (:func:`counts_fingerprint`): the
database, the counting code's :data:`COUNTS_VERSION`, the DuckDB version and the connection's
settings that can change a count (:data:`_SETTINGS`: time zone, collation, integer division,
...). A set that is not connected is the product of its components' counts. A connected set
is counted by message passing over the query's join tree (:mod:`deepquery._factorized_count`:
each relation's filtered join columns are read once, then the ~13k connected subsets of a
17-relation JOB query take seconds, where one COUNT(*) each takes tens of minutes), or, when
the query is not an acyclic equi-join or a count would not be exact in float64, by running the
``SELECT count(*)`` on DuckDB.
"""
from __future__ import annotations

import json
import logging
import math
from typing import Protocol

import duckdb
import sqlglot
from sqlglot import exp

from ._card_cache import CardinalityCache
from ._factorized_count import FactorizedCounter, acyclic_classes
from .database import TableStats, execute_select
from .query_graph import QueryGraph, equality_classes, quote

logger = logging.getLogger(__name__)

NON_EQUI_SELECTIVITY = 1.0 / 3.0
_INF = float("inf")

COUNTS_VERSION = 2
"""Bumped whenever a count of one SQL text on one database may come out differently than
before, so the cache never serves an older code's count: 2, numpy no longer counts joins on a
collated VARCHAR (9659425: it had 2 rows where DuckDB has 4) and only one domain's equalities
are implied; 1 (no version in the fingerprint), everything before."""


_SETTINGS = (
    # what a filter's value is: the time zone and calendar a TIMESTAMPTZ literal is read in
    # (``ts < '2020-01-01'``; DuckDB takes the time zone from the environment, ``TZ``), the
    # collation every VARCHAR ``=`` compares under (``SET``/``PRAGMA default_collation``)
    "TimeZone", "Calendar", "default_collation",
    # ``a.x / 2 = 2``: 4 only, or 4 and 5 under integer division
    "integer_division",
    # ``a.d / a.d IS NULL``: x / 0 is NaN or infinity (IEEE 754), or NULL
    "ieee_floating_point_ops",
    # ``array_sort(a.l)[1] = 5`` (DuckDB's list_sort without an order) sorts by these
    # (null_order is default_null_order's other name)
    "default_order", "default_null_order",
    # which table ``title`` is: the first schema of the search path that has one (``SET
    # schema`` sets it too)
    "search_path",
    # whether a filter binds at all (``length(a.x) = 1``, a TIMESTAMPTZ cast to TIMESTAMP): a
    # count made where it binds is not one where it raises
    "old_implicit_casting", "disable_timestamptz_casts",
)
"""Connection settings a count of one SQL text on one database depends on: every one of
DuckDB's (``duckdb_settings()``, 1.5) that changes what a ``SELECT count(*) FROM ... WHERE``
of base tables, filters and equi-joins binds to or evaluates. The others set resources,
storage, extensions, output formats (``arrow_*``), plans (``disabled_optimizers``,
``late_materialization_max_rows``: the same rows) or clauses such a query has not
(``order_by_non_integer_literal``, ``scalar_subquery_error_on_multiple_rows``: ORDER BY and
subqueries, which :func:`~deepquery.query_graph.parse_query` refuses; ``lambda_syntax``: sqlglot
writes a lambda ``LAMBDA x : ...``, which every value takes). They are the
connection's, not the file's: a library caller's own connection may have any of them. What no
setting shows, the connection's temporary tables, views and macros (which hide the database's
and the built-in functions of their names), turns the persistent cache off instead
(:func:`_temporary_objects`), as does another database attached (:func:`_attached_databases`:
``USE other`` sets ``search_path`` to ``other.main``, whatever file ``other`` is), and a query
whose predicates call the clock or chance (:func:`_volatile_predicate`: ``current_date``)."""


def counts_fingerprint(db_fingerprint: str, con: duckdb.DuckDBPyConnection) -> str:
    """What true-cardinality cache entries are keyed by besides the SQL: the database's
    fingerprint (for a foreign ``--db``, its path, size and mtime, unchanged by a new
    deepquery or DuckDB), :data:`COUNTS_VERSION`, the DuckDB version that counts (its rules
    change: 0.10 stopped casting to VARCHAR implicitly, what ``old_implicit_casting`` brings
    back) and ``con``'s :data:`_SETTINGS` (as JSON: a value may hold any character,
    ``search_path`` a comma)."""
    values = dict(con.execute("SELECT name, value FROM duckdb_settings() "
                              "WHERE list_contains(?, name)", [list(_SETTINGS)]).fetchall())
    return f"{db_fingerprint}:counts{COUNTS_VERSION}:duckdb{duckdb.__version__}:" + json.dumps(
        [[name, values.get(name)] for name in _SETTINGS], separators=(",", ":"))


def _temporary_objects(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The names of ``con``'s temporary tables, views and macros (a library caller's own
    connection may have them; deepquery's have none). About 20 ms: ``duckdb_functions()``
    lists every function."""
    return [name for (name,) in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary "
        "UNION ALL SELECT view_name FROM duckdb_views() WHERE temporary AND NOT internal "
        # DuckDB 1.2 lists its own macros (list_count, ...) under 'temp' too, as internal ones
        "UNION ALL SELECT function_name FROM duckdb_functions() WHERE database_name = 'temp' "
        "AND NOT internal "
        "ORDER BY 1").fetchall()]


def _attached_databases(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The names of ``con``'s databases when it has more than one (a library caller's
    connection may ``ATTACH`` others; deepquery's have one): ``USE``, ``SET schema`` or ``SET
    search_path`` make a query's tables another database's, which the fingerprint a caller
    gives (one database's) does not hold, nor the search path (a name, not what it names)."""
    names = [name for (name,) in con.execute(
        "SELECT database_name FROM duckdb_databases() WHERE NOT internal ORDER BY 1").fetchall()]
    return names if len(names) > 1 else []


_VOLATILE = tuple(getattr(exp, name) for name in (
    "CurrentDate", "CurrentTime", "CurrentTimestamp", "CurrentDatetime", "CurrentTimestampLTZ",
    "Localtime", "Localtimestamp", "Rand", "Uuid") if hasattr(exp, name))
"""sqlglot's nodes of the functions whose value changes with the clock (``current_date``,
``now()``) or at random (``random()``, ``uuid()``): a count under one is not kept."""


def _volatile_predicate(graph: QueryGraph) -> str | None:
    """The first of ``graph``'s filters and join predicates that calls one of :data:`_VOLATILE`
    (a count made today under ``d > current_date - INTERVAL 7 DAY`` is another count
    tomorrow), or None."""
    for sql in [p for f in graph.filters for p in f] + [e.sql for e in graph.edges]:
        try:
            tree = sqlglot.parse_one(sql, read="duckdb")
        except sqlglot.errors.SqlglotError:
            return sql  # not read: not known to be stable
        if tree.find(*_VOLATILE) is not None:
            return sql
    return None


class Cardinality(Protocol):
    """Cardinality of any set of relations of one graph."""

    graph: QueryGraph

    def card(self, mask: int) -> float:
        """Rows produced by joining the relations of ``mask`` (with their filters)."""
        ...

    def base_rows(self, i: int) -> float:
        """Rows of relation ``i``'s table before filters."""
        ...


class EstimatedCardinality:
    """Independence-assumption estimates from measured filter selectivities and distinct counts."""

    def __init__(self, graph: QueryGraph, stats: TableStats) -> None:
        self.graph = graph
        self._base = [float(stats.rows(r.table)) for r in graph.relations]
        self._filtered = [float(stats.filtered(graph, i)) for i in range(graph.n)]
        # Per equality class: its bitset, each member relation's distinct count, and a memo of
        # min(d) / prod(d) over the members inside a set (1 for fewer than two), so a set's
        # factor is usually one dict lookup. The memo fills on demand: a class of k members has
        # 2^k subsets (2^30 for 30 tables joined on one column), far more than DP ever asks.
        self._classes: list[tuple[int, dict[int, float], dict[int, float]]] = []
        for cls in equality_classes(graph):
            members: dict[int, float] = {}
            for i, c in sorted(cls):  # sorted: a frozenset's order varies by process
                d = max(1.0, min(float(stats.distinct(graph.relations[i].table, c)),
                                 self._filtered[i]))
                members[i] = min(members.get(i, d), d)  # two columns of one relation: keep one
            distinct = {1 << i: d for i, d in members.items()}
            self._classes.append((sum(distinct), distinct, {}))
        self._theta = [(1 << e.left) | (1 << e.right) for e in graph.edges
                       if not e.equi and e.sql != "TRUE"]
        self._memo: dict[int, float] = {}
        self._prod: dict[int, float] = {}

    def base_rows(self, i: int) -> float:
        return self._base[i]

    def _filtered_product(self, mask: int) -> float:
        """prod |sigma(r)| over ``mask``, multiplied lowest relation first: the product of the
        set without its highest relation (memoised, so DP's sets share their prefixes)."""
        got = self._prod.get(mask)
        if got is None:
            high = mask.bit_length() - 1
            rest = mask ^ (1 << high)
            got = self._prod[mask] = (self._filtered_product(rest) if rest else 1.0) * \
                self._filtered[high]
        return got

    def card(self, mask: int) -> float:
        got = self._memo.get(mask)
        if got is not None:
            return got
        est = self._filtered_product(mask)
        for cmask, distinct, ratio in self._classes:
            sub = mask & cmask
            if sub:
                r = ratio.get(sub)
                if r is None:
                    r = ratio[sub] = _class_ratio(distinct, sub)
                est *= r
        for pair in self._theta:
            if mask & pair == pair:
                est *= NON_EQUI_SELECTIVITY
        if not 0.0 < est < _INF:
            # inf, NaN or 0: the product of many relations' rows (or of a large class's
            # distinct counts) may pass float's range where the estimate itself does not.
            est = self._log_estimate(mask)
        self._memo[mask] = est
        return est

    def _log_estimate(self, mask: int) -> float:
        """:meth:`card`'s formula summed in logarithms: no intermediate product overflows
        (60 relations of 1e6 rows: 1e360) or underflows; inf only when the estimate is."""
        logs = 0.0
        m = mask
        while m:
            low = m & -m
            m ^= low
            rows = self._filtered[low.bit_length() - 1]
            if rows <= 0.0:
                return 0.0
            logs += math.log(rows)
        for cmask, distinct, _ in self._classes:
            ds = [d for bit, d in sorted(distinct.items()) if mask & cmask & bit]
            if ds:
                logs += math.log(min(ds)) - math.fsum(math.log(d) for d in ds)
        logs += math.log(NON_EQUI_SELECTIVITY) * sum(mask & p == p for p in self._theta)
        try:
            return math.exp(logs)
        except OverflowError:
            return _INF


def _class_ratio(distinct: dict[int, float], sub: int) -> float:
    """min(d) / prod(d) over the class members (relation bits, lowest first) inside ``sub``."""
    ds = [d for bit, d in sorted(distinct.items()) if sub & bit]
    prod = 1.0
    for d in ds:
        prod *= d
    return min(ds) / prod


class TrueCardinality:
    """Exact sub-join sizes by DuckDB ``COUNT(*)``, cached in memory and on disk."""

    def __init__(self, graph: QueryGraph, stats: TableStats, db_fingerprint: str,
                 cache: CardinalityCache | None = None, method: str = "auto") -> None:
        """``method``: ``auto`` counts by message passing where the query allows it and by
        COUNT(*) elsewhere; ``sql`` always runs COUNT(*)."""
        if method not in ("auto", "sql"):
            raise ValueError(f"method must be 'auto' or 'sql', got {method!r}")
        self.graph = graph
        self._stats = stats
        self._fp = counts_fingerprint(db_fingerprint, stats.con)
        temporary = _temporary_objects(stats.con) if cache is not None else []
        if temporary:
            # a temporary table named like the database's hides it, a macro named like a
            # built-in function replaces it, and no key holds what a temporary table holds
            logger.warning("true cardinalities are not cached: the connection has temporary "
                           "objects (%s), which may hide the database's", ", ".join(temporary))
            cache = None
        volatile = _volatile_predicate(graph) if cache is not None else None
        if volatile is not None:
            logger.warning("true cardinalities are not cached: %s changes with the clock or at "
                           "random", volatile)
            cache = None
        attached = _attached_databases(stats.con) if cache is not None else []
        if attached:
            logger.warning("true cardinalities are not cached: the connection has several "
                           "databases (%s), whose tables its search path may read",
                           ", ".join(attached))
            cache = None
        self._cache = cache
        self._base = [float(stats.rows(r.table)) for r in graph.relations]
        self._memo: dict[int, float] = {}
        self._counter: FactorizedCounter | None = None
        self._sql_parts: tuple[list[str], list[list[str]], list[tuple[int, str]]] | None = None
        self._classes = acyclic_classes(graph) if method == "auto" else None
        self.computed = 0
        """Counts computed (not found in the cache), by either method."""
        self.queries_run = 0
        """Of those, counts computed by running COUNT(*) on DuckDB."""

    def base_rows(self, i: int) -> float:
        return self._base[i]

    def count_sql(self, mask: int) -> str:
        """Canonical ``SELECT count(*)`` of a connected set (relations and predicates sorted)."""
        if self._sql_parts is None:
            g = self.graph
            self._sql_parts = (
                [f"{quote(r.table)} AS {quote(r.alias)}" for r in g.relations],
                [[f"({p})" for p in f] for f in g.filters],
                [((1 << e.left) | (1 << e.right), e.sql) for e in g.edges if e.sql != "TRUE"])
        rel_sql, filter_parts, edge_sql = self._sql_parts
        inside = [i for i in range(self.graph.n) if mask >> i & 1]
        rels = sorted(rel_sql[i] for i in inside)
        preds = sorted({p for i in inside for p in filter_parts[i]}
                       | {sql for pair, sql in edge_sql if mask & pair == pair})
        return f"SELECT count(*) FROM {', '.join(rels)} WHERE {' AND '.join(preds) or 'TRUE'}"

    def card(self, mask: int) -> float:
        got = self._memo.get(mask)
        if got is not None:
            return got
        g = self.graph
        if not g.is_connected(mask):
            val = 1.0
            for comp in g.components(mask):
                val *= self.card(comp)
        else:
            sql = self.count_sql(mask)
            cached = self._cache.get(self._fp, sql) if self._cache is not None else None
            if cached is None:
                cached = self._count(mask, sql)
                self.computed += 1
                if self._cache is not None:
                    self._cache.put(self._fp, sql, cached)
            val = cached
        self._memo[mask] = val
        return val

    def _count(self, mask: int, sql: str) -> float:
        if self._classes is not None:
            if self._counter is None:
                self._counter = FactorizedCounter(self.graph, self._stats.con, self._classes)
            got = self._counter.count(mask)
            if got is not None:
                return got
        self.queries_run += 1
        return float(execute_select(self._stats.con, sql)[0][0])
