"""The last stage of db_generator's custom mode, applied to a drawn rule set: each rule's flags
(value/mask) drawn from its protocol's `-flags` specifications (FlagList.cc), and the order the rules
are written in (remove_redundant_filters with its TupleBST, TupleBST.cc: tuples from the most
specific scope, each tuple's rules together).
"""
from __future__ import annotations

import math

import numpy as np


class FlagTable:
    """One protocol's flag specifications (value, mask) and their cumulative probabilities, the last
    set to 1 as db_generator's FlagList does; a rule takes the first spec whose cumulative probability
    is above its uniform draw."""

    __slots__ = ("cum", "values")

    def __init__(self, specs: list[tuple[int, int, float]] | tuple[tuple[int, int, float], ...]) -> None:
        self.values = np.array([(v, m) for v, m, _ in specs], dtype=np.int64).reshape(-1, 2)
        self.cum = np.cumsum([p for _, _, p in specs], dtype=np.float64)
        self.cum[-1] = 1.0


def draw_flags(rng: np.random.Generator, tables: dict[int, FlagTable], rules: np.ndarray) -> np.ndarray:
    """(n, 2) flags value and mask of the rules: one uniform draw per rule, in order, through its
    protocol's table (FlagList::choose; 0x0000/0x0000 for a protocol without one)."""
    u = rng.random(len(rules))
    proto = np.where(rules[:, 8] == rules[:, 9], rules[:, 8], 0)  # 0: any protocol, as the files write it
    out = np.zeros((len(rules), 2), dtype=np.int64)
    for p, table in tables.items():
        rows = np.flatnonzero(proto == p)
        pick = np.searchsorted(table.cum, u[rows], side="right")
        out[rows] = table.values[np.minimum(pick, len(table.cum) - 1)]
    return out


def db_order(rules: np.ndarray, src_len: np.ndarray, dst_len: np.ndarray, flags: np.ndarray) -> np.ndarray:
    """The order db_generator writes the rules in: grouped by tuple (source and destination prefix
    lengths, source and destination port range widths, protocol given or not, flags mask given or not),
    the tuples by scope `int((32 - sl) + (32 - dl) + log2 spw + log2 dpw + 8 (1 - proto) + (1 - flag))`
    from the most specific, tuples of equal scope in the order their first rule was drawn (TupleBST
    inserts an equal scope to the right, so its in-order walk keeps insertion order), and the rules of a
    tuple in the order they were drawn."""
    s_wid, d_wid = rules[:, 5] - rules[:, 4] + 1, rules[:, 7] - rules[:, 6] + 1
    proto = (rules[:, 8] == rules[:, 9]).astype(np.int64)
    flag = (flags[:, 1] > 0).astype(np.int64)
    scope = (64 - src_len - dst_len).astype(np.float64)
    for wid in (s_wid, d_wid):  # log(w) / log(2) as db_generator computes it (C's log, in double)
        widths, at = np.unique(wid, return_inverse=True)
        scope = scope + np.array([math.log(w) / math.log(2) for w in widths.tolist()])[at.ravel()]
    scope = np.floor(scope + 8 * (1 - proto) + (1 - flag)).astype(np.int64)  # non-negative: int() truncates
    # the tuple as one number: lengths 6 bits each, widths (up to 65536) 17 bits each, then proto and flag
    key = ((((src_len << 6 | dst_len) << 17 | s_wid) << 17 | d_wid) << 1 | proto) << 1 | flag
    _, first, tuple_id = np.unique(key, return_index=True, return_inverse=True)
    return np.lexsort((np.arange(len(rules)), first[tuple_id.ravel()], scope))
