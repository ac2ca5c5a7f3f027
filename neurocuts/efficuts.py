"""EffiCuts (Vamanan, Voskuilen and Vijaykumar, SIGCOMM 2010): separable trees, then HiCuts cuts.

The root is a partition node. Each rule gets a 5-bit category, one bit per dimension, set when the
rule is large there: an IP range covering at least `largeness_ip` of the 32-bit space, or a port or
protocol range covering at least `largeness` of its space (NeuroCuts reference values 0.05 and 0.5).
To bound the number of trees, a category with three large dimensions is merged with the smallest-id
category with four large dimensions that differs in one bit, or failing that with one with two
(tree merging, as in the reference), and all subsets of at most `merge_small` (32) rules are merged
into one. Each part is then cut with the HiCuts heuristic in the reference's form (most distinct projections,
adjacent-only node merging), restricted to the part's small dimensions
(where most of its rules are small, so that cuts do not replicate them: the point of separability),
binth 16. spfac is 32, not the paper's 8 or the reference's 4: without equi-dense cuts the trees of
smaller spfac were deeper than the reference's (median 21.5 accesses at spfac 8 against its 18 on the
twelve 1k ClassBench sets) while using half its bytes, so we spend space for time; measured medians
are in the benchmark. A partition node costs the sum over its parts, so an EffiCuts tree's time
is the sum of its separable trees' times.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .hicuts import HiCutsConfig, hicuts_step
from .rules import DIM_MAX, RuleSet
from .tree import Tree, grow, partition


@dataclass(frozen=True)
class EffiCutsConfig:
    """EffiCuts parameters."""

    binth: int = 16
    """Leaf threshold."""
    spfac: float = 32.0
    """HiCuts space factor inside each separable tree (paper 8, reference 4; see the module doc)."""
    merge_small: int = 32
    """Separable subsets of at most this many rules are merged into one subset."""
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
    tree = Tree(rules, config.binth, algo="efficuts", share=False)
    groups = separable_groups(rules, config)
    if len(groups) > 1 and len(tree.root.rules) > config.binth:
        kept = set(tree.root.rules.tolist())  # the root may have pruned rules already
        groups = [g[np.isin(g, list(kept))] for g in groups]
        if sum(len(g) > 0 for g in groups) > 1:
            partition(tree, tree.root, groups)
    frac = np.array([config.largeness_ip] * 2 + [config.largeness] * 3) * (DIM_MAX + 1)

    def small_dims(tree: Tree, node) -> np.ndarray:
        # Separability: cut only where most of the node's rules are small, so they do not replicate.
        width = tree.rules.hi[node.rules] - tree.rules.lo[node.rules] + 1
        return (width < frac).mean(axis=0) > 0.5

    step = hicuts_step(HiCutsConfig(binth=config.binth, spfac=config.spfac, dimension="most_distinct"), small_dims)
    return grow(tree, step, time_limit_s=time_limit_s, max_nodes=max_nodes)
