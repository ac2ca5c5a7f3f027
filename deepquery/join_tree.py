"""Join trees: immutable binary trees over relation bitsets, with cardinality and cost.

A leaf is one relation of a :class:`~deepquery.query_graph.QueryGraph`; an inner node joins its
left child (the probe side, or the outer side of an index nested-loop join) with its right child
(the build side, or the indexed inner relation). ``cost`` is the cost of the whole subtree under
the cost model that built it, so ``tree.cost`` is a plan's cost.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Sequence, Union

if TYPE_CHECKING:
    from .cardinality import Cardinality
    from .cost_models import CostModel
    from .query_graph import QueryGraph

Nested = Union[str, list]


@dataclass(frozen=True)
class JoinTree:
    """A (sub-)plan: ``relation`` >= 0 for a leaf, else ``left`` and ``right`` children."""

    mask: int
    card: float
    cost: float
    left: "JoinTree | None" = None
    right: "JoinTree | None" = None
    relation: int = -1
    method: str = "scan"

    @property
    def is_leaf(self) -> bool:
        """Whether this is a base relation."""
        return self.relation >= 0

    def leaves(self) -> list[int]:
        """Relation indices left to right."""
        if self.is_leaf:
            return [self.relation]
        return self.left.leaves() + self.right.leaves()

    def joins(self) -> int:
        """Number of join nodes."""
        return 0 if self.is_leaf else 1 + self.left.joins() + self.right.joins()

    def nested(self, graph: "QueryGraph") -> Nested:
        """Aliases as nested two-element lists, e.g. ``[["t", "mc"], "cn"]``."""
        if self.is_leaf:
            return graph.relations[self.relation].alias
        return [self.left.nested(graph), self.right.nested(graph)]

    def is_left_deep(self) -> bool:
        """Every right child is a base relation."""
        return self.is_leaf or (self.right.is_leaf and self.left.is_left_deep())

    def pretty(self, graph: "QueryGraph", indent: int = 0) -> str:
        """An indented tree, one node per line, with cardinality and cost."""
        pad = "  " * indent
        if self.is_leaf:
            r = graph.relations[self.relation]
            return f"{pad}{r.alias} ({r.table})  rows={self.card:,.0f}"
        head = f"{pad}{self.method} join  rows={self.card:,.0f}  cost={self.cost:,.1f}"
        return "\n".join([head, self.left.pretty(graph, indent + 1),
                          self.right.pretty(graph, indent + 1)])


def leaf(i: int, cards: "Cardinality", cost_model: "CostModel") -> JoinTree:
    """The scan of relation ``i``."""
    return JoinTree(1 << i, cards.card(1 << i), cost_model.scan(cards, i), relation=i)


def join(left: JoinTree, right: JoinTree, cards: "Cardinality",
         cost_model: "CostModel") -> JoinTree:
    """Join two disjoint sub-plans (``left`` probe / outer, ``right`` build / inner)."""
    if left.mask & right.mask:
        raise ValueError("sub-plans overlap")
    mask = left.mask | right.mask
    out = cards.card(mask)
    cost, method = cost_model.join_cost(cards, left.mask, left.cost, right.mask, right.cost, out)
    return JoinTree(mask, out, cost, left, right, -1, method)


def best_join(left: JoinTree, right: JoinTree, cards: "Cardinality",
              cost_model: "CostModel") -> JoinTree:
    """The cheaper orientation of joining two sub-plans."""
    a = join(left, right, cards, cost_model)
    if cost_model.symmetric:
        return a
    b = join(right, left, cards, cost_model)
    return b if b.cost < a.cost else a


def from_splits(mask: int, splits: "Mapping[int, tuple[int, int, str]] | Sequence",
                cost: "Mapping[int, float] | Sequence[float]", cards: "Cardinality") -> JoinTree:
    """Rebuild a tree from a DP table indexed by bitset (dicts, or lists with 2^n slots):
    ``splits[mask] = (left, right, method)``, ``cost[mask]`` the sub-plan's cost."""
    if mask & (mask - 1) == 0:
        return JoinTree(mask, cards.card(mask), cost[mask], relation=mask.bit_length() - 1)
    lm, rm, method = splits[mask]
    return JoinTree(mask, cards.card(mask), cost[mask], from_splits(lm, splits, cost, cards),
                    from_splits(rm, splits, cost, cards), -1, method)


def from_nested(nested: Nested, graph: "QueryGraph", cards: "Cardinality",
                cost_model: "CostModel") -> JoinTree:
    """Rebuild (and re-cost) a tree from nested alias lists."""
    if isinstance(nested, str):
        return leaf(graph.index(nested), cards, cost_model)
    if len(nested) != 2:
        raise ValueError(f"a join has two children, got {nested!r}")
    return join(from_nested(nested[0], graph, cards, cost_model),
                from_nested(nested[1], graph, cards, cost_model), cards, cost_model)
