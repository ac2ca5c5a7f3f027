"""CutSplit (Li, Li, Li, Hu and Bao, INFOCOM 2018): FiCuts on small IP fields, then HyperSplit.

The root partitions the rules by the size of their IP prefixes (an IP range is small when it spans at
most `ip_small` addresses, 2^24 as in the NeuroCuts reference): rules small in the source go to one
subset, small in the destination to another (rules small in both go to the field where they are
smaller), and rules large in both to a third, which is built by HyperSplit alone. The small-field
subsets are cut with FiCuts, equal-width cuts of their small field sized by the HiCuts space measure
(spfac 4), until such a cut would use fewer than `ficut_threshold` (16) pieces; from there the node
is split by HyperSplit: in the dimension whose elementary intervals hold the fewest rules on average,
at the weighted median boundary. Every split is a node operation of tree.py, so the tree is exact:
the public reference's binary split loses rules, ours cannot (tests check it against a linear scan).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .hicuts import clipped, hicuts_pieces
from .rules import RuleSet
from .tree import Node, Tree, cut, grow, partition


@dataclass(frozen=True)
class CutSplitConfig:
    """CutSplit parameters."""

    binth: int = 16
    """Leaf threshold."""
    spfac: float = 4.0
    """Space factor of the FiCuts stage."""
    ip_small: int = 1 << 24
    """An IP range spanning at most this many addresses is small."""
    ficut_threshold: int = 16
    """Switch a node to HyperSplit when FiCuts would cut it into fewer pieces than this."""

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
    """(dim, split point t): children [lo, t-1] and [t, hi]; None when no dimension can split."""
    best = None
    for d in range(5):
        bounds = np.unique(np.concatenate([clo[:, d], chi[:, d] + 1, [node.lo[d], node.hi[d] + 1]]))
        bounds = bounds[(bounds >= node.lo[d]) & (bounds <= node.hi[d] + 1)]
        m = len(bounds) - 1  # elementary intervals
        if m < 2:
            continue
        delta = np.zeros(m + 1, np.int64)
        np.add.at(delta, np.searchsorted(bounds, clo[:, d]), 1)
        np.add.at(delta, np.searchsorted(bounds, chi[:, d] + 1), -1)
        covered = np.cumsum(delta)[:m]  # rules over each elementary interval
        avg = covered.mean()
        if best is None or avg < best[0]:
            csum = np.cumsum(covered)
            i = int(np.searchsorted(csum, csum[-1] / 2)) + 1  # weighted median boundary
            best = (avg, d, int(bounds[min(max(i, 1), m - 1)]))
    return None if best is None else (best[1], best[2])


def hypersplit(tree: Tree, node: Node) -> list[Node]:
    """One HyperSplit binary split of `node` (a 2-piece cut ending the first piece at t - 1)."""
    clo, chi = clipped(tree, node)
    found = hypersplit_point(clo, chi, node)
    if found is None:
        raise ValueError("no dimension can be split")
    d, t = found
    return cut(tree, node, [d], [2], widths=[t - int(node.lo[d])])


def split_groups(rules: RuleSet, config: CutSplitConfig = CutSplitConfig()) -> list[tuple[np.ndarray, int | None]]:
    """(rule ids, FiCuts dimension or None for HyperSplit only) per subset, empty ones dropped."""
    src = rules.hi[:, 0] - rules.lo[:, 0] + 1
    dst = rules.hi[:, 1] - rules.lo[:, 1] + 1
    s_small, d_small = src <= config.ip_small, dst <= config.ip_small
    to_src = s_small & (~d_small | (src <= dst))
    to_dst = d_small & ~to_src
    big = ~s_small & ~d_small
    return [(np.flatnonzero(m), dim) for m, dim in ((to_src, 0), (to_dst, 1), (big, None)) if m.any()]


def cutsplit_step(config: CutSplitConfig, ficut_dim: dict[int, int | None]):
    """The CutSplit policy: FiCuts on the subtree's small field, HyperSplit below the switch."""
    def step(tree: Tree, node: Node) -> list[Node]:
        dim = ficut_dim.get(id(node))
        if dim is not None and node.hi[dim] > node.lo[dim]:
            clo, chi = clipped(tree, node)
            k = hicuts_pieces(node, clo, chi, dim, config.spfac, 1 << 16)
            if k >= config.ficut_threshold:
                children = cut(tree, node, [dim], [k])
                ficut_dim.update({id(c): dim for c in children})
                return children
        return hypersplit(tree, node)
    return step


def build_cutsplit(rules: RuleSet, config: CutSplitConfig = CutSplitConfig(),
        time_limit_s: float | None = None, max_nodes: int | None = None) -> Tree:
    """Build a CutSplit tree: a root partition by IP-field size, then FiCuts and HyperSplit."""
    tree = Tree(rules, config.binth, algo="cutsplit", share=False)
    kept = tree.root.rules
    groups = [(g[np.isin(g, kept)], d) for g, d in split_groups(rules, config)]
    groups = [(g, d) for g, d in groups if len(g)]
    ficut_dim: dict[int, int | None] = {}
    if len(kept) > config.binth:
        if len(groups) > 1:
            for child, (_, d) in zip(partition(tree, tree.root, [g for g, _ in groups]), groups):
                ficut_dim[id(child)] = d
        elif groups:
            ficut_dim[id(tree.root)] = groups[0][1]
    return grow(tree, cutsplit_step(config, ficut_dim), time_limit_s=time_limit_s, max_nodes=max_nodes)
