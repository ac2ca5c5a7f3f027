"""On real JOB queries (the session's small database): every optimizer's plan returns exactly the
rows of the original SQL, its reported cost is the cost model's cost of that tree recomputed from
scratch, and exhaustive DP is never beaten. The whole 113-query check at scale 0.01 is in
benchmarks/deepquery_baselines.py; here a sample spanning 4 to 17 relations."""
from __future__ import annotations

import math

import pytest
import sqlglot
from sqlglot import exp

from deepquery import EstimatedCardinality, TableStats, TrueCardinality, connect, parse_query
from deepquery.cost_models import COST_MODELS, get_cost_model
from deepquery.execute import run_plan
from deepquery.database import schema_of
from deepquery.optimizers import OPTIMIZERS

SAMPLE = ["1a", "3b", "6a", "8c", "13d", "17a", "22c", "26a", "29a", "33c"]


@pytest.fixture(scope="module")
def con(imdb_db):
    c = connect(imdb_db)
    yield c
    c.close()


def _recost(tree, cards, model) -> float:
    """The tree's cost from its shape alone: scans, then each join from its children."""
    if tree.is_leaf:
        return model.scan(cards, tree.relation)
    lc, rc = _recost(tree.left, cards, model), _recost(tree.right, cards, model)
    return model.join_cost(cards, tree.left.mask, lc, tree.right.mask, rc, cards.card(tree.mask))[0]


def _count_star(sql: str) -> str:
    """The query with COUNT(*) as its only output: MIN(...) would hide extra or missing rows."""
    stmt = sqlglot.parse_one(sql, read="postgres")
    stmt.set("expressions", [exp.Count(this=exp.Star())])
    return stmt.sql(dialect="postgres")


@pytest.mark.parametrize("name", SAMPLE)
def test_every_plan_returns_the_rows_of_the_original_sql(con, job_dir, name):
    text = (job_dir / f"{name}.sql").read_text()
    for sql in (text, _count_star(text)):
        g = parse_query(sql, schema_of(con), name)
        cards = EstimatedCardinality(g, TableStats(con))
        for optimizer in ("dp", "random"):
            tree = OPTIMIZERS[optimizer](g, cards, get_cost_model("cm1"))
            assert run_plan(con, g, tree).same_result, (name, optimizer)


@pytest.mark.parametrize("source", ["estimated", "true"])
def test_costs_recompute_and_dp_is_never_beaten_on_job(con, job_dir, source):
    for name in SAMPLE:
        g = parse_query((job_dir / f"{name}.sql").read_text(), schema_of(con), name)
        stats = TableStats(con)
        if g.n > 12:
            continue  # 17 relations: seconds per cost model (benchmarks cover them)
        cards = (EstimatedCardinality(g, stats) if source == "estimated"
                 else TrueCardinality(g, stats, "test"))
        for model_name in COST_MODELS:
            model = get_cost_model(model_name)
            dp = OPTIMIZERS["dp"](g, cards, model)
            for opt_name, optimizer in OPTIMIZERS.items():
                tree = optimizer(g, cards, model)
                assert sorted(tree.leaves()) == list(range(g.n)), (name, opt_name)
                assert math.isclose(_recost(tree, cards, model), tree.cost, rel_tol=1e-9), \
                    (name, model_name, opt_name)
                assert dp.cost <= tree.cost, (name, model_name, opt_name, dp.cost, tree.cost)


@pytest.mark.parametrize("name", ["6a", "17a", "24b", "26a"])
def test_quickpick_is_the_best_of_its_random_plans(con, job_dir, name):
    # Pruning may only skip plans that cannot win, so QuickPick-k must equal the cheapest of the
    # same k random plans built in full. Its bound counted scan costs, which CM1/CM2 drop for an
    # index join's inner relation: it discarded better plans (here 1.4x to 18x worse).
    import random
    from deepquery.optimizers import quickpick
    g = parse_query((job_dir / f"{name}.sql").read_text(), schema_of(con), name)
    cards = EstimatedCardinality(g, TableStats(con))
    for model_name in ("cm1", "cm2"):
        model = get_cost_model(model_name)
        got = quickpick.plan(g, cards, model, trials=60, seed=1)
        rng = random.Random(1)
        best = min(quickpick._random_plan(g, cards, model, rng, math.inf, False).cost
                   for _ in range(60))
        assert got.cost == best, (name, model_name)
