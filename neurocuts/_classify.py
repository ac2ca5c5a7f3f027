"""Vectorised classification: all packets descend the tree together, level by level.

The tree is first flattened into arrays (`FlatTree`). At each level every (packet, node) pair takes
one step: a cut node maps the packet to a slot with integer arithmetic and a table lookup, a partition
node copies the pair into each child (every part must be searched), and a leaf tests its rules in
priority order, one rule position at a time over all pairs still unmatched. A packet's answer is the
lowest matching rule id over the leaves it reached (rule ids are priorities), or -1.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .tree import Tree

_LEAF, _CUT, _PART = 0, 1, 2
_WIDE = np.int64(1) << 40  # width of an uncut dimension: every value falls in piece 0


@dataclass(frozen=True)
class FlatTree:
    """The tree as arrays indexed by node number (root 0)."""

    kind: np.ndarray  # (nodes,)
    dim: np.ndarray  # (nodes, J) cut dimensions, J = most dimensions any node cuts (padding: width _WIDE)
    lo: np.ndarray  # (nodes, J) cut origin
    width: np.ndarray  # (nodes, J)
    last: np.ndarray  # (nodes, J) pieces - 1
    stride: np.ndarray  # (nodes, J)
    off: np.ndarray  # (nodes,) into `table` (cut: slot -> child, partition: children) or `leaf_rules`
    count: np.ndarray  # (nodes,) children of a partition node / rules of a leaf
    table: np.ndarray
    leaf_rules: np.ndarray
    rule_lo: np.ndarray
    rule_hi: np.ndarray


def flatten(tree: Tree) -> FlatTree:
    """Flatten a tree for `classify_flat`."""
    order = list(tree.nodes())
    ids = {id(n): i for i, n in enumerate(order)}
    n = len(order)
    ncut = max([len(node.cuts) for node in order] + [1])
    kind = np.zeros(n, np.int8)
    dim = np.zeros((n, ncut), np.int64)
    lo = np.zeros((n, ncut), np.int64)
    width = np.full((n, ncut), _WIDE, np.int64)
    last = np.zeros((n, ncut), np.int64)
    stride = np.zeros((n, ncut), np.int64)
    off = np.zeros(n, np.int64)
    count = np.zeros(n, np.int64)
    table: list[np.ndarray] = []
    leaf_rules: list[np.ndarray] = []
    t_len = r_len = 0
    for i, node in enumerate(order):
        if node.kind == "cut":
            kind[i] = _CUT
            s = 1
            for j in range(len(node.cuts) - 1, -1, -1):
                d, k, w = node.cuts[j]
                dim[i, j], lo[i, j], width[i, j], last[i, j], stride[i, j] = d, node.lo[d], w, k - 1, s
                s *= k
            child = np.array([ids[id(c)] for c in node.children], np.int64)
            runs = np.diff(np.append(node.run_starts, s))
            table.append(np.repeat(child[node.run_child], runs))
            off[i] = t_len
            t_len += s
        elif node.kind == "partition":
            kind[i] = _PART
            table.append(np.array([ids[id(c)] for c in node.children], np.int64))
            off[i], count[i] = t_len, len(node.children)
            t_len += len(node.children)
        else:
            leaf_rules.append(node.rules)
            off[i], count[i] = r_len, len(node.rules)
            r_len += len(node.rules)
    cat = lambda xs: np.concatenate(xs) if xs else np.zeros(0, np.int64)  # noqa: E731
    return FlatTree(kind, dim, lo, width, last, stride, off, count, cat(table), cat(leaf_rules),
                    tree.rules.lo, tree.rules.hi)


def classify_flat(flat: FlatTree, packets: np.ndarray) -> np.ndarray:
    """First matching rule id per packet (-1 when none)."""
    packets = np.ascontiguousarray(packets, dtype=np.int64).reshape(-1, 5)
    flat_pk = packets.ravel()
    best = np.full(len(packets), -1, np.int64)
    hits: list[tuple[np.ndarray, np.ndarray]] = []
    pid = np.arange(len(packets))
    cur = np.zeros(len(packets), np.int64)
    while len(pid):
        kind = flat.kind[cur]
        leaf = kind == _LEAF
        if leaf.any():
            _match_leaves(flat, packets, pid[leaf], cur[leaf], hits)
        part = kind == _PART
        nxt_pid, nxt_cur = [], []
        if part.any():
            ppid, pcur = pid[part], cur[part]
            cnt = flat.count[pcur]
            rep = np.repeat(np.arange(len(ppid)), cnt)
            k = np.arange(len(rep)) - np.repeat(np.cumsum(cnt) - cnt, cnt)
            nxt_pid.append(ppid[rep])
            nxt_cur.append(flat.table[flat.off[pcur][rep] + k])
        cutm = kind == _CUT
        if cutm.any():
            cpid, ccur = pid[cutm], cur[cutm]
            slot = np.zeros(len(cpid), np.int64)
            base = cpid * 5
            for j in range(flat.dim.shape[1]):  # only the cut dimensions' values are gathered
                x = flat_pk[base + flat.dim[ccur, j]]
                piece = np.minimum(np.maximum(x - flat.lo[ccur, j], 0) // flat.width[ccur, j], flat.last[ccur, j])
                slot += piece * flat.stride[ccur, j]
            nxt_pid.append(cpid)
            nxt_cur.append(flat.table[flat.off[ccur] + slot])
        pid = np.concatenate(nxt_pid) if nxt_pid else pid[:0]
        cur = np.concatenate(nxt_cur) if nxt_cur else cur[:0]
    if hits:  # a packet copied by partition nodes may match in several leaves: keep the lowest rule id
        hp = np.concatenate([h[0] for h in hits])
        hr = np.concatenate([h[1] for h in hits])
        order = np.lexsort((hr, hp))
        hp, hr = hp[order], hr[order]
        first = np.ones(len(hp), bool)
        first[1:] = hp[1:] != hp[:-1]
        best[hp[first]] = hr[first]
    return best


def _match_leaves(flat: FlatTree, packets: np.ndarray, pid: np.ndarray, leaf: np.ndarray,
                  hits: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """Test leaf rules in priority order; each pair stops at its first match, appended to `hits`."""
    cnt = flat.count[leaf]
    start = flat.off[leaf]
    x_all = packets[pid]  # (pairs, 5), gathered once
    alive = np.flatnonzero(cnt > 0)
    j = 0
    while len(alive):
        r = flat.leaf_rules[start[alive] + j]
        x = x_all[alive]
        hit = ((x >= flat.rule_lo[r]) & (x <= flat.rule_hi[r])).all(axis=1)
        if hit.any():
            hits.append((pid[alive[hit]], r[hit]))
        j += 1
        alive = alive[~hit & (cnt[alive] > j)]


def classify(tree: Tree, packets: np.ndarray) -> np.ndarray:
    """Flatten `tree` and classify `packets` (n, 5): first matching rule id or -1 per packet."""
    return classify_flat(flatten(tree), packets)
