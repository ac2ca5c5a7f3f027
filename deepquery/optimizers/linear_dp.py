"""Dynamic programming over linear join trees: left-deep, right-deep and zig-zag.

One pass enumerates the connected relation sets by growing each set S by one adjacent relation
r. Left-deep trees only add r as the right (build/inner) child, ``best[S] join r``; right-deep
trees only as the left (probe) child, ``r join best[S]``; zig-zag trees may do either at each
step. Like DPccp, sets are int bitsets and the optimum of each shape is exact for its shape.
"""
from __future__ import annotations

from ..cardinality import Cardinality
from ..cost_models import CostModel
from ..join_tree import JoinTree, from_splits
from ..query_graph import QueryGraph

SHAPES = ("left-deep", "right-deep", "zigzag")


def plan_linear(graph: QueryGraph, cards: Cardinality, cost_model: CostModel,
                shape: str) -> JoinTree:
    """The cheapest linear tree of ``shape`` without cross products."""
    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {SHAPES}, got {shape!r}")
    g = graph.with_cross_edges()
    cost = {1 << i: cost_model.scan(cards, i) for i in range(g.n)}
    splits: dict[int, tuple[int, int, str]] = {}
    card, join_cost = cards.card, cost_model.join_cost
    as_right, as_left = shape in ("left-deep", "zigzag"), shape in ("right-deep", "zigzag")
    level = list(cost)
    for _ in range(g.n - 1):
        nxt: dict[int, None] = {}
        for s in level:
            nb = g.neighbors(s)
            while nb:
                rb = nb & -nb
                nb ^= rb
                t = s | rb
                out = card(t)
                best = cost.get(t)
                if as_right:
                    c, m = join_cost(cards, s, cost[s], rb, cost[rb], out)
                    if best is None or c < best:
                        best = cost[t] = c
                        splits[t] = (s, rb, m)
                if as_left:
                    c, m = join_cost(cards, rb, cost[rb], s, cost[s], out)
                    if best is None or c < best:
                        best = cost[t] = c
                        splits[t] = (rb, s, m)
                nxt[t] = None
        level = list(nxt)
    return from_splits(g.full_mask, splits, cost, cards)


def plan_left_deep(graph: QueryGraph, cards: Cardinality, cost_model: CostModel) -> JoinTree:
    """Optimal left-deep tree."""
    return plan_linear(graph, cards, cost_model, "left-deep")


def plan_right_deep(graph: QueryGraph, cards: Cardinality, cost_model: CostModel) -> JoinTree:
    """Optimal right-deep tree."""
    return plan_linear(graph, cards, cost_model, "right-deep")


def plan_zigzag(graph: QueryGraph, cards: Cardinality, cost_model: CostModel) -> JoinTree:
    """Optimal zig-zag tree."""
    return plan_linear(graph, cards, cost_model, "zigzag")
