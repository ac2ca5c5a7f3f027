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

EnumerateCsgRec(S, X) emits exactly the connected supersets of S inside the relations outside X,
so its output depends only on S and V \\ X. The complements of different S1 often share both
(29a, 17 relations: 72,570 (S1, v) groups, 8,517 distinct), so they are computed once per
(v, V \\ X) and reused.

Relation sets are ints used as bitsets. The DP table holds, per connected set, its cardinality,
its best cost and its best split (lists indexed by bitset up to 20 relations, dicts beyond);
trees are built only at the end. Each pair is costed in its cheaper orientation. For the
built-in cost models the pair cost is evaluated inline on floats (the formulas of
:mod:`deepquery.cost_models`, in the same floating-point order, so plans and costs are identical
to ``CostModel.pair_cost``); any other cost model goes through ``pair_cost``. Each connected
set's cardinality is asked of the Cardinality object once.
"""
from __future__ import annotations

from typing import Callable, Iterator, Union

from ..cardinality import Cardinality
from ..cost_models import CM1, CM2, CostModel, Cout
from ..join_tree import JoinTree, from_splits
from ..query_graph import QueryGraph
from ._join_cost import cm_join_cost, cm_params
from ._limits import MAX_JOIN_PAIRS, SearchSpaceTooLarge

Visit = Callable[[int, int, "list[int]"], None]
"""``visit(s1, v, grown)``: one EnumerateCmp group, S1 with the complements ``{v}`` and each set of
``grown`` (connected supersets of ``{v}``, so every one has two relations or more)."""


class _TooMany(Exception):
    """More csg-cmp pairs (or connected sets) than the limit."""


def enumerate_ccp(graph: QueryGraph, visit: Visit, max_pairs: int | None = None) -> None:
    """Call ``visit(s1, v, grown)`` so that every csg-cmp pair of a connected graph is seen once,
    in DP-safe order (both halves of a pair are complete before any pair forming their union).

    With ``max_pairs``, raise :class:`SearchSpaceTooLarge` as soon as more pairs than that have
    been seen (or one enumeration of connected sets grows past it: each such set forms at least
    one pair), so a dense graph fails fast instead of enumerating for hours."""
    n = graph.n
    cap = max_pairs if max_pairs is not None else float("inf")
    adjacency = graph.adjacency
    nb_memo: dict[int, int] = {}

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

    nb_get = nb_memo.get

    def csg_rec(s: int, x: int, out: list[int]) -> None:
        while True:
            nb = nb_get(s)
            nb = (neighbors(s) if nb is None else nb) & ~x
            if not nb:
                return
            x |= nb
            if nb & (nb - 1):
                break
            s |= nb  # one neighbour, the common case: no subset loop, no recursion
            out.append(s)
        grown = []
        sp = nb & -nb
        while True:  # every non-empty subset of nb, smallest first
            grown.append(s | sp)
            if sp == nb:
                break
            sp = nb & (sp - nb)
        out += grown
        if len(out) > cap:
            raise _TooMany
        for t in grown:
            got = nb_get(t)
            if (neighbors(t) if got is None else got) & ~x:
                csg_rec(t, x, out)

    cmp_memo: dict[int, list[int]] = {}
    try:
        _enumerate(n, neighbors, csg_rec, cmp_memo, visit, cap)
    except _TooMany:
        raise SearchSpaceTooLarge("dp", n, int(cap)) from None


def _enumerate(n: int, neighbors: Callable[[int], int],
               csg_rec: Callable[[int, int, "list[int]"], None], cmp_memo: dict[int, list[int]],
               visit: Visit, cap: float) -> None:
    """EnumerateCsg with EnumerateCmp inlined (see :func:`enumerate_ccp`)."""
    pairs = 0
    for i in range(n - 1, -1, -1):
        start = 1 << i
        csgs = [start]
        csg_rec(start, (start << 1) - 1, csgs)
        for s1 in csgs:  # EnumerateCmp(S1), inlined
            low = s1 & -s1
            x = ((low << 1) - 1) | s1
            nb = neighbors(s1) & ~x
            rest = nb
            while rest:  # v in N by descending index
                vb = 1 << (rest.bit_length() - 1)
                rest ^= vb
                xv = x | (nb & ((vb << 1) - 1))
                key = (vb << n) | xv  # (v, X) as one int; X < 2^n
                grown = cmp_memo.get(key)
                if grown is None:
                    grown = cmp_memo[key] = []
                    csg_rec(vb, xv, grown)
                pairs += 1 + len(grown)
                if pairs > cap:
                    raise _TooMany
                visit(s1, vb, grown)


def csg_cmp_pairs(graph: QueryGraph) -> Iterator[tuple[int, int]]:
    """Every csg-cmp pair (S1, S2) of a connected graph once, in DP-safe order."""
    pairs: list[tuple[int, int]] = []

    def visit(s1: int, v: int, grown: list[int]) -> None:
        pairs.append((s1, v))
        pairs.extend((s1, s2) for s2 in grown)

    enumerate_ccp(graph, visit)
    return iter(pairs)


def plan(graph: QueryGraph, cards: Cardinality, cost_model: CostModel, *,
         max_pairs: int | None = None) -> JoinTree:
    """The cheapest bushy join tree without cross products (with them only between components).

    Raises :class:`~deepquery.optimizers._limits.SearchSpaceTooLarge` when the graph has more
    than ``max_pairs`` (default ``MAX_JOIN_PAIRS``) csg-cmp pairs."""
    g = graph.with_cross_edges()
    n = g.n
    card, cost, splits = _tables(n)
    for i in range(n):
        card[1 << i] = cards.card(1 << i)
        cost[1 << i] = cost_model.scan(cards, i)
    kind = type(cost_model)
    if kind is Cout:
        visit = _sum_relax(cards, card, cost, splits)
    elif kind is CM1 or kind is CM2:
        visit = _cm_relax(cards, cost_model, card, cost, splits)
    else:
        visit = _generic_relax(cards, cost_model, card, cost, splits)
    limit = MAX_JOIN_PAIRS if max_pairs is None else max_pairs
    enumerate_ccp(g, visit, limit)
    if splits[g.full_mask] is None:
        # No plan of the whole query costs less than the table's initial inf: every one
        # overflows (cardinalities past 1e308). Any of them is optimal; give the sets left
        # without a split the first pair costed, keeping the finite optima already found.
        enumerate_ccp(g, _generic_relax(cards, cost_model, card, cost, splits, fill=True), limit)
    return from_splits(g.full_mask, splits, cost, cards)


_INF = float("inf")
LIST_TABLES_UP_TO = 20
"""Relations up to which the DP table is three lists indexed by bitset (2^n slots each; a list
index is cheaper than a dict lookup); larger queries use dicts with the same defaults."""


class _Default(dict):
    """A dict answering ``default`` for a missing key, like a preallocated list slot."""

    def __init__(self, default: object) -> None:
        super().__init__()
        self._default = default

    def __missing__(self, key: int) -> object:
        return self._default


Table = Union[list, _Default]
"""A DP table indexed by bitset."""


def _tables(n: int) -> tuple:
    """Per bitset: cardinality (None until asked), best cost (inf) and best split (None)."""
    if n <= LIST_TABLES_UP_TO:
        size = 1 << n
        return [None] * size, [_INF] * size, [None] * size
    return _Default(None), _Default(_INF), _Default(None)


def _hash_pairs(cards: Cardinality, card: Table, cost: Table,
                splits: Table) -> Callable[[int, float, "tuple[int, ...] | list[int]"], None]:
    """``relax(s1, c1, others)``: S1 (best cost ``c1``) hash-joined with each set of ``others``,
    costing ``|S| + C(S1) + C(S2)`` in the given orientation (C_out, and CM1's composite pairs)."""
    card_of = cards.card

    def relax(s1: int, c1: float, others: "tuple[int, ...] | list[int]") -> None:
        for s2 in others:
            s = s1 | s2
            out = card[s]
            if out is None:
                out = card[s] = card_of(s)
            c = out + c1 + cost[s2]
            if c < cost[s]:
                cost[s] = c
                splits[s] = (s1, s2, "hash")
    return relax


def _sum_relax(cards: Cardinality, card: Table, cost: Table, splits: Table) -> Visit:
    """C_out: ``|S| + C(S1) + C(S2)`` in either orientation."""
    relax = _hash_pairs(cards, card, cost, splits)

    def visit(s1: int, v: int, grown: list[int]) -> None:
        c1 = cost[s1]
        relax(s1, c1, (v,))
        relax(s1, c1, grown)
    return visit


def _generic_relax(cards: Cardinality, model: CostModel, card: Table, cost: Table,
                   splits: Table, fill: bool = False) -> Visit:
    """Any cost model, through ``pair_cost``; with ``fill``, a set without a split takes the
    first pair whatever its cost (inf)."""
    card_of, pair_cost = cards.card, model.pair_cost

    def visit(s1: int, v: int, grown: list[int]) -> None:
        c1 = cost[s1]
        for s2 in (v, *grown):
            s = s1 | s2
            out = card[s]
            if out is None:
                out = card[s] = card_of(s)
            c, left, right, method = pair_cost(cards, s1, c1, s2, cost[s2], out)
            if c < cost[s] or fill and splits[s] is None:
                cost[s] = c
                splits[s] = (left, right, method)
    return visit


def _cm_relax(cards: Cardinality, model: CM1, card: Table, cost: Table, splits: Table) -> Visit:
    """CM1 and CM2 (``CM1.join_cost``, ``CM2.join_cost`` and their ``pair_cost``) inline.

    CM1 is CM2 without a memory limit, except that CM1 keeps the given orientation of two
    composite sides where CM2 builds on the smaller one; both are reproduced exactly.
    """
    card_of = cards.card
    hash_pairs = _hash_pairs(cards, card, cost, splits)
    params = cm_params(cards, model)
    spills, limit, spill, lam, idx_nb, sel = params
    one_way = cm_join_cost(params)  # join_cost of one orientation

    def either_way(s1: int, c1: float, a: float, s2: int) -> None:
        """A pair with a base relation on one side or both: try both orientations."""
        s = s1 | s2
        out = card[s]
        if out is None:
            out = card[s] = card_of(s)
        c2, b = cost[s2], card[s2]
        c, method = one_way(s1, c1, a, s2, c2, b, out)
        cb, mb = one_way(s2, c2, b, s1, c1, a, out)
        if cb < c:
            if cb < cost[s]:
                cost[s] = cb
                splits[s] = (s2, s1, mb)
        elif c < cost[s]:
            cost[s] = c
            splits[s] = (s1, s2, method)

    def visit(s1: int, v: int, grown: list[int]) -> None:
        c1 = cost[s1]
        a = card[s1]
        if not s1 & (s1 - 1):
            either_way(s1, c1, a, v)
            for s2 in grown:
                either_way(s1, c1, a, s2)
            return
        # S1 composite, S2 = {v}: one_way both ways, inlined (the most frequent pair with a base
        # relation). Only v can be an index join's inner side.
        s = s1 | v
        out = card[s]
        if out is None:
            out = card[s] = card_of(s)
        c2, b = cost[v], card[v]
        c = out + c1 + c2
        method = "hash"
        if b > limit:
            c += spill * (a + b)
            method = "grace hash"
        r = v.bit_length() - 1
        if s1 & idx_nb[r]:
            sr = sel[r]
            matches = out / sr if sr > 0 else out
            outer = 1.0 if 1.0 > a else a  # max(a, 1.0), without the call
            ratio = matches / outer
            inl = c1 + lam * outer * (1.0 if 1.0 > ratio else ratio)
            if inl < c:
                c, method = inl, "index"
        cb = out + c2 + c1
        if a > limit:
            cb += spill * (b + a)
            if cb < c:
                c, method = cb, "grace hash"
                if c < cost[s]:
                    cost[s] = c
                    splits[s] = (v, s1, method)
            elif c < cost[s]:
                cost[s] = c
                splits[s] = (s1, v, method)
        elif cb < c:
            if cb < cost[s]:
                cost[s] = cb
                splits[s] = (v, s1, "hash")
        elif c < cost[s]:
            cost[s] = c
            splits[s] = (s1, v, method)
        if not spills:  # CM1, both composite: a hash join, in the given orientation
            hash_pairs(s1, c1, grown)
        else:  # CM2, both composite: a hash join building on the smaller side
            for s2 in grown:
                s = s1 | s2
                out = card[s]
                if out is None:
                    out = card[s] = card_of(s)
                b = card[s2]
                if b > a:  # build on S1, the smaller side
                    left, right, build, probe = s2, s1, a, b
                    c = out + cost[s2] + c1
                else:
                    left, right, build, probe = s1, s2, b, a
                    c = out + c1 + cost[s2]
                method = "hash"
                if build > limit:
                    c += spill * (probe + build)
                    method = "grace hash"
                if c < cost[s]:
                    cost[s] = c
                    splits[s] = (left, right, method)
    return visit
