"""neurocuts: packet-classification decision trees (HiCuts, HyperCuts, EffiCuts, CutSplit).

Rules (ClassBench), one tree representation grown by node operations (`cut`, `partition`), exact
vectorised classification, and the NeuroCuts reference cost model.
"""
from .builders import BUILDERS as BUILDERS
from .builders import build as build
from ._classify import FlatTree as FlatTree
from ._classify import classify as classify
from ._classify import classify_flat as classify_flat
from ._classify import flatten as flatten
from .cutsplit import CutSplitConfig as CutSplitConfig
from .cutsplit import build_cutsplit as build_cutsplit
from .efficuts import EffiCutsConfig as EffiCutsConfig
from .efficuts import build_efficuts as build_efficuts
from .hicuts import HiCutsConfig as HiCutsConfig
from .hicuts import build_hicuts as build_hicuts
from .hypercuts import HyperCutsConfig as HyperCutsConfig
from .hypercuts import build_hypercuts as build_hypercuts
from .rules import RuleFormatError as RuleFormatError
from .rules import RuleSet as RuleSet
from .rules import linear_scan as linear_scan
from .rules import load_packets as load_packets
from .rules import load_rules as load_rules
from .rules import parse_rules as parse_rules
from .rules import random_packets as random_packets
from .tree import BuildLimitExceeded as BuildLimitExceeded
from .tree import BuildTimeout as BuildTimeout
from .tree import Node as Node
from .tree import NodeBudgetExceeded as NodeBudgetExceeded
from .tree import Tree as Tree
from .tree import TreeFormatError as TreeFormatError
from .tree import cut as cut
from .tree import from_json as from_json
from .tree import grow as grow
from .tree import load as load
from .tree import metrics as metrics
from .tree import partition as partition
from .tree import partition_by_size as partition_by_size
from .tree import save as save
from .tree import to_json as to_json
from .tree import validate_tree as validate_tree
