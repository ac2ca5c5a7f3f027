from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepquery.cost_models import CM1, CM2, Cout
from deepquery.join_tree import JoinTree, join, leaf
from deepquery.optimizers import OPTIMIZERS
from deepquery.optimizers import SearchSpaceTooLarge, dpccp, greedy, ikkbz, linear_dp
from deepquery.optimizers._limits import MAX_JOIN_PAIRS
from deepquery.optimizers.dpccp import csg_cmp_pairs
from deepquery.query_graph import QueryError

from .dq_synthetic import ProductCardinality, chain, clique, make_graph, star

COST_MODELS = [Cout(), CM1(), CM2(memory_rows=50.0)]


@st.composite
def graphs_with_cards(draw):
    n = draw(st.integers(min_value=2, max_value=7))
    edges = [(draw(st.integers(0, i - 1)), i) for i in range(1, n)]  # a random spanning tree
    extra = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=6))
    for a, b in extra:
        if a != b and (a, b) not in edges and (b, a) not in edges:
            edges.append((min(a, b), max(a, b)))
    g = make_graph(n, edges)
    rows = draw(st.lists(st.floats(1.0, 1e5), min_size=n, max_size=n))
    sels = draw(st.lists(st.floats(1e-5, 1.0), min_size=len(edges), max_size=len(edges)))
    return g, ProductCardinality(g, rows, sels)


def _no_cross_products(tree: JoinTree, graph) -> bool:
    if tree.is_leaf:
        return True
    linked = graph.neighbors(tree.left.mask) & tree.right.mask
    return bool(linked) and _no_cross_products(tree.left, graph) and _no_cross_products(tree.right, graph)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs_with_cards(), st.sampled_from(COST_MODELS))
def test_every_optimizer_joins_each_relation_once_and_dp_is_never_beaten(gc, model):
    graph, cards = gc
    dp = OPTIMIZERS["dp"](graph, cards, model)
    for name, optimizer in OPTIMIZERS.items():
        tree = optimizer(graph, cards, model)
        assert sorted(tree.leaves()) == list(range(graph.n)), name
        assert tree.mask == graph.full_mask and tree.joins() == graph.n - 1, name
        assert _no_cross_products(tree, graph), name
        assert dp.cost <= tree.cost * (1 + 1e-9), (name, dp.cost, tree.cost)
        # The reported cost is the cost model's cost of that very tree.
        assert math.isclose(_recost(tree, cards, model), tree.cost, rel_tol=1e-9), name
    # Zig-zag trees include left-deep and right-deep ones.
    zz = OPTIMIZERS["zigzag"](graph, cards, model).cost
    assert zz <= OPTIMIZERS["left-deep"](graph, cards, model).cost * (1 + 1e-9)
    assert zz <= OPTIMIZERS["right-deep"](graph, cards, model).cost * (1 + 1e-9)


def _recost(tree: JoinTree, cards, model) -> float:
    if tree.is_leaf:
        return leaf(tree.relation, cards, model).cost
    left = JoinTree(tree.left.mask, tree.left.card, _recost(tree.left, cards, model))
    right = JoinTree(tree.right.mask, tree.right.card, _recost(tree.right, cards, model))
    return join(left, right, cards, model).cost


def _brute_force(graph, cards, model, mask: int) -> float:
    """Cheapest bushy tree without cross products by trying every split."""
    if mask & (mask - 1) == 0:
        return leaf(mask.bit_length() - 1, cards, model).cost
    best = math.inf
    sub = (mask - 1) & mask
    while sub:
        other = mask ^ sub
        if graph.is_connected(sub) and graph.is_connected(other) and graph.neighbors(sub) & other:
            lc = _brute_force(graph, cards, model, sub)
            rc = _brute_force(graph, cards, model, other)
            c, _ = model.join_cost(cards, sub, lc, other, rc, cards.card(mask))
            best = min(best, c)
        sub = (sub - 1) & mask
    return best


@settings(max_examples=20, deadline=None)
@given(graphs_with_cards(), st.sampled_from(COST_MODELS))
def test_dpccp_finds_the_brute_force_optimum(gc, model):
    graph, cards = gc
    dp = OPTIMIZERS["dp"](graph, cards, model)
    assert math.isclose(dp.cost, _brute_force(graph, cards, model, graph.full_mask), rel_tol=1e-9)


class _CoutViaPairCost(Cout):
    """C_out under another type: DPccp costs its pairs through ``pair_cost``."""


class _CM1ViaPairCost(CM1):
    """CM1 under another type: DPccp costs its pairs through ``pair_cost``."""


class _CM2ViaPairCost(CM2):
    """CM2 under another type: DPccp costs its pairs through ``pair_cost``."""


_VIA_PAIR_COST = {Cout: _CoutViaPairCost, CM1: _CM1ViaPairCost, CM2: _CM2ViaPairCost}


def _methods(tree: JoinTree):
    return tree.method if tree.is_leaf else [tree.method, _methods(tree.left), _methods(tree.right)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs_with_cards(), st.sampled_from(COST_MODELS + [CM2(memory_rows=1e9), CM1(lam=0.1)]))
def test_dp_inline_join_costs_equal_the_cost_models_own(gc, model):
    # The DP optimizers evaluate C_out, CM1 and CM2 inline; a subclass takes the generic path
    # (pair_cost / join_cost). Plans, costs and join methods must be identical, bit for bit.
    graph, cards = gc
    generic = _VIA_PAIR_COST[type(model)](**dataclasses.asdict(model))
    for name in ("dp", "left-deep", "right-deep", "zigzag"):
        fast = OPTIMIZERS[name](graph, cards, model)
        slow = OPTIMIZERS[name](graph, cards, generic)
        assert fast.nested(graph) == slow.nested(graph), name
        assert fast.cost == slow.cost, name
        assert _methods(fast) == _methods(slow), name


@settings(max_examples=15, deadline=None)
@given(graphs_with_cards(), st.sampled_from(COST_MODELS))
def test_dpccp_dict_tables_give_the_same_plans_as_list_tables(gc, model):
    graph, cards = gc
    listed = dpccp.plan(graph, cards, model)
    old = dpccp.LIST_TABLES_UP_TO
    dpccp.LIST_TABLES_UP_TO = 0  # no monkeypatch fixture: hypothesis reruns the body
    try:
        keyed = dpccp.plan(graph, cards, model)
    finally:
        dpccp.LIST_TABLES_UP_TO = old
    assert (keyed.nested(graph), keyed.cost) == (listed.nested(graph), listed.cost)


@pytest.mark.parametrize("n", [2, 3, 5, 8])
def test_csg_cmp_pair_counts_match_closed_forms(n):
    # Moerkotte & Neumann 2006, Table 1: #ccp for chains, stars and cliques.
    assert sum(1 for _ in csg_cmp_pairs(chain(n))) == (n ** 3 - n) // 6
    assert sum(1 for _ in csg_cmp_pairs(star(n))) == (n - 1) * 2 ** (n - 2)
    assert sum(1 for _ in csg_cmp_pairs(clique(n))) == (3 ** n - 2 ** (n + 1) + 1) // 2


def test_csg_cmp_pairs_are_unique_and_disjoint():
    g = clique(6)
    pairs = list(csg_cmp_pairs(g))
    assert len({frozenset(p) for p in pairs}) == len(pairs)
    assert all(a & b == 0 and g.is_connected(a) and g.is_connected(b) for a, b in pairs)


def test_linear_shapes_are_linear():
    g = clique(6)
    cards = ProductCardinality(g, [10.0 * (i + 1) for i in range(6)], [0.1] * len(g.edges))
    left = OPTIMIZERS["left-deep"](g, cards, Cout())
    assert left.is_left_deep()
    right = OPTIMIZERS["right-deep"](g, cards, CM1())
    node = right
    while not node.is_leaf:
        assert node.left.is_leaf
        node = node.right


def test_quickpick_is_deterministic_by_seed():
    g = clique(7)
    cards = ProductCardinality(g, [10.0 * (i + 1) for i in range(7)], [0.05] * len(g.edges))
    a = OPTIMIZERS["quickpick"](g, cards, Cout())
    b = OPTIMIZERS["quickpick"](g, cards, Cout())
    assert a.nested(g) == b.nested(g)


def test_disconnected_graph_plans_with_cross_product(caplog):
    g = make_graph(4, [(0, 1), (2, 3)])
    cards = ProductCardinality(g, [5.0, 6.0, 7.0, 8.0], [0.5, 0.5])
    for name, opt in OPTIMIZERS.items():
        tree = opt(g, cards, Cout())
        assert sorted(tree.leaves()) == [0, 1, 2, 3], name
    assert "disconnected" in caplog.text


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["dp", "left-deep", "right-deep", "zigzag"])
def test_exhaustive_optimizers_refuse_a_search_space_past_the_limit(name):
    # A clique of 30 (30 tables on one join column) has ~1e14 csg-cmp pairs: without a limit
    # DP enumerates for days. It must refuse quickly, naming the polynomial optimizers.
    g = clique(30)
    cards = ProductCardinality(g, [10.0] * 30, [0.1] * len(g.edges))
    optimizer = OPTIMIZERS[name]
    limit = 20_000
    with pytest.raises(SearchSpaceTooLarge, match="greedy, ikkbz or quickpick") as err:
        if name == "dp":
            dpccp.plan(g, cards, Cout(), max_pairs=limit)
        else:
            linear_dp.plan_linear(g, cards, Cout(), name, max_steps=limit)
    assert isinstance(err.value, QueryError) and "30 relations" in str(err.value)
    # A chain of 30 is small (4,495 pairs): every optimizer plans it under the same limit.
    c = chain(30)
    tree = (dpccp.plan(c, ProductCardinality(c, [10.0] * 30, [0.1] * 29), Cout(), max_pairs=limit)
            if name == "dp" else optimizer(c, ProductCardinality(c, [10.0] * 30, [0.1] * 29), Cout()))
    assert sorted(tree.leaves()) == list(range(30))


def test_the_limit_admits_every_job_sized_search(job_dir):
    # JOB's largest queries (29a-c) need 227,207 pairs: the default limit must leave room.
    from deepquery.query_graph import parse_query
    from sysml_datasets.imdb.schema import COLUMNS
    g = parse_query((job_dir / "29a.sql").read_text(), COLUMNS, "29a")
    assert sum(1 for _ in csg_cmp_pairs(g)) * 4 <= MAX_JOIN_PAIRS
    for optimizer in (greedy.plan, ikkbz.plan):  # the suggested fallbacks plan a 30-clique
        g30 = clique(30)
        tree = optimizer(g30, ProductCardinality(g30, [10.0] * 30, [0.1] * len(g30.edges)), Cout())
        assert sorted(tree.leaves()) == list(range(30))


@pytest.mark.parametrize("model", COST_MODELS, ids=lambda m: m.name)
@pytest.mark.parametrize("shape", [chain, star, clique], ids=lambda f: f.__name__)
def test_every_optimizer_plans_a_query_whose_every_plan_costs_inf(shape, model):
    # Sub-joins estimated past 1e308 rows (70 relations chained on low-distinct columns) make
    # every plan's cost inf. Any plan is then optimal, but each optimizer must give one: dp,
    # whose table starts at inf and takes only a cheaper pair, had no split for the whole query
    # and failed with TypeError (cannot unpack non-iterable NoneType object).
    g = shape(5)
    cards = ProductCardinality(g, [1e200] * 5, [1.0] * len(g.edges))
    for name, optimizer in OPTIMIZERS.items():
        tree = optimizer(g, cards, model)
        assert sorted(tree.leaves()) == list(range(5)), name
        assert _no_cross_products(tree, g), name
        assert tree.cost == math.inf, name
    # Where some sub-joins overflow but not all, dp still finds the cheapest finite plan.
    g = chain(4)
    cards = ProductCardinality(g, [10.0] * 4, [0.1] * 3)
    cards.memo.update({0b0110: math.inf, 0b1110: math.inf})  # r1 r2, r1 r2 r3: past 1e308
    tree = dpccp.plan(g, cards, model)
    assert tree.cost == _brute_force(g, cards, model, g.full_mask) < math.inf


def test_ikkbz_orders_a_chain_deeper_than_pythons_recursion_limit():
    # IK-KBZ normalised each subtree by one recursive call per level: a chain of about 500
    # relations (plan --optimizer ikkbz on 600 tables joined in a row) ended in RecursionError,
    # where left-deep, greedy, quickpick and random plan it.
    n = 1500
    g = chain(n)
    cards = ProductCardinality(g, [10.0 + i % 7 for i in range(n)], [0.1] * (n - 1))
    tree = ikkbz.minimum_spanning_tree(g, cards)
    for root in (0, n // 2, n - 1):
        order = ikkbz.kbz_order(tree, root, cards)
        assert order[0] == root and sorted(order) == list(range(n))
        # every prefix of a chain's order is connected: the order adds neighbours only
        lo = hi = root
        for r in order[1:]:
            assert r in (lo - 1, hi + 1)
            lo, hi = min(lo, r), max(hi, r)
