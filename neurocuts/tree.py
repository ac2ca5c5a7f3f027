"""One decision-tree representation for every builder: nodes, node operations, metrics and JSON.

A node owns a region (an inclusive box over the five dimensions) and the rules that overlap it, in
priority order. It is one of:

- a leaf: its rules are searched linearly;
- a cut node: one or more dimensions cut into pieces (`cuts` = `(dim, pieces, width)`; piece i covers
  `[lo + i*width, lo + (i+1)*width - 1]` and the last piece runs to the region's end). HiCuts and
  HyperCuts use equal widths (`ceil(span / pieces)`); a HyperSplit binary split is a 2-piece cut whose
  first piece ends just before the split point. The slots (pieces' product) are numbered row-major; slots holding
  identical rules share one child (node merging): `run_starts` gives the first slot of each run of
  adjacent slots and `run_child` the child of each run. With `Tree(share=False)` only adjacent slots
  merge, as in the NeuroCuts reference: equal neighbours in a row, then equal whole rows, and so on
  (`_reference_blocks`), so each child is a box of slots and runs and children correspond one to
  one (with `merge_pruned`, HiCuts', HyperCuts' and CutSplit's, slots compare their rules pruned over each slot, as the
  reference prunes every child before it merges); with sharing a child serves several runs and covers their bounding box, which is exact
  because a subtree is exact over its whole region for its rules and each served slot holds exactly
  those rules. With `equi_dense` (EffiCuts', one-dimension cuts) slots are not merged on equal
  rules but as the reference's equi-dense refinement merges them (`_equi_dense`): neighbouring
  slots that share rules join, a child holding the union of its slots' rules;
- a partition node: its rules split into disjoint groups, one child each over the same region; every
  child is searched and the highest-priority match wins (EffiCuts, CutSplit).

Builders and (later) an agent grow a tree only through `cut` and `partition`, one node at a time;
`grow` drives a policy over the unfinished nodes. Every new node is compacted to the bounding box of
its rules within its region (unless the tree's `compact` is off, as in the reference's HiCuts and
CutSplit, whose equal-width cuts depend on the region) and pruned: a rule covered by a
higher-priority rule inside the node's region is dropped (it can never win there).

Metrics (`metrics`, for any subtree) follow the NeuroCuts reference cost model (tree.py,
`compute_result`): time in memory accesses is 1 for a leaf, 1 + the max over the children for a cut
node and the sum over the children for a partition node; a leaf takes 2 + 16 bytes per rule and an
internal node 2 + 16 + 4 per child pointer (header, region boundary, pointers), a cut node storing one
pointer per run of slots and a shared child counted once.

Files (`save`, `load`; `to_json`, `from_json`) are JSON holding the rules and every node in preorder.
Loading checks the structure and every value (rule indices in range, regions within the fields'
widths and the parent's region, cuts that fit, runs that name every child; see `_treecheck.py`)
and raises `TreeFormatError` naming the node and the problem; `validate_tree` makes the same checks
on a tree in memory, against any rule set.
"""
from __future__ import annotations

import functools
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from . import _treecheck as _check
from ._treecheck import TreeFormatError
from .rules import DIM_MAX, RuleSet, read_text

log = logging.getLogger(__name__)

#: Nodes with more rules than this skip pruning (its pairwise test is quadratic), unless the tree
#: sets its own `prune_max`: the builders set the reference's, 500 rules (tree.py: HiCuts, EffiCuts,
#: CutSplit) and 1,000 (tree_mem.py, which its HyperCuts builds on).
PRUNE_MAX = 3000
FORMAT = "neurocuts-tree"


@dataclass(eq=False)
class Node:
    """A tree node; see the module docstring for the three kinds."""

    lo: np.ndarray  # (5,) int64, region start
    hi: np.ndarray  # (5,) int64, region end (inclusive)
    rules: np.ndarray  # (n,) int64 rule ids, ascending = priority order
    depth: int = 1
    kind: str = "leaf"
    cuts: tuple[tuple[int, int, int], ...] = ()
    run_starts: np.ndarray | None = None
    run_child: np.ndarray | None = None  # (runs,) child index of each run (children may own several runs)
    children: list["Node"] = field(default_factory=list)

    @property
    def slots(self) -> int:
        """Number of slots of a cut node (product of its pieces)."""
        return int(np.prod([k for _, k, _ in self.cuts])) if self.cuts else 0


class Tree:
    """A rule set, its root node and the leaf threshold `binth`."""

    #: perf_counter() time past which `make_node` raises BuildTimeout (set by `grow` while it runs).
    deadline: float | None = None
    #: Most nodes the tree may hold; `make_node` raises NodeBudgetExceeded past it (set by `grow`).
    max_nodes: int | None = None
    #: Node merging compares the slots' rules pruned over each slot, as the reference's HyperCuts
    #: does, not the rules that overlap them (set by the builder; building only, not saved).
    merge_pruned: bool = False
    #: Nodes with more rules than this are not pruned (set by the builder; building only, not saved).
    prune_max: int = PRUNE_MAX
    #: One-dimension cuts merge their slots by the reference's equi-dense refinement instead of on
    #: equal rules (EffiCuts; set by the builder; building only, not saved).
    equi_dense: bool = False

    def __init__(self, rules: RuleSet, binth: int = 16, algo: str = "", prune: bool = True,
                 compact: bool = True, share: bool = True, merge_pruned: bool = False,
                 prune_max: int = PRUNE_MAX, equi_dense: bool = False) -> None:
        if binth < 1:
            raise ValueError(f"binth must be >= 1, got {binth}")
        self.rules, self.binth, self.algo = rules, binth, algo
        self.prune, self.compact, self.share = prune, compact, share
        self.merge_pruned, self.prune_max, self.equi_dense = merge_pruned, prune_max, equi_dense
        self.build_s = 0.0
        self.node_count = 0  # nodes made so far: every node made becomes part of the tree
        self.root = make_node(self, np.zeros(5, np.int64), DIM_MAX.copy(), np.arange(len(rules)), 1)

    def is_done(self, node: Node) -> bool:
        """True when `node` needs no further splitting (a leaf of at most binth rules, or expanded)."""
        return node.kind != "leaf" or len(node.rules) <= self.binth

    def nodes(self) -> Iterator[Node]:
        """All nodes, preorder."""
        stack = [self.root]
        while stack:
            n = stack.pop()
            yield n
            stack.extend(reversed(n.children))

    def classify(self, packets: np.ndarray) -> np.ndarray:
        """First matching rule per packet, or -1 (vectorised; see _classify.py)."""
        from ._classify import classify
        return classify(self, packets)

    def metrics(self) -> dict:
        """Metrics of the whole tree plus `algo`, `rules`, `binth` and `build_s`."""
        out = {"algo": self.algo, "rules": len(self.rules), "binth": self.binth}
        out.update(metrics(self.root, len(self.rules)))
        out["build_s"] = round(self.build_s, 4)
        return out


# ---------------------------------------------------------------- node construction

def _clip(tree: Tree, rule_ids: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rules' ranges intersected with the region: (n, 5) starts and ends."""
    return np.maximum(tree.rules.lo[rule_ids], lo), np.minimum(tree.rules.hi[rule_ids], hi)


def prune_rules(tree: Tree, rule_ids: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Drop every rule covered, within the region, by one higher-priority rule."""
    n = len(rule_ids)
    if n < 2 or n > tree.prune_max:
        return rule_ids
    clo, chi = _clip(tree, rule_ids, lo, hi)
    if n <= 64:  # one shot: (rules j, rules i, dims)
        cov = ((clo[:, None, :] >= clo[None, :, :]) & (chi[:, None, :] <= chi[None, :, :])).all(axis=2)
        return rule_ids[~np.tril(cov, -1).any(axis=1)]
    covered = np.zeros(n, dtype=bool)
    block = max(1, 4_000_000 // (5 * n))
    for j0 in range(1, n, block):  # rules j covered by some i < j
        j = slice(j0, min(n, j0 + block))
        cov = np.ones((j.stop - j.start, j.stop), dtype=bool)  # (rules j, rules i)
        for d in range(5):
            cov &= clo[j, d][:, None] >= clo[:j.stop, d][None, :]
            cov &= chi[j, d][:, None] <= chi[:j.stop, d][None, :]
        cov &= np.arange(j.start, j.stop)[:, None] > np.arange(j.stop)[None, :]
        covered[j] = cov.any(axis=1)
    return rule_ids[~covered]


def _check_budget(tree: Tree) -> None:
    """Raise NodeBudgetExceeded when the tree holds more nodes than its `max_nodes`."""
    if tree.max_nodes is not None and tree.node_count > tree.max_nodes:
        raise NodeBudgetExceeded(f"{tree.algo} exceeded {tree.max_nodes} nodes on this rule set")


def make_node(tree: Tree, lo: np.ndarray, hi: np.ndarray, rule_ids: np.ndarray, depth: int,
              pruned: bool = False) -> Node:
    """A new leaf over the region with the given rules, compacted and pruned (unless `pruned` says
    the rules are already pruned over a region the node's lies in, or over one of its parts).

    Raises BuildTimeout past the tree's deadline: one cut can create many children, each pruned in
    time quadratic in its rules, so `grow` alone would notice a limit only seconds late. Raises
    NodeBudgetExceeded when the tree would hold more than its `max_nodes`.
    """
    if tree.deadline is not None and time.perf_counter() > tree.deadline:
        raise BuildTimeout(f"{tree.algo} build passed its limit")
    tree.node_count += 1
    _check_budget(tree)
    lo, hi = lo.astype(np.int64).copy(), hi.astype(np.int64).copy()
    rule_ids = np.asarray(rule_ids, dtype=np.int64)
    if len(rule_ids):
        for step in range(2):
            if tree.compact:
                lo = np.maximum(lo, tree.rules.lo[rule_ids].min(axis=0))
                hi = np.minimum(hi, tree.rules.hi[rule_ids].max(axis=0))
            if step == 0 and tree.prune and not pruned:
                rule_ids = prune_rules(tree, rule_ids, lo, hi)
            if step == 0 and tree.prune and len(rule_ids) > tree.prune_max:
                rule_ids = shadowed_cut(tree, rule_ids, lo, hi)
    return Node(lo, hi, rule_ids, depth)


def shadowed_cut(tree: Tree, rule_ids: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The rules up to the first one that covers the whole region: no packet there reaches the rest.

    Linear, so a tree that prunes applies it to the nodes too large to prune (more than its
    `prune_max` rules), even those made of rules pruned already. Without it, more than `prune_max`
    copies of one wildcard rule made HiCuts and EffiCuts cut the region down towards single points,
    every piece holding every copy: gigabytes before the node budget stopped them.
    """
    covers = (tree.rules.lo[rule_ids] <= lo).all(axis=1) & (tree.rules.hi[rule_ids] >= hi).all(axis=1)
    first = int(np.argmax(covers))
    return rule_ids[:first + 1] if covers[first] else rule_ids


# ---------------------------------------------------------------- node operations

def _group_equal_slots(pos: np.ndarray, slot: np.ndarray, bounds: np.ndarray) -> tuple[np.ndarray, int]:
    """Group slots whose rule lists are equal: (group id per slot, numbered by first slot; groups).

    `pos` holds each slot's rule positions (ascending) one slot after another, `slot` the slot of each
    entry and `bounds` each slot's start. Slots are grouped by a hash of their rule set and size, then
    every slot is compared entry by entry with its group's first slot, so the grouping is exact (a
    hash collision falls back to comparing the lists' bytes).
    """
    total = len(bounds) - 1
    count = np.diff(bounds)
    h = (pos.astype(np.uint64) + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
    h ^= h >> np.uint64(29)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    sums = np.zeros(total, np.uint64)
    full = np.flatnonzero(count)
    if len(full):
        sums[full] = np.add.reduceat(h, bounds[:-1][full])
    order = np.lexsort((sums, count))
    new = np.ones(total, bool)
    new[1:] = (sums[order][1:] != sums[order][:-1]) | (count[order][1:] != count[order][:-1])
    group = np.empty(total, np.int64)
    group[order] = np.cumsum(new) - 1
    first = np.full(int(group.max()) + 1, total, np.int64)
    np.minimum.at(first, group, np.arange(total))
    rep = first[group]  # each slot's representative
    entry = np.arange(len(pos))
    twin = bounds[rep[slot]] + entry - bounds[slot]
    if not np.array_equal(pos, pos[twin]):  # a hash collision: group by the lists themselves
        keys: dict[bytes, int] = {}
        group = np.fromiter((keys.setdefault(pos[bounds[s]:bounds[s + 1]].tobytes(), len(keys))
                             for s in range(total)), np.int64, total)
        return group, len(keys)
    rank = np.full(len(first), -1, np.int64)
    firsts = np.sort(first)
    rank[group[firsts]] = np.arange(len(firsts))
    return rank[group], len(first)


def _group_boxes(slot_group: np.ndarray, groups: int, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each group's box of slots: lowest and highest piece index per cut dimension, (groups, dims).

    `idx` holds each slot's piece index per cut dimension (slots, dims)."""
    total, dims = idx.shape
    g_lo = np.full((groups, dims), total, np.int64)
    g_hi = np.full((groups, dims), -1, np.int64)
    for j in range(dims):
        np.minimum.at(g_lo[:, j], slot_group, idx[:, j])
        np.maximum.at(g_hi[:, j], slot_group, idx[:, j])
    return g_lo, g_hi


def _reference_blocks(slot_group: np.ndarray, idx: np.ndarray, strides: np.ndarray) -> np.ndarray:
    """Children of the NeuroCuts reference's node merging over row-major slots: block id per slot.

    The reference (tree.py, `refinement_node_merging`) walks the children in order, merging a child
    into the one before it while the two hold the same rules and their regions abut in one dimension
    and are equal in the others, until a pass merges nothing. In a row, equal neighbours merge;
    whole rows then merge with equal whole rows beside them, whole planes with whole planes, and so
    on. A run that wraps from the end of one row to the start of the next is not merged: those two
    regions differ in two dimensions. Each block is a box of consecutive slots.
    `idx` holds each slot's piece index per cut dimension, `strides` each dimension's slot stride.
    """
    total = len(slot_group)
    start = np.ones(total, bool)  # slots that begin a block
    start[1:] = (slot_group[1:] != slot_group[:-1]) | (idx[1:, -1] == 0)
    for j in range(len(strides) - 2, -1, -1):  # units: slots equal in dims 0..j, whole rows first
        size = int(strides[j])
        first = np.arange(0, total, size)
        whole = ~start.reshape(-1, size)[:, 1:].any(axis=1)
        join = whole[1:] & whole[:-1] & (idx[first[1:], j] != 0) & \
            (slot_group[first[1:]] == slot_group[first[:-1]])
        start[first[1:][join]] = False
    return np.cumsum(start) - 1


@functools.lru_cache(maxsize=128)
def _below_diagonal(n: int) -> np.ndarray:
    """(n, n) mask of the pairs (j, i) with i < j, shared read-only."""
    mask = np.tri(n, n, -1, dtype=bool)
    mask.flags.writeable = False
    return mask


def _prune_slots(tree: Tree, node: Node, cuts: list[tuple[int, int, int]], idx: np.ndarray,
                 pos: np.ndarray, slot: np.ndarray, bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each slot's rule positions pruned over the slot's own region: (pos, slot, bounds) anew.

    The NeuroCuts reference prunes a child as it makes it, before node merging compares children
    (tree_mem.py: `create_node`, then `refinement_node_merging` on the pruned rule sets). Each slot
    is pruned as `prune_rules` prunes one node (none of over `tree.prune_max` rules). Slots of up
    to 64 rules go in batches, one per size or, where padding to the fullest costs little, one in
    all (see below); larger slots go one at a time through `prune_rules`.
    """
    total = len(bounds) - 1
    count = np.diff(bounds)
    slo, shi = np.empty((total, 5), np.int64), np.empty((total, 5), np.int64)  # (slots, 5) regions
    slo[:], shi[:] = node.lo, node.hi
    for j, (d, k, w) in enumerate(cuts):
        slo[:, d] = node.lo[d] + idx[:, j] * w
        # The last piece runs to the region's end (a HyperSplit split's second half may be wider).
        shi[:, d] = np.where(idx[:, j] == k - 1, node.hi[d], slo[:, d] + w - 1)
    keep = np.ones(len(pos), bool)
    small = np.flatnonzero((count > 1) & (count <= min(64, tree.prune_max)))
    # Slots of one size are pruned together. When padding every slot to the fullest one's size costs
    # little (under 2x the pairs, or under 4,096 pairs), they all go in one batch: a node's slots are
    # many and small (fw3_1k's HiCuts: 22 rules, 9 slots of 2.6 sizes), and numpy's cost per call
    # outweighs the padding's. A padding entry repeats the slot's first rule after its real ones:
    # a rule is only tested against those before it, so padding covers none, and its result is dropped.
    batches: list[tuple[int, np.ndarray]] = []
    if len(small):
        sizes = count[small]
        most = int(sizes.max())
        if len(small) * most * most <= max(2 * int((sizes * sizes).sum()), 4096):
            batches = [(most, small)]
        else:
            batches = [(n, small[sizes == n]) for n in np.unique(sizes).tolist()]
    for n, of_size in batches:
        step = max(1, 2_000_000 // (5 * n * n))
        for c0 in range(0, len(of_size), step):
            s = of_size[c0:c0 + step]
            real = np.arange(n) < count[s][:, None]  # (slots, n)
            e = bounds[s][:, None] + np.where(real, np.arange(n), 0)  # (slots, n) entries
            ids = node.rules[pos[e]]
            # Dimensions first, so that each comparison and the reduction over the five run on
            # contiguous (slots, n, n) blocks (an all() over a last axis of 5 is several times slower).
            clo = np.maximum(tree.rules.lo[ids], slo[s][:, None, :]).transpose(2, 0, 1).copy()  # (5, slots, n)
            chi = np.minimum(tree.rules.hi[ids], shi[s][:, None, :]).transpose(2, 0, 1).copy()
            cov = (clo[:, :, :, None] >= clo[:, :, None, :]) & (chi[:, :, :, None] <= chi[:, :, None, :])
            cov = np.logical_and.reduce(cov, axis=0) & _below_diagonal(n)  # (slots, rule j, rule i < j)
            keep[e[real]] = ~cov.any(axis=2)[real]
    for s in np.flatnonzero(count > 64).tolist():
        ids = node.rules[pos[bounds[s]:bounds[s + 1]]]
        keep[bounds[s]:bounds[s + 1]] = np.isin(ids, prune_rules(tree, ids, slo[s], shi[s]))
    pos, slot = pos[keep], slot[keep]
    return pos, slot, np.concatenate([[0], np.cumsum(np.bincount(slot, minlength=total))])


def _equi_dense(pos: np.ndarray, bounds: np.ndarray, past: int) -> tuple[np.ndarray, list[np.ndarray]] | None:
    """The NeuroCuts reference's equi-dense merging of a one-dimension cut's slots (tree.py,
    `refinement_equi_dense`): (group per slot, each group's rule positions), or None to keep every
    slot apart.

    Walking the slots in order, a slot joins the group before it when the two share a rule and
    their union holds fewer rules than the fullest slot; passes repeat until one joins nothing.
    The merging is kept only when it leaves at most 8 children, counting the `past` pieces the
    reference makes past the span (never merged; see hicuts.py), else no slot merges.
    `pos` holds each slot's rule positions one slot after another, `bounds` each slot's start.
    """
    sets = [frozenset(pos[bounds[s]:bounds[s + 1]].tolist()) for s in range(len(bounds) - 1)]
    most = max(len(r) for r in sets)
    groups = [[s, r] for s, r in enumerate(sets)]  # [first slot, rules]
    while True:
        merged = [groups[0]]
        for g in groups[1:]:
            last = merged[-1]
            union = last[1] | g[1]
            if len(union) < len(last[1]) + len(g[1]) and len(union) < most:
                last[1] = union
            else:
                merged.append(g)
        if len(merged) == len(groups):
            break
        groups = merged
    if len(groups) + past > 8:
        return None
    first = np.array([g[0] for g in groups], np.int64)
    slot_group = np.searchsorted(first, np.arange(len(sets)), side="right") - 1
    return slot_group, [np.array(sorted(g[1]), np.int64) for g in groups]


def cut(tree: Tree, node: Node, dims: list[int] | tuple[int, ...], pieces: list[int] | tuple[int, ...],
        widths: list[int] | tuple[int, ...] | None = None) -> list[Node]:
    """Cut a leaf along `dims`, `pieces[j]` pieces in dims[j]; equal widths unless `widths` is given.

    Returns the new children (slots with identical rules share one child; see the module docstring).
    """
    if node.kind != "leaf" or node.children:
        raise ValueError("only an unexpanded leaf can be cut")
    if len(dims) != len(pieces) or not dims or len(set(dims)) != len(dims):
        raise ValueError(f"dims {dims} and pieces {pieces} must be non-empty, distinct, of equal length")
    span = node.hi - node.lo + 1
    cuts = []
    for j, (d, k) in enumerate(zip(dims, pieces)):
        if not 0 <= d < 5:
            raise ValueError(f"dimension {d} is not in 0..4")
        if widths is None:
            w = -(-int(span[d]) // max(int(k), 1))
            k = -(-int(span[d]) // w)  # equal widths may need fewer pieces than asked
        else:
            w, k = int(widths[j]), int(k)  # the last piece absorbs the rest of the span
        if k < 2 or w < 1 or (k - 1) * w >= span[d]:
            raise ValueError(f"cannot cut dimension {d} (span {int(span[d])}) into {pieces[j]} pieces of width {w}")
        cuts.append((int(d), k, w))
    ks = np.array([k for _, k, _ in cuts], dtype=np.int64)
    strides = np.ones(len(cuts), dtype=np.int64)
    for j in range(len(cuts) - 2, -1, -1):
        strides[j] = strides[j + 1] * ks[j + 1]
    total = int(ks.prod())

    # Slots each rule overlaps, as (rule position, slot) pairs, expanded one dimension at a time.
    clo, chi = _clip(tree, node.rules, node.lo, node.hi)
    pos = np.arange(len(node.rules))
    slot = np.zeros(len(pos), dtype=np.int64)
    for j, (d, k, w) in enumerate(cuts):
        a = np.minimum((clo[pos, d] - node.lo[d]) // w, k - 1)
        b = np.minimum((chi[pos, d] - node.lo[d]) // w, k - 1)
        cnt = b - a + 1
        rep = np.repeat(np.arange(len(pos)), cnt)
        offs = np.arange(len(rep)) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        slot = slot[rep] + (a[rep] + offs) * strides[j]
        pos = pos[rep]
    order = np.argsort(slot, kind="stable")  # keeps priority order inside each slot
    slot, pos = slot[order], pos[order]
    bounds = np.searchsorted(slot, np.arange(total + 1))
    idx = (np.arange(total)[:, None] // strides[None, :]) % ks[None, :]  # (slots, cut dims)
    slots_pruned = (tree.merge_pruned or tree.equi_dense) and tree.prune
    if slots_pruned:
        pos, slot, bounds = _prune_slots(tree, node, cuts, idx, pos, slot, bounds)
    count = np.diff(bounds)

    # Node merging: slots holding identical rule lists share one child, whose region is the bounding
    # box of its slots (one pointer per run of adjacent slots, as the cost model counts). Merging
    # every slot into one child would rebuild the parent and never end, so then keep them all apart.
    group_rules: list[np.ndarray] | None = None
    if tree.equi_dense and len(cuts) == 1:  # merged by shared rules, or not at all, as EffiCuts'
        dense = _equi_dense(pos, bounds, int(pieces[0]) - cuts[0][1])
        slot_group, group_rules = dense if dense is not None else (np.arange(total), None)
    else:
        slot_group, ngroups = _group_equal_slots(pos, slot, bounds)
        if ngroups == 1 and not (tree.merge_pruned and count[0] < len(node.rules)):
            slot_group = np.arange(total)
        elif not tree.share:  # adjacent slots only, as the NeuroCuts reference merges
            slot_group = _reference_blocks(slot_group, idx, strides)
        else:
            # A shared child whose box is the whole region and whose rules are all of the parent's would
            # make no progress: its adjacent blocks (as without sharing) get a child each instead.
            g_lo, g_hi = _group_boxes(slot_group, ngroups, idx)
            whole = (g_lo == 0).all(axis=1) & (g_hi == ks - 1).all(axis=1)
            full = np.zeros(ngroups, bool)
            full[slot_group[count == len(node.rules)]] = True
            stuck = np.flatnonzero(whole & full)
            if len(stuck):
                blocks = _reference_blocks(slot_group, idx, strides)
                slot_group = np.where(np.isin(slot_group, stuck), ngroups + blocks, slot_group)
    new_run = np.ones(total, bool)
    new_run[1:] = slot_group[1:] != slot_group[:-1]
    run_starts = np.flatnonzero(new_run)
    if (not tree.share or len(cuts) == 1) and slot_group[0] == 0 and \
            np.array_equal(slot_group[run_starts[1:]], slot_group[run_starts[1:] - 1] + 1):
        # Runs numbered in order (every adjacent-slot merge, the common case): each is a box of
        # consecutive slots, from its first slot's indices to its last's.
        first = run_starts
        g_lo, g_hi = idx[first], idx[np.append(first[1:], total) - 1]
    else:
        # Renumber children by first slot, then recompute each child's index box.
        _, first_slot, slot_group = np.unique(slot_group, return_index=True, return_inverse=True)
        rank = np.empty(len(first_slot), np.int64)
        rank[np.argsort(first_slot, kind="stable")] = np.arange(len(first_slot))
        slot_group = rank[slot_group]
        g_lo, g_hi = _group_boxes(slot_group, len(first_slot), idx)
        first = np.full(len(first_slot), total, np.int64)
        np.minimum.at(first, slot_group, np.arange(total))
    groups = len(first)
    los, his = np.empty((groups, 5), np.int64), np.empty((groups, 5), np.int64)  # children's regions
    los[:], his[:] = node.lo, node.hi
    for j, (d, k, w) in enumerate(cuts):
        los[:, d] = node.lo[d] + g_lo[:, j] * w
        his[:, d] = np.where(g_hi[:, j] == k - 1, node.hi[d], node.lo[d] + (g_hi[:, j] + 1) * w - 1)
    children = []
    for g, s in enumerate(first.tolist()):
        # Rules pruned over one slot of the child's box stay pruned over the box: a rule covered in
        # the box is covered in each of its slots. An equi-dense child holds its slots' rules each
        # pruned over its own slot, as the reference's (not pruned again over the child).
        at = group_rules[g] if group_rules is not None else pos[bounds[s]:bounds[s + 1]]
        children.append(make_node(tree, los[g], his[g], node.rules[at], node.depth + 1, pruned=slots_pruned))
    node.kind, node.cuts, node.children = "cut", tuple(cuts), children
    node.run_starts = run_starts.astype(np.int64)
    node.run_child = slot_group[run_starts].astype(np.int64)
    return children


def partition(tree: Tree, node: Node, groups: list[np.ndarray]) -> list[Node]:
    """Partition a leaf's rules into disjoint groups (rule ids), one child each; empty groups dropped."""
    if node.kind != "leaf" or node.children:
        raise ValueError("only an unexpanded leaf can be partitioned")
    groups = [np.sort(np.asarray(g, dtype=np.int64)) for g in groups if len(g)]
    joined = np.sort(np.concatenate(groups)) if groups else np.zeros(0, np.int64)
    if len(groups) < 2 or not np.array_equal(joined, node.rules):
        raise ValueError("partition groups must be at least two non-empty disjoint sets covering the node's rules")
    children = [make_node(tree, node.lo, node.hi, g, node.depth + 1) for g in groups]
    node.kind, node.children = "partition", children
    return children


def partition_by_size(tree: Tree, node: Node, dim: int, fraction: float) -> list[Node]:
    """NeuroCuts' partition action: rules narrower than `fraction` of dim's domain vs the rest."""
    width = tree.rules.hi[node.rules, dim] - tree.rules.lo[node.rules, dim] + 1
    small = width < fraction * (int(DIM_MAX[dim]) + 1)
    return partition(tree, node, [node.rules[small], node.rules[~small]])


Policy = Callable[[Tree, Node], list[Node]]


class BuildLimitExceeded(RuntimeError):
    """A build passed a limit its caller set: time (BuildTimeout) or nodes (NodeBudgetExceeded)."""


class BuildTimeout(BuildLimitExceeded):
    """A build ran past its time limit (HiCuts and HyperCuts explode on some firewall sets)."""


class NodeBudgetExceeded(BuildLimitExceeded):
    """A build needed more nodes than its budget: the algorithm's tree blows up on this rule set
    (HiCuts and HyperCuts replicate wildcard-heavy firewall rules into hundreds of thousands of
    nodes, about 1 KB of memory each while building)."""


def grow(tree: Tree, policy: Policy, start: Node | None = None, time_limit_s: float | None = None,
         max_nodes: int | None = None) -> Tree:
    """Expand unfinished nodes depth first with `policy` (which calls `cut` or `partition`).

    Raises BuildTimeout past `time_limit_s` seconds, checked before every node and every new child,
    and NodeBudgetExceeded as soon as the tree would hold more than `max_nodes` nodes (those made
    before `grow`, such as the root, count too).
    """
    if max_nodes is not None and max_nodes < 1:
        raise ValueError(f"max_nodes must be >= 1, got {max_nodes}")
    t0 = time.perf_counter()
    stack = [start or tree.root]
    outer, outer_nodes = tree.deadline, tree.max_nodes
    if time_limit_s is not None:
        tree.deadline = t0 + time_limit_s if outer is None else min(outer, t0 + time_limit_s)
    if max_nodes is not None:
        tree.max_nodes = max_nodes if outer_nodes is None else min(outer_nodes, max_nodes)
    try:
        _check_budget(tree)  # the nodes made before this grow (the root at least) count too
        while stack:
            if tree.deadline is not None and time.perf_counter() > tree.deadline:
                raise BuildTimeout(f"{tree.algo} build passed its limit")
            node = stack.pop()
            if node.children:  # already expanded (e.g. a builder's root partition): descend
                stack.extend(reversed(node.children))
            elif not tree.is_done(node):
                stack.extend(reversed(policy(tree, node)))
    except BuildTimeout:
        if time_limit_s is None:  # an enclosing grow's limit: its own message
            raise
        raise BuildTimeout(f"{tree.algo} build passed its {time_limit_s:g} s limit") from None
    finally:
        tree.deadline, tree.max_nodes = outer, outer_nodes
    tree.build_s += time.perf_counter() - t0
    return tree


# ---------------------------------------------------------------- metrics

def pointers(node: Node) -> int:
    """Child pointers an internal node stores: one per run of slots for a cut, one per part."""
    return len(node.run_starts) if node.kind == "cut" else len(node.children)


def metrics(node: Node, rule_count: int) -> dict:
    """time (memory accesses), bytes, bytes_per_rule, depth, nodes, leaves of the subtree at `node`."""
    post, stack = [], [node]
    while stack:  # iterative postorder: deep trees must not hit the recursion limit
        n = stack.pop()
        post.append(n)
        stack.extend(n.children)
    cost: dict[int, tuple[int, int]] = {}
    total_bytes = nodes = leaves = 0
    for n in reversed(post):
        nodes += 1
        if not n.children:
            leaves += 1
            total_bytes += 2 + 16 * len(n.rules)
            cost[id(n)] = (1, 1)
            continue
        total_bytes += 2 + 16 + 4 * pointers(n)
        kids = [cost.pop(id(c)) for c in n.children]
        t = sum(k[0] for k in kids) if n.kind == "partition" else 1 + max(k[0] for k in kids)
        cost[id(n)] = (t, 1 + max(k[1] for k in kids))
    t, depth = cost[id(node)]
    return {"time": t, "bytes": total_bytes, "bytes_per_rule": round(total_bytes / max(rule_count, 1), 2),
            "depth": depth, "nodes": nodes, "leaves": leaves}


# ---------------------------------------------------------------- JSON

def to_json(tree: Tree) -> dict:
    """A JSON-ready dict holding the rules and every node (preorder, root first)."""
    order = list(tree.nodes())
    ids = {id(n): i for i, n in enumerate(order)}
    nodes = []
    for n in order:
        d = {"kind": n.kind, "depth": n.depth, "lo": n.lo.tolist(), "hi": n.hi.tolist(), "rules": n.rules.tolist()}
        if n.kind == "cut":
            d["cuts"] = [list(c) for c in n.cuts]
            d["run_starts"] = n.run_starts.tolist()
            d["run_child"] = n.run_child.tolist()
        if n.children:
            d["children"] = [ids[id(c)] for c in n.children]
        nodes.append(d)
    return {"format": FORMAT, "version": 1, "algo": tree.algo, "binth": tree.binth,
            "build_s": tree.build_s, "prune": tree.prune, "compact": tree.compact, "share": tree.share,
            "rules": tree.rules.to_ranges(), "nodes": nodes}


def from_json(data: object, source: str = "<tree>") -> Tree:
    """Inverse of `to_json`, checking structure and values (those `validate_tree` checks).

    Raises TreeFormatError naming `source`, the node and the problem, e.g. "node 17: rule index 1200
    out of range for 1000 rules".
    """
    try:
        tree, arrays, child_lists = _read_document(data)
        _check.check(arrays, tree.rules)
    except _check.Invalid as exc:
        raise TreeFormatError(source, str(exc)) from None
    a = arrays
    bounds = np.concatenate([[0], np.cumsum(a.rule_count)]).tolist()
    run_end = np.cumsum(np.bincount(a.run_node, minlength=len(a.kind)))
    los, his, ids, depths = list(a.lo), list(a.hi), a.rules, a.depth.tolist()  # row views, one pass
    kinds = [_check.KINDS[k] for k in a.kind.tolist()]
    nodes = [Node(los[j], his[j], ids[bounds[j]:bounds[j + 1]], depths[j], kinds[j]) for j in range(len(kinds))]
    cut_rows = iter(a.cuts[:, 1:].tolist())
    per_node = np.bincount(a.cuts[:, 0], minlength=len(a.kind)).tolist()
    for j, n in enumerate(nodes):
        if child_lists[j]:
            n.children = [nodes[i] for i in child_lists[j]]
        if n.kind == "cut":
            n.cuts = tuple(tuple(next(cut_rows)) for _ in range(per_node[j]))
            r = slice(run_end[j - 1] if j else 0, run_end[j])
            n.run_starts, n.run_child = a.run_start[r], a.run_child[r]
    tree.root = nodes[0]
    return tree


def _read_document(data: object) -> tuple[Tree, _check.NodeArrays, list[list[int]]]:
    """The tree's fields, its nodes as arrays and each node's children; raises _check.Invalid."""
    if type(data) is not dict or data.get("format") != FORMAT:
        raise _check.Invalid(f"not a {FORMAT} document")
    missing = [k for k in ("version", "algo", "binth", "build_s", "prune", "compact", "rules", "nodes")
               if k not in data]
    if missing:
        raise _check.Invalid(f"missing field {missing[0]!r}")
    if type(data["version"]) is not int or data["version"] != 1:
        raise _check.Invalid(f"version {_check.show(data['version'])} is not 1, the only version")
    if type(data["algo"]) is not str:
        raise _check.Invalid(f"algo must be a string, got {_check.show(data['algo'])}")
    tree = Tree.__new__(Tree)
    tree.rules = _check.rule_ranges(data["rules"])
    tree.binth, tree.algo = _check.integer(data["binth"], "binth", 1), data["algo"]
    tree.build_s = _check.number(data["build_s"], "build_s")
    tree.prune, tree.compact = _check.flag(data["prune"], "prune"), _check.flag(data["compact"], "compact")
    tree.share = _check.flag(data.get("share", False), "share")
    arrays, child_lists = _check.read_nodes(data["nodes"])
    tree.node_count = len(arrays.kind)
    return tree, arrays, child_lists


def validate_tree(tree: Tree, rules: RuleSet | None = None, source: str = "<tree>") -> None:
    """Check a tree against `rules` (default the tree's own rule set); raises TreeFormatError.

    Every rule index must be in range for `rules` and every node's rules must overlap its region,
    besides the checks `from_json` makes on a file: no cycle or shared node, regions within the
    fields' widths and the parent's region, depths, cuts that fit the region, runs naming every
    child. Nodes are named by their preorder index, as `to_json` numbers them.
    """
    rules = tree.rules if rules is None else rules
    try:
        _check.check(_check.tree_arrays(tree.root), rules)
    except _check.Invalid as exc:
        raise TreeFormatError(source, str(exc)) from None


def save(tree: Tree, path: str | Path) -> None:
    """Write the tree as JSON, whole or not at all: an earlier file at `path` survives a failed write.

    The JSON goes to a hidden file beside the target and is renamed over it. A path that exists but
    is not a regular file (a device, a pipe such as /dev/stdout) is written in place instead.
    """
    text = json.dumps(to_json(tree), separators=(",", ":"))
    path = Path(path)
    if path.exists() and not path.is_file():
        path.write_text(text)
        return
    target = path.resolve()  # through a symlink: the link stays and the file it names is replaced
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    f = open(tmp, "x")  # outside the try: a file already there is not ours to remove
    try:
        with f:
            f.write(text)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load(path: str | Path) -> Tree:
    """Read and check a tree written by `save`.

    Raises RuleFormatError for a missing or unreadable file (`path: no such file`), and its subclass
    TreeFormatError for a file that is not JSON or not a valid tree (`path: not a tree file (...)`).
    """
    text = read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TreeFormatError(str(path), f"not JSON: {exc.msg}, column {exc.colno}", exc.lineno) from None
    except ValueError:  # an integer past Python's 4300 digits (sys.get_int_max_str_digits)
        raise TreeFormatError(str(path), "an integer of more than "
                                         f"{sys.get_int_max_str_digits()} digits") from None
    except RecursionError:
        raise TreeFormatError(str(path), "JSON nested too deep") from None
    return from_json(data, str(path))
