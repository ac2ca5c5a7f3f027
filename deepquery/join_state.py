"""A join state an agent advances one join at a time (the DQ agent's environment state).

The state is the tuple of sub-plans built so far (initially one leaf per relation). An action
joins two of them, ``left`` as probe/outer and ``right`` as build/inner; only pairs linked by a
join predicate are offered, unless none is (a disconnected query), when every pair is. States are
immutable: ``join`` returns a new state sharing all untouched sub-plans, so copying is O(1) and
branching search (or replay) is cheap. Costs and cardinalities of any candidate are available
before taking it (``join_preview``).
"""
from __future__ import annotations

from dataclasses import dataclass

from .cardinality import Cardinality
from .cost_models import CostModel
from .join_tree import JoinTree, join, leaf
from .query_graph import QueryGraph


@dataclass(frozen=True)
class JoinState:
    """Sub-plans of one query under one cardinality source and cost model."""

    graph: QueryGraph
    cards: Cardinality
    cost_model: CostModel
    plans: tuple[JoinTree, ...]

    @classmethod
    def initial(cls, graph: QueryGraph, cards: Cardinality, cost_model: CostModel) -> "JoinState":
        """One leaf per relation."""
        return cls(graph, cards, cost_model,
                   tuple(leaf(i, cards, cost_model) for i in range(graph.n)))

    @property
    def done(self) -> bool:
        """Whether a single plan covers every relation."""
        return len(self.plans) == 1

    @property
    def result(self) -> JoinTree:
        """The finished plan."""
        if not self.done:
            raise ValueError("the state still has several sub-plans")
        return self.plans[0]

    @property
    def cost(self) -> float:
        """Sum of the costs of the current sub-plans."""
        return sum(p.cost for p in self.plans)

    def connected(self, i: int, j: int) -> bool:
        """Whether sub-plans ``i`` and ``j`` share a join predicate."""
        return bool(self.graph.neighbors(self.plans[i].mask) & self.plans[j].mask)

    def actions(self) -> list[tuple[int, int]]:
        """Ordered pairs (left, right) that may be joined next."""
        k = len(self.plans)
        pairs = [(i, j) for i in range(k) for j in range(k) if i != j and self.connected(i, j)]
        return pairs or [(i, j) for i in range(k) for j in range(k) if i != j]

    def join_preview(self, i: int, j: int) -> JoinTree:
        """The sub-plan that ``join(i, j)`` would create (cardinality, cost, method)."""
        return join(self.plans[i], self.plans[j], self.cards, self.cost_model)

    def join(self, i: int, j: int) -> "JoinState":
        """The state after joining sub-plans ``i`` (left) and ``j`` (right)."""
        if i == j:
            raise ValueError("cannot join a sub-plan with itself")
        new = self.join_preview(i, j)
        rest = tuple(p for k, p in enumerate(self.plans) if k not in (i, j))
        return JoinState(self.graph, self.cards, self.cost_model, rest + (new,))
