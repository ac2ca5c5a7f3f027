"""Value checks for trees: the JSON fields' types and every node's values against the rule set.

A tree file that parses as JSON and has the right shape can still hold values that make no tree:
rule indices past the rule set, ranges outside a field's width, cuts that cannot cut the node's
region, runs that name missing children, booleans or NaN where integers belong. Classifying with
such a tree fails deep inside or, worse, returns wrong matches, so `tree.from_json` refuses it with
`TreeFormatError` naming the node and the problem.

Loading must stay fast for trees of 100k nodes, so nothing here loops over nodes doing numpy work:
each field is gathered over all nodes at once (`read_nodes`), type-checked with one `map(type, ...)`
over the flat values, converted with one `np.array`, and checked vectorised (`check`); only an
error's message is looked up element by element. The work is linear in the tree's size.

This module knows nodes only by their fields (it imports nothing from `tree.py` at run time, which
imports it).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .rules import DIM_MAX, DIMS, RuleFormatError, RuleSet

if TYPE_CHECKING:
    from .tree import Node

#: Most slots (pieces' product) all cut nodes of one tree may hold together: classification builds
#: one 8-byte table entry per slot (2 GiB here). Our builders' 10k-rule trees hold at most ~2.2M.
MAX_SLOTS = 1 << 28
KINDS = ("leaf", "cut", "partition")  # node kind codes 0, 1, 2


class TreeFormatError(RuleFormatError):
    """A tree file or document that is not a valid tree.

    str() is `source: not a tree file (problem)`, or `source:line: ...` for a JSON syntax error;
    `detail` holds the problem alone (e.g. "node 17: rule index 1200 out of range for 1000 rules").
    A RuleFormatError, so whoever reports bad input files on one line reports this one too.
    """

    def __init__(self, source: str, detail: str, line: int | None = None) -> None:
        super().__init__(source, line, f"not a tree file ({detail})")
        self.detail = detail


class Invalid(Exception):
    """Internal: a problem found while checking; the public functions re-raise it as TreeFormatError."""


@dataclass
class NodeArrays:
    """Every node's fields as flat arrays; node j is the j-th node (file order or preorder)."""

    kind: np.ndarray  # (nodes,) index into KINDS
    depth: np.ndarray  # (nodes,)
    lo: np.ndarray  # (nodes, 5)
    hi: np.ndarray  # (nodes, 5)
    rules: np.ndarray  # (entries,) every node's rule ids, node after node
    rule_count: np.ndarray  # (nodes,)
    parent: np.ndarray  # (nodes,) -1 for the root, node 0
    children: np.ndarray  # (nodes,) child count
    cuts: np.ndarray  # (cuts, 4): node, dimension, pieces, width
    run_node: np.ndarray  # (runs,) the cut node each run belongs to
    run_start: np.ndarray  # (runs,)
    run_child: np.ndarray  # (runs,)


# ---------------------------------------------------------------- JSON values

def show(value: Any) -> str:
    """A value for an error message, cut short."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def integer(value: Any, what: str, lo: int | None = None) -> int:
    """A JSON integer (not a boolean, not a float), at least `lo` when given."""
    if type(value) is not int:
        raise Invalid(f"{what} must be an integer, got {show(value)}")
    if lo is not None and value < lo:
        raise Invalid(f"{what} must be >= {lo}, got {value}")
    return value


def number(value: Any, what: str) -> float:
    """A finite JSON number >= 0 (not a boolean, not NaN)."""
    try:
        ok = type(value) in (int, float) and math.isfinite(value) and value >= 0
    except OverflowError:  # an integer past float's range: 1e400 written without its exponent
        ok = False
    if not ok:
        raise Invalid(f"{what} must be a finite number >= 0, got {show(value)}")
    return float(value)


def flag(value: Any, what: str) -> bool:
    """A JSON boolean."""
    if type(value) is not bool:
        raise Invalid(f"{what} must be true or false, got {show(value)}")
    return value


def ints(values: list, unit: str, what: str, names: np.ndarray | None = None) -> np.ndarray:
    """One JSON integer per `unit` (e.g. per node) as int64; errors name the unit ("node 3: depth ...").

    `names[i]` is the number to report for item i (default i).
    """
    name = (lambda i: i) if names is None else (lambda i: int(names[i]))
    if not set(map(type, values)) <= {int}:  # bool is its own type here, so true/false are refused
        i = next(i for i, v in enumerate(values) if type(v) is not int)
        raise Invalid(f"{unit} {name(i)}: {what}: {show(values[i])} is not an integer")
    try:
        return np.array(values, np.int64)
    except OverflowError:
        i = next(i for i, v in enumerate(values) if not -2**63 <= v < 2**63)
        raise Invalid(f"{unit} {name(i)}: {what}: {show(values[i])} does not fit in 64 bits") from None


def int_lists(lists: list, unit: str, what: str, length: int | None = None,
              names: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Many JSON lists of integers (one per `unit`) as one flat int64 array and each list's size.

    Errors name the unit: "node 3: lo: True is not an integer". `length` fixes every list's size;
    `names[i]` is the number to report for list i (default i).
    """
    name = (lambda i: i) if names is None else (lambda i: int(names[i]))
    if not set(map(type, lists)) <= {list}:
        j = next(j for j, v in enumerate(lists) if type(v) is not list)
        raise Invalid(f"{unit} {name(j)}: {what} must be a list of integers, got {show(lists[j])}")
    sizes = np.fromiter(map(len, lists), np.int64, len(lists))
    if length is not None and (sizes != length).any():
        j = int(np.argmax(sizes != length))
        raise Invalid(f"{unit} {name(j)}: {what} must hold {length} integers, got {sizes[j]}")
    try:
        return ints(list(itertools.chain.from_iterable(lists)), unit, what), sizes
    except Invalid:  # find the list that holds the bad value, for the message
        j = next(j for j, v in enumerate(lists) if not set(map(type, v)) <= {int} or
                 not all(-2**63 <= x < 2**63 for x in v))
        ints(lists[j], unit, what, np.full(len(lists[j]), name(j)))
        raise


def _field(docs: list[dict], key: str, default: Any = None, required: bool = True) -> list:
    """One field of every node document; a missing required field names the node."""
    if not required:
        return [d.get(key, default) for d in docs]
    try:
        return [d[key] for d in docs]
    except KeyError:
        j = next(j for j, d in enumerate(docs) if key not in d)
        raise Invalid(f"node {j}: missing field {key!r}") from None


def rule_ranges(value: Any) -> RuleSet:
    """The document's `rules`: one list of 10 integers `[lo0, hi0, ..., lo4, hi4]` per rule."""
    if type(value) is not list:
        raise Invalid(f"rules must be a list of rules, got {show(value)}")
    flat, _ = int_lists(value, "rule", "range list", 10)
    flat = flat.reshape(-1, 10)
    lo, hi = np.ascontiguousarray(flat[:, 0::2]), np.ascontiguousarray(flat[:, 1::2])
    bad = (lo < 0) | (lo > hi) | (hi > DIM_MAX)
    if bad.any():
        i, d = (int(x) for x in np.argwhere(bad)[0])
        raise Invalid(f"rule {i}: {DIMS[d]} range {lo[i, d]}..{hi[i, d]} is not within 0..{DIM_MAX[d]} "
                      f"with lo <= hi")
    return RuleSet(lo, hi)


def read_nodes(docs: Any) -> tuple[NodeArrays, list[list[int]]]:
    """The `nodes` of a tree document as arrays, plus each node's child list; checks the structure.

    Structure: every node but the root (node 0) has exactly one parent, listed before it (preorder
    puts every child after its parent), so there is no cycle and no node is unreachable or shared.
    """
    if type(docs) is not list or not docs:
        raise Invalid("nodes must be a non-empty list")
    if not set(map(type, docs)) <= {dict}:
        j = next(j for j, d in enumerate(docs) if type(d) is not dict)
        raise Invalid(f"node {j} must be an object, got {show(docs[j])}")
    n = len(docs)
    kinds = _field(docs, "kind")
    if not set(map(type, kinds)) <= {str} or not set(kinds) <= set(KINDS):
        j = next(j for j, k in enumerate(kinds) if type(k) is not str or k not in KINDS)
        raise Invalid(f"node {j}: unknown node kind {show(kinds[j])}")
    kind = np.fromiter(map(KINDS.index, kinds), np.int64, n)
    depth = ints(_field(docs, "depth"), "node", "depth")
    lo, _ = int_lists(_field(docs, "lo"), "node", "lo", 5)
    hi, _ = int_lists(_field(docs, "hi"), "node", "hi", 5)
    rules, rule_count = int_lists(_field(docs, "rules"), "node", "rules")
    child_lists = _field(docs, "children", [], required=False)
    child, children = int_lists(child_lists, "node", "children")

    owner = np.repeat(np.arange(n), children)
    bad = (child <= owner) | (child >= n)
    if bad.any():
        e = int(np.argmax(bad))
        raise Invalid(f"node {owner[e]}: child {child[e]} is not a later node")
    parents = np.bincount(child, minlength=n)
    parents[0] += 1  # the root needs no parent
    if (parents != 1).any():
        i = int(np.argmax(parents != 1))
        if parents[i] == 0:
            raise Invalid(f"node {i} has no parent (every node but the root, node 0, needs one)")
        raise Invalid(f"node {i} has {parents[i]} parents (a node may have one)")
    parent = np.full(n, -1, np.int64)
    parent[child] = owner

    is_cut = kind == 1
    other_keys = set(itertools.chain.from_iterable(map(dict.keys, (docs[j] for j in np.flatnonzero(~is_cut)))))
    for key in ("cuts", "run_starts", "run_child"):
        if key in other_keys:
            j = next(j for j, d in enumerate(docs) if key in d and not is_cut[j])
            raise Invalid(f"node {j}: a {kinds[j]} node has no {key}")
    cut_ids = np.flatnonzero(is_cut)
    cut_docs = [docs[j] for j in cut_ids.tolist()]
    cut_lists = _field(cut_docs, "cuts", None, required=False)
    bad_j = next((j for j, c in zip(cut_ids.tolist(), cut_lists) if type(c) is not list), None)
    if bad_j is not None:
        raise Invalid(f"node {bad_j}: cuts must be a list of [dimension, pieces, width]")
    per_node = np.fromiter(map(len, cut_lists), np.int64, len(cut_lists))
    cut_node = np.repeat(cut_ids, per_node)
    cut_rows, _ = int_lists(list(itertools.chain.from_iterable(cut_lists)), "node",
                            "a cut [dimension, pieces, width]", 3, cut_node)
    cuts = np.column_stack([cut_node, cut_rows.reshape(-1, 3)])
    starts, run_count = int_lists(_field(cut_docs, "run_starts", None, required=False), "node", "run_starts",
                                  names=cut_ids)
    # Files from before run_child existed hold one run per child.
    run_child, child_count = int_lists([d["run_child"] if "run_child" in d else list(range(len(child_lists[j])))
                                        for j, d in zip(cut_ids.tolist(), cut_docs)], "node", "run_child",
                                       names=cut_ids)
    if (run_count != child_count).any():
        j = int(cut_ids[np.argmax(run_count != child_count)])
        raise Invalid(f"node {j}: run_starts and run_child must give one start and child per run")
    arrays = NodeArrays(kind, depth, lo.reshape(-1, 5), hi.reshape(-1, 5), rules, rule_count, parent, children,
                        cuts, np.repeat(cut_ids, run_count), starts, run_child)
    return arrays, child_lists


def tree_arrays(root: Node) -> NodeArrays:
    """The nodes under `root` (an in-memory tree) as arrays, preorder; Invalid on a cycle or bad field."""
    nodes: list[Node] = []
    parent: list[int] = []
    seen: set[int] = set()
    stack: list[tuple[Node, int]] = [(root, -1)]
    while stack:
        node, p = stack.pop()
        if id(node) in seen:
            raise Invalid(f"node {len(nodes)} is reached twice (a cycle or a shared node)")
        seen.add(id(node))
        stack.extend((c, len(nodes)) for c in reversed(node.children))
        nodes.append(node)
        parent.append(p)

    def field(j: int, what: str, value: object, shape: tuple[int, ...] | None = None) -> np.ndarray:
        """A node's field as int64 of `shape` (None: any length, one axis)."""
        arr = np.asarray(value)
        if arr.size == 0:
            arr = arr.astype(np.int64)
        if arr.dtype.kind not in "iu" or (arr.shape != shape if shape else arr.ndim != 1):
            raise Invalid(f"node {j}: {what} must be integers of shape {shape or '(n,)'}, got {arr.dtype} {arr.shape}")
        return arr.astype(np.int64, copy=False)

    kinds, cuts, run_node, run_start, run_child = [], [], [], [], []
    for j, n in enumerate(nodes):
        if n.kind not in KINDS:
            raise Invalid(f"node {j}: unknown node kind {show(n.kind)}")
        kinds.append(KINDS.index(n.kind))
        if n.kind == "cut":
            if n.run_starts is None or n.run_child is None:
                raise Invalid(f"node {j}: a cut node needs runs (run_starts and run_child)")
            if n.cuts:
                cuts += [[j, *c] for c in field(j, "cuts", list(n.cuts), (len(n.cuts), 3)).tolist()]
            rs = field(j, "run_starts", n.run_starts)
            run_start.append(rs)
            run_child.append(field(j, "run_child", n.run_child, rs.shape))
            run_node.append(np.full(len(rs), j, np.int64))
        elif n.cuts or n.run_starts is not None or n.run_child is not None:
            raise Invalid(f"node {j}: a {n.kind} node has no cuts or runs")
    depth = [int(n.depth) if isinstance(n.depth, np.integer) else n.depth for n in nodes]
    lists = [field(j, "rules", n.rules) for j, n in enumerate(nodes)]
    cat = lambda xs: np.concatenate(xs) if xs else np.zeros(0, np.int64)  # noqa: E731
    return NodeArrays(
        np.array(kinds, np.int64), ints(depth, "node", "depth"),
        np.stack([field(j, "lo", n.lo, (5,)) for j, n in enumerate(nodes)]),
        np.stack([field(j, "hi", n.hi, (5,)) for j, n in enumerate(nodes)]),
        cat(lists), np.array([len(r) for r in lists], np.int64), np.array(parent, np.int64),
        np.array([len(n.children) for n in nodes], np.int64), np.array(cuts, np.int64).reshape(-1, 4),
        cat(run_node), cat(run_start), cat(run_child))


# ---------------------------------------------------------------- values

def _first(mask: np.ndarray) -> int:
    return int(np.argmax(mask))


def check(a: NodeArrays, rules: RuleSet) -> None:
    """Check every node's values against `rules`; raises Invalid naming the node and the problem."""
    n = len(a.kind)
    bad = (a.kind == 0) != (a.children == 0)
    if bad.any():
        j = _first(bad)
        raise Invalid(f"node {j}: " + ("a leaf cannot have children" if a.children[j]
                                       else f"a {KINDS[a.kind[j]]} node needs children"))
    if a.depth[0] != 1:
        raise Invalid(f"node 0: the root's depth must be 1, got {a.depth[0]}")
    p = a.parent[1:]
    bad = a.depth[1:] != a.depth[p] + 1
    if bad.any():
        j = _first(bad) + 1
        raise Invalid(f"node {j}: depth {a.depth[j]} is not its parent's ({a.depth[a.parent[j]]}) + 1")

    lo, hi = a.lo, a.hi
    bad = (lo < 0) | (lo > hi) | (hi > DIM_MAX)
    if bad.any():
        j, d = (int(v) for v in np.argwhere(bad)[0])
        raise Invalid(f"node {j}: {DIMS[d]} region {lo[j, d]}..{hi[j, d]} is not within 0..{DIM_MAX[d]} "
                      f"with lo <= hi")
    bad = (lo[1:] < lo[p]) | (hi[1:] > hi[p])
    if bad.any():
        j, d = (int(v) for v in np.argwhere(bad)[0])
        j += 1
        raise Invalid(f"node {j}: {DIMS[d]} region {lo[j, d]}..{hi[j, d]} is outside its parent's "
                      f"{lo[a.parent[j], d]}..{hi[a.parent[j], d]}")

    # Rule lists: valid indices, strictly ascending (priority order: a leaf stops at its first
    # match), and each rule overlapping the node's region (a builder only ever puts such rules there).
    ids = a.rules
    owner = np.repeat(np.arange(n), a.rule_count)
    bad = (ids < 0) | (ids >= len(rules))
    if bad.any():
        e = _first(bad)
        raise Invalid(f"node {owner[e]}: rule index {ids[e]} out of range for {len(rules)} rules")
    bad = np.zeros(len(ids), bool)
    bad[1:] = (ids[1:] <= ids[:-1]) & (owner[1:] == owner[:-1])
    if bad.any():
        e = _first(bad)
        raise Invalid(f"node {owner[e]}: rules must be strictly ascending (priority order), "
                      f"got {ids[e - 1]} then {ids[e]}")
    bad = ((rules.lo[ids] > hi[owner]) | (rules.hi[ids] < lo[owner])).any(axis=1)
    if bad.any():
        e = _first(bad)
        raise Invalid(f"node {owner[e]}: rule {ids[e]} does not overlap the node's region")
    _check_cuts(a)


def _check_cuts(a: NodeArrays) -> None:
    """Cut nodes: cuts that can cut the node's region, runs within its slots naming every child."""
    n = len(a.kind)
    node, d, k, w = a.cuts.T
    count = np.bincount(node, minlength=n)
    bad = (a.kind == 1) & (count == 0)
    if bad.any():
        raise Invalid(f"node {_first(bad)}: a cut node needs cuts")
    bad = (d < 0) | (d > 4)
    if bad.any():
        e = _first(bad)
        raise Invalid(f"node {node[e]}: cut dimension {d[e]} is not in 0..4")
    order = np.lexsort((d, node))
    bad = (node[order][1:] == node[order][:-1]) & (d[order][1:] == d[order][:-1])
    if bad.any():
        e = order[_first(bad) + 1]
        raise Invalid(f"node {node[e]}: cuts dimension {d[e]} twice")
    span = a.hi[node, d] - a.lo[node, d] + 1
    # As `cut` requires, every piece starts inside the region: (k - 1) * w < span, written without
    # the product, which could overflow int64.
    bad = (k < 2) | (w < 1) | (k - 1 >= (span - 1) // np.maximum(w, 1) + 1)
    if bad.any():
        e = _first(bad)
        raise Invalid(f"node {node[e]}: cannot cut {DIMS[d[e]]} (span {span[e]}) into {k[e]} pieces of width {w[e]}")
    # Pieces are now at most the span (2^32): a product of five in float64 is exact up to 2^53.
    slots_f = np.ones(n)
    np.multiply.at(slots_f, node, k.astype(np.float64))
    total = np.cumsum(np.where(a.kind == 1, slots_f, 0))
    if total[-1] > MAX_SLOTS:
        j = _first(total > MAX_SLOTS)
        raise Invalid(f"node {j}: the cut nodes up to here hold {int(total[j])} slots, more than a tree may "
                      f"({MAX_SLOTS}; classification needs 8 bytes per slot)")
    slots = slots_f.astype(np.int64)

    rn, rs, rc = a.run_node, a.run_start, a.run_child
    first = np.ones(len(rn), bool)
    first[1:] = rn[1:] != rn[:-1]
    runs = np.bincount(rn, minlength=n)
    bad = (a.kind == 1) & (runs == 0)
    if bad.any():
        raise Invalid(f"node {_first(bad)}: a cut node needs runs (run_starts)")
    bad = (first & (rs != 0)) | (~first & (rs <= np.roll(rs, 1))) | (rs >= slots[rn])
    if bad.any():
        e = _first(bad)
        raise Invalid(f"node {rn[e]}: run_starts must start at 0 and ascend strictly within the node's "
                      f"{slots[rn[e]]} slots, got {rs[e]}")
    bad = (rc < 0) | (rc >= a.children[rn])
    if bad.any():
        e = _first(bad)
        raise Invalid(f"node {rn[e]}: run_child {rc[e]} is not one of its {a.children[rn[e]]} children")
    pairs = np.unique(rn * (int(a.children.max()) + 1) + rc)  # distinct (node, child) pairs
    named = np.bincount(pairs // (int(a.children.max()) + 1), minlength=n)
    bad = (a.kind == 1) & (named != a.children)
    if bad.any():
        j = _first(bad)
        raise Invalid(f"node {j}: run_child names {named[j]} of its {a.children[j]} children; every child "
                      f"needs a run")
