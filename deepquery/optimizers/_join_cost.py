"""``join_cost`` of the built-in cost models on plain ints and floats, for DP inner loops.

The DP optimizers cost hundreds of thousands of joins on a 17-relation query. Through
``CostModel.join_cost`` each one re-reads cardinalities through the Cardinality object, looks up
the graph's index neighbours and calls ``max``; here the model's parameters, each relation's
selectivity and index neighbours are read once, the callers pass the cardinalities they already
hold, and the formulas of :mod:`deepquery.cost_models` are evaluated in the same floating-point
order, so costs and methods are identical. Any other cost model goes through its ``join_cost``.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

from ..cardinality import Cardinality
from ..cost_models import CM1, CM2, CostModel, Cout, index_neighbors

JoinCost = Callable[[int, float, float, int, float, float, float], "tuple[float, str]"]
"""``f(lmask, lcost, lcard, rmask, rcost, rcard, out) -> (cost, method)``: ``lmask`` probes (or
is the outer side), ``rmask`` builds (or is the indexed inner relation)."""

_INF = float("inf")


class CMParams(NamedTuple):
    """CM1 / CM2 on one query: the model's constants and per-relation data."""

    spills: bool
    limit: float
    """Largest build side without a spill (inf for CM1)."""
    spill: float
    lam: float
    index_nb: tuple[int, ...]
    """Per relation: bitset of relations it can be index-joined from."""
    sel: list[float]
    """Per relation: |sigma(R)| / |R|, as ``CM1.index_join_cost`` computes it."""


def cm_params(cards: Cardinality, model: CM1) -> CMParams:
    """The constants of CM1 or CM2 (exact types) for ``cards``' query."""
    spills = type(model) is CM2
    graph = cards.graph
    return CMParams(spills, model.memory_rows if spills else _INF,
                    model.spill_factor if spills else 0.0, model.lam, index_neighbors(graph),
                    [cards.card(1 << r) / max(cards.base_rows(r), 1.0) for r in range(graph.n)])


def fast_join_cost(cards: Cardinality, model: CostModel) -> JoinCost:
    """``model.join_cost`` as a function of plain values (inlined for Cout, CM1 and CM2)."""
    kind = type(model)
    if kind is Cout:
        def cout(lm: int, lc: float, lcard: float, rm: int, rc: float, rcard: float,
                 out: float) -> tuple[float, str]:
            return out + lc + rc, "hash"
        return cout
    if kind is CM1 or kind is CM2:
        return cm_join_cost(cm_params(cards, model))
    join_cost = model.join_cost

    def generic(lm: int, lc: float, lcard: float, rm: int, rc: float, rcard: float,
                out: float) -> tuple[float, str]:
        return join_cost(cards, lm, lc, rm, rc, out)
    return generic


def cm_join_cost(p: CMParams) -> JoinCost:
    """``CM2.join_cost`` (and CM1's, with no limit) on plain values."""
    limit, spill, lam, idx_nb, sel = p.limit, p.spill, p.lam, p.index_nb, p.sel

    def join_cost(lm: int, lc: float, lcard: float, rm: int, rc: float, rcard: float,
                  out: float) -> tuple[float, str]:
        hj = out + lc + rc
        method = "hash"
        if rcard > limit:
            hj += spill * (lcard + rcard)
            method = "grace hash"
        if rm & (rm - 1):
            return hj, method
        r = rm.bit_length() - 1
        if not lm & idx_nb[r]:
            return hj, method
        sr = sel[r]
        matches = out / sr if sr > 0 else out
        outer = 1.0 if 1.0 > lcard else lcard  # max(lcard, 1.0)
        ratio = matches / outer
        inl = lc + lam * outer * (1.0 if 1.0 > ratio else ratio)
        if inl < hj:
            return inl, "index"
        return hj, method
    return join_cost
