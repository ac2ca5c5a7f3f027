"""A ClassBench-style rule generator: acl, fw and ipc flavours at any size, seeded.

The mixes below were measured once from the public ClassBench parameter files (acl1-5, fw1-5,
ipc1-2 seeds: protocol shares, source/destination port class pairs among TCP and UDP rules,
prefix-length marginals weighted by those classes, common exact ports and ranges), averaged per
family and rounded; the numbers ship here so that nothing outside the repo is needed. Given a
parameter file instead (`GeneratorConfig.params`), its own distributions are drawn: protocol, then
the protocol's port class pair, ports from the file's exact ports and ranges, and the pair's joint
source/destination prefix lengths (db_generator's smoothing and address trees are not reproduced).
Addresses come from a pool of network prefixes with skewed reuse, so rules share prefixes and nest
as real rule sets do. Duplicate rules are dropped.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._params import SeedParams, read_params

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
_SRC_LEN = {  # prefix length: share
    "acl": {0: 0.06, 8: 0.01, 12: 0.03, 16: 0.08, 19: 0.01, 21: 0.01, 23: 0.04, 24: 0.11, 26: 0.02,
            27: 0.05, 28: 0.01, 29: 0.01, 30: 0.01, 31: 0.02, 32: 0.53},
    "fw": {0: 0.54, 8: 0.01, 16: 0.02, 21: 0.02, 23: 0.02, 24: 0.11, 28: 0.01, 30: 0.01, 32: 0.26},
    "ipc": {0: 0.30, 16: 0.02, 17: 0.01, 22: 0.01, 23: 0.08, 24: 0.17, 26: 0.03, 28: 0.01, 32: 0.37},
}
_DST_LEN = {
    "acl": {0: 0.05, 12: 0.015, 16: 0.03, 22: 0.015, 24: 0.05, 27: 0.045, 28: 0.03, 31: 0.02, 32: 0.745},
    "fw": {0: 0.40, 21: 0.01, 23: 0.01, 24: 0.08, 25: 0.01, 28: 0.02, 32: 0.47},
    "ipc": {0: 0.085, 16: 0.04, 23: 0.01, 24: 0.14, 25: 0.01, 26: 0.035, 28: 0.015, 32: 0.665},
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


@dataclass(frozen=True)
class GeneratorConfig:
    """What to generate."""

    kind: str = "acl"
    """Family: acl, fw or ipc."""
    size: int = 1000
    """Number of rules (distinct)."""
    seed: int = 1
    """Random seed; the same config always gives the same rules."""
    params: str | None = None
    """A ClassBench parameter file (e.g. acl1_seed) whose distributions replace the family's."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.size < 1:
            raise ValueError(f"size must be >= 1, got {self.size}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")


def _choice(rng: np.random.Generator, table: dict, n: int) -> list:
    keys = list(table)
    p = np.array([table[k] for k in keys], dtype=np.float64)
    return [keys[i] for i in rng.choice(len(keys), size=n, p=p / p.sum())]


def _pick(rng: np.random.Generator, table: dict):
    """One key of `table`, drawn by its weights."""
    return _choice(rng, table, 1)[0]


def _addresses(rng: np.random.Generator, lengths: np.ndarray) -> np.ndarray:
    """Prefix starts: skewed draws from a pool of networks, random host bits, then masked."""
    n = len(lengths)
    pool = rng.integers(0, 1 << 32, size=max(4, n // 16), dtype=np.int64)
    # Pool entries share their top byte with a few clusters, like an operator's address blocks.
    clusters = rng.integers(0, 256, size=max(2, n // 400 + 2), dtype=np.int64)
    pool = (pool & 0x00FFFFFF) | (rng.choice(clusters, size=len(pool)) << 24)
    rank = np.minimum(rng.zipf(1.3, size=n) - 1, len(pool) - 1)
    base = pool[rank]
    keep = rng.integers(8, 33, size=n)  # bits inherited from the pool network
    own = rng.integers(0, 1 << 32, size=n, dtype=np.int64)
    mask_keep = ((1 << 32) - 1) ^ ((1 << (32 - keep)) - 1)
    addr = (base & mask_keep) | (own & ~mask_keep & 0xFFFFFFFF)
    prefix_mask = ((1 << 32) - 1) ^ ((np.int64(1) << (32 - lengths)) - 1)
    return addr & prefix_mask


def _ports(rng: np.random.Generator, cls: str, kind: str, exact: dict | None = None,
           ranges: dict | None = None) -> tuple[int, int]:
    """A port range of class `cls`; EM and AR from `exact` / `ranges` when given (a parameter file's),
    else from the family's common ports."""
    if cls in ("EM", "AR") and (exact if cls == "EM" else ranges):
        if cls == "EM":
            p = int(_pick(rng, exact))
            return p, p
        return tuple(int(x) for x in _pick(rng, ranges))  # type: ignore[return-value]
    if cls == "WC":
        return 0, 65535
    if cls == "HI":
        return 1024, 65535
    if cls == "LO":
        return 0, 1023
    if cls == "EM":
        common = _EXACT[kind]
        p = int(common[min(rng.zipf(1.5) - 1, len(common) - 1)]) if rng.random() < 0.7 else int(rng.integers(0, 65536))
        return p, p
    if rng.random() < 0.6:
        lo, hi = _RANGES[kind][int(rng.integers(0, len(_RANGES[kind])))]
        return lo, hi
    lo = int(rng.integers(0, 65000))
    return lo, min(65535, lo + int(rng.integers(1, 1000)))


def _draw_family(rng: np.random.Generator, kind: str, n: int) -> list[tuple[int, ...]]:
    """`n` candidate rules from the family's shipped mixes."""
    slen = np.array(_choice(rng, _SRC_LEN[kind], n), np.int64)
    dlen = np.array(_choice(rng, _DST_LEN[kind], n), np.int64)
    src, dst = _addresses(rng, slen), _addresses(rng, dlen)
    protos = _choice(rng, _PROTOS[kind], n)
    pairs = _choice(rng, _PAIRS[kind], n)
    rows = []
    for i in range(n):
        proto = protos[i]
        sp, dp = ((_ports(rng, pairs[i][0], kind), _ports(rng, pairs[i][1], kind))
                  if proto in (6, 17) else ((0, 65535), (0, 65535)))
        rows.append(_row(src[i], slen[i], dst[i], dlen[i], sp, dp, proto))
    return rows


def _draw_params(rng: np.random.Generator, params: SeedParams, kind: str, n: int) -> list[tuple[int, ...]]:
    """`n` candidate rules from a parameter file: protocol, its port class pair, the pair's lengths."""
    protos = _choice(rng, params.protocols, n)
    src_marg, dst_marg = params.length_shares()
    pairs, lens = [], []
    for proto in protos:
        pair = _pick(rng, params.pairs[proto]) if params.pairs.get(proto) else ("WC", "WC")
        joint = params.lengths.get(pair)
        if joint and sum(joint.values()) > 0:
            lens.append(_pick(rng, joint))
        else:  # a pair the file gives no lengths for: the marginals
            lens.append((_pick(rng, src_marg or {32: 1.0}), _pick(rng, dst_marg or {32: 1.0})))
        pairs.append(pair)
    slen = np.array([s for s, _ in lens], np.int64)
    dlen = np.array([d for _, d in lens], np.int64)
    src, dst = _addresses(rng, slen), _addresses(rng, dlen)
    rows = []
    for i in range(n):
        sp = _ports(rng, pairs[i][0], kind, params.sport_exact, params.sport_ranges)
        dp = _ports(rng, pairs[i][1], kind, params.dport_exact, params.dport_ranges)
        rows.append(_row(src[i], slen[i], dst[i], dlen[i], sp, dp, protos[i]))
    return rows


def _row(src: int, slen: int, dst: int, dlen: int, sp: tuple[int, int], dp: tuple[int, int],
         proto: int) -> tuple[int, ...]:
    plo, phi = (0, 255) if proto == 0 else (proto, proto)
    return (int(src), int(src) + (1 << (32 - int(slen))) - 1,
            int(dst), int(dst) + (1 << (32 - int(dlen))) - 1, *sp, *dp, plo, phi)


def generate_ranges(config: GeneratorConfig) -> np.ndarray:
    """(size, 10) inclusive ranges `[lo0, hi0, ..., lo4, hi4]` in priority order.

    Raises ParamsError (a ValueError naming the file and line) for an unreadable parameter file.
    """
    params = read_params(config.params) if config.params is not None else None
    rng = np.random.default_rng(config.seed)
    rows: list[tuple[int, ...]] = []
    seen: set[tuple[int, ...]] = set()
    stale = 0
    while len(rows) < config.size:
        n = max(64, 2 * (config.size - len(rows)))
        before = len(rows)
        batch = _draw_family(rng, config.kind, n) if params is None else _draw_params(rng, params, config.kind, n)
        for row in batch:
            if row not in seen:
                seen.add(row)
                rows.append(row)
                if len(rows) == config.size:
                    break
        stale = stale + 1 if len(rows) == before else 0
        if stale >= 20:  # a tiny parameter file may not hold `size` distinct rules
            raise ValueError(f"size {config.size}: only {len(rows)} distinct rules could be drawn"
                             + (f" from {config.params}" if config.params else ""))
    # Real lists put specific rules before general ones; sort by total wildcard-ness, keep ties random.
    arr = np.array(rows, dtype=np.int64)
    generality = sum(np.log2(arr[:, 2 * d + 1] - arr[:, 2 * d] + 1) for d in range(5))
    order = np.argsort(generality + rng.random(len(arr)) * 8, kind="stable")
    return arr[order]


def generate_text(config: GeneratorConfig) -> str:
    """ClassBench rule-file text for the configuration."""
    out = []
    ip = lambda v: ".".join(str((v >> s) & 255) for s in (24, 16, 8, 0))  # noqa: E731
    for r in generate_ranges(config).tolist():
        slen = 32 - (r[1] - r[0] + 1).bit_length() + 1
        dlen = 32 - (r[3] - r[2] + 1).bit_length() + 1
        proto = "0x00/0x00" if r[8] != r[9] else f"0x{r[8]:02x}/0xFF"
        out.append(f"@{ip(r[0])}/{slen}\t{ip(r[2])}/{dlen}\t{r[4]} : {r[5]}\t{r[6]} : {r[7]}\t{proto}\t0x0000/0x0000\t")
    return "\n".join(out) + "\n"
