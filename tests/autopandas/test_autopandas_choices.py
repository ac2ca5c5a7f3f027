"""Choice operators: exhaustive, random, ranked and replay modes, and recorded traces."""
from __future__ import annotations

import itertools
import random
import time

import pytest

from autopandas.choices import (Infeasible, RandomChooser, ReplayChooser, enumerate_choices,
                                run_recorded)


def gen_all_ops(c, ctx):
    a = c.select("a", ctx["dom"])
    s = c.subset("s", ("x", "y", "z"), 1, 2)
    o = c.ordered_subset("o", (1, 2, 3), 2, 2)
    q = c.sequence("q", (True, False), len(s))
    return (a, s, o, q)


CTX = {"dom": ("p", "q")}


def test_exhaustive_enumerates_every_combination_once():
    values = [v for v, _ in enumerate_choices(gen_all_ops, CTX)]
    # select 2 x subsets of size 1-2 of 3 (3 + 3) with 2**len(s) sequences x 6 permutations
    expected = 2 * (3 * 2 + 3 * 4) * 6
    assert len(values) == expected
    assert len(set(values)) == expected


def test_exhaustive_order_is_domain_order_smallest_subsets_first():
    first = [v for v, _ in itertools.islice(enumerate_choices(gen_all_ops, CTX), 1)][0]
    assert first == ("p", ("x",), (1, 2), (True,))


def test_subset_keeps_domain_order_and_ordered_subset_permutes():
    subsets = [v for v, _ in enumerate_choices(lambda c, x: c.subset("s", (3, 1, 2), 2, 2), None)]
    assert subsets == [(3, 1), (3, 2), (1, 2)]
    perms = [v for v, _ in enumerate_choices(lambda c, x: c.ordered_subset("o", (3, 1), 2, 2), None)]
    assert perms == [(3, 1), (1, 3)]


def test_infeasible_branches_are_skipped():
    def gen(c, x):
        k = c.select("k", (0, 1, 2))
        return k, c.select("v", tuple(range(k)))   # k=0 has no options
    assert [v for v, _ in enumerate_choices(gen, None)] == [(1, 0), (2, 0), (2, 1)]


def test_limit_stops_enumeration():
    assert len(list(enumerate_choices(gen_all_ops, CTX, limit=5))) == 5


def test_every_trace_replays_to_the_same_value():
    for value, trace in enumerate_choices(gen_all_ops, CTX):
        again, trace2 = run_recorded(gen_all_ops, CTX, ReplayChooser(trace))
        assert again == value
        assert trace2 == trace


def test_trace_records_operator_label_options_and_value():
    value, trace = run_recorded(gen_all_ops, CTX, RandomChooser(random.Random(3)))
    assert [d.op for d in trace] == ["select", "subset", "ordered_subset", "sequence"]
    assert [d.label for d in trace] == ["a", "s", "o", "q"]
    assert trace[0].n_options == 2 and trace[2].n_options == 6
    assert tuple(d.value for d in trace) == value


def test_random_mode_is_seeded_and_covers_the_domain():
    runs = [run_recorded(gen_all_ops, CTX, RandomChooser(random.Random(s)))[0] for s in range(200)]
    again = [run_recorded(gen_all_ops, CTX, RandomChooser(random.Random(s)))[0] for s in range(200)]
    assert runs == again
    assert {r[0] for r in runs} == {"p", "q"}
    assert len(set(runs)) > 50


def test_ranked_mode_visits_options_in_score_order():
    def scorer(op, label, options):
        return [-abs(o - 2) for o in options] if label == "n" else [0.0] * len(options)
    order = [v for v, _ in enumerate_choices(lambda c, x: c.select("n", (0, 1, 2, 3, 4)), None, scorer=scorer)]
    assert order[0] == 2 and set(order[1:3]) == {1, 3} and sorted(order) == [0, 1, 2, 3, 4]


def test_ranked_trace_records_real_option_index():
    scorer = lambda op, label, options: list(range(len(options)))  # noqa: E731 - reverse order
    (value, trace), = list(enumerate_choices(lambda c, x: c.select("n", ("a", "b", "c")), None,
                                             scorer=scorer, limit=1))
    assert value == "c" and trace[0].index == 2
    assert run_recorded(lambda c, x: c.select("n", ("a", "b", "c")), None, ReplayChooser(trace))[0] == "c"


def test_replay_mismatch_fails_loudly():
    _, trace = run_recorded(gen_all_ops, CTX, RandomChooser(random.Random(0)))
    with pytest.raises(ValueError, match="replay mismatch"):
        run_recorded(gen_all_ops, {"dom": ("p", "q", "r")}, ReplayChooser(trace))


def test_bool_and_int_domains_do_not_share_a_cache_entry():
    assert [v for v, _ in enumerate_choices(lambda c, x: c.select("b", (False, True)), None)] == [False, True]
    got = [v for v, _ in enumerate_choices(lambda c, x: c.select("i", (0, 1)), None)]
    assert got == [0, 1] and all(type(v) is int for v in got)


def test_empty_domain_raises_infeasible_in_random_mode():
    with pytest.raises(Infeasible):
        run_recorded(lambda c, x: c.select("e", ()), None, RandomChooser(random.Random(0)))


def test_combinatorial_options_are_capped_and_lazy():
    from autopandas.choices import MAX_OPTIONS, _options

    domain = tuple(f"c{i}" for i in range(3000))     # 3000**4 orderings uncapped
    t0 = time.monotonic()
    opts = _options("ordered_subset", domain, 1, 4)
    assert len(opts) == MAX_OPTIONS
    assert opts[:3000] == tuple((c,) for c in domain) and opts[3000] == ("c0", "c1")   # smallest first
    assert time.monotonic() - t0 < 2.0


def test_enumeration_stops_at_its_deadline_even_on_dead_branches():
    """A generator whose branches are all dead never yields, so a caller checking the clock per
    value never got to check it: the enumeration checks before each rerun."""
    runs = []

    def dead(c, x):
        runs.append(1)
        c.select("a", range(1000))
        raise Infeasible("b")
    assert list(enumerate_choices(dead, None, deadline=time.monotonic() - 1)) == []
    assert runs == []
    assert list(enumerate_choices(dead, None, deadline=time.monotonic() + 60)) == []
    assert len(runs) == 1000
    assert len(list(enumerate_choices(gen_all_ops, CTX, deadline=time.monotonic() + 60))) == \
        len(list(enumerate_choices(gen_all_ops, CTX)))
