"""DPccp: exhaustive bushy dynamic programming without cross products.

Moerkotte & Neumann, "Analysis of Two Existing and One New Dynamic Programming Algorithm for the
Generation of Optimal Bushy Join Trees without Cross Products", VLDB 2006. It enumerates every
csg-cmp pair (a connected subgraph S1 and a connected complement S2 adjacent to it) exactly
once, in an order where the best plans of S1 and S2 are final before S1 u S2 is built:

- EnumerateCsg: for i = n-1 .. 0, emit {v_i} and grow it with EnumerateCsgRec, excluding
  B_i = {v_j : j <= i};
- EnumerateCsgRec(S, X): N = N(S) \\ X; emit S u S' for every non-empty S' of N, then recurse on
  each S u S' with X u N;
- EnumerateCmp(S1): X = B_min(S1) u S1, N = N(S1) \\ X; for v in N by descending index emit {v}
  and EnumerateCsgRec({v}, X u (B_v n N)) (the errata's exclusion set).

Each pair is costed in its cheaper orientation (``CostModel.pair_cost``). Relation sets are
ints used as bitsets; cardinalities are memoised per set by the Cardinality object.
"""
from __future__ import annotations

from ..cardinality import Cardinality
from ..cost_models import CM1, CostModel, Cout
from ..join_tree import JoinTree, from_splits
from ..query_graph import QueryGraph


def _subsets(n: int):
    """Non-empty subsets of bitset ``n``, smallest first."""
    s = n & -n
    while True:
        yield s
        if s == n:
            return
        s = n & (s - n)


def csg_cmp_pairs(graph: QueryGraph):
    """Yield every csg-cmp pair (S1, S2) of a connected graph once, in DP-safe order."""
    n = graph.n
    neighbors = graph.neighbors

    def csg_rec(s: int, x: int, out: list[int]) -> None:
        nb = neighbors(s) & ~x
        if not nb:
            return
        subs = list(_subsets(nb))
        for sp in subs:
            out.append(s | sp)
        x2 = x | nb
        for sp in subs:
            csg_rec(s | sp, x2, out)

    def cmps(s1: int):
        low = (s1 & -s1).bit_length() - 1
        x = ((1 << (low + 1)) - 1) | s1
        nb = neighbors(s1) & ~x
        for v in sorted((i for i in range(n) if nb >> i & 1), reverse=True):
            vb = 1 << v
            yield vb
            grown: list[int] = []
            csg_rec(vb, x | (nb & ((1 << (v + 1)) - 1)), grown)
            yield from grown

    for i in range(n - 1, -1, -1):
        start = 1 << i
        for s2 in cmps(start):
            yield start, s2
        csgs: list[int] = []
        csg_rec(start, (1 << (i + 1)) - 1, csgs)
        for s1 in csgs:
            for s2 in cmps(s1):
                yield s1, s2


def plan(graph: QueryGraph, cards: Cardinality, cost_model: CostModel) -> JoinTree:
    """The cheapest bushy join tree without cross products (with them only between components)."""
    g = graph.with_cross_edges()
    n = g.n
    cost: dict[int, float] = {1 << i: cost_model.scan(cards, i) for i in range(n)}
    splits: dict[int, tuple[int, int, str]] = {}
    card, pair_cost = cards.card, cost_model.pair_cost
    adjacency = g.adjacency
    nb_memo: dict[int, int] = {}
    card_memo: dict[int, float] = {}

    def neighbors(s: int) -> int:
        got = nb_memo.get(s)
        if got is None:
            got, m = 0, s
            while m:
                low = m & -m
                got |= adjacency[low.bit_length() - 1]
                m ^= low
            got &= ~s
            nb_memo[s] = got
        return got

    # Where the cost of joining two sub-plans is out + c1 + c2 whatever the orientation (C_out
    # always; CM1 when neither side is a base relation), skip the call into the cost model.
    plain_sum = isinstance(cost_model, Cout)
    composite_sum = type(cost_model) is CM1
    get_card, get_cost = card_memo.get, cost.get

    def emit_all(s1: int, partners: list[int]) -> None:
        c1 = cost[s1]
        for s2 in partners:
            s = s1 | s2
            out = get_card(s)
            if out is None:
                out = card_memo[s] = card(s)
            if plain_sum or (composite_sum and s1 & (s1 - 1) and s2 & (s2 - 1)):
                c, left, right, method = out + c1 + cost[s2], s1, s2, "hash"
            else:
                c, left, right, method = pair_cost(cards, s1, c1, s2, cost[s2], out)
            cur = get_cost(s)
            if cur is None or c < cur:
                cost[s] = c
                splits[s] = (left, right, method)

    def csg_rec(s: int, x: int, out: list[int]) -> None:
        nb = neighbors(s) & ~x
        if not nb:
            return
        subs = []
        sp = nb & -nb
        while True:  # every non-empty subset of nb, smallest first
            subs.append(sp)
            out.append(s | sp)
            if sp == nb:
                break
            sp = nb & (sp - nb)
        x2 = x | nb
        for sp in subs:
            csg_rec(s | sp, x2, out)

    def cmps(s1: int) -> None:
        low = (s1 & -s1).bit_length() - 1
        x = ((1 << (low + 1)) - 1) | s1
        nb = neighbors(s1) & ~x
        v = n - 1
        while v >= 0:
            if nb >> v & 1:
                vb = 1 << v
                partners = [vb]
                csg_rec(vb, x | (nb & ((1 << (v + 1)) - 1)), partners)
                emit_all(s1, partners)
            v -= 1

    for i in range(n - 1, -1, -1):
        start = 1 << i
        cmps(start)
        csgs: list[int] = []
        csg_rec(start, (1 << (i + 1)) - 1, csgs)
        for s1 in csgs:
            cmps(s1)
    return from_splits(g.full_mask, splits, cost, cards)
