"""QuickPick (Waas & Pellenkoft, 2000) and a single random plan.

A random connected bushy plan: visit the join edges in random order and, for each edge whose
ends lie in different sub-plans, join those sub-plans. QuickPick-k keeps the cheapest of k such
plans, abandoning a plan as soon as the costs of its joined sub-plans reach the best so far.
That sum is a lower bound on the finished plan's cost: every join costs at least its joined
(composite) children. Base relations are left out of it: CM1 and CM2 drop a relation's scan
cost when it becomes an index join's inner side, so counting scans would abandon plans that end
cheaper (up to 300x cheaper on JOB under cm1 before this was fixed). Pruning therefore never
changes the result: it is the best of the k plans. QuickPick picks the cheaper orientation of
each join; ``random`` picks orientations at random.
"""
from __future__ import annotations

import random

from ..cardinality import Cardinality
from ..cost_models import CostModel
from ..join_tree import JoinTree, join, leaf
from ..query_graph import QueryGraph

_INF = float("inf")
_NEAR = 1e-9
"""Relative distance to the bound under which the running sum of sub-plan costs is summed
afresh before a plan is abandoned (see :func:`_random_plan`)."""


def _random_plan(graph: QueryGraph, cards: Cardinality, cost_model: CostModel,
                 rng: random.Random, bound: float, random_sides: bool) -> JoinTree | None:
    """One random plan, or None once the costs of its joined sub-plans reach ``bound``.

    That sum is kept as a running total (added to and taken from at each join: linear in the
    joins, not quadratic). Its rounding may differ from a fresh sum's in the last bits, so near
    the bound it is summed afresh, in the order the fresh sum always used: the plans abandoned
    are exactly those a fresh sum at every join abandons."""
    plans = {i: leaf(i, cards, cost_model) for i in range(graph.n)}
    owner = list(range(graph.n))
    members = {i: [i] for i in range(graph.n)}
    composite = 0.0  # the costs of the joined (non-leaf) sub-plans in ``plans``
    edges = [(e.left, e.right) for e in graph.edges]
    rng.shuffle(edges)
    for a, b in edges:
        ra, rb = owner[a], owner[b]
        if ra == rb:
            continue
        pa, pb = plans.pop(ra), plans.pop(rb)
        composite -= (0.0 if pa.is_leaf else pa.cost) + (0.0 if pb.is_leaf else pb.cost)
        if random_sides:
            new = join(pa, pb, cards, cost_model) if rng.random() < 0.5 else join(pb, pa, cards, cost_model)
        else:
            new = join(pa, pb, cards, cost_model)
            if not cost_model.symmetric:
                other = join(pb, pa, cards, cost_model)
                new = other if other.cost < new.cost else new
        # not (... < ...): a NaN total (an infinite cost taken from another) is summed afresh.
        # Without a bound (the first trial, plan_random) nothing is abandoned, not even a plan
        # whose cost overflows to inf: it was, and QuickPick ended with no plan at all.
        if bound < _INF and not new.cost + composite < bound * (1.0 - _NEAR) and (
                new.cost + sum(p.cost for p in plans.values() if not p.is_leaf) >= bound):
            return None
        plans[ra] = new
        composite += new.cost
        moved = members.pop(rb)
        for i in moved:
            owner[i] = ra
        members[ra].extend(moved)
        if len(plans) == 1:
            return new
    return plans.popitem()[1] if len(plans) == 1 else None


def plan(graph: QueryGraph, cards: Cardinality, cost_model: CostModel, *, trials: int = 1000,
         seed: int = 0) -> JoinTree:
    """QuickPick-``trials``: best of that many random connected plans (deterministic by seed)."""
    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}")
    g = graph.with_cross_edges()
    if g.n == 1:
        return leaf(0, cards, cost_model)
    rng = random.Random(seed)
    best: JoinTree | None = None
    for _ in range(trials):
        p = _random_plan(g, cards, cost_model, rng, best.cost if best else float("inf"), False)
        if p is not None and (best is None or p.cost < best.cost):
            best = p
    if best is None:  # every later trial pruned, the first cannot be
        raise AssertionError("QuickPick produced no plan")
    return best


def plan_random(graph: QueryGraph, cards: Cardinality, cost_model: CostModel, *,
                seed: int = 0) -> JoinTree:
    """One random connected plan with random join orientations."""
    g = graph.with_cross_edges()
    if g.n == 1:
        return leaf(0, cards, cost_model)
    p = _random_plan(g, cards, cost_model, random.Random(seed), float("inf"), True)
    assert p is not None
    return p
