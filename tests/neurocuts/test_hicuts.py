"""HiCuts follows the NeuroCuts reference's builder (hicuts.py on its tree.py)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from neurocuts.efficuts import build_efficuts
from neurocuts.hicuts import HiCutsConfig, build_hicuts
from neurocuts.rules import DIM_MAX, RuleSet, linear_scan, load_rules, random_packets


def test_pieces_holding_the_same_rules_after_pruning_merge_into_one_child():
    # Rule 0 covers the lower half of the sources. Rules 1..16 start at sixteenths of that half and
    # run to the top of the space (destination ports apart), rules 17..33 are /8s in the upper half:
    # no rule covers another at the root. The root is cut into 16 source pieces; each lower piece
    # overlaps rule 0 and the rules started so far, all covered there by rule 0, so pruned each
    # holds rule 0 alone and the eight merge into one child, as the reference compares its
    # children after pruning them. Before, pieces were compared on the rules overlapping them and
    # the lower half took several children.
    lo = np.zeros((34, 5), np.int64)
    hi = np.tile(DIM_MAX, (34, 1))
    hi[0, 0] = (1 << 31) - 1
    lo[1:17, 0] = np.arange(16) << 27
    lo[1:17, 3] = np.arange(16) * 1000 + 100
    hi[1:17, 3] = lo[1:17, 3] + 10
    lo[17:, 0] = (1 << 31) + (np.arange(17) << 26)
    hi[17:, 0] = lo[17:, 0] + (1 << 24) - 1
    lo[17:, 3], hi[17:, 3] = 5000, 5010
    rules = RuleSet(lo, hi)
    tree = build_hicuts(rules, HiCutsConfig(spfac=4, dimension="most_distinct"))  # the defaults
    assert tree.root.cuts == ((0, 16, 1 << 28),)
    lower = [c for c in tree.root.children if c.hi[0] < 1 << 31]
    assert [(c.lo[0], c.hi[0], c.rules.tolist()) for c in lower] == [(0, (1 << 31) - 1, [0])]
    packets = np.concatenate([random_packets(rules, 5000, seed=0), lo, hi])
    assert np.array_equal(tree.classify(packets), linear_scan(rules, packets))


@pytest.mark.parametrize("name", ["acl1", "acl3", "acl5", "fw2", "ipc1", "ipc2"])
def test_trees_match_the_reference_anchors_node_for_node(shared_dir, name):
    # The reference's HiCuts: most distinct projections, spfac 4, no region compaction, pruning up to
    # 500 rules and merging adjacent children on their pruned rules. Accesses, bytes per rule and
    # nodes equal the anchors' (the other 1k sets too, in seconds to a minute). Before, acl1_1k had
    # 15 accesses, 263.38 bytes per rule and 2,889 nodes (anchor 14, 279.62, 3,997).
    anchors = [json.loads(line) for line in (shared_dir / "classbench" / "baseline_anchors_1k.jsonl").open()]
    want = next(a for a in anchors if a["file"] == f"{name}_1k" and a["alg"] == "HiCuts")
    rules = load_rules(shared_dir / "classbench" / f"{name}_1k")
    tree = build_hicuts(rules)
    m = tree.metrics()
    assert (m["time"], m["bytes_per_rule"], m["nodes"]) == \
        (want["memory_access"], want["bytes_per_rule"], want["num_node"])
    packets = random_packets(rules, 3000, seed=0)
    assert np.array_equal(tree.classify(packets), linear_scan(rules, packets))


@pytest.mark.parametrize("build", [
    lambda r: build_hicuts(r),
    lambda r: build_hicuts(r, HiCutsConfig(dimension="least_max_rules")),
    lambda r: build_efficuts(r),
], ids=["hicuts", "hicuts-least-max-rules", "efficuts"])
def test_a_point_region_too_full_to_prune_stays_a_leaf(build):
    # 600 copies of one exact 5-tuple (more than the 500 rules a node is pruned up to), then a rule
    # over everything. Cutting down to the tuple's point leaves a node no cut can split: it stays a
    # leaf, whose first rule wins. Before, the build raised ValueError('cannot cut dimension 0
    # (span 1) into 1 pieces'), 'neurocuts build' an internal error.
    lo = np.zeros((601, 5), np.int64)
    hi = np.tile(DIM_MAX, (601, 1))
    lo[:600] = hi[:600] = [0x01020304, 0x05060708, 80, 443, 6]
    rules = RuleSet(lo, hi)
    tree = build(rules)
    packets = np.concatenate([random_packets(rules, 2000, seed=0), lo[:1], lo[:1] + 1, lo[:1] - 1])
    assert np.array_equal(tree.classify(packets), linear_scan(rules, packets))
