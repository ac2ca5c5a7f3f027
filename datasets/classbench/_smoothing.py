"""db_generator's smoothing of a joint source/destination prefix-length distribution (Taylor &
Turner, "ClassBench", IEEE/ACM ToN 15(3), 2007, Section V-B "Smoothing"; PrefixList::smooth_type).

A parameter file gives, per port class pair, the probability of each total length `t = s + d` and of
each source length `s` given `t`. Smoothing with parameter r spreads every spike `(t, s)` over the
points within Manhattan distance r: the total length over `t - r .. t + r` with binomial(2r, 1/2)
weights (so the total-length distribution is the given one convolved with that binomial, variance
`r / 2` added), and at total offset k (|k| <= r) the source length binomially over a span that reaches
|k| further on the side that moved and `(r - |k|) // 2` further on each side, as db_generator does.
Mass that lands outside 0..64 (total) is dropped and the totals renormalised; within each total, source
lengths that leave `s` or `d` outside 0..32 are dropped and the rest renormalised.

db_generator adds a total's own source distribution unweighted but its neighbours' weighted by their
total-length probability; here every spike's share is weighted by its own probability mass, so the
result is the joint distribution's spread (equal to db_generator's when the neighbours' weights match).
"""
from __future__ import annotations

from math import comb


def _binomial(k: int) -> list[float]:
    return [comb(k, i) / 2.0**k for i in range(k + 1)]


def smooth(joint: dict[tuple[int, int], float], r: int) -> dict[tuple[int, int], float]:
    """The (source length, destination length) -> probability table smoothed with parameter r (0..64);
    r = 0 returns the table normalised to sum 1."""
    mass = sum(joint.values())
    if mass <= 0:
        return {}
    if r == 0:
        return {k: v / mass for k, v in joint.items() if v > 0}
    total_w = [0.0] * 65
    source_w = [[0.0] * 33 for _ in range(65)]
    spread_t = _binomial(2 * r)
    for (s, d), v in joint.items():
        if v <= 0:
            continue
        t = s + d
        for k in range(-r, r + 1):
            tt = t + k
            if not 0 <= tt <= 64:
                continue
            w = v / mass * spread_t[k + r]
            total_w[tt] += w
            widen = (r - abs(k)) // 2
            start = s - max(0, -k) - widen
            spread_s = _binomial(abs(k) + 2 * widen)
            for i, b in enumerate(spread_s):
                ss = start + i
                if 0 <= ss <= 32 and 0 <= tt - ss <= 32:
                    source_w[tt][ss] += w * b
    norm = sum(w for tt, w in enumerate(total_w) if sum(source_w[tt]) > 0)
    out: dict[tuple[int, int], float] = {}
    for tt in range(65):
        row = sum(source_w[tt])
        if total_w[tt] <= 0 or row <= 0:
            continue
        for ss, w in enumerate(source_w[tt]):
            if w > 0:
                out[(ss, tt - ss)] = total_w[tt] / norm * w / row
    return out
