"""Join-order optimizers: each ``plan(graph, cardinality, cost_model) -> JoinTree``."""
from __future__ import annotations

from typing import Callable

from ..cardinality import Cardinality
from ..cost_models import CostModel
from ..join_tree import JoinTree
from ..query_graph import QueryGraph
from . import dpccp, greedy, ikkbz, linear_dp, quickpick
from ._limits import MAX_JOIN_PAIRS, SearchSpaceTooLarge

Optimizer = Callable[[QueryGraph, Cardinality, CostModel], JoinTree]

OPTIMIZERS: dict[str, Optimizer] = {
    "dp": dpccp.plan,
    "left-deep": linear_dp.plan_left_deep,
    "right-deep": linear_dp.plan_right_deep,
    "zigzag": linear_dp.plan_zigzag,
    "greedy": greedy.plan,
    "ikkbz": ikkbz.plan,
    "quickpick": quickpick.plan,
    "random": quickpick.plan_random,
}


def get_optimizer(name: str) -> Optimizer:
    """An optimizer by its CLI name."""
    try:
        return OPTIMIZERS[name]
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}") from None


__all__ = ["MAX_JOIN_PAIRS", "OPTIMIZERS", "Optimizer", "SearchSpaceTooLarge", "get_optimizer"]
