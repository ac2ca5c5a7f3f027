"""Synthetic query graphs and an exact, closed-form cardinality for optimizer tests."""
from __future__ import annotations

import itertools

from deepquery.query_graph import JoinEdge, QueryGraph, Relation

TABLES = ["title", "movie_info", "movie_keyword", "cast_info", "movie_companies", "name",
          "keyword", "company_name", "info_type", "movie_info_idx", "aka_title", "char_name"]


def make_graph(n: int, edges: list[tuple[int, int]]) -> QueryGraph:
    """A graph over ``n`` relations; edge (i, j) joins i.id with j.movie_id (indexed FK)."""
    rels = tuple(Relation(f"r{i}", TABLES[i % len(TABLES)]) for i in range(n))
    es = tuple(JoinEdge(i, j, "id", "movie_id", f"r{i}.id = r{j}.movie_id") for i, j in edges)
    return QueryGraph(rels, es, tuple(() for _ in range(n)), "COUNT(*)", "", "synthetic")


def chain(n: int) -> QueryGraph:
    return make_graph(n, [(i, i + 1) for i in range(n - 1)])


def star(n: int) -> QueryGraph:
    return make_graph(n, [(0, i) for i in range(1, n)])


def clique(n: int) -> QueryGraph:
    return make_graph(n, list(itertools.combinations(range(n), 2)))


class ProductCardinality:
    """``|S| = prod rows_i * prod_{edges inside S} sel_e``: a consistent cardinality function."""

    def __init__(self, graph: QueryGraph, rows: list[float], sels: list[float]) -> None:
        self.graph = graph
        self.rows = rows
        self.sels = sels
        self.memo: dict[int, float] = {}

    def base_rows(self, i: int) -> float:
        return self.rows[i] * 2.0

    def card(self, mask: int) -> float:
        if mask not in self.memo:
            v = 1.0
            for i in range(self.graph.n):
                if mask >> i & 1:
                    v *= self.rows[i]
            for e, s in zip(self.graph.edges, self.sels):
                if mask >> e.left & 1 and mask >> e.right & 1:
                    v *= s
            self.memo[mask] = v
        return self.memo[mask]
