"""IK-KBZ (Ibaraki & Kameda 1984; Krishnamurthy, Boral & Zaniolo 1986) on a minimum spanning tree.

IK-KBZ finds the optimal left-deep order for an acyclic query graph under a cost function with
the adjacent sequence interchange (ASI) property, here C_out's: for relation v with parent p in
the precedence tree, ``T(v) = s(v, p) * |v|`` and ``C(v) = T(v)``; for sequences
``T(S1 S2) = T(S1) T(S2)`` and ``C(S1 S2) = C(S1) + T(S1) C(S2)``, with rank ``(T - 1) / C``.
For each root: children's chains are merged by ascending rank; a node whose rank exceeds its
first successor's is merged with it into a compound module (normalisation) until ranks ascend;
the final chain, flattened, is the join order.

JOB's graphs are cyclic, so, as usual, IK-KBZ runs on the graph's minimum spanning tree with
join selectivities as weights (the most selective edges kept). Every root is tried and the
resulting left-deep plans are compared under the actual cost model.
"""
from __future__ import annotations

import math

from ..cardinality import Cardinality
from ..cost_models import CostModel
from ..join_tree import JoinTree, join, leaf
from ..query_graph import QueryGraph


def _selectivity(cards: Cardinality, i: int, j: int) -> float:
    denom = cards.card(1 << i) * cards.card(1 << j)
    return cards.card((1 << i) | (1 << j)) / denom if denom > 0 else 1.0


def minimum_spanning_tree(graph: QueryGraph, cards: Cardinality) -> list[list[int]]:
    """Adjacency lists of a spanning tree minimising total selectivity (Prim's algorithm)."""
    n = graph.n
    tree: list[list[int]] = [[] for _ in range(n)]
    best = {j: (_selectivity(cards, 0, j), 0) for j in range(1, n) if graph.adjacency[0] >> j & 1}
    inside = {0}
    while len(inside) < n:
        j, (_, parent) = min(best.items(), key=lambda kv: (kv[1][0], kv[0]))
        del best[j]
        inside.add(j)
        tree[parent].append(j)
        tree[j].append(parent)
        for k in range(n):
            if k not in inside and graph.adjacency[j] >> k & 1:
                s = _selectivity(cards, j, k)
                if k not in best or s < best[k][0]:
                    best[k] = (s, j)
    return tree


def _rank(m: tuple[list[int], float, float]) -> float:
    _, t, c = m
    if c <= 0:
        return -math.inf
    return (t - 1.0) / c


def kbz_order(tree: list[list[int]], root: int, cards: Cardinality) -> list[int]:
    """The IK-KBZ join order of a tree rooted at ``root``."""
    # Each subtree's normalised chain, children before parents, without recursion: one call per
    # level passed Python's recursion limit on a chain of about 500 relations.
    parent = {root: -1}
    order = [root]
    for v in order:  # breadth first: every parent before its children
        for c in tree[v]:
            if c != parent[v]:
                parent[c] = v
                order.append(c)
    chains: dict[int, list[tuple[list[int], float, float]]] = {}
    for v in reversed(order[1:]):
        p = parent[v]
        t = _selectivity(cards, v, p) * cards.card(1 << v)
        chain = _merge([chains.pop(c) for c in tree[v] if c != p])
        head = ([v], t, t)
        while chain and _rank(head) > _rank(chain[0]):
            rels, t2, c2 = chain.pop(0)
            head = (head[0] + rels, head[1] * t2, head[2] + head[1] * c2)
        chains[v] = [head] + chain

    chain = _merge([chains.pop(c) for c in tree[root]])
    return [root] + [r for rels, _, _ in chain for r in rels]


def _merge(chains: list[list[tuple[list[int], float, float]]]) -> list[tuple[list[int], float, float]]:
    out = [m for ch in chains for m in ch]
    out.sort(key=_rank)  # stable: each chain is already ascending, so precedence is kept
    return out


def plan(graph: QueryGraph, cards: Cardinality, cost_model: CostModel) -> JoinTree:
    """Best IK-KBZ left-deep plan over all roots of the minimum spanning tree."""
    g = graph.with_cross_edges()
    tree = minimum_spanning_tree(g, cards)
    best: JoinTree | None = None
    for root in range(g.n):
        order = kbz_order(tree, root, cards)
        p = leaf(order[0], cards, cost_model)
        for r in order[1:]:
            p = join(p, leaf(r, cards, cost_model), cards, cost_model)
        if best is None or p.cost < best.cost:
            best = p
    return best
