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


def test_zero_bits_draw_nothing_as_numpys_range_of_one():
    ours, theirs = np.random.default_rng(5), np.random.default_rng(5)
    with BitStream(ours) as stream:
        got = [stream.bits(0), stream.bits(6), stream.bits(0), stream.bits(0), stream.bits(9)]
    assert got == [int(theirs.integers(0, 1 << k)) for k in (0, 6, 0, 0, 9)]
    assert ours.bit_generator.state == theirs.bit_generator.state


@pytest.mark.parametrize("k", [-1, 33, 64])
def test_bits_outside_0_to_32_are_refused(k):
    with pytest.raises(ValueError, match=r"0\.\.32 bits, got"):
        BitStream(np.random.default_rng(1)).bits(k)


def test_an_exception_in_a_with_block_leaves_numpys_state():
    ours, theirs = np.random.default_rng(9), np.random.default_rng(9)
    with pytest.raises(KeyError), BitStream(ours) as stream:
        stream.random(), stream.bits(3)
        raise KeyError("stop")
    theirs.random(), theirs.integers(0, 8)
    assert ours.bit_generator.state == theirs.bit_generator.state


def test_a_failed_address_walk_leaves_rng_where_its_draws_did(monkeypatch):
    from sysml_datasets.classbench import _address_trees
    from sysml_datasets.classbench._params import AddressTree

    tree = AddressTree(4, tuple([0.5] * 33), tuple([0.5] * 33), tuple([0.3] * 33))
    lengths = np.random.default_rng(0).integers(8, 33, 500)
    done = np.random.default_rng(4)
    _address_trees.source_addresses(lengths, tree, done)
    real = _address_trees._grower

    def failing(*args, **kwargs):
        grow = real(*args, **kwargs)

        def grow_then_fail(*a):
            grow(*a)
            raise KeyboardInterrupt

        return grow_then_fail

    monkeypatch.setattr(_address_trees, "_grower", failing)
    failed = np.random.default_rng(4)
    with pytest.raises(KeyboardInterrupt):
        _address_trees.source_addresses(lengths, tree, failed)
    assert failed.bit_generator.state == done.bit_generator.state


def test_a_numpy_whose_stream_differs_is_refused(monkeypatch):
    from sysml_datasets.classbench import _bit_stream

    monkeypatch.setattr(_bit_stream, "_checked", False)
    monkeypatch.setattr(_bit_stream, "_DOUBLE", 2.0 ** -52)  # as if numpy's random() were made another way
    with pytest.raises(RuntimeError, match="draws differ from BitStream"):
        BitStream(np.random.default_rng(1))
    monkeypatch.setattr(_bit_stream, "_DOUBLE", 2.0 ** -53)
    BitStream(np.random.default_rng(1))  # the real conversion passes the check
    assert _bit_stream._checked
