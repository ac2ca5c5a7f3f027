"""BitStream against numpy's own Generator calls: the same values in the same order, and the same
generator state after it, so the address tries draw what they drew with one numpy call per value."""
from __future__ import annotations

import numpy as np
import pytest

from sysml_datasets.classbench._bit_stream import BitStream


@pytest.mark.parametrize("seed", [0, 1, 7])
@pytest.mark.parametrize("half_kept", [False, True])
def test_values_and_final_state_are_numpys(seed, half_kept):
    ours, theirs = np.random.default_rng(seed), np.random.default_rng(seed)
    if half_kept:  # a 32-bit draw before leaves the word's high half buffered in the generator
        assert ours.integers(0, 1 << 5) == theirs.integers(0, 1 << 5)
    stream = BitStream(ours)
    ops = np.random.default_rng(100 + seed).integers(0, 35, 12000).tolist()  # past several 4096-word blocks
    for op in ops:
        if op == 0:
            assert stream.random() == theirs.random()
        elif op <= 32:
            assert stream.bits(op) == int(theirs.integers(0, 1 << op)), op
        else:
            n = 0 if op == 33 else 5000  # n = 0 and a run across a block's end
            assert stream.randoms(n) == theirs.random(n).tolist()
    stream.close()
    assert ours.bit_generator.state == theirs.bit_generator.state
    # and the draws after it, of every kind, go on the same
    assert ours.integers(0, 1000, 50).tolist() == theirs.integers(0, 1000, 50).tolist()
    assert ours.random(7).tolist() == theirs.random(7).tolist()
    assert ours.zipf(1.5, 20).tolist() == theirs.zipf(1.5, 20).tolist()


def test_a_stream_used_twice_after_close_stays_in_step():
    ours, theirs = np.random.default_rng(3), np.random.default_rng(3)
    for _ in range(2):
        stream = BitStream(ours)
        assert [stream.bits(32), stream.random(), stream.bits(1)] == \
            [int(theirs.integers(0, 1 << 32)), theirs.random(), int(theirs.integers(0, 2))]
        stream.close()
        assert ours.bit_generator.state == theirs.bit_generator.state
        assert ours.integers(0, 3) == theirs.integers(0, 3)


def test_other_bit_generators_are_refused():
    with pytest.raises(TypeError, match="PCG64 only, got MT19937"):
        BitStream(np.random.Generator(np.random.MT19937(1)))
