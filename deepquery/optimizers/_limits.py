"""How much search the exhaustive optimizers may do before they refuse a query.

DPccp costs every csg-cmp pair of the query graph, and the linear DPs every (connected set,
adjacent relation) step. Both counts grow exponentially with dense graphs: a clique of n
relations (one join column shared by all, e.g. 30 tables on ``movie_id``) has
``(3^n - 2^(n+1) + 1) / 2`` pairs, 1e14 for n = 30. JOB's largest queries (29a-c, 17 relations)
need 227,207 pairs; the limit is about 4 times that (a second or two of planning here). Past it the
optimizer raises :class:`SearchSpaceTooLarge` at once instead of running for hours; greedy,
ikkbz and quickpick plan such queries in polynomial time.
"""
from __future__ import annotations

from ..query_graph import QueryError

MAX_JOIN_PAIRS = 1_000_000
"""Most csg-cmp pairs DPccp, or (set, relation) steps a linear DP, will cost for one query."""


class SearchSpaceTooLarge(QueryError):
    """An exhaustive optimizer would cost more than ``MAX_JOIN_PAIRS`` joins for this query."""

    def __init__(self, optimizer: str, relations: int, limit: int) -> None:
        self.optimizer = optimizer
        self.relations = relations
        self.limit = limit
        super().__init__(f"{optimizer}: {self.reason}")

    @property
    def reason(self) -> str:
        """Why, without the optimizer's name: ``the join graph of 30 relations has ...``."""
        return (f"the join graph of {self.relations} relations has more than {self.limit:,} "
                f"join pairs to cost (exhaustive search is limited to that); use greedy, ikkbz "
                f"or quickpick")
