"""The GEMV golden model (golden/decode.py) against float64, the order of operations it
models, and the channel layout of W (rtl/decode/geometry.py)."""

import numpy as np
import pytest

from hybridgen.golden.decode import gemv, gemv_bound, gemv_fp32, gemv_reference
from hybridgen.golden.numerics import (bf16_to_fp32, dot_bf16, fp32_add, fp32_from_bits,
                                       fp32_to_bf16)
from hybridgen.rtl.decode.geometry import DecodeGeometry
from hybridgen.verif.decode.gemv import random_bf16, random_operands


@pytest.mark.parametrize("dot", [8, 32])
@pytest.mark.parametrize("b,k,n", [(1, 1, 3), (3, 37, 11), (8, 1000, 5), (2, 4096, 3)])
def test_gemv_bounded_by_float64(rng, dot, b, k, n):
    """fp32 accumulators within ``gemv_bound(k, dot) * |x| @ |w|`` of the float64 product; the
    bf16 outputs within that plus half a bf16 ulp (2^-8 of the accumulator)."""
    x, w = random_bf16(rng, (b, k), spread=4), random_bf16(rng, (k, n), spread=4)
    exact, magnitude = gemv_reference(x, w)
    acc = fp32_from_bits(gemv_fp32(x, w, dot)).astype(np.float64)
    bound = gemv_bound(k, dot) * magnitude
    assert np.all(np.abs(acc - exact) <= bound), np.max(np.abs(acc - exact) - bound)
    y = fp32_from_bits(bf16_to_fp32(gemv(x, w, dot))).astype(np.float64)
    assert np.all(np.abs(y - exact) <= bound + 2.0 ** -8 * np.abs(acc))


def test_gemv_bound_is_tight_enough_to_fail(rng):
    """An accumulator that keeps only bf16 precision between chunks breaks the bound: the
    bound test can fail."""
    k, dot = 2048, 32
    x, w = random_bf16(rng, (4, k), spread=4), random_bf16(rng, (k, 8), spread=4)
    exact, magnitude = gemv_reference(x, w)
    t = dot_bf16(x[:, None, :].reshape(4, 1, k // dot, dot), w.T[None].reshape(1, 8, k // dot, dot))
    acc = t[..., 0]
    for c in range(1, k // dot):
        acc = bf16_to_fp32(fp32_to_bf16(fp32_add(acc, t[..., c])))
    coarse = fp32_from_bits(acc).astype(np.float64)
    assert np.any(np.abs(coarse - exact) > gemv_bound(k, dot) * magnitude)


def test_order_of_operations_shows(rng):
    """The lane width (the split points) changes results: the model is not order-free."""
    x, w = random_operands(rng, 2, 200, 64)
    assert np.any(gemv(x, w, 8) != gemv(x, w, 32))


def test_accumulator_starting_at_minus_zero_is_exact(rng):
    """The lane starts its accumulator at -0: ``-0 + t = t`` for every tree output t (zeros of
    both signs included), so the model's ``acc = t_0`` is the hardware's."""
    a, b = random_bf16(rng, (4096, 8), zeros=0.5), random_bf16(rng, (4096, 8), zeros=0.5)
    t = dot_bf16(a, b)
    t[:4] = [0, 0x8000_0000, 0x7F80_0000, 0xFF80_0000]
    assert np.array_equal(fp32_add(np.full_like(t, 0x8000_0000), t), t)


def test_fp32_to_bf16_is_the_output_rounding(rng):
    x, w = random_bf16(rng, (2, 50)), random_bf16(rng, (50, 7))
    assert np.array_equal(gemv(x, w, 8), fp32_to_bf16(gemv_fp32(x, w, 8)))


@pytest.mark.parametrize("channels,k,n", [(2, 13, 9), (4, 64, 33), (1, 5, 1)])
def test_channel_layout(rng, channels, k, n):
    """Every value of W sits where the layout says (beat c*I + j of group g of its channel),
    padding is zero."""
    g = DecodeGeometry(units=channels, width=2, dot=8, channels=channels, bus_bytes=16,
                       addr_bits=32, outstanding=4, max_batch=2, x_kib=1)
    w = random_bf16(rng, (k, n), zeros=0)
    packed = [np.frombuffer(p, "<u2") for p in g.pack_weights(w)]
    V, I = g.values, g.interleave
    for c in range(channels):
        assert len(packed[c]) == g.channel_groups(n, c) * g.group_bytes(k) // 2
    for row in range(k):
        for col in range(n):
            group = col // I
            c = g.channel_of_column(col)
            beat = (group // channels) * g.chunks(k) * I + (row // V) * I + col % I
            assert packed[c][beat * V + row % V] == w[row, col]
    assert sum(int(np.count_nonzero(p)) for p in packed) == np.count_nonzero(w)
