"""Cost models over join trees (Leis et al., "How Good Are Query Optimizers, Really?", 2015).

Each model returns the cost of a whole subtree from its children's costs, so every model is
additive and obeys the principle of optimality that dynamic programming needs. The left child is
the probe (outer) side, the right child the build (inner) side.

- ``C_out``: the sum of intermediate result sizes. ``C(R) = 0``;
  ``C(T1 join T2) = |T1 join T2| + C(T1) + C(T2)``. Symmetric.
- ``CM1`` (Leis et al.'s C_mm, main memory): ``C(R) = tau * |sigma(R)|`` (a scan);
  hash join ``C = |T| + C(T1) + C(T2)``; index nested-loop join, when the right child is a base
  relation ``R`` with an index on a join column (primary key or one of JOB's FK indexes):
  ``C = C(T1) + lambda * |T1| * max(|T1 join R| / |T1|, 1)``, where ``|T1 join R|`` counts
  index matches before ``R``'s own filters, taken as ``|T1 join sigma(R)| / sel(R)``. The cheaper
  of the two methods is used. ``tau = 0.2``, ``lambda = 2`` as in the paper.
- ``CM2``: CM1 with a memory limit of ``memory_rows`` tuples for a hash table: a hash join whose
  build side exceeds it becomes a grace hash join that writes and re-reads both inputs,
  ``+ spill_factor * (|T1| + |T2|)``.

A join without a predicate (a cross product) is costed as a hash join (nested loops would be
``|T1| * |T2|``; its output term ``|T|`` is already that large).

DPccp evaluates these three models inline (:mod:`deepquery.optimizers.dpccp`); a change here must
be mirrored there, and a property test checks that both give the same plans bit for bit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from sysml_datasets.imdb.schema import has_index

from .cardinality import Cardinality
from .join_tree import JoinTree


class CostModel(Protocol):
    """Scan and join costs of (sub-)plans."""

    name: str
    symmetric: bool

    def scan(self, cards: Cardinality, i: int) -> float:
        """Cost of reading relation ``i`` with its filters."""
        ...

    def join_cost(self, cards: Cardinality, lmask: int, lcost: float, rmask: int, rcost: float,
                  out: float) -> tuple[float, str]:
        """Total cost of joining the sub-plans ``lmask`` (probe/outer, subtree cost ``lcost``) and
        ``rmask`` (build/inner) into ``out`` rows, and the join method."""
        ...

    def pair_cost(self, cards: Cardinality, amask: int, acost: float, bmask: int, bcost: float,
                  out: float) -> tuple[float, int, int, str]:
        """The cheaper orientation of joining two sub-plans: (cost, left, right, method)."""
        ...


def _pair_cost_generic(model, cards, amask, acost, bmask, bcost, out):
    c1, m1 = model.join_cost(cards, amask, acost, bmask, bcost, out)
    c2, m2 = model.join_cost(cards, bmask, bcost, amask, acost, out)
    if c2 < c1:
        return c2, bmask, amask, m2
    return c1, amask, bmask, m1


def index_neighbors(graph) -> tuple[int, ...]:
    """Per relation r: bitset of relations joined to r on a column of r that has an index."""
    cache = graph.cache
    got = cache.get("index_neighbors")
    if got is None:
        nb = [0] * graph.n
        for e in graph.edges:
            if not e.equi:
                continue
            if has_index(graph.relations[e.right].table, e.right_column):
                nb[e.right] |= 1 << e.left
            if has_index(graph.relations[e.left].table, e.left_column):
                nb[e.left] |= 1 << e.right
        got = cache["index_neighbors"] = tuple(nb)
    return got


@dataclass(frozen=True)
class Cout:
    """C_out: sum of the sizes of all intermediate results."""

    name: str = "cout"
    symmetric: bool = True

    def scan(self, cards: Cardinality, i: int) -> float:
        return 0.0

    def join_cost(self, cards: Cardinality, lmask: int, lcost: float, rmask: int, rcost: float,
                  out: float) -> tuple[float, str]:
        return out + lcost + rcost, "hash"

    def pair_cost(self, cards: Cardinality, amask: int, acost: float, bmask: int, bcost: float,
                  out: float) -> tuple[float, int, int, str]:
        return out + acost + bcost, amask, bmask, "hash"

    def join(self, cards: Cardinality, left: JoinTree, right: JoinTree,
             out: float) -> tuple[float, str]:
        """``join_cost`` on two trees."""
        return self.join_cost(cards, left.mask, left.cost, right.mask, right.cost, out)


@dataclass(frozen=True)
class CM1:
    """Main-memory cost model with hash and index nested-loop joins (Leis et al.'s C_mm)."""

    tau: float = 0.2
    """Cost per tuple of a table scan, relative to a hash-table operation."""
    lam: float = 2.0
    """Cost per index lookup (lambda), relative to a hash-table operation."""
    name: str = "cm1"
    symmetric: bool = False

    def __post_init__(self) -> None:
        if self.tau < 0:
            raise ValueError(f"tau must be >= 0, got {self.tau}")
        if self.lam < 0:
            raise ValueError(f"lam must be >= 0, got {self.lam}")

    def scan(self, cards: Cardinality, i: int) -> float:
        return self.tau * cards.card(1 << i)

    def index_join_cost(self, cards: Cardinality, lmask: int, lcost: float, rmask: int,
                        out: float) -> float | None:
        """Index nested-loop cost, or None when the right side is no base relation with an
        index on a join column."""
        if rmask & (rmask - 1):
            return None
        r = rmask.bit_length() - 1
        if not lmask & index_neighbors(cards.graph)[r]:
            return None
        sel = cards.card(rmask) / max(cards.base_rows(r), 1.0)
        matches = out / sel if sel > 0 else out
        outer = max(cards.card(lmask), 1.0)
        return lcost + self.lam * outer * max(matches / outer, 1.0)

    def join_cost(self, cards: Cardinality, lmask: int, lcost: float, rmask: int, rcost: float,
                  out: float) -> tuple[float, str]:
        hj = out + lcost + rcost
        if rmask & (rmask - 1):  # inner side is not a base relation: no index join
            return hj, "hash"
        inl = self.index_join_cost(cards, lmask, lcost, rmask, out)
        if inl is not None and inl < hj:
            return inl, "index"
        return hj, "hash"

    def pair_cost(self, cards: Cardinality, amask: int, acost: float, bmask: int, bcost: float,
                  out: float) -> tuple[float, int, int, str]:
        if amask & (amask - 1) and bmask & (bmask - 1):  # both composite: hash join, symmetric
            return out + acost + bcost, amask, bmask, "hash"
        return _pair_cost_generic(self, cards, amask, acost, bmask, bcost, out)

    def join(self, cards: Cardinality, left: JoinTree, right: JoinTree,
             out: float) -> tuple[float, str]:
        """``join_cost`` on two trees."""
        return self.join_cost(cards, left.mask, left.cost, right.mask, right.cost, out)


@dataclass(frozen=True)
class CM2(CM1):
    """CM1 with a hash-table memory limit: oversized build sides spill (grace hash join)."""

    memory_rows: float = 20_000.0
    """Largest build side (rows) that fits in memory."""
    spill_factor: float = 2.0
    """Extra cost per input tuple of a spilling hash join (write once, read once)."""
    name: str = "cm2"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.memory_rows <= 0:
            raise ValueError(f"memory_rows must be > 0, got {self.memory_rows}")
        if self.spill_factor < 0:
            raise ValueError(f"spill_factor must be >= 0, got {self.spill_factor}")

    def join_cost(self, cards: Cardinality, lmask: int, lcost: float, rmask: int, rcost: float,
                  out: float) -> tuple[float, str]:
        hj = out + lcost + rcost
        method = "hash"
        build = cards.card(rmask)
        if build > self.memory_rows:
            hj += self.spill_factor * (cards.card(lmask) + build)
            method = "grace hash"
        if rmask & (rmask - 1):
            return hj, method
        inl = self.index_join_cost(cards, lmask, lcost, rmask, out)
        if inl is not None and inl < hj:
            return inl, "index"
        return hj, method

    def pair_cost(self, cards: Cardinality, amask: int, acost: float, bmask: int, bcost: float,
                  out: float) -> tuple[float, int, int, str]:
        if amask & (amask - 1) and bmask & (bmask - 1):
            # Both composite: hash join either way; the smaller side builds (spill is monotone).
            a, b = cards.card(amask), cards.card(bmask)
            if b > a:
                amask, acost, bmask, bcost, a, b = bmask, bcost, amask, acost, b, a
            cost = out + acost + bcost
            if b > self.memory_rows:
                return cost + self.spill_factor * (a + b), amask, bmask, "grace hash"
            return cost, amask, bmask, "hash"
        return _pair_cost_generic(self, cards, amask, acost, bmask, bcost, out)


COST_MODELS = {"cout": Cout, "cm1": CM1, "cm2": CM2}


def relative_cost(cost: float, reference: float) -> float:
    """``cost / reference``; a ``reference`` of 0 (every intermediate empty) makes an equal cost
    1 and any other infinitely worse."""
    return cost / reference if reference > 0 else 1.0 if cost == 0 else math.inf


def get_cost_model(name: str) -> CostModel:
    """A cost model by name: ``cout``, ``cm1`` or ``cm2``."""
    try:
        return COST_MODELS[name]()
    except KeyError:
        raise ValueError(f"unknown cost model {name!r}; choose from {sorted(COST_MODELS)}") from None
