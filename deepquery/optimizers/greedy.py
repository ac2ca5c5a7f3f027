"""Greedy operator ordering (GOO; Fegaras, DEXA 1998).

Starting from one sub-plan per relation, repeatedly join the two connected sub-plans whose join
has the smallest result, in the cheaper orientation, until one plan remains. Runs on
:class:`~deepquery.join_state.JoinState`, the same state an agent advances.
"""
from __future__ import annotations

from ..cardinality import Cardinality
from ..cost_models import CostModel
from ..join_state import JoinState
from ..join_tree import JoinTree
from ..query_graph import QueryGraph


def plan(graph: QueryGraph, cards: Cardinality, cost_model: CostModel) -> JoinTree:
    """GOO: always the join with the smallest intermediate result (ties: lower cost)."""
    state = JoinState.initial(graph.with_cross_edges(), cards, cost_model)
    while not state.done:
        best, best_key = None, None
        for i, j in state.actions():
            if cost_model.symmetric and i > j:
                continue
            p = state.join_preview(i, j)
            key = (p.card, p.cost)
            if best_key is None or key < best_key:
                best, best_key = (i, j), key
        state = state.join(*best)
    return state.result
