"""Dynamic programming over linear join trees: left-deep, right-deep and zig-zag.

One pass enumerates the connected relation sets by growing each set S by one adjacent relation
r. Left-deep trees only add r as the right (build/inner) child, ``best[S] join r``; right-deep
trees only as the left (probe) child, ``r join best[S]``; zig-zag trees may do either at each
step. Like DPccp, sets are int bitsets and the optimum of each shape is exact for its shape;
joins are costed on plain values (:mod:`deepquery.optimizers._join_cost`).
"""
from __future__ import annotations

from ..cardinality import Cardinality
from ..cost_models import CostModel
from ..join_tree import JoinTree, from_splits
from ..query_graph import QueryGraph
from ._join_cost import fast_join_cost
from ._limits import MAX_JOIN_PAIRS, SearchSpaceTooLarge

SHAPES = ("left-deep", "right-deep", "zigzag")


def plan_linear(graph: QueryGraph, cards: Cardinality, cost_model: CostModel,
                shape: str, max_steps: int | None = None) -> JoinTree:
    """The cheapest linear tree of ``shape`` without cross products.

    Raises :class:`~deepquery.optimizers._limits.SearchSpaceTooLarge` before a level whose
    (set, adjacent relation) steps would bring the total past ``max_steps`` (default
    ``MAX_JOIN_PAIRS``)."""
    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {SHAPES}, got {shape!r}")
    limit = MAX_JOIN_PAIRS if max_steps is None else max_steps
    g = graph.with_cross_edges()
    adjacency = g.adjacency
    cost = {1 << i: cost_model.scan(cards, i) for i in range(g.n)}
    card = {1 << i: cards.card(1 << i) for i in range(g.n)}
    nbs = {1 << i: adjacency[i] for i in range(g.n)}  # neighbours of each set reached
    splits: dict[int, tuple[int, int, str]] = {}
    card_of, join_cost = cards.card, fast_join_cost(cards, cost_model)
    as_right, as_left = shape in ("left-deep", "zigzag"), shape in ("right-deep", "zigzag")
    level = list(cost)
    steps = 0
    for _ in range(g.n - 1):
        steps += sum(nbs[s].bit_count() for s in level)  # this level's work, known up front
        if steps > limit:
            raise SearchSpaceTooLarge(shape, g.n, limit)
        nxt: dict[int, None] = {}
        for s in level:
            cs, ns = cost[s], card[s]
            nb = nbs[s]
            while nb:
                rb = nb & -nb
                nb ^= rb
                t = s | rb
                out = card.get(t)
                if out is None:
                    out = card[t] = card_of(t)
                    nbs[t] = (nbs[s] | adjacency[rb.bit_length() - 1]) & ~t
                best = cost.get(t)
                if as_right:
                    c, m = join_cost(s, cs, ns, rb, cost[rb], card[rb], out)
                    if best is None or c < best:
                        best = cost[t] = c
                        splits[t] = (s, rb, m)
                if as_left:
                    c, m = join_cost(rb, cost[rb], card[rb], s, cs, ns, out)
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
