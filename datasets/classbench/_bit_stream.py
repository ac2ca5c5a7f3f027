"""A numpy Generator's `random()` and `integers(0, 2**k)`, one value at a time, without numpy's
per-call cost, for the address tries (`_address_trees.py`) that draw a few numbers per trie node.

A scalar `rng.integers` costs about 2 us and `rng.random()` about 0.5 us, which made the tries' Python
walk most of a large set's generation time. `BitStream` reads the bit generator's raw 64-bit words in
blocks and turns them into exactly the values numpy's default `PCG64` Generator would return, in the
same order, following numpy's C code:

- `random()`: `(word >> 11) * 2**-53` (`pcg64_next_double`);
- `integers(0, 2**k)` for k in 1..32: Lemire's bounded draw on a 32-bit value (`buffered_bounded_lemire_
  uint32`; for a power of two it never rejects and is `u32 >> (32 - k)`, and k = 32 is `u32` itself),
  where 32-bit values come from a word's low half first, its high half kept for the next 32-bit draw,
  across calls (`pcg64_next32`'s `has_uint32` / `uinteger`), while `random()` leaves that half alone.

`close()` (or leaving a `with` block, an exception included) puts the generator where numpy's own
calls would have left it (the start state advanced by the words used, the kept half restored), so the
draws after it are unchanged too. Any other bit generator is refused, and the first stream made in a
process checks a short run of its values against the installed numpy's own calls: a numpy whose
stream differs raises RuntimeError instead of silently changing the generated rules.
"""
from __future__ import annotations

import numpy as np

_BLOCK = 4096
_DOUBLE = 2.0 ** -53
_checked = False  # whether this process has checked the stream against numpy's calls (_check_numpy)


class BitStream:
    """Values of `rng.random()` and `rng.integers(0, 2**k)` in the order asked; `close()` when done."""

    __slots__ = ("_bits", "_half", "_has_half", "_pos", "_start", "_used", "_words")

    def __init__(self, rng: np.random.Generator) -> None:
        if not isinstance(rng.bit_generator, np.random.PCG64):
            raise TypeError(f"BitStream follows numpy's PCG64 only, got {type(rng.bit_generator).__name__}")
        if not _checked:
            _check_numpy()
        self._bits = rng.bit_generator
        self._start = self._bits.state
        self._has_half = bool(self._start["has_uint32"])
        self._half = int(self._start["uinteger"])
        self._words: list[int] = []
        self._pos = 0
        self._used = 0  # words taken before the current block

    def _refill(self) -> None:
        self._used += len(self._words)
        self._words = self._bits.random_raw(_BLOCK).tolist()
        self._pos = 0

    def random(self) -> float:
        """`rng.random()`: a float in [0, 1)."""
        if self._pos == len(self._words):
            self._refill()
        self._pos += 1
        return (self._words[self._pos - 1] >> 11) * _DOUBLE

    def randoms(self, n: int) -> list[float]:
        """`rng.random(n).tolist()`."""
        out: list[float] = []
        while len(out) < n:
            if self._pos == len(self._words):
                self._refill()
            take = self._words[self._pos:self._pos + n - len(out)]
            self._pos += len(take)
            out += [(w >> 11) * _DOUBLE for w in take]
        return out

    def bits(self, k: int) -> int:
        """`int(rng.integers(0, 2**k))` for k in 0..32 (k = 0 draws nothing, as numpy's range of one)."""
        if not 0 < k <= 32:
            if k == 0:
                return 0
            raise ValueError(f"BitStream.bits draws 0..32 bits, got {k}")
        if self._has_half:
            self._has_half = False
            u = self._half
        else:
            if self._pos == len(self._words):
                self._refill()
            w = self._words[self._pos]
            self._pos += 1
            self._has_half, self._half = True, w >> 32
            u = w & 0xFFFFFFFF
        return u >> (32 - k)

    def close(self) -> None:
        """Leave the generator as the same numpy calls would have (unread words of the block given back)."""
        self._bits.state = self._start
        self._bits.advance(self._used + self._pos)  # advance() drops the kept half: set it again
        state = self._bits.state
        state["has_uint32"], state["uinteger"] = int(self._has_half), self._half
        self._bits.state = state
        self._words, self._pos, self._used = [], 0, 0
        self._start = state

    def __enter__(self) -> BitStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_numpy() -> None:
    """Compare a stream's values and final state with the installed numpy's own calls (once a process)."""
    global _checked
    _checked = True  # the probe's own stream must not check again
    ours, theirs = np.random.default_rng(20071), np.random.default_rng(20071)
    try:
        with BitStream(ours) as stream:
            got = [stream.bits(k) for k in (5, 32, 1, 31)] + [stream.random()] + stream.randoms(3)
            got += [stream.bits(0), stream.bits(7)]  # the last leaves a half kept, for close() to restore
        want = [int(theirs.integers(0, 1 << k)) for k in (5, 32, 1, 31)] + [theirs.random()] \
            + theirs.random(3).tolist() + [int(theirs.integers(0, 1)), int(theirs.integers(0, 1 << 7))]
        same = got == want and ours.bit_generator.state == theirs.bit_generator.state
    except BaseException:
        _checked = False
        raise
    if not same:
        _checked = False
        raise RuntimeError(f"numpy {np.__version__}'s Generator draws differ from BitStream's copy of them: "
                           "the ClassBench generator's output would change; see _bit_stream.py")
