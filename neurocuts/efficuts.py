"""EffiCuts (Vamanan, Voskuilen and Vijaykumar, SIGCOMM 2010): separable trees, then HiCuts cuts.

As the NeuroCuts reference builds it (efficuts.py on its tree.py), node for node. The root is a
partition node. Each rule gets a 5-bit category, one bit per dimension, set when the rule is large
there: an IP range covering at least `largeness_ip` of the 32-bit space, or a port or protocol range
covering at least `largeness` of its space (0.05 and 0.5). To bound the number of trees, a category
with three large dimensions is merged with the smallest-id category with four large dimensions that
differs in one bit, or failing that with one with two (tree merging, as in the reference). Each part
is then cut with the HiCuts heuristic in the reference's form (most distinct projections, spfac 4,
binth 16) with the reference's refinements for EffiCuts: rule pruning (nodes of at most 500 rules),
region compaction, and equi-dense cuts instead of node merging: after a cut, neighbouring children
that share rules join while their union holds fewer rules than the fullest child, kept only when
that leaves at most 8 children (tree.py, `_equi_dense`). A partition node costs the sum over its
parts, so an EffiCuts tree's time is the sum of its separable trees' times, as the reference sums
its separate trees'.

Two differences remain, both measured with a scratch transcription of the reference:
- The reference's merged categories keep one category's rules and then the other's, not in
  priority order (efficuts.py, `merge_rule_subsets`, never sorts the merged list), and its tree
  takes list order for priority: pruning drops a rule covered by a lower-priority rule of the other
  category, and lookups can return the wrong rule (fw3_1k: 231 of 3,000 random packets). Ours keeps
  priority order, as every tree must to be exact. Nine of the twelve 1k sets have such pairs (not
  acl1, acl5, ipc2); on fw3/fw4/fw5 the reference's wrong pruning made its trees far smaller (fw5:
  18 accesses against the 31 it builds when its merged lists are sorted).
- Where np x ceil(span / np) passes the span by a whole piece, the reference still makes the
  pieces past it, leaves no packet reaches, which ours cannot hold (see hicuts.py); they count
  towards its 8 equi-dense children, and ours counts them there too.
With the reference's merged lists sorted, its accesses equal ours on all twelve 1k sets and its
nodes equal ours - 1 (our root partition) + its pieces past the span (acl1: 6,101 - 1 + 28 = 6,128,
the anchor); its bytes too, adding each such piece's leaf and pointer.
`merge_small` (off by default) merges the subsets of at most that many rules into one tree.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .hicuts import HiCutsConfig, hicuts_step
from .rules import DIM_MAX, RuleSet
from .tree import Tree, grow, make_node, partition


@dataclass(frozen=True)
class EffiCutsConfig:
    """EffiCuts parameters."""

    binth: int = 16
    """Leaf threshold."""
    spfac: float = 4.0
    """HiCuts space factor inside each separable tree (the reference's 4; the paper's 8)."""
    merge_small: int = 0
    """Separable subsets of at most this many rules are merged into one subset (0: none, as the
    reference)."""
    largeness: float = 0.5
    """A port or protocol range is large when it covers at least this fraction of its space."""
    largeness_ip: float = 0.05
    """An IP range is large when it covers at least this fraction of the address space."""

    def __post_init__(self) -> None:
        if self.binth < 1:
            raise ValueError(f"binth must be >= 1, got {self.binth}")
        if self.spfac <= 0:
            raise ValueError(f"spfac must be > 0, got {self.spfac}")
        if self.merge_small < 0:
            raise ValueError(f"merge_small must be >= 0, got {self.merge_small}")
        for name in ("largeness", "largeness_ip"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in (0, 1], got {getattr(self, name)}")


def separable_groups(rules: RuleSet, config: EffiCutsConfig = EffiCutsConfig()) -> list[np.ndarray]:
    """Rule ids per separable tree, after category merging; groups sorted by id, none empty."""
    width = rules.hi - rules.lo + 1
    frac = np.array([config.largeness_ip] * 2 + [config.largeness] * 3)
    large = width >= frac * (DIM_MAX + 1)
    category = (large * (1 << np.arange(4, -1, -1))).sum(axis=1)  # src ip is the high bit
    members = {c: np.flatnonzero(category == c) for c in range(32)}
    ones = [bin(c).count("1") for c in range(32)]
    groups = []
    for c in range(32):
        if not len(members[c]) or ones[c] != 3:
            continue
        for want in (4, 2):
            cands = [o for o in range(32) if len(members[o]) and ones[o] == want and ones[c ^ o] == 1]
            if cands:
                o = min(cands)
                groups.append(np.sort(np.concatenate([members[c], members[o]])))
                members[c] = members[o] = members[c][:0]
                break
    groups += [m for m in members.values() if len(m)]
    small = [g for g in groups if len(g) <= config.merge_small]
    if len(small) > 1:  # every tree costs at least one access, so few-rule trees are merged
        groups = [g for g in groups if len(g) > config.merge_small] + [np.sort(np.concatenate(small))]
    return groups


def build_efficuts(rules: RuleSet, config: EffiCutsConfig = EffiCutsConfig(),
        time_limit_s: float | None = None, max_nodes: int | None = None) -> Tree:
    """Build an EffiCuts tree: a root partition into separable trees, each grown by HiCuts."""
    # The root is not pruned before the separation: the reference prunes each subset on its own.
    t0 = time.perf_counter()  # build_s: the whole build, the root's separation included
    tree = Tree(rules, config.binth, algo="efficuts", share=False, prune=False, prune_max=500, equi_dense=True)
    tree.prune = True
    groups = separable_groups(rules, config)
    if len(groups) > 1 and len(rules) > config.binth:
        partition(tree, tree.root, groups)
    else:
        tree.root = make_node(tree, tree.root.lo, tree.root.hi, tree.root.rules, 1)
        tree.node_count -= 1  # the root made again
    step = hicuts_step(HiCutsConfig(binth=config.binth, spfac=config.spfac, dimension="most_distinct"))
    grow(tree, step, time_limit_s=time_limit_s, max_nodes=max_nodes)
    tree.build_s = time.perf_counter() - t0
    return tree
