"""Exact sub-join sizes of an acyclic equi-join query by message passing, without joining.

View the query as a bipartite graph: relations on one side, equality classes (join variables)
on the other, relation r linked to class u when one of r's columns is in u. When that graph is a
tree (Berge-acyclic, each class has one column per relation, every pair of a class's members is
joined: JOB's 113 queries all are), the size of the join of any connected set S is a
sum-product over the tree (Yannakakis 1981; Abo Khamis, Ngo & Rudra, "FAQ", PODS 2016):

- root the tree once, at relation 0; ``sub(x)`` is the set of relations below node x;
- the message of relation r to its parent class v, over the values x of v, is
  ``F(r)[x] = sum over rows t of sigma(r) with t.v = x of prod_{u child class of r, S n sub(u)
  non-empty} G(u)[t.u]``;
- the message of class u to its parent relation is ``G(u)[x] = prod_{r child of u in S} F(r)[x]``;
- the count of S is ``sum_x G(top)[x]`` when the highest node of S's subtree is a class, else
  ``sum over rows of sigma(top) of prod_u G(u)[t.u]``.

A class is active in S when two of its relations are in S; only then do NULLs in its columns
drop rows (each class has a slot for NULL whose messages are kept at 0). ``F(r)`` depends on S
only through ``S n sub(r)``, so it is memoised on that: the 13,248 connected subsets of 29a
(17 relations) need 1,102 distinct relation messages. Messages are dense float64 vectors over
each class's values that occur in two of its relations or more; they are sums and products of
non-negative integers, exact while below 2**53. A count at or above that is reported as unknown
(None), and so is any query that is not of this shape; the caller falls back to COUNT(*).
"""
from __future__ import annotations

import logging

import duckdb
import numpy as np

from .database import (
    INTEGER_TYPES,
    column_types,
    declared_uncollated,
    default_collation,
    execute_select,
    filter_sql,
    select_columns,
)
from .query_graph import QueryGraph, equality_classes, quote

logger = logging.getLogger(__name__)

EXACT_LIMIT = float(2 ** 53)
"""Counts from this value on may have lost integer precision in float64."""

MEMO_BYTES = 512 * 2 ** 20
"""Relation messages kept before the memo is dropped and rebuilt on demand."""


def acyclic_classes(graph: QueryGraph) -> list[list[tuple[int, str]]] | None:
    """The equality classes as lists of (relation, column), or None when the query is not a
    closed, Berge-acyclic equi-join (a non-equi edge, a class with two columns of one relation,
    a class whose members are not pairwise joined, or a cycle of relations and classes)."""
    if any(not e.equi for e in graph.edges):
        return None
    classes = [sorted(c) for c in equality_classes(graph)]
    pairs = {frozenset((e.left, e.right)) for e in graph.edges}
    links = 0
    for members in classes:
        rels = [i for i, _ in members]
        if len(set(rels)) != len(rels):
            return None
        if any(frozenset((a, b)) not in pairs for k, a in enumerate(rels) for b in rels[k + 1:]):
            return None
        links += len(rels)
    # Connected with nodes - 1 links, or a forest: links == nodes - components.
    nodes = graph.n + len(classes)
    if links != nodes - _components(graph.n, classes):
        return None
    return classes


def _components(n: int, classes: list[list[tuple[int, str]]]) -> int:
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    comps = n + len(classes)
    for members in classes:
        comps -= 1  # the class node joins the first member's component
        root = find(members[0][0])
        for i, _ in members[1:]:
            other = find(i)
            if other != root:
                parent[other] = root
                comps -= 1
    return comps


_INTEGERS = INTEGER_TYPES
"""Types whose values numpy holds exactly in one int64 array, however a class mixes them."""


def _comparable_in_numpy(con: duckdb.DuckDBPyConnection, graph: QueryGraph,
                         classes: list[list[tuple[int, str]]]) -> bool:
    """Whether each class's join columns are all integers (:data:`_INTEGERS`) or all VARCHAR
    without a collation (:func:`_uncollated_columns`): then numpy sorts and compares their values
    as DuckDB's equality does. Other types (LIST, STRUCT and MAP come back as Python objects
    numpy cannot sort; HUGEINT, UBIGINT mixed with BIGINT and DECIMAL as float64, which merges
    distinct values; DOUBLE, where DuckDB has NaN = NaN) go to COUNT(*), and so does a class
    with one collated member: DuckDB compares ``VARCHAR COLLATE NOCASE = VARCHAR`` ignoring case
    (NOACCENT, NFC and ICU's locales alike), numpy by code points."""
    types = column_types(con)
    strings: set[tuple[str, str]] = set()
    for members in classes:
        columns = {(graph.relations[i].table, c) for i, c in members}
        kinds = {types.get(tc) for tc in columns}
        if kinds <= _INTEGERS:
            continue
        if kinds != {"VARCHAR"}:
            return False
        strings |= columns
    return not strings or strings <= _uncollated_columns(con, {t for t, _ in strings})


def _uncollated_columns(con: duckdb.DuckDBPyConnection,
                        tables: set[str]) -> set[tuple[str, str]]:
    """``(table, column)`` of those of ``tables`` (lower case) DuckDB compares on ``con``
    without a collation: the base tables' columns declared without one
    (:func:`~deepquery.database.declared_uncollated`; a view's query may collate a column),
    none while ``con`` has a ``default_collation`` (``SET`` or ``PRAGMA``: a connection's
    setting, not stored in the database file, applied to every comparison)."""
    if default_collation(con):
        return set()
    return declared_uncollated(con, tables)


class FactorizedCounter:
    """``count(mask)`` for the connected sets of one acyclic query on one database."""

    def __init__(self, graph: QueryGraph, con: duckdb.DuckDBPyConnection,
                 classes: list[list[tuple[int, str]]]) -> None:
        self.graph = graph
        n = graph.n
        self._n = n
        # Bipartite tree: node i < n is relation i, node n + k is class k.
        adj: list[list[int]] = [[] for _ in range(n + len(classes))]
        column: dict[tuple[int, int], str] = {}
        for k, members in enumerate(classes):
            for i, c in members:
                adj[i].append(n + k)
                adj[n + k].append(i)
                column[(i, k)] = c
        parent = [-1] * len(adj)
        order, seen = [], [False] * len(adj)
        for root in range(n):  # several roots only if the query is disconnected
            if seen[root]:
                continue
            seen[root] = True
            order.append(root)
            stack = [root]
            while stack:  # parents enter ``order`` before their children
                x = stack.pop()
                for y in adj[x]:
                    if not seen[y]:
                        seen[y], parent[y] = True, x
                        order.append(y)
                        stack.append(y)
        sub = [0] * len(adj)
        for x in reversed(order):
            if x < n:
                sub[x] |= 1 << x
            if parent[x] >= 0:
                sub[parent[x]] |= sub[x]
        depth = [0] * len(adj)
        for x in order:
            if parent[x] >= 0:
                depth[x] = depth[parent[x]] + 1
        self._parent, self._sub, self._depth = parent, sub, depth
        self._children = [[y for y in adj[x] if parent[y] == x] for x in range(len(adj))]

        self._exact = _comparable_in_numpy(con, graph, classes)
        if not self._exact:
            logger.debug("join columns of types numpy cannot compare exactly: COUNT(*) instead")
            return
        # Rows of sigma(r), join columns only, encoded per class: values that occur in two
        # relations of the class or more get 0 .. D-1; every other value and NULL get D.
        raw: list[dict[str, np.ndarray]] = []
        self._rows: list[int] = []
        for i, rel in enumerate(graph.relations):
            cols = sorted({c for (j, _), c in column.items() if j == i})
            source = f"FROM {quote(rel.table)} AS {quote(rel.alias)} WHERE {filter_sql(graph, i)}"
            if cols:
                got = select_columns(con, f"SELECT {', '.join(quote(c) for c in cols)} {source}")
                # By position: DuckDB names a column as its table spells it ("Key"), not as
                # the graph does (lower case).
                raw.append(dict(zip(cols, got.values())))
                self._rows.append(len(raw[-1][cols[0]]))
            else:
                raw.append({})
                self._rows.append(int(execute_select(con, f"SELECT count(*) {source}")[0][0]))
        self._codes: dict[tuple[int, int], np.ndarray] = {}
        self._domain: list[int] = []
        for k, members in enumerate(classes):
            cols = [(i, np.ma.getdata(raw[i][c]), ~np.ma.getmaskarray(raw[i][c]))
                    for i, c in members]
            values, counts = np.unique(np.concatenate([np.unique(d[v]) for _, d, v in cols]),
                                       return_counts=True)
            shared = values[counts >= 2]
            dsize = len(shared)
            self._domain.append(dsize)
            for i, data, valid in cols:
                code = np.full(len(data), dsize, dtype=np.int64)
                if dsize:
                    v = data[valid]
                    pos = np.searchsorted(shared, v)
                    pos[pos == dsize] = 0
                    ok = shared[pos] == v
                    code[np.flatnonzero(valid)[ok]] = pos[ok]
                self._codes[(i, k)] = code
        self._memo: dict[tuple[int, int], np.ndarray] = {}
        self._memo_bytes = 0

    def count(self, mask: int) -> float | None:
        """Rows of the join of the connected set ``mask``; None when not exact in float64, or
        when the join columns are not of types this counter compares exactly."""
        if not self._exact:
            return None
        n = self._n
        top = min((i for i in range(n) if mask >> i & 1), key=self._depth.__getitem__)
        p = self._parent[top]
        # The top class is active when two of its relations are in S; its parent relation
        # cannot be (it would lie above ``top``).
        if p >= 0 and sum(1 for r in self._children[p] if mask >> r & 1) >= 2:
            total = float(self._class_message(p, mask).sum())
        else:
            w = self._row_weights(top, mask)
            total = float(self._rows[top]) if w is None else float(w.sum())
        return total if total < EXACT_LIMIT else None

    def _row_weights(self, r: int, mask: int) -> np.ndarray | None:
        """Per row of sigma(r): the product of its active child classes' messages (None: 1)."""
        w = None
        n = self._n
        for u in self._children[r]:
            if mask & self._sub[u]:
                g = self._class_message(u, mask)[self._codes[(r, u - n)]]
                w = g if w is None else w * g
        return w

    def _class_message(self, u: int, mask: int) -> np.ndarray:
        out = None
        for r in self._children[u]:
            if mask >> r & 1:
                f = self._relation_message(r, mask)
                out = f if out is None else out * f
        return out

    def _relation_message(self, r: int, mask: int) -> np.ndarray:
        key = (r, mask & self._sub[r])
        got = self._memo.get(key)
        if got is not None:
            return got
        k = self._parent[r] - self._n
        dsize = self._domain[k]
        w = self._row_weights(r, mask)
        f = np.bincount(self._codes[(r, k)], weights=w, minlength=dsize + 1).astype(np.float64)
        f[dsize] = 0.0  # NULLs and values no other relation has never match
        if self._memo_bytes + f.nbytes > MEMO_BYTES:
            logger.debug("message memo over %d bytes: dropped", MEMO_BYTES)
            self._memo.clear()
            self._memo_bytes = 0
        self._memo[key] = f
        self._memo_bytes += f.nbytes
        return f
