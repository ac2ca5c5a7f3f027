"""HyperCuts (Singh, Baboescu, Varghese and Wang, SIGCOMM 2003): several dimensions cut at once.

At each node with more than `binth` rules: the candidate dimensions are those whose number of
distinct rule projections exceeds the mean over the five dimensions, taken in decreasing order of
that number, ties going to the narrower span (the reference sorts by projections, then projections
per unit of span; the first dimensions take the budget below). Each gets a power-of-two number of
equal-width pieces, doubled while the product of pieces over all chosen dimensions stays within
spfac x sqrt(rules), the mean rules per piece stays at least 10% below the node's rule count and at
most 5 pieces are empty (the paper's mean and empty-children tests in the NeuroCuts reference's
form: it measures every doubling against the node itself, not against the previous doubling, whose
small gains on wildcard-heavy firewall rules would stop the cutting early and deepen the tree;
spfac = 4, binth = 16). When no dimension earns two pieces the node falls back to a HiCuts cut.
As the reference's HyperCuts does (`HyperCuts.train`; the paper has no such step), the rules are
first split in two: those whose source and destination both cover more than one address, and the
rest (a host address on either side). Each part gets its own tree under a root partition node, so a
lookup searches both and the accesses add up, as the reference sums its two trees' accesses, nodes
and bytes. On the firewall sets one tree for both parts is far larger: fw3_1k takes 226,091 nodes
in one tree and 75,755 in two. Unlike the reference, a root of at most binth rules stays one leaf.
Refinements as in every builder (tree.py): pruning, region compaction, node merging (adjacent slots
only, as in the reference, with the slots in its order: its first dimension fastest; slots compared
by their rules pruned over each slot, as the reference prunes each child before merging). With
these, accesses equal the reference's anchors on the twelve 1k sets, and nodes on ten, plus our
root partition node. On acl1 and fw5 (2,399 and 321,335 nodes against 2,435 and 321,335) the
difference is the reference's pieces past the span, 37 and 1: where pieces x ceil(span / pieces)
passes the span by a piece or more, it still makes every piece asked for, those past the span with
an inverted region that holds the rules reaching past the node's end (33 of acl1's 37 hold some):
leaves no packet reaches. Ours makes only the pieces within the span (our tree format has no place
for the others); ours plus those leaves is the anchors' nodes and bytes per rule exactly (acl1
156.49, fw5 50,861.61). Nodes of more than 1,000 rules are not pruned, as in the tree the
reference's HyperCuts builds on (tree_mem.py; 500 in its tree.py, which the other builders follow), which
matters on the 10k sets only. Rule push-up is not done (it changes where rules are stored, not the
cost model's search).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from .hicuts import clipped, distinct_components, hicuts_pieces, pick_dimension
from .rules import RuleSet
from .tree import Node, Tree, cut, grow, partition


@dataclass(frozen=True)
class HyperCutsConfig:
    """HyperCuts parameters."""

    binth: int = 16
    """Leaf threshold."""
    spfac: float = 4.0
    """Space factor: at most spfac x sqrt(rules) children per node."""
    min_gain: float = 0.1
    """A doubling must leave the mean rules per piece at least this fraction below the node's rules."""
    max_empty: int = 5
    """A doubling may leave at most this many pieces empty."""
    split_hosts: bool = True
    """Build separate trees for rules with a host address and the rest (the reference's HyperCuts)."""

    def __post_init__(self) -> None:
        if self.binth < 1:
            raise ValueError(f"binth must be >= 1, got {self.binth}")
        if self.spfac <= 0:
            raise ValueError(f"spfac must be > 0, got {self.spfac}")
        if not 0 <= self.min_gain < 1:
            raise ValueError(f"min_gain must be in [0, 1), got {self.min_gain}")
        if self.max_empty < 0:
            raise ValueError(f"max_empty must be >= 0, got {self.max_empty}")


def _rules_per_piece(node: Node, clo: np.ndarray, chi: np.ndarray, dim: int, pieces: int) -> np.ndarray:
    """Rules in each piece of an equal-width cut of `dim` into `pieces` pieces, (pieces,).

    Width ceil(span / pieces) may pass the span before the last piece (span 17 in 16 pieces of 2
    ends at piece 9): the reference still counts `pieces` pieces, those past the span empty, in its
    mean and its empty pieces (hypercuts.py, `select_action`), so these do too.
    """
    span = int(node.hi[dim] - node.lo[dim] + 1)
    w = -(-span // pieces)
    a = (clo[:, dim] - node.lo[dim]) // w
    b = (chi[:, dim] - node.lo[dim]) // w
    return np.cumsum(np.bincount(a, minlength=pieces + 1) - np.bincount(b + 1, minlength=pieces + 1))[:pieces]


def hypercuts_step(config: HyperCutsConfig):
    """The HyperCuts policy for one node. A node whose region is one point cannot be cut (its rules,
    more than the 1,000 pruned, all cover it): it stays a leaf, whose first rule always wins."""
    def step(tree: Tree, node: Node) -> list[Node]:
        if not (node.hi > node.lo).any():
            return []
        clo, chi = clipped(tree, node)
        counts = distinct_components(clo, chi)
        span = node.hi - node.lo + 1
        cand = [d for d in np.lexsort((span, -counts)) if counts[d] > counts.mean() and span[d] > 1]
        budget = config.spfac * math.sqrt(len(node.rules))
        dims, pieces, total = [], [], 1
        for d in cand:
            k = 1
            while k * 2 <= span[d] and total * k * 2 <= budget:
                per = _rules_per_piece(node, clo, chi, int(d), k * 2)
                if per.mean() > (1 - config.min_gain) * len(node.rules) or \
                        np.count_nonzero(per == 0) > config.max_empty:
                    break
                k *= 2
            if k > 1:
                dims.append(int(d))
                pieces.append(k)
                total *= k
        if not dims:
            d = pick_dimension(clo, chi, node)
            return cut(tree, node, [d], [hicuts_pieces(node, clo, chi, d, config.spfac, 1 << 16)])
        # The reference numbers the slots with its first dimension fastest, ours are row-major (the
        # last fastest): reversed, the slots come in the reference's order, and so do its merges.
        return cut(tree, node, dims[::-1], pieces[::-1])
    return step


def build_hypercuts(rules: RuleSet, config: HyperCutsConfig = HyperCutsConfig(),
        time_limit_s: float | None = None, max_nodes: int | None = None) -> Tree:
    """Build a HyperCuts tree."""
    t0 = time.perf_counter()  # build_s: the whole build, the root's separation included
    tree = Tree(rules, config.binth, algo="hypercuts", share=False, merge_pruned=True, prune_max=1000)
    if config.split_hosts:
        ids = tree.root.rules
        wide = ((rules.hi[ids, :2] - rules.lo[ids, :2]) >= 1).all(axis=1)
        if len(ids) > config.binth and wide.any() and not wide.all():
            partition(tree, tree.root, [ids[wide], ids[~wide]])
    grow(tree, hypercuts_step(config), time_limit_s=time_limit_s, max_nodes=max_nodes)
    tree.build_s = time.perf_counter() - t0
    return tree
