"""QuickPick's running sum of sub-plan costs: the same plans as summing afresh at every join
(the quadratic version it replaced, kept here as the oracle) on every JOB query, fixed seeds."""
from __future__ import annotations

import random

import pytest

from deepquery import EstimatedCardinality, TableStats, connect, parse_query
from deepquery.cost_models import COST_MODELS, get_cost_model
from deepquery.database import schema_of
from deepquery.join_tree import join, leaf
from deepquery.optimizers import quickpick


def _reference_random_plan(graph, cards, cost_model, rng, bound, random_sides):
    """quickpick._random_plan before the running sum (commit 96281ae), verbatim."""
    plans = {i: leaf(i, cards, cost_model) for i in range(graph.n)}
    owner = list(range(graph.n))
    edges = [(e.left, e.right) for e in graph.edges]
    rng.shuffle(edges)
    for a, b in edges:
        ra, rb = owner[a], owner[b]
        if ra == rb:
            continue
        pa, pb = plans.pop(ra), plans.pop(rb)
        if random_sides:
            new = join(pa, pb, cards, cost_model) if rng.random() < 0.5 else join(pb, pa, cards, cost_model)
        else:
            new = join(pa, pb, cards, cost_model)
            if not cost_model.symmetric:
                other = join(pb, pa, cards, cost_model)
                new = other if other.cost < new.cost else new
        if new.cost + sum(p.cost for p in plans.values() if not p.is_leaf) >= bound:
            return None
        plans[ra] = new
        for i in range(graph.n):
            if owner[i] == rb:
                owner[i] = ra
        if len(plans) == 1:
            return new
    return plans.popitem()[1] if len(plans) == 1 else None


def _plans(graph, cards, model, monkeypatch, reference: bool):
    with monkeypatch.context() as m:
        if reference:
            m.setattr(quickpick, "_random_plan", _reference_random_plan)
        best = quickpick.plan(graph, cards, model, trials=50, seed=7)
        one = quickpick.plan_random(graph, cards, model, seed=7)
    return [(t.nested(graph), t.cost) for t in (best, one)]


@pytest.fixture(scope="module")
def job_graphs(imdb_db, job_dir):
    con = connect(imdb_db)
    schema, stats = schema_of(con), TableStats(con)
    out = []
    for path in sorted(job_dir.glob("[0-9]*.sql")):
        g = parse_query(path.read_text(), schema, path.stem)
        cards = EstimatedCardinality(g, stats)
        out.append((g, cards))
    yield out
    con.close()


@pytest.mark.parametrize("model", list(COST_MODELS))
def test_quickpick_keeps_its_plans_on_every_job_query(job_graphs, monkeypatch, model):
    assert len(job_graphs) == 113
    cost_model = get_cost_model(model)
    for g, cards in job_graphs:
        assert _plans(g, cards, cost_model, monkeypatch, False) == \
            _plans(g, cards, cost_model, monkeypatch, True), (g.name, model)


def test_the_running_sum_prunes_as_often_as_a_fresh_sum(job_graphs, monkeypatch):
    # The same plans could come from different pruning; count the abandoned trials too.
    cost_model = get_cost_model("cm1")
    for g, cards in job_graphs[:30]:
        graph = g.with_cross_edges()
        runs = []
        for fn in (quickpick._random_plan, _reference_random_plan):
            rng, best, pruned = random.Random(3), float("inf"), 0
            for _ in range(100):
                p = fn(graph, cards, cost_model, rng, best, False)
                if p is None:
                    pruned += 1
                elif p.cost < best:
                    best = p.cost
            runs.append((best, pruned))
        assert runs[0] == runs[1], g.name


@pytest.mark.parametrize("optimizer", ["quickpick", "random"])
def test_a_plan_whose_cost_overflows_is_still_returned(optimizer):
    # Its first trial was abandoned at the bound inf (inf >= inf), every later one too, and
    # QuickPick raised AssertionError("QuickPick produced no plan"): an internal error.
    from deepquery.cost_models import Cout
    from deepquery.optimizers import OPTIMIZERS

    from .dq_synthetic import ProductCardinality, chain
    g = chain(120)
    cards = ProductCardinality(g, [1e6] * g.n, [1.0] * len(g.edges))  # 1e6 ** 120 overflows
    tree = OPTIMIZERS[optimizer](g, cards, Cout())
    assert sorted(tree.leaves()) == list(range(g.n)) and tree.cost == float("inf")
