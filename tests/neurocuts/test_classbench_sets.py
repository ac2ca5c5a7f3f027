"""Every builder on the real ClassBench 1k sets: exact answers on every rule's range ends and on
packets that match no rule, and metrics that recount from the tree's nodes.

Kept quick: each builder runs on the sets it builds in about a second (HiCuts and HyperCuts take
tens of seconds to minutes on the firewall sets, as the NeuroCuts reference does); the benchmark
builds every set with every builder.
"""
from __future__ import annotations

import numpy as np
import pytest

from neurocuts import build, linear_scan, load_rules, random_packets, validate_tree
from neurocuts.rules import DIM_MAX, RuleSet

FAST = {
    "cutsplit": ["acl1", "acl2", "acl3", "acl4", "acl5", "fw1", "fw2", "fw3", "fw4", "fw5", "ipc1", "ipc2"],
    "efficuts": ["acl1", "acl2", "acl4", "acl5", "fw1", "fw2", "ipc2"],
    "hicuts": ["acl1", "acl5", "fw2"],
    "hypercuts": ["acl3", "acl5"],
}
CASES = [(name, algo) for algo, names in FAST.items() for name in names]


def without_catch_all(rules: RuleSet) -> RuleSet:
    """The rules minus those whose both address prefixes are /8 or shorter (the catch-all default
    rules, their per-protocol or per-port variants, and the /1 halves db_generator writes), so that
    many packets match nothing."""
    keep = ~(rules.hi[:, :2] - rules.lo[:, :2] >= (1 << 24) - 1).all(axis=1)
    return RuleSet(rules.lo[keep], rules.hi[keep])


def boundary_packets(rules: RuleSet) -> np.ndarray:
    """For every rule and field: lo, hi, lo-1 and hi+1 of that field (clipped to the field), the other
    fields at the rule's low or high ends: 20 packets per rule."""
    out = []
    for d in range(5):
        for value, base in ((rules.lo[:, d], rules.lo), (rules.hi[:, d], rules.hi),
                            (rules.lo[:, d] - 1, rules.hi), (rules.hi[:, d] + 1, rules.lo)):
            pk = base.copy()
            pk[:, d] = np.clip(value, 0, DIM_MAX[d])
            out.append(pk)
    return np.concatenate(out)


def recount(tree) -> dict:
    """time, bytes, nodes and depth straight from the cost model's definition (tree.py docstring),
    recursively, with a shared child counted once."""
    seen: set[int] = set()

    def walk(node) -> tuple[int, int]:  # (time, depth); bytes and nodes accumulate in `acc`
        if id(node) not in seen:
            seen.add(id(node))
            acc["nodes"] += 1
            acc["bytes"] += 2 + 16 * len(node.rules) if not node.children else \
                2 + 16 + 4 * (len(node.run_starts) if node.kind == "cut" else len(node.children))
        if not node.children:
            return 1, 1
        sub = [walk(c) for c in node.children]
        t = sum(s[0] for s in sub) if node.kind == "partition" else 1 + max(s[0] for s in sub)
        return t, 1 + max(s[1] for s in sub)

    acc = {"bytes": 0, "nodes": 0}
    t, depth = walk(tree.root)
    return {"time": t, "depth": depth, **acc}


@pytest.mark.parametrize("name, algo", CASES, ids=[f"{n}-{a}" for n, a in CASES])
def test_builder_is_exact_on_boundaries_and_misses_and_metrics_recount(shared_dir, name, algo):
    rules = without_catch_all(load_rules(shared_dir / "classbench" / f"{name}_1k"))
    tree = build(rules, algo)
    validate_tree(tree)
    pk = np.concatenate([boundary_packets(rules), random_packets(rules, 4000, seed=1),
                         np.random.default_rng(2).integers(0, DIM_MAX + 1, size=(2000, 5))])
    expected = linear_scan(rules, pk)
    assert (expected == -1).sum() > 100 and (expected >= 0).sum() > 1000  # both kinds are tested
    got = tree.classify(pk)
    bad = np.flatnonzero(got != expected)
    assert len(bad) == 0, f"{len(bad)} wrong, e.g. packet {pk[bad[0]].tolist()}: {got[bad[0]]} not {expected[bad[0]]}"
    m = tree.metrics()
    assert {k: m[k] for k in ("time", "depth", "bytes", "nodes")} == recount(tree)
    assert m["bytes_per_rule"] == round(m["bytes"] / len(rules), 2) and m["rules"] == len(rules)
    assert m["leaves"] == sum(1 for n in tree.nodes() if not n.children)
    assert all(len(n.rules) <= tree.binth for n in tree.nodes() if not n.children)
