"""CutSplit (Li, Li, Li, Hu and Bao, INFOCOM 2018): FiCuts on small IP fields, then HyperSplit.

As the NeuroCuts reference builds it (cutsplit.py, with the two fixes its `CutSplitFixed` anchors
were measured with; see below), node for node. The root partitions the rules by the size of their
IP ranges (small: at most `ip_small` addresses, 2^24): rules large in both fields form one subset,
built by HyperSplit alone; rules small only in the source go to a second subset, cut on the source
address, and rules small only in the destination to a third, cut on the destination. Rules small in
both are then dealt out one by one, in priority order, to the source or the destination subset:
to the one whose field has fewer crowded bins (the address space in 2^20 bins of 4,096 addresses;
crowded: more than `binth` rules of the subset over it, each rule counted in its smaller IP field),
ties to the smaller subset. A large-in-both subset of at most `binth` rules is merged into the
others, each rule to the field where it is smaller. Each subset becomes one tree under a root
partition node (the reference sums its separate trees; a lookup searches all of them).

The small-field subsets are cut with FiCuts: equal-width cuts of their field into the HiCuts space
factor's pieces (spfac 4). The first node (depth first, as the tree grows) where FiCuts would use
fewer than `ficut_threshold` (16) pieces switches the rest of that subset's tree to HyperSplit, as
the reference does (its switch is one flag per tree, not per node). HyperSplit splits a node in two
in the dimension whose rule end points (clipped to the node) delimit the regions with the fewest
rules on average, at the point where the rules over the regions to its left first pass half.

Fixes of the reference that the anchors include: its CutSplit never ran FiCuts (it tests
`"ficut"` against the `"ficuts"` it sets), and its binary split ended the second half at twice the
split's offset, losing the rules past it. Refinements as in the reference's tree: rule pruning
(nodes of at most 500 rules, the rules a higher-priority rule covers in the node's region), node
merging (adjacent children holding the same rules, compared after pruning), no region compaction.
With these our trees are the anchors' on the twelve ClassBench 1k sets, plus our root partition.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .hicuts import clipped, hicuts_pieces
from .rules import RuleSet
from .tree import Node, Tree, cut, grow, partition, prune_rules

#: The reference's IP bins: 2^20 bins of 4,096 addresses.
BIN_BITS = 12


@dataclass(frozen=True)
class CutSplitConfig:
    """CutSplit parameters."""

    binth: int = 16
    """Leaf threshold; also the rules that make a bin crowded and a large-in-both subset worth a tree."""
    spfac: float = 4.0
    """Space factor of the FiCuts stage."""
    ip_small: int = 1 << 24
    """An IP range spanning at most this many addresses is small."""
    ficut_threshold: int = 16
    """Switch a subset's tree to HyperSplit when FiCuts would cut a node into fewer pieces than this."""

    def __post_init__(self) -> None:
        if self.binth < 1:
            raise ValueError(f"binth must be >= 1, got {self.binth}")
        if self.spfac <= 0:
            raise ValueError(f"spfac must be > 0, got {self.spfac}")
        if not 1 <= self.ip_small <= 1 << 32:
            raise ValueError(f"ip_small must be in 1..2^32, got {self.ip_small}")
        if self.ficut_threshold < 2:
            raise ValueError(f"ficut_threshold must be >= 2, got {self.ficut_threshold}")


def hypersplit_point(clo: np.ndarray, chi: np.ndarray, node: Node) -> tuple[int, int] | None:
    """(dim, split point t): children [lo, t-1] and [t, hi]; None when no dimension can split.

    The reference's choice (cutsplit.py, `select_action_hypersplit`): per dimension, the rules'
    clipped starts and ends, sorted (a point that is both comes twice, start first), delimit
    regions; each counts the rules covering both its end points. The dimension with the fewest rules
    per region on average wins (ties: the lower dimension); the split point is the first region
    point past the first, taken as the point for a start and the point + 1 for an end, where the
    rules over the regions before it pass half of the total (the last such point when none does).
    """
    best: tuple[float, int, int] | None = None
    for d in range(5):
        starts, ends = np.unique(clo[:, d]), np.unique(chi[:, d])
        # Region points, (point, 0) for a start before (point, 1) for an end.
        pts = np.concatenate([starts, ends])
        kind = np.concatenate([np.zeros(len(starts), np.int64), np.ones(len(ends), np.int64)])
        order = np.lexsort((kind, pts))
        pts, kind = pts[order], kind[order]
        m = len(pts)
        if m < 3:
            continue
        # Rules over [p_j, p_j+1]: those starting at or before p_j less those ending before p_j+1
        # (no rule lies strictly between two neighbouring points: its start would be a point).
        lo_sorted, hi_sorted = np.sort(clo[:, d]), np.sort(chi[:, d])
        cov = np.searchsorted(lo_sorted, pts[:-1], side="right") - np.searchsorted(hi_sorted, pts[1:], side="left")
        total = int(cov.sum())
        avg = total / (m - 1)
        if best is None or avg < best[0]:
            # Split at region point k (1 <= k <= m - 2): the first whose regions before it hold
            # more than half of the total, else the last.
            before = np.cumsum(cov)[:m - 2]  # rules over regions 0..k-1, k = 1..m-2
            past = np.flatnonzero(2 * before > total)
            k = int(past[0]) + 1 if len(past) else m - 2
            best = (avg, d, int(pts[k]) + int(kind[k]))
    return None if best is None else (best[1], best[2])


def hypersplit(tree: Tree, node: Node) -> list[Node]:
    """One HyperSplit binary split of `node` (a 2-piece cut ending the first piece at t - 1).

    A node no dimension can split (every rule clipped to the same box, too many to prune) stays a
    leaf: its first rule always wins.
    """
    clo, chi = clipped(tree, node)
    found = hypersplit_point(clo, chi, node)
    if found is None:
        return []
    d, t = found
    return cut(tree, node, [d], [2], widths=[t - int(node.lo[d])])


def split_groups(rules: RuleSet, config: CutSplitConfig = CutSplitConfig()) -> list[tuple[np.ndarray, int | None]]:
    """(rule ids, FiCuts dimension or None for HyperSplit only) per subset, empty ones dropped;
    the reference's separation (see the module docstring)."""
    src = rules.hi[:, 0] - rules.lo[:, 0] + 1
    dst = rules.hi[:, 1] - rules.lo[:, 1] + 1
    s_big, d_big = src > config.ip_small, dst > config.ip_small
    to_src_bins = src < dst  # the field each rule counts in the bins: its smaller one, ties destination
    subset = np.where(s_big & d_big, 0, np.where(~s_big & d_big, 1, np.where(s_big & ~d_big, 2, 3)))
    if np.count_nonzero(subset == 0) <= config.binth:
        subset[subset == 0] = np.where(to_src_bins[subset == 0], 1, 2)
    bins = np.zeros((2, 1 << (32 - BIN_BITS)), np.int64)  # (source, destination) rules per bin
    for field in (0, 1):
        ids = np.flatnonzero((subset != 3) & (to_src_bins == (field == 0)))
        a = rules.lo[ids, field] >> BIN_BITS
        b = (rules.hi[ids, field] >> BIN_BITS) + 1  # bins end at ceil((hi + 1) / 4096)
        np.add.at(bins[field], a, 1)
        np.add.at(bins[field], b[b < bins.shape[1]], -1)
        bins[field] = np.cumsum(bins[field])
    crowded = (bins > config.binth).sum(axis=1)
    sizes = [int(np.count_nonzero(subset == 1)), int(np.count_nonzero(subset == 2))]
    for r in np.flatnonzero(subset == 3).tolist():  # one at a time: each choice moves the bins
        field = 0 if crowded[0] < crowded[1] or (crowded[0] == crowded[1] and sizes[0] <= sizes[1]) else 1
        span = bins[field, rules.lo[r, field] >> BIN_BITS:(rules.hi[r, field] >> BIN_BITS) + 1]
        span += 1
        crowded[field] += int(np.count_nonzero(span == config.binth + 1))
        sizes[field] += 1
        subset[r] = field + 1
    return [(np.flatnonzero(subset == s), dim) for s, dim in ((0, None), (1, 0), (2, 1)) if (subset == s).any()]


def cutsplit_step(config: CutSplitConfig, ficut_dim: dict[int, int | None], subtree: dict[int, int]):
    """The CutSplit policy: FiCuts on the subtree's small field until its switch, then HyperSplit.

    `ficut_dim` maps each subset's root (by id) to its FiCuts dimension, `subtree` every node made
    so far to its subset; a subset switches to HyperSplit for good at its first node that FiCuts
    would cut into fewer than `ficut_threshold` pieces.
    """
    switched: set[int] = set()

    def step(tree: Tree, node: Node) -> list[Node]:
        group = subtree.get(id(node), -1)
        dim = ficut_dim.get(group)
        children: list[Node] | None = None
        if dim is not None and group not in switched:
            clo, chi = clipped(tree, node)
            k = hicuts_pieces(node, clo, chi, dim, config.spfac, 1 << 32) if node.hi[dim] > node.lo[dim] else 1
            if k >= config.ficut_threshold:
                children = cut(tree, node, [dim], [k])
            else:
                switched.add(group)
        if children is None:
            children = hypersplit(tree, node)
        subtree.update({id(c): group for c in children})
        return children
    return step


def build_cutsplit(rules: RuleSet, config: CutSplitConfig = CutSplitConfig(),
        time_limit_s: float | None = None, max_nodes: int | None = None) -> Tree:
    """Build a CutSplit tree: a root partition by IP-field size, then FiCuts and HyperSplit."""
    # The root is not pruned before the separation: the reference prunes each subset on its own.
    t0 = time.perf_counter()  # build_s: the whole build, the root's separation included
    tree = Tree(rules, config.binth, algo="cutsplit", share=False, compact=False, prune=False,
                merge_pruned=True, prune_max=500)
    tree.prune = True
    groups = split_groups(rules, config)
    ficut_dim: dict[int, int | None] = {}
    subtree: dict[int, int] = {}
    if len(rules) > config.binth and len(groups) > 1:
        for i, (child, (_, d)) in enumerate(zip(partition(tree, tree.root, [g for g, _ in groups]), groups)):
            ficut_dim[i], subtree[id(child)] = d, i
    else:
        tree.root.rules = prune_rules(tree, tree.root.rules, tree.root.lo, tree.root.hi)
        if groups:
            ficut_dim[0], subtree[id(tree.root)] = groups[0][1], 0
    grow(tree, cutsplit_step(config, ficut_dim, subtree), time_limit_s=time_limit_s, max_nodes=max_nodes)
    tree.build_s = time.perf_counter() - t0
    return tree
