"""The classic builders by name, so the CLI, benchmarks and (later) the agent pick them alike."""
from __future__ import annotations

from typing import Callable

from .cutsplit import CutSplitConfig, build_cutsplit
from .efficuts import EffiCutsConfig, build_efficuts
from .hicuts import HiCutsConfig, build_hicuts
from .hypercuts import HyperCutsConfig, build_hypercuts
from .rules import RuleSet
from .tree import Tree

#: name -> (builder, config class); every config has a `binth` field.
BUILDERS: dict[str, tuple[Callable[..., Tree], type]] = {
    "hicuts": (build_hicuts, HiCutsConfig),
    "hypercuts": (build_hypercuts, HyperCutsConfig),
    "efficuts": (build_efficuts, EffiCutsConfig),
    "cutsplit": (build_cutsplit, CutSplitConfig),
}


def build(rules: RuleSet, algo: str = "cutsplit", binth: int = 16, time_limit_s: float | None = None,
          max_nodes: int | None = None) -> Tree:
    """Build a tree with a classic algorithm and its documented parameters (binth overridable).

    Raises BuildTimeout past `time_limit_s` seconds and NodeBudgetExceeded past `max_nodes` nodes
    (HiCuts and HyperCuts blow up on firewall sets: hundreds of thousands of nodes from 1,000 rules).
    """
    if algo not in BUILDERS:
        raise ValueError(f"algo must be one of {sorted(BUILDERS)}, got {algo!r}")
    fn, config_cls = BUILDERS[algo]
    return fn(rules, config_cls(binth=binth), time_limit_s=time_limit_s, max_nodes=max_nodes)
