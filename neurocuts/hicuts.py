"""HiCuts (Gupta and McKeown, Hot Interconnects 1999): one dimension, equal-width cuts.

As the NeuroCuts reference builds it (hicuts.py on its tree.py), node for node. At each node with
more than `binth` (16) rules, the dimension cut is the one with the most distinct rule projections
(clipped to the node; ties to the lower dimension), and its number of pieces np starts at 2 and
doubles while sm(np) = np + the pieces each rule spans stays below `spfac` (4) x rules and 2np fits
the span (the paper's space measure in the reference's form, which stops at the first np reaching
the bound). Refinements as in the reference's tree: rule pruning (a rule covered by a
higher-priority rule in the node's region is dropped; nodes of at most 500 rules only), node merging
(adjacent children holding the same rules, compared after pruning; equal whole rows are not a case
here, the cut has one dimension), and no region compaction (it would change the pieces' widths).
With these our trees are the anchors' on the twelve ClassBench 1k sets (accesses, bytes per rule and
nodes equal; the reference failed on fw1_1k, ours takes 491,470 nodes there). The reference makes
np pieces even where np x ceil(span / np) passes the span by a whole piece (pieces no packet
reaches); ours makes only those within the span (our tree format has no place for the others), and
no cut on the eleven 1k sets the reference finished has such pieces (the nodes are equal).

The firewall sets' trees are large, as the reference's are (fw5_1k: 546,299 nodes, tens of
seconds). `HiCutsConfig(dimension="least_max_rules")` takes the paper's first heuristic instead
(every dimension gets its pieces, the one whose fullest piece holds the fewest rules wins), and a
larger spfac (the paper's 8 or more) trades space for fewer accesses.
The benchmark (benchmarks/neurocuts_baselines.py) prints the measured medians against the anchors.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .rules import RuleSet
from .tree import Node, Tree, cut, grow


@dataclass(frozen=True)
class HiCutsConfig:
    """HiCuts parameters."""

    binth: int = 16
    """Leaf threshold: nodes with at most this many rules become leaves."""
    spfac: float = 4.0
    """Space factor: pieces double while they plus the pieces the node's rules span stay below
    spfac x rules (the reference's 4)."""
    max_pieces: int = 1 << 16
    """Upper bound on pieces per cut (the reference has none; sm(np) > np, so with spfac 4 this
    binds only on nodes of more than 16,384 rules)."""
    dimension: str = "most_distinct"
    """Dimension choice: `most_distinct` (NeuroCuts reference) or `least_max_rules` (paper)."""

    def __post_init__(self) -> None:
        if self.binth < 1:
            raise ValueError(f"binth must be >= 1, got {self.binth}")
        if self.spfac <= 0:
            raise ValueError(f"spfac must be > 0, got {self.spfac}")
        if self.max_pieces < 2:
            raise ValueError(f"max_pieces must be >= 2, got {self.max_pieces}")
        if self.dimension not in ("least_max_rules", "most_distinct"):
            raise ValueError(f"dimension must be least_max_rules or most_distinct, got {self.dimension!r}")


def clipped(tree: Tree, node: Node) -> tuple[np.ndarray, np.ndarray]:
    """The node's rules clipped to its region: (n, 5) starts and ends."""
    return np.maximum(tree.rules.lo[node.rules], node.lo), np.minimum(tree.rules.hi[node.rules], node.hi)


def distinct_components(clo: np.ndarray, chi: np.ndarray) -> np.ndarray:
    """Distinct clipped (start, end) pairs per dimension, (5,)."""
    if not len(clo):
        return np.zeros(5, np.int64)
    # Every field fits 32 bits, so a pair packs into one uint64 key, all five dimensions sorted at once.
    keys = np.sort((clo.astype(np.uint64) << np.uint64(32)) | chi.astype(np.uint64), axis=0)  # (n, 5)
    return 1 + np.count_nonzero(keys[1:] != keys[:-1], axis=0).astype(np.int64)


def space_measure(node: Node, clo: np.ndarray, chi: np.ndarray, dim: int, pieces: int) -> int:
    """HiCuts sm(np): pieces plus the pieces each rule spans, for an equal-width cut of `dim`."""
    w = -(-int(node.hi[dim] - node.lo[dim] + 1) // pieces)
    a = (clo[:, dim] - node.lo[dim]) // w
    b = (chi[:, dim] - node.lo[dim]) // w
    return pieces + int((b - a + 1).sum())


def hicuts_pieces(node: Node, clo: np.ndarray, chi: np.ndarray, dim: int, spfac: float, max_pieces: int) -> int:
    """Pieces for an equal-width cut: start at 2, double while sm(np) < spfac * rules.

    As in the NeuroCuts reference, the loop tests the current np and doubles, so the answer is the
    first power of two whose sm reaches spfac x rules (bounded by the span and max_pieces). Every
    candidate np is measured at once.
    """
    span = int(node.hi[dim] - node.lo[dim] + 1)
    top = min(span, max_pieces)
    ks = [2]
    while ks[-1] * 2 <= top:
        ks.append(ks[-1] * 2)
    if len(ks) == 1:
        return min(2, span)
    k = np.array(ks[:-1], np.int64)  # the last candidate is never tested, only reached
    w = -(-span // k)  # (candidates,)
    a = (clo[:, dim, None] - node.lo[dim]) // w  # (rules, candidates)
    b = (chi[:, dim, None] - node.lo[dim]) // w
    sm = k + (b - a + 1).sum(axis=0)
    below = sm < spfac * len(clo)
    stop = int(np.argmin(below)) if not below.all() else len(k)  # first candidate reaching the bound
    return min(ks[stop], span)


def pick_dimension(clo: np.ndarray, chi: np.ndarray, node: Node) -> int:
    """The cuttable dimension with the most distinct projections (the NeuroCuts reference's choice)."""
    counts = distinct_components(clo, chi).astype(np.float64)
    counts[(node.hi - node.lo) < 1] = -1
    return int(np.argmax(counts))


def max_child_rules(node: Node, clo: np.ndarray, chi: np.ndarray, dim: int, pieces: int) -> int:
    """Most rules any piece holds after an equal-width cut of `dim` into `pieces`."""
    w = -(-int(node.hi[dim] - node.lo[dim] + 1) // pieces)
    a = (clo[:, dim] - node.lo[dim]) // w
    b = (chi[:, dim] - node.lo[dim]) // w
    per_piece = np.cumsum(np.bincount(a, minlength=pieces + 1) - np.bincount(b + 1, minlength=pieces + 1))
    return int(per_piece.max())


def pick_cut(clo: np.ndarray, chi: np.ndarray, node: Node, config: "HiCutsConfig") -> tuple[int, int]:
    """(dimension, pieces) for the next HiCuts cut.

    `most_distinct`: the reference's dimension, pieces by the space factor. `least_max_rules` (the
    HiCuts paper's first heuristic): every cuttable dimension gets its pieces by the space factor and
    the one whose fullest piece holds the fewest rules wins (ties: more distinct projections, then
    lower dimension).
    """
    if config.dimension == "most_distinct":
        dim = pick_dimension(clo, chi, node)
        return dim, hicuts_pieces(node, clo, chi, dim, config.spfac, config.max_pieces)
    cuttable = (node.hi - node.lo) >= 1
    counts = distinct_components(clo, chi)
    best: tuple[int, int, int, int] | None = None
    for d in np.flatnonzero(cuttable):
        k = hicuts_pieces(node, clo, chi, int(d), config.spfac, config.max_pieces)
        key = (max_child_rules(node, clo, chi, int(d), k), -int(counts[d]), int(d), k)
        if best is None or key < best:
            best = key
    assert best is not None, "a node above binth always has a cuttable dimension"
    return best[2], best[3]


def hicuts_step(config: HiCutsConfig) -> Callable:
    """The HiCuts policy for one node, usable by `grow` (and by other builders' subtrees).

    A node whose region is one point (every dimension's span 1) cannot be cut: its rules all cover
    that point, so it stays a leaf, whose first rule always wins (a tree that prunes keeps only
    that one: `prune_rules`, or `shadowed_cut` past the tree's `prune_max`).
    """
    def step(tree: Tree, node: Node) -> list[Node]:
        if not (node.hi > node.lo).any():
            return []
        clo, chi = clipped(tree, node)
        dim, k = pick_cut(clo, chi, node, config)
        return cut(tree, node, [dim], [k])
    return step


def build_hicuts(rules: RuleSet, config: HiCutsConfig = HiCutsConfig(),
        time_limit_s: float | None = None, max_nodes: int | None = None) -> Tree:
    """Build a HiCuts tree."""
    t0 = time.perf_counter()  # build_s: the whole build, the root's pruning included
    tree = Tree(rules, config.binth, algo="hicuts", share=False, compact=False, merge_pruned=True, prune_max=500)
    grow(tree, hicuts_step(config), time_limit_s=time_limit_s, max_nodes=max_nodes)
    tree.build_s = time.perf_counter() - t0
    return tree
