"""Address assignment by ClassBench's address trees (Taylor & Turner, "ClassBench: A Packet
Classification Benchmark", IEEE/ACM ToN 15(3), 2007, Section V-C; db_generator's sbintree/dbintree).

Every rule's prefix lengths are drawn first; the addresses are then grown as paths in a binary trie,
top down, all rules at once. At each node the rules whose prefix ends there take the node's address;
the rest go on to one child (probability `p1[level]`) or are split between two children so that the
light child holds `1 - 1/(2 - skew)` of them (`skew = 1 - light/heavy`). Once a path holds `nest - 1`
prefixes, rules ending one level down are kept on a side of their own, so no path nests more than
`nest` prefixes. That is how generated sets get the parameter file's prefix nesting and address-space
skew instead of independent random prefixes.

The destination trie (`destination_addresses`) first lets each rule's destination follow its source
address bit by bit while the level's correlation `corr[level]` holds (a rule whose source prefix ends
at the next level turns the other way, so the pair does not nest, as db_generator does); a rule whose
correlation breaks, or whose source prefix is used up, is left as a "stub" at that node and is placed
by the skew and branching statistics in a second pass that counts the stubs' weight.

Both walks take their random numbers from `BitStream` (the same values numpy's calls give, without
their per-call cost) and finish a lone rule's path in one draw.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ._bit_stream import BitStream
from ._params import AddressTree


def scaled(tree: AddressTree, factor: float) -> AddressTree:
    """db_generator's `-b` (scale_skew): for a rule set `factor` times the size the file was measured
    from, flatten the trie's top levels by a total "skew budget" of `factor`, so a larger set spreads
    over more of the address space instead of piling onto the seed's few prefixes. A level costs
    `2 ((1 - p2) + skew p2)` of the budget; whole levels are balanced (all two-child, skew 0) from the
    root down while the budget lasts, and the level where it runs out takes what is left from its
    one-child share first, then from its skew."""
    p1, p2, skew = list(tree.p1), list(tree.p2), list(tree.skew)
    budget = factor
    for lev in range(32):
        if budget <= 0:
            break
        cost = 2.0 * ((1.0 - p2[lev]) + skew[lev] * p2[lev])
        if cost <= budget:
            budget -= cost
            p1[lev], p2[lev], skew[lev] = 0.0, 1.0, 0.0
        elif cost - 2.0 * skew[lev] > budget:
            p2[lev] = ((cost - budget) / 2.0 - 1.0) / (skew[lev] - 1.0)
            p1[lev] = 1.0 - p2[lev]
            break
        else:
            p1[lev], p2[lev], skew[lev] = 0.0, 1.0, max(0.0, skew[lev] - budget / 2.0)
            break
    return AddressTree(tree.nest, _clip(p1), _clip(p2), _clip(skew))


def _clip(values: list[float]) -> tuple[float, ...]:
    return tuple(min(1.0, max(0.0, v)) for v in values)


def _lone(addr: int, lev: int, length: int, bits: BitStream) -> int:
    """The prefix of length `length` under the node (`addr`, `lev`) with uniformly random bits below."""
    if length <= lev:
        return addr
    return addr | (bits.bits(length - lev) << (32 - length))


def _children(addr: int, lev: int) -> tuple[int, int]:
    """The two children's addresses of the node at `lev` with address `addr` (bits below lev zero)."""
    return addr, addr | (1 << (31 - lev))


def _nest_split(rules: list[int], length: list[int], lev: int) -> tuple[list[int], list[int]] | None:
    """At the nesting limit, the rules whose prefix ends at `lev` get a side of their own: the larger
    of them and the others first (for the heavy side), then the smaller; None if none ends there."""
    ending = [q for q in rules if length[q] == lev]
    if not ending:
        return None
    others = [q for q in rules if length[q] != lev]
    return (ending, others) if len(ending) > len(others) else (others, ending)


def _grower(length: list[int], out: list[int], tree: AddressTree, stream: BitStream,
             heavy_first: bool) -> Callable[[int, int, list[int], int], None]:
    """`grow(lev, addr, rules, nest)`: place `rules` (prefix lengths `length`, in `out`) in the subtree at
    (`addr`, `lev`), a subtree no other rule reaches, by the tree's branching and skew; `nest` prefixes
    lie above it. The source trie is all one such subtree; the destination trie's second pass grows
    them below the nodes its first pass made (it visits the heavy child first, the source trie the light)."""
    p1, skew, limit = tree.p1, tree.skew, tree.nest - 1
    random, bits, floor = stream.random, stream.bits, math.floor

    def grow(lev: int, addr: int, rules: list[int], nest: int) -> None:
        if len(rules) <= 1:  # a single rule takes its path's bits at random in one draw (_lone, inlined: once a rule)
            if rules:
                q = rules[0]
                out[q] = addr if length[q] <= lev else addr | (bits(length[q] - lev) << (32 - length[q]))
            return
        rest = [q for q in rules if length[q] != lev]
        if len(rest) < len(rules):
            for q in rules:
                if length[q] == lev:
                    out[q] = addr
            nest += 1
            if len(rest) <= 1:
                grow(lev, addr, rest, nest)
                return
        one = addr | (1 << (31 - lev))
        heavy, light = (one, addr) if random() >= 0.5 else (addr, one)
        lev += 1
        if nest >= limit and lev < 32:
            split = _nest_split(rest, length, lev)
            if split:
                grow(lev, heavy, split[0], nest)
                grow(lev, light, split[1], nest)
                return
        if random() < p1[lev - 1]:
            grow(lev, heavy, rest, nest)
            return
        # two children, the light one with 1 - 1/(2 - skew) of the rules
        lite = len(rest) - floor(len(rest) / (2.0 - skew[lev - 1]))
        if heavy_first:
            grow(lev, heavy, rest[lite:], nest)
            grow(lev, light, rest[:lite], nest)
        else:
            grow(lev, light, rest[:lite], nest)
            grow(lev, heavy, rest[lite:], nest)

    return grow


def source_addresses(lengths: np.ndarray, tree: AddressTree, rng: np.random.Generator) -> np.ndarray:
    """Source prefixes (int64, host bits zero) for rules with these prefix lengths (sbintree)."""
    length = lengths.tolist()
    out = [0] * len(length)
    with BitStream(rng) as stream:  # closed on an exception too: rng is left as its draws so far leave it
        _grower(length, out, tree, stream, heavy_first=False)(0, 0, list(range(len(length))), 0)
    return np.array(out, dtype=np.int64)


# From this many rules on, the first pass sorts a node's rules with numpy.
_LARGE = 64


class _Node:
    """A destination trie node: its stubs (rules to place from here) and its children's weights."""

    __slots__ = ("kids", "stubs", "valid", "weight")

    def __init__(self) -> None:
        self.kids: list[_Node | None] = [None, None]
        self.weight = [0, 0]
        self.stubs: list[int] = []
        self.valid = False

    def kid(self, side: int) -> _Node:
        if self.kids[side] is None:
            self.kids[side] = _Node()
        return self.kids[side]  # type: ignore[return-value]


def destination_addresses(dst_lengths: np.ndarray, src_lengths: np.ndarray, src: np.ndarray,
                          tree: AddressTree, corr: tuple[float, ...], rng: np.random.Generator) -> np.ndarray:
    """Destination prefixes (int64, host bits zero) given the rules' source prefixes (dbintree)."""
    dlen, slen, sa = dst_lengths.tolist(), src_lengths.tolist(), src.tolist()
    out = [0] * len(dlen)
    p1, skew, limit = tree.p1, tree.skew, tree.nest - 1
    stream = BitStream(rng)
    random = stream.random
    grow = _grower(dlen, out, tree, stream, heavy_first=True)

    def stub(node: _Node, lev: int, addr: int, rules: list[int], nest: int) -> None:
        """First pass: follow the source address while the correlation holds; leave stubs."""
        rest = [q for q in rules if dlen[q] != lev]
        if len(rest) < len(rules):  # the rules whose prefix ends here take its address
            for q in rules:
                if dlen[q] == lev:
                    out[q] = addr
            node.valid = True
        nest += node.valid
        if len(rest) > 1 and nest >= limit and lev < 31 and any(dlen[q] == lev + 1 for q in rest):
            node.stubs.extend(rest)  # at the nesting limit: the second pass keeps these apart
            return
        used, away, follow = (sort_large if len(rest) >= _LARGE else sort_small)(rest, lev)
        node.stubs.extend(used)  # the source prefix is used up: placed by skew alone
        for side in (0, 1):
            if away[side]:
                node.kid(side).stubs.extend(away[side])
                node.weight[side] += len(away[side])
        kids = _children(addr, lev)
        for side in (0, 1):
            if follow[side]:
                node.weight[side] += len(follow[side])
                stub(node.kid(side), lev + 1, kids[side], follow[side], nest)

    # One uniform draw (the correlation test) per rule whose source prefix goes on past lev + 1, in the
    # rules' order. A rule whose source prefix ends one level down turns away (so the pair does not nest),
    # as does one whose correlation breaks: a stub on the other side of its source's bit.
    def sort_small(rest: list[int], lev: int) -> tuple[list[int], list[list[int]], list[list[int]]]:
        """The rules at a node of the first pass: source used up, stubs to each side, rules following
        the source to each side (each in the rules' order)."""
        used: list[int] = []
        away: list[list[int]] = [[], []]
        follow: list[list[int]] = [[], []]
        u = iter(stream.randoms(sum(slen[q] > lev + 1 for q in rest)))
        c = corr[lev + 1] if lev < 32 else 0.0
        for q in rest:
            if slen[q] <= lev:
                used.append(q)
                continue
            bit = (sa[q] >> (31 - lev)) & 1
            if slen[q] == lev + 1 or next(u) > c:
                away[1 - bit].append(q)
            else:
                follow[bit].append(q)
        return used, away, follow

    def sort_large(rest: list[int], lev: int) -> tuple[list[int], list[list[int]], list[list[int]]]:
        """`sort_small` with numpy, for many rules (the same draws, the same lists)."""
        rows = np.array(rest)
        live = src_lengths[rows] > lev
        used, rows = rows[~live].tolist(), rows[live]
        bit = (src[rows] >> (31 - lev)) & 1
        drawn = src_lengths[rows] > lev + 1
        turn = ~drawn
        turn[drawn] = np.array(stream.randoms(int(np.count_nonzero(drawn)))) > (corr[lev + 1] if lev < 32 else 0.0)
        return (used, [rows[turn & (bit == 1)].tolist(), rows[turn & (bit == 0)].tolist()],
                [rows[~turn & (bit == 0)].tolist(), rows[~turn & (bit == 1)].tolist()])

    def descend(node: _Node, side: int, lev: int, addr: int, rules: list[int], nest: int) -> None:
        """Finish `node`'s child on `side` (at `lev`, address `addr`) with `rules` handed down. A child
        the first pass never made holds no stubs and no weight: `grow` does there what `finish` would,
        without a node per level."""
        if node.kids[side] is None:
            grow(lev, addr, rules, nest)
        else:
            finish(node.kids[side], lev, addr, rules, nest)

    def finish(node: _Node, lev: int, addr: int, rules: list[int], nest: int) -> None:
        """Second pass: place the stubs and the rules handed down by branching and skew."""
        if node.stubs:
            rules = rules + node.stubs
            node.stubs = []
        rest = [q for q in rules if dlen[q] != lev]
        if len(rest) < len(rules):  # the rules whose prefix ends here take its address
            for q in rules:
                if dlen[q] == lev:
                    out[q] = addr
            node.valid = True
        nest += node.valid
        if lev == 32:  # every rule that reached a leaf ends there
            return
        if len(rest) == 1 and node.kids == [None, None]:
            # A lone rule in an empty subtree: one child or two, its side is a coin toss at every level.
            out[rest[0]] = _lone(addr, lev, dlen[rest[0]], stream)
            return
        kids = _children(addr, lev)
        if not rest:
            for side in (0, 1):
                if node.weight[side] > 0:
                    finish(node.kid(side), lev + 1, kids[side], [], nest)
            return
        w0, w1 = node.weight
        path = 0 if w0 > w1 else 1 if w1 > w0 else int(random() >= 0.5)
        if len(rest) > 1 and nest >= limit and lev < 31:
            split = _nest_split(rest, dlen, lev + 1)
            if split:
                big, small = split
                node.weight[path] += len(big)
                node.weight[1 - path] += len(small)
                descend(node, path, lev + 1, kids[path], big, nest)
                descend(node, 1 - path, lev + 1, kids[1 - path], small, nest)
                return
        if random() < p1[lev] and None in node.kids:
            # One child: the one that already holds stubs, else the heavy side.
            side = 0 if node.kids[0] is not None else 1 if node.kids[1] is not None else path
            node.weight[side] += len(rest)
            descend(node, side, lev + 1, kids[side], rest, nest)
            return
        # Two children: split so that the whole subtree (stubs included) has the level's skew.
        total = len(rest) + w0 + w1
        heavy = math.floor(total / (2.0 - skew[lev]))
        d_heavy, d_lite = heavy - node.weight[path], (total - heavy) - node.weight[1 - path]
        if d_lite <= 0 or d_heavy <= 0:
            side = path if d_lite <= 0 else 1 - path
            node.weight[side] += len(rest)
            descend(node, side, lev + 1, kids[side], rest, nest)
            if node.weight[1 - side] > 0:
                finish(node.kid(1 - side), lev + 1, kids[1 - side], [], nest)
            return
        node.weight[path] += d_heavy
        node.weight[1 - path] += d_lite
        descend(node, path, lev + 1, kids[path], rest[d_lite:], nest)
        descend(node, 1 - path, lev + 1, kids[1 - path], rest[:d_lite], nest)

    root = _Node()
    with stream:  # closed on an exception too: rng is left as its draws so far leave it
        stub(root, 0, 0, list(range(len(dlen))), 0)
        finish(root, 0, 0, [], 0)
    return np.array(out, dtype=np.int64)
