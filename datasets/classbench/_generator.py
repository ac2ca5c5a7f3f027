"""A ClassBench-style rule generator: acl, fw and ipc flavours at any size, seeded.

It follows db_generator's custom mode (Taylor & Turner, "ClassBench: A Packet Classification
Benchmark", IEEE/ACM ToN 15(3), 2007): each rule draws a protocol, then the protocol's source /
destination port class pair, ports of those classes, and the pair's joint source/destination prefix
lengths (after the smoothing `r` of `_smoothing.py`, with the address and port scope bias); the
addresses are then grown for all rules at once down ClassBench's address trees (`_address_trees.py`),
so rule sets get the parameter file's prefix nesting, per-level branching and skew, and source /
destination correlation. Duplicate rules are dropped. Each rule then draws its flags (value/mask) from
its protocol's `-flags` table, and the set is written in db_generator's order (both in `_db_output.py`).

With a parameter file (`GeneratorConfig.params`) all of this comes from the file. Without one, the
family's mixes below are used: they were measured once from the public ClassBench parameter files
(acl1-5, fw1-5, ipc1-2 seeds: protocol shares, port class pairs among TCP and UDP rules, joint
source / destination prefix lengths weighted by those classes, common exact ports and ranges, address
trie statistics per level), averaged per family and rounded; the numbers ship here so that nothing outside the repo is
needed.
"""
from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from numbers import Integral, Real
from socket import inet_ntoa

import numpy as np

from ._address_trees import destination_addresses, scaled, source_addresses
from ._db_output import FlagTable, db_order, draw_flags
from ._params import PAIR_CLASSES, AddressTree, read_params
from ._smoothing import smooth

KINDS = ("acl", "fw", "ipc")

# Port classes: WC any, HI 1024-65535, LO 0-1023, AR an arbitrary range, EM one port.
# Shares among TCP and UDP rules only (the other protocols have no ports), averaged over the
# family's seeds that have TCP or UDP rules (fw2 has none). Pairs under 1% are left out.
_PAIRS = {  # (source class, destination class): share, for TCP/UDP rules
    "acl": {("WC", "EM"): 0.69, ("WC", "WC"): 0.125, ("WC", "AR"): 0.115, ("WC", "HI"): 0.07},
    "fw": {("WC", "EM"): 0.48, ("EM", "HI"): 0.17, ("EM", "WC"): 0.115, ("WC", "WC"): 0.09,
           ("HI", "HI"): 0.065, ("HI", "EM"): 0.03, ("EM", "EM"): 0.015, ("EM", "LO"): 0.015,
           ("AR", "HI"): 0.01},
    "ipc": {("WC", "EM"): 0.42, ("EM", "WC"): 0.255, ("EM", "EM"): 0.215, ("WC", "HI"): 0.05,
            ("WC", "WC"): 0.02, ("WC", "AR"): 0.02, ("AR", "WC"): 0.015},
}
_PROTOS = {  # protocol: share (0 = any protocol)
    "acl": {6: 0.58, 17: 0.20, 0: 0.13, 1: 0.08, 89: 0.01},
    "fw": {6: 0.36, 17: 0.22, 7: 0.12, 1: 0.085, 0: 0.075, 2: 0.07, 8: 0.03, 4: 0.03, 47: 0.01},
    "ipc": {17: 0.32, 0: 0.31, 1: 0.19, 6: 0.18},
}
# Joint source / destination prefix lengths, as the parameter files give them (per port class pair:
# the pairs' tables weighted by their shares, averaged over the family's seeds); pairs under 0.2% are
# left out. Drawn as two independent marginals instead, fw rules got both addresses wildcards twice as
# often (22% against the seeds' 10%) and a wildcard source with a host destination less often.
_LENGTHS = {  # (source length, destination length): share
    "acl": {(0, 0): 0.01, (0, 24): 0.011, (0, 32): 0.031, (12, 24): 0.004, (12, 32): 0.019, (13, 27): 0.002,
            (13, 32): 0.005, (15, 32): 0.002, (16, 0): 0.002, (16, 24): 0.005, (16, 27): 0.004,
            (16, 28): 0.003, (16, 32): 0.054, (19, 32): 0.008, (20, 32): 0.003, (21, 0): 0.005,
            (21, 32): 0.005, (22, 32): 0.003, (23, 0): 0.005, (23, 16): 0.004, (23, 27): 0.002,
            (23, 32): 0.021, (24, 0): 0.014, (24, 11): 0.002, (24, 12): 0.006, (24, 16): 0.009,
            (24, 24): 0.007, (24, 27): 0.006, (24, 28): 0.003, (24, 32): 0.064, (25, 32): 0.005,
            (26, 31): 0.003, (26, 32): 0.016, (27, 26): 0.004, (27, 27): 0.015, (27, 31): 0.005,
            (27, 32): 0.024, (28, 32): 0.008, (29, 32): 0.006, (30, 22): 0.003, (30, 32): 0.005,
            (31, 32): 0.013, (32, 0): 0.008, (32, 12): 0.005, (32, 16): 0.014, (32, 22): 0.01,
            (32, 24): 0.023, (32, 27): 0.008, (32, 28): 0.018, (32, 31): 0.005, (32, 32): 0.427},
    "fw": {(0, 0): 0.1, (0, 23): 0.011, (0, 24): 0.071, (0, 25): 0.008, (0, 28): 0.01, (0, 32): 0.343,
            (8, 0): 0.004, (12, 0): 0.003, (16, 0): 0.015, (16, 24): 0.003, (21, 0): 0.012, (21, 32): 0.003,
            (23, 0): 0.015, (24, 0): 0.094, (24, 24): 0.005, (24, 32): 0.011, (27, 0): 0.004, (28, 0): 0.003,
            (28, 28): 0.004, (28, 32): 0.003, (30, 0): 0.005, (30, 32): 0.003, (32, 0): 0.144,
            (32, 21): 0.011, (32, 28): 0.003, (32, 30): 0.003, (32, 32): 0.106},
    "ipc": {(0, 0): 0.003, (0, 24): 0.01, (0, 32): 0.283, (16, 24): 0.009, (16, 32): 0.007, (17, 24): 0.004,
            (22, 16): 0.003, (22, 24): 0.005, (23, 16): 0.004, (23, 24): 0.019, (23, 26): 0.003,
            (23, 32): 0.042, (24, 0): 0.013, (24, 16): 0.015, (24, 23): 0.003, (24, 24): 0.048,
            (24, 25): 0.003, (24, 26): 0.01, (24, 28): 0.005, (24, 32): 0.07, (25, 24): 0.003,
            (25, 32): 0.002, (26, 16): 0.002, (26, 24): 0.01, (26, 28): 0.004, (26, 32): 0.005,
            (28, 16): 0.004, (28, 24): 0.002, (28, 26): 0.004, (30, 32): 0.002, (31, 32): 0.002,
            (32, 0): 0.062, (32, 16): 0.006, (32, 24): 0.026, (32, 25): 0.004, (32, 26): 0.012,
            (32, 32): 0.25},
}

_EXACT = {
    "acl": (80, 161, 25, 443, 53, 1521, 123, 135, 8080, 23, 514, 139, 9161, 69, 4000),
    "fw": (53, 80, 22, 25, 123, 21, 443, 23, 79, 750, 514, 20, 110, 161, 88),
    "ipc": (123, 22, 69, 514, 80, 53, 25, 1433, 137, 143, 162, 113, 139, 161, 9003),
}
_RANGES = {
    "acl": ((1025, 65535), (20, 21), (137, 138), (1500, 1502), (1600, 1649), (1300, 1349), (4120, 5120)),
    "fw": ((33434, 33600), (40000, 65535), (6660, 6669), (6000, 6099), (514, 1023), (1025, 65535)),
    "ipc": ((20, 23), (109, 110), (20, 21), (1645, 1646), (1812, 1813), (5000, 5001), (20, 2511)),
}

_FLAGS = {  # protocol: {(flags value, mask): share}; a protocol not listed has none (0x0000/0x0000)
    "acl": {6: {(0x0000, 0x0000): 0.94, (0x0000, 0x0200): 0.03, (0x1000, 0x1000): 0.03},
            1: {(0x0000, 0x0000): 0.60, (0x0800, 0xFF00): 0.265, (0x0000, 0xFF00): 0.065, (0x0303, 0xFFFF): 0.065}},
    "fw": {6: {(0x0200, 0x1200): 0.70, (0x0000, 0x0000): 0.27},
           1: {(0x0000, 0x0000): 0.565, (0x0D00, 0xFF00): 0.11, (0x0F00, 0xFF00): 0.11, (0x1100, 0xFF00): 0.11,
               (0x0800, 0xFF00): 0.055, (0x0000, 0xFF00): 0.055}},
    "ipc": {6: {(0x0000, 0x0000): 0.795, (0x0000, 0x0200): 0.205},
            1: {(0x0500, 0xFF00): 0.235, (0x0300, 0xFF00): 0.10, (0x0400, 0xFF00): 0.10, (0x0B00, 0xFF00): 0.10,
                (0x0C00, 0xFF00): 0.10, (0x0E00, 0xFF00): 0.10, (0x0000, 0xFF00): 0.10, (0x0800, 0xFF00): 0.10,
                (0x0000, 0x0000): 0.08}},
}

# Address trie statistics per level 0..32 (`-sskew` / `-dskew`: share of one-child nodes, mean skew
# of two-child nodes), the deepest nesting (`-snest` / `-dnest`, mean rounded) and the source /
# destination correlation per level (`-pcorr`), averaged over the family's seed files.
# `-scale`: the size of the rule sets the statistics were measured from (the family's mean).
_SCALE = {"acl": 2275, "fw": 192, "ipc": 947}
_TREES = {  # family: (source nest, destination nest, 5 x 33 numbers: source p1, source skew,
    #                    destination p1, destination skew, correlation)
    "acl": (5, 4, """
        0 .40 .55 .64 .59 .77 .77 .87 .90 .95 .91 .92 .92 .92 .94 .95 .83 .84 .86 .85 .83 .84 .85 .91
            .79 .73 .73 .76 .73 .73 .77 .87 0
        .71 .72 .79 .74 .78 .81 .83 .72 .89 .77 .73 .74 .67 .67 .58 .71 .69 .72 .67 .69 .64 .60 .65 .56
            .55 .54 .51 .53 .45 .41 .31 .28 .28
        0 .20 .48 .61 .59 .82 .87 .89 .87 .92 .93 .89 .83 .91 .87 .94 .83 .87 .85 .87 .80 .84 .88 .86
            .79 .83 .76 .82 .83 .84 .82 .82 0
        .76 .80 .70 .89 .84 .83 .71 .80 .76 .75 .80 .57 .68 .79 .73 .76 .75 .79 .66 .68 .66 .64 .62 .45
            .49 .56 .58 .50 .44 .38 .27 .26 .26
        0 .59 .58 .69 .76 .73 .75 .78 .79 .80 .79 .76 .76 .71 .79 .62 .67 .69 .57 .75 .49 .49 .23 .40
            .20 .20 .20 .11 .20 .20 .17 .12 .20
    """),
    "fw": (4, 4, """
        .20 .60 .93 .82 .59 .87 .86 .93 .67 .95 .97 .97 .97 1 1 .98 1 1 .89 .92 .94 .83 .83 .82 .72 .81
            .72 .84 .88 .86 .89 .97 0
        .98 .97 .97 .40 .76 .78 .82 .60 .88 .60 .84 .90 .82 1 1 .80 1 1 .78 .99 .89 .70 .63 .74 .61 .74
            .46 .47 .71 .55 .38 .70 .70
        .40 .50 .90 .90 .60 .96 .95 .86 .80 1 .97 1 1 1 1 .98 .89 1 .92 .92 .94 .81 .81 .76 .84 .85 .76
            .87 .85 .81 .89 .92 0
        1 .85 .99 .99 .89 .94 1 .56 .94 1 .80 1 1 1 1 .85 .92 1 .79 .98 .94 .69 .64 .61 .78 .77 .46 .62
            .74 .50 .46 .39 .39
        0 1 .77 1 1 .80 .80 .73 .80 .80 .80 .80 .80 .80 .80 .80 .80 .80 .80 .76 .80 .70 .20 .33 .40 .40
            .40 .40 0 0 0 0 0
    """),
    "ipc": (4, 4, """
        .50 .50 .75 .33 .62 .68 .96 .96 .87 .74 .94 .94 .97 1 .95 .98 .73 .91 .92 .93 .96 .98 .89 .98
            .88 .83 .81 .80 .86 .87 .89 .94 0
        .50 .74 .96 .60 .69 .17 .68 .99 .86 .82 .86 .83 .83 1 .74 .54 .58 .80 .74 .84 .72 .79 .51 .67
            .64 .62 .52 .58 .39 .21 .36 .61 .61
        0 .25 .88 .63 .79 .68 .96 1 .87 .88 1 1 1 1 .95 .98 .75 .95 .98 .97 .96 1 .90 .99 .71 .82 .74
            .75 .81 .87 .88 .95 0
        .36 .58 .82 .88 .91 .37 .89 1 .60 .77 1 1 1 1 .72 .92 .31 .59 .88 .74 .63 1 .20 .50 .64 .57 .57
            .66 .42 .46 .17 .80 .80
        0 .39 .75 .99 .63 .74 .84 .99 1 .89 .87 1 1 1 1 1 1 .56 .94 1 1 .98 1 .86 1 .52 1 .50 .50 .50
            .25 0 0
    """),
}


#: The port classes that are one fixed range.
_FIXED = {"WC": (0, 65535), "HI": (1024, 65535), "LO": (0, 1023)}
#: The port class pair table of a protocol without ports (or without port classes in the file).
_PORTLESS = {("WC", "WC"): 1.0}


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split())


def _family_tree(nest: int, p1: tuple[float, ...], skew: tuple[float, ...]) -> AddressTree:
    return AddressTree(nest, p1, tuple(1.0 - v for v in p1), skew)


@dataclass(frozen=True)
class GeneratorConfig:
    """What to generate."""

    kind: str = "acl"
    """Family: acl, fw or ipc (its mixes are used where no parameter file is given, and its address
    trees where the file has none)."""
    size: int = 1000
    """Number of rules (distinct)."""
    seed: int = 1
    """Random seed; the same config always gives the same rules."""
    params: str | None = None
    """A ClassBench parameter file (e.g. acl1_seed) whose distributions replace the family's."""
    smoothness: int = 0
    """db_generator's smoothing r, 0..64: each joint prefix-length spike spreads binomially over the
    lengths within Manhattan distance r (0: the lengths exactly as given)."""
    address_scope: float = 0.0
    """db_generator's address scope, -1..1: > 0 favours shorter (less specific) prefix pairs, < 0 longer."""
    port_scope: float = 0.0
    """db_generator's port scope, -1..1: > 0 favours wider port class pairs (WC-WC first), < 0 narrower."""
    scale_branching: bool = True
    """db_generator's -b: past the size the statistics were measured from (`-scale`), flatten the
    address tries' top levels in proportion (as ClassBench's published and NeuroCuts' sets were made)."""

    def __post_init__(self) -> None:
        for name in ("size", "seed", "smoothness"):  # a float here failed deep inside numpy (TypeError)
            value = getattr(self, name)
            if not isinstance(value, Integral) or isinstance(value, bool):
                raise ValueError(f"{name} must be an integer, got {value!r}")
        for name in ("address_scope", "port_scope"):
            if not isinstance(getattr(self, name), Real) or isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be a number, got {getattr(self, name)!r}")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.size < 1:
            raise ValueError(f"size must be >= 1, got {self.size}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if not 0 <= self.smoothness <= 64:
            raise ValueError(f"smoothness must be within 0..64, got {self.smoothness}")
        for name in ("address_scope", "port_scope"):
            if not -1.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within -1..1, got {getattr(self, name)}")


@dataclass(frozen=True)
class _Model:
    """Everything a rule is drawn from: a parameter file's, or a family's (its address trees already
    scaled to the configured size)."""

    protocols: dict[int, float]
    pairs: dict[int, dict[tuple[str, str], float]]  # every protocol's, none empty
    lengths: dict[tuple[str, str], _LengthTable]
    fallback_lengths: _LengthTable
    src_tree: AddressTree
    dst_tree: AddressTree
    corr: tuple[float, ...]
    ports: tuple[_Weighted | None, _Weighted | None, _Weighted | None, _Weighted | None]
    """The file's source exact ports and ranges, then its destination ones (None: the family's)."""
    scale: int
    flags: dict[int, FlagTable]
    """Protocol -> its flag specifications (a protocol not in it has none)."""


def _model(config: GeneratorConfig) -> _Model:
    s_nest, d_nest, table = _TREES[config.kind]
    numbers = _floats(table)
    s_p1, s_skew, d_p1, d_skew, corr = (numbers[33 * i:33 * (i + 1)] for i in range(5))
    src_tree, dst_tree = _family_tree(s_nest, s_p1, s_skew), _family_tree(d_nest, d_p1, d_skew)
    if config.params is None:
        joint = _LENGTHS[config.kind]
        pairs = {p: (_PAIRS[config.kind] if p in (6, 17) else _PORTLESS) for p in _PROTOS[config.kind]}
        joint = smooth(joint, config.smoothness)
        return _Model(_PROTOS[config.kind], pairs, {}, _LengthTable(joint),
                      *_grown_trees(config, src_tree, dst_tree, _SCALE[config.kind]), corr, (None,) * 4,
                      _SCALE[config.kind], {p: FlagTable([(v, m, share / sum(table.values()))
                                                           for (v, m), share in table.items()])
                                            for p, table in _FLAGS[config.kind].items()})
    params = read_params(config.params)
    src_marg, dst_marg = params.length_shares()
    fallback = {(s, d): vs * vd for s, vs in (src_marg or {32: 1.0}).items()
                for d, vd in (dst_marg or {32: 1.0}).items()}
    lengths = {pair: _LengthTable(smooth(joint, config.smoothness)) for pair, joint in params.lengths.items()
               if sum(joint.values()) > 0}
    if params.src_tree is not None and params.dst_tree is not None:  # a file without trees: the family's
        src_tree, dst_tree, corr = params.src_tree, params.dst_tree, params.corr
    scale = params.scale or _SCALE[config.kind]
    pairs = {p: params.pairs.get(p) or _PORTLESS for p in params.protocols}  # no port class given: any ports
    ports = tuple(map(_weighted, (params.sport_exact, params.sport_ranges, params.dport_exact, params.dport_ranges)))
    return _Model(params.protocols, pairs, lengths, _LengthTable(smooth(fallback, config.smoothness)),
                  *_grown_trees(config, src_tree, dst_tree, scale), tuple(corr), ports, scale,  # type: ignore[arg-type]
                  {p: FlagTable(specs) for p, specs in params.flags.items()})


def _grown_trees(config: GeneratorConfig, src_tree: AddressTree, dst_tree: AddressTree,
                 scale: int) -> tuple[AddressTree, AddressTree]:
    """The address trees the rules grow down: flattened for a set larger than `scale` (db_generator's -b)."""
    if config.scale_branching and config.size > scale:
        return scaled(src_tree, config.size / scale), scaled(dst_tree, config.size / scale)
    return src_tree, dst_tree


def _choice(rng: np.random.Generator, table: dict, n: int) -> list:
    keys = list(table)
    p = np.array([table[k] for k in keys], dtype=np.float64)
    return [keys[i] for i in rng.choice(len(keys), size=n, p=p / p.sum())]


class _Weighted:
    """A table's keys and cumulative weights, to draw one key at a time by inverse CDF (ports are drawn
    one rule at a time, interleaved with the other draws)."""

    __slots__ = ("cum", "keys")

    def __init__(self, table: dict) -> None:
        self.keys = list(table)
        self.cum = np.cumsum([table[k] for k in self.keys], dtype=np.float64).tolist()

    def pick(self, rng: np.random.Generator):
        # bisect_right on the same doubles is numpy's searchsorted(side="right"), without its call cost
        return self.keys[min(bisect_right(self.cum, rng.random() * self.cum[-1]), len(self.keys) - 1)]


def _weighted(table: dict | None) -> _Weighted | None:
    """The table ready to draw from; None for a missing or empty one (the family's ports are used)."""
    return _Weighted(table) if table else None


def _scoped(u: np.ndarray, scope: float) -> np.ndarray:
    """db_generator's random_scope: u (0..1) bent towards 0 (scope > 0) or 1 (scope < 0); with the
    choices ordered from widest to narrowest, > 0 favours wide ones."""
    return u * (scope * u - scope + 1.0)


def _inverse_cdf(weights: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Indices drawn by inverse CDF of `weights` (in their order) at the points `u` (0..1)."""
    cum = np.cumsum(weights)
    return np.minimum(np.searchsorted(cum, u * cum[-1], side="left"), len(weights) - 1)


class _LengthTable:
    """A joint (source, destination) prefix-length table ready to draw from: its total lengths and
    their weights, and per total the source lengths and their weights, in ascending order."""

    __slots__ = ("by_total", "sources", "total_w", "weights")

    def __init__(self, joint: dict[tuple[int, int], float]) -> None:
        keys = sorted(joint, key=lambda sd: (sd[0] + sd[1], sd[0]))
        totals = np.array([s + d for s, d in keys])
        weights = np.array([joint[k] for k in keys], dtype=np.float64)
        self.by_total = np.unique(totals)
        self.total_w = np.array([weights[totals == t].sum() for t in self.by_total])
        self.sources: dict[int, np.ndarray] = {}
        self.weights: dict[int, np.ndarray] = {}
        for t in self.by_total.tolist():
            cand = np.flatnonzero(totals == t)
            self.sources[t] = np.array([keys[i][0] for i in cand])
            self.weights[t] = weights[cand]

    def draw(self, rng: np.random.Generator, n: int, scope: float) -> tuple[np.ndarray, np.ndarray]:
        """`n` (source, destination) prefix lengths: the total length by inverse CDF from the shortest
        (scope-biased, as db_generator chooses it), then the source length given the total."""
        t = self.by_total[_inverse_cdf(self.total_w, _scoped(rng.random(n), scope))]
        src = np.empty(n, dtype=np.int64)
        for tv in np.unique(t).tolist():
            rows = np.flatnonzero(t == tv)
            src[rows] = self.sources[tv][_inverse_cdf(self.weights[tv], rng.random(len(rows)))]
        return src, t - src


def _ports(rng: np.random.Generator, cls: str, kind: str, exact: _Weighted | None = None,
           ranges: _Weighted | None = None) -> tuple[int, int]:
    """A port range of class `cls`, EM or AR (the classes that draw; WC, HI and LO are `_FIXED`, which
    `_draw` takes without a call): from `exact` / `ranges` when given (a parameter file's), else from
    the family's common ports."""
    if cls == "EM" and exact is not None:
        p = int(exact.pick(rng))
        return p, p
    if cls == "AR" and ranges is not None:
        return tuple(int(x) for x in ranges.pick(rng))  # type: ignore[return-value]
    if cls == "EM":
        common = _EXACT[kind]
        p = int(common[min(rng.zipf(1.5) - 1, len(common) - 1)]) if rng.random() < 0.7 else int(rng.integers(0, 65536))
        return p, p
    if rng.random() < 0.6:
        lo, hi = _RANGES[kind][int(rng.integers(0, len(_RANGES[kind])))]
        return lo, hi
    lo = int(rng.integers(0, 65000))
    return lo, min(65535, lo + int(rng.integers(1, 1000)))


def _draw(rng: np.random.Generator, model: _Model, config: GeneratorConfig, n: int,
          boost: dict[tuple[int, int], float]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`n` candidate rules (n, 10), their classes (protocol * 32 + port class pair index) and their
    source and destination prefix lengths: protocol, port class pair, ports and prefix lengths per
    rule, then the addresses of all of them down the address trees. `boost` multiplies the odds of a
    class (to make up for its duplicates)."""
    weights = {}
    for proto, share in model.protocols.items():
        table = model.pairs[proto]
        total = sum(table.values()) or 1.0
        boosted = sum(v * boost.get((proto, PAIR_CLASSES.index(c)), 1.0) for c, v in table.items())
        weights[proto] = share * boosted / total
    protos = np.array(_choice(rng, weights, n), dtype=np.int64)
    u_pair = _scoped(rng.random(n), config.port_scope)
    pair_idx = np.zeros(n, dtype=np.int64)
    for proto in np.unique(protos):
        table = model.pairs[int(proto)]
        order = [PAIR_CLASSES.index(c) for c in PAIR_CLASSES if c in table]  # db_generator's: WC-WC first
        odds = np.array([table[PAIR_CLASSES[c]] * boost.get((int(proto), c), 1.0) for c in order])
        rows = np.flatnonzero(protos == proto)
        pair_idx[rows] = np.array(order)[_inverse_cdf(odds, u_pair[rows])]
    slen = np.empty(n, dtype=np.int64)
    dlen = np.empty(n, dtype=np.int64)
    for c in np.unique(pair_idx):
        rows = np.flatnonzero(pair_idx == c)
        joint = model.lengths.get(PAIR_CLASSES[c], model.fallback_lengths)
        slen[rows], dlen[rows] = joint.draw(rng, len(rows), config.address_scope)
    s_exact, s_ranges, d_exact, d_ranges = model.ports
    sports, dports = [], []
    for c in pair_idx.tolist():  # WC, HI and LO draw nothing: no call for them
        s_cls, d_cls = PAIR_CLASSES[c]
        sports.append(_FIXED.get(s_cls) or _ports(rng, s_cls, config.kind, s_exact, s_ranges))
        dports.append(_FIXED.get(d_cls) or _ports(rng, d_cls, config.kind, d_exact, d_ranges))
    src = source_addresses(slen, model.src_tree, rng)
    dst = destination_addresses(dlen, slen, src, model.dst_tree, model.corr, rng)
    out = np.empty((n, 10), dtype=np.int64)
    out[:, 0], out[:, 1] = src, src + (np.int64(1) << (32 - slen)) - 1
    out[:, 2], out[:, 3] = dst, dst + (np.int64(1) << (32 - dlen)) - 1
    out[:, 4:6], out[:, 6:8] = np.array(sports).reshape(n, 2), np.array(dports).reshape(n, 2)
    out[:, 8] = np.where(protos == 0, 0, protos)
    out[:, 9] = np.where(protos == 0, 255, protos)
    return out, protos * 32 + pair_idx, slen, dlen


def _first_copies(rows: np.ndarray) -> np.ndarray:
    """Indices of the rows that do not repeat an earlier row, ascending (what np.unique(axis=0,
    return_index=True) gives, sorted, without its sort of whole rows)."""
    order = np.lexsort(rows.T[::-1])  # stable: each run of equal rows starts with its first copy
    ordered = rows[order]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = (ordered[1:] != ordered[:-1]).any(axis=1)
    return np.sort(order[first])


def _select(rng: np.random.Generator, strata: list[np.ndarray], distinct: np.ndarray,
            targets: list[dict[int, int]], size: int) -> np.ndarray:
    """`size` of the `distinct` candidates, sorted. `strata` labels each candidate from the finest
    grouping to the coarsest (class and prefix lengths, then class) and `targets` says how many each
    group should get: each group takes up to its target at random, and what groups short of distinct
    rules leave is made up within the next coarser group, then from any rule."""
    keep = np.zeros(len(strata[0]), dtype=bool)
    pool = np.zeros(len(strata[0]), dtype=bool)
    pool[distinct] = True
    for labels, target in zip(strata, targets):
        # each group's rows in index order, the groups in label order (one sort, not a scan per group)
        order = np.argsort(labels, kind="stable")
        ends = np.flatnonzero(np.diff(labels[order])) + 1
        for members in np.split(order, ends):
            in_pool = pool[members]
            if not in_pool.any():
                continue
            want = target.get(int(labels[members[0]]), 0) - int(np.count_nonzero(keep[members]))
            if want > 0:
                rows = members[in_pool & ~keep[members]]
                keep[rng.permutation(rows)[:want]] = True
    short = size - int(keep.sum())
    if short > 0:
        keep[rng.choice(np.flatnonzero(pool & ~keep), size=short, replace=False)] = True
    elif short < 0:  # rounding: drop the surplus at random
        keep[rng.choice(np.flatnonzero(keep), size=-short, replace=False)] = False
    return np.flatnonzero(keep)


def generate_ranges(config: GeneratorConfig) -> np.ndarray:
    """(size, 10) inclusive ranges `[lo0, hi0, ..., lo4, hi4]` in priority order (see `generate_rules`
    for their flags)."""
    return generate_rules(config)[0]


def generate_rules(config: GeneratorConfig) -> tuple[np.ndarray, np.ndarray]:
    """(size, 10) inclusive ranges `[lo0, hi0, ..., lo4, hi4]` in priority order, and (size, 2) their
    flags value and mask.

    The address trees shape a whole rule set at once, so a set is drawn whole, a little larger than
    `size`, and duplicates are dropped (db_generator drops them too, and so returns fewer rules than
    asked; its redundant_check compares the flags as well, so it keeps rules that differ in their flags
    alone: ipc2_1k has 696 rules over 574 distinct 5-tuples, and 15 of the 24 published sets have such
    rules. They classify as one, the later never matching, so a duplicate here is a repeated 5-tuple;
    keeping them would need the flags drawn before duplicates are dropped, which changes every set).
    Rules of narrow classes (a wildcard-port TCP rule between two busy prefixes, say) collide more, so
    to keep the protocol, port class and prefix-length mix, each class (protocol and port class pair),
    and within it each pair of prefix lengths, keeps its drawn share of the `size` rules: where a class
    is short of distinct rules, the set is drawn again with that class's odds raised (at most three
    times), and the rules are then chosen per group. While fewer than `size` distinct
    rules come out, the set is drawn again half as large again, up to about 16 times `size`.

    Raises ParamsError (a ValueError naming the file and line) for an unreadable parameter file,
    ValueError when the distributions hold too few distinct rules.
    """
    model = _model(config)
    rng = np.random.default_rng(config.seed)
    n = config.size + config.size // 10 + 16
    boost: dict[tuple[int, int], float] = {}
    for attempt in range(16):
        cand, classes, src_len, dst_len = _draw(rng, model, config, n, boost)
        distinct = _first_copies(cand)
        strata = [classes * 33 * 33 + src_len * 33 + dst_len, classes]
        if attempt == 0:  # each group's target: the mix as first drawn (scope bias included), scaled to `size`
            targets = []
            for labels in strata:
                ids, counts = np.unique(labels, return_counts=True)
                targets.append({int(c): int(round(k * config.size / n)) for c, k in zip(ids, counts)})
        have = dict(zip(*np.unique(classes[distinct], return_counts=True)))
        short = {c: t / have[c] if have.get(c) else math.inf for c, t in targets[1].items() if have.get(c, 0) < t}
        if len(distinct) >= config.size and (not short or attempt >= 3):
            break
        if attempt < 3:
            for c, ratio in short.items():
                key = (c // 32, c % 32)
                boost[key] = min(8.0, boost.get(key, 1.0) * min(4.0, 1.1 * ratio))
        if len(distinct) < config.size:
            if n > 16 * config.size + 1024:  # a tiny parameter file may not hold `size` distinct rules
                break
            n = math.ceil(n * 1.5)
    if len(distinct) < config.size:
        hint = ("; scale branching (db_generator's -b) would spread its address trees"
                if not config.scale_branching and config.size > model.scale else "")
        raise ValueError(f"size {config.size}: only {len(distinct)} distinct rules could be drawn"
                         + (f" from {config.params}" if config.params else "") + hint)
    keep = _select(rng, strata, distinct, targets, config.size)  # in the order drawn
    rules = cand[keep]
    flags = draw_flags(rng, model.flags, rules)
    order = db_order(rules, src_len[keep], dst_len[keep], flags)
    return rules[order], flags[order]


def _dotted(addresses: np.ndarray) -> list[str]:
    """Dotted quads of IPv4 addresses (n,): inet_ntoa over their big-endian bytes."""
    raw = addresses.astype(">u4").tobytes()
    return [inet_ntoa(raw[i:i + 4]) for i in range(0, len(raw), 4)]


def _prefix_lengths(lo: np.ndarray, hi: np.ndarray) -> list[int]:
    """Prefix lengths of ranges spanning 2**k addresses: 32 - k. frexp's exponent of a positive integer
    below 2**53 is its bit length, so this is 33 - (hi - lo + 1).bit_length()."""
    return (33 - np.frexp((hi - lo + 1).astype(np.float64))[1]).tolist()


def generate_text(config: GeneratorConfig) -> str:
    """ClassBench rule-file text for the configuration."""
    rules, flags = generate_rules(config)
    if not len(rules):
        return "\n"
    # Each column formatted on its own (C loops where numpy has them), then one f-string per rule.
    protos = [f"0x{p:02x}/0xFF" for p in range(256)]
    proto = [protos[a] if a == b else "0x00/0x00" for a, b in zip(rules[:, 8].tolist(), rules[:, 9].tolist())]
    flag = [f"0x{value:04x}/0x{mask:04x}" for value, mask in flags.tolist()]
    columns = (_dotted(rules[:, 0]), _prefix_lengths(rules[:, 0], rules[:, 1]), _dotted(rules[:, 2]),
               _prefix_lengths(rules[:, 2], rules[:, 3]), *(rules[:, i].tolist() for i in range(4, 8)), proto, flag)
    return "".join([f"@{sa}/{sl}\t{da}/{dl}\t{s0} : {s1}\t{d0} : {d1}\t{p}\t{f}\t\n"
                    for sa, sl, da, dl, s0, s1, d0, d1, p, f in zip(*columns)])
