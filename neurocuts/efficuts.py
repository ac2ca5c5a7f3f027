"""EffiCuts (Vamanan, Voskuilen and Vijaykumar, SIGCOMM 2010): separable trees, then HiCuts cuts.

The root is a partition node. Each rule gets a 5-bit category, one bit per dimension, set when the
rule is large there: an IP range covering at least `largeness_ip` of the 32-bit space, or a port or
protocol range covering at least `largeness` of its space (NeuroCuts reference values 0.05 and 0.5).
To bound the number of trees, a category with three large dimensions is merged with the smallest-id
category with four large dimensions that differs in one bit, or failing that with one with two
(tree merging, as in the reference). Each part is then cut with the HiCuts heuristic (spfac 8 as in the
EffiCuts paper, binth 16). Since a partition node's cost is the sum over its parts, the time of an EffiCuts tree is
the sum of the separable trees' times. Equi-dense cuts are not used: node merging covers the
identical-children case they target.
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
    spfac: float = 8.0
    """HiCuts space factor inside each separable tree (the EffiCuts paper's 8)."""
    largeness: float = 0.5
    """A port or protocol range is large when it covers at least this fraction of its space."""
    largeness_ip: float = 0.05
    """An IP range is large when it covers at least this fraction of the address space."""

    def __post_init__(self) -> None:
        if self.binth < 1:
            raise ValueError(f"binth must be >= 1, got {self.binth}")
        if self.spfac <= 0:
            raise ValueError(f"spfac must be > 0, got {self.spfac}")
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
    return groups


def build_efficuts(rules: RuleSet, config: EffiCutsConfig = EffiCutsConfig(), time_limit_s: float | None = None) -> Tree:
    """Build an EffiCuts tree: a root partition into separable trees, each grown by HiCuts."""
    tree = Tree(rules, config.binth, algo="efficuts")
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

    return grow(tree, hicuts_step(HiCutsConfig(binth=config.binth, spfac=config.spfac), small_dims), time_limit_s=time_limit_s)
