"""HyperCuts' choice of pieces per dimension follows the NeuroCuts reference's stopping tests."""
from __future__ import annotations

import numpy as np

from neurocuts.hypercuts import HyperCutsConfig, hypercuts_step
from neurocuts.rules import DIM_MAX, RuleSet, linear_scan, random_packets
from neurocuts.tree import Tree

TOP = int(DIM_MAX[0])


def source_rules(ranges: list[tuple[int, int]]) -> RuleSet:
    """One rule per source-address range, every other field a wildcard (priority = list order)."""
    lo = np.zeros((len(ranges), 5), np.int64)
    hi = np.tile(DIM_MAX, (len(ranges), 1))
    lo[:, 0] = [a for a, _ in ranges]
    hi[:, 0] = [b for _, b in ranges]
    return RuleSet(lo, hi)


def root_cut(rules: RuleSet) -> tuple:
    """The (dim, pieces, width) cuts HyperCuts makes at the root, checked exact on packets."""
    tree = Tree(rules, 16, algo="hypercuts", share=False)
    hypercuts_step(HyperCutsConfig())(tree, tree.root)
    packets = random_packets(rules, 2000, seed=0)
    assert np.array_equal(tree.classify(packets), linear_scan(rules, packets))
    return tree.root.cuts


def test_pieces_keep_doubling_while_the_mean_stays_10_percent_below_the_nodes_rules():
    # 6 narrow rules, one per sixteenth, then 16 near-wildcards (wider ones last, so none is pruned).
    # Mean rules per piece at 2/4/8/16 pieces: 19, 17.5, 16.75, 16.375 of 22: each doubling gains
    # under 10% over the one before from 4 pieces on, but all stay at least 10% below 22 (19.8), no
    # piece is empty and 16 pieces fit spfac x sqrt(22) = 18.8.
    narrow = [(i << 28, (i << 28) + 999) for i in range(6)]
    wide = [(16 - i, TOP) for i in range(16)]
    assert root_cut(source_rules(narrow + wide)) == ((0, 16, 1 << 28),)


def test_pieces_stop_doubling_when_more_than_five_pieces_are_empty():
    # Two clusters of 10 narrow rules at the two ends of the space: 4 pieces leave 2 empty, 8 pieces
    # would leave 6 empty, though the mean keeps falling.
    low = [(i * 1000, i * 1000 + 10) for i in range(10)]
    high = [(TOP - i * 1000 - 10, TOP - i * 1000) for i in range(10)]
    assert root_cut(source_rules(low + high)) == ((0, 4, 1 << 30),)
