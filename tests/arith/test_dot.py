"""The bf16 dot product (rtl/arith/dot.py) against its bit-exact model, and the model against
float64.

* RTL vs :func:`hybridgen.golden.numerics.dot_bf16`, bit-exact, in the Amaranth simulator
  through :class:`~hybridgen.rtl.arith.pipeline.StreamPipeline` with random input bubbles and
  output back-pressure (stream rules checked by ``run_stream``): random normal operands with
  cancellation, special values (NaN, inf, 0 x inf, subnormals, overflow of the sum), raw bits.
* Model vs :func:`~hybridgen.golden.numerics.dot_bf16_reference` within the documented bound
  ``((1 + 2^-24)^log2(W) - 1) * sum |a_k b_k|``, and the tree order itself (a case where
  sequential summation gives a different result).
"""

import numpy as np
import pytest

from hybridgen.golden import numerics
from hybridgen.rtl.arith.dot import Bf16Dot, dot_operands
from hybridgen.rtl.arith.pipeline import StreamPipeline
from hybridgen.verif.operands import BF16_SPECIAL_VALUES

from .test_rtl_sim import assert_bits_equal, run_stream


def _bf16(values):
    return numerics.fp32_to_bf16(numerics.fp32_to_bits(np.asarray(values, dtype=np.float32)))


def _operands(rng, n, width):
    a = _bf16(rng.standard_normal((n, width)) * 2.0 ** rng.integers(-20, 20, (n, 1)))
    b = _bf16(rng.standard_normal((n, width)))
    # Cancellation: the second half of each row repeats the first with one sign flipped.
    cancel = rng.random(n) < 0.25
    half = width // 2
    a[cancel, half:] = a[cancel, :half] ^ 0x8000
    b[cancel, half:] = b[cancel, :half]
    specials = np.array(BF16_SPECIAL_VALUES, dtype=np.uint16)
    mask = rng.random((n, width)) < 0.05
    a = np.where(mask, rng.choice(specials, (n, width)), a)
    raw = rng.random(n) < 0.1
    a[raw] = rng.integers(0, 1 << 16, (raw.sum(), width), dtype=np.uint16)
    b[raw] = rng.integers(0, 1 << 16, (raw.sum(), width), dtype=np.uint16)
    return a.astype(np.uint16), b.astype(np.uint16)


@pytest.mark.parametrize("width,multiplier_latency,adder_latency", [(8, 1, 3), (4, 2, 2)])
def test_dot_rtl_bit_exact(width, multiplier_latency, adder_latency, seed):
    rng = np.random.default_rng(seed)
    a, b = _operands(rng, 300, width)
    layout = dot_operands(width)
    dut = StreamPipeline(Bf16Dot(width=width, multiplier_latency=multiplier_latency,
                                 adder_latency=adder_latency), in_layout=layout)
    assert dut.latency == multiplier_latency + int(np.log2(width)) * adder_latency
    beats = []
    for row_a, row_b in zip(a, b):
        word = 0
        for k in range(width):
            word |= int(row_a[k]) << (16 * k)
            word |= int(row_b[k]) << (16 * (width + k))
        beats.append(word)
    results, _ = run_stream(dut, beats, seed=seed)
    assert_bits_equal(results, numerics.dot_bf16(a, b), a[:, 0], b[:, 0])


def test_dot_model_bound(seed):
    rng = np.random.default_rng(seed)
    width = 16
    a = _bf16(rng.standard_normal((4000, width)))
    b = _bf16(rng.standard_normal((4000, width)))
    got = numerics.fp32_to_float64(numerics.dot_bf16(a, b))
    value, magnitude = numerics.dot_bf16_reference(a, b)
    bound = ((1 + 2.0 ** -24) ** 4 - 1) * magnitude
    error = np.abs(got - value)
    assert np.all(error <= bound), f"max error / bound {np.max(error / bound):.3f}"
    # The bound is not vacuous: some results are not exact.
    assert np.count_nonzero(error) > 100


def test_dot_tree_order():
    # (big + small) + (-big + small): the tree gives 2*small's rounding of each pair, sequential
    # summation ((big + small) - big) + small another value.
    a = _bf16([2.0 ** 30, 3.0, -(2.0 ** 30), 3.0])
    b = _bf16([1.0, 1.0, 1.0, 1.0])
    tree = numerics.fp32_to_float64(numerics.dot_bf16(a, b))
    assert tree == 0.0  # 2^30 + 3 rounds to 2^30 in fp32 (ulp 128)
    sequential = numerics.fp32_to_bits(np.float32(0))
    for k in range(4):
        sequential = numerics.fp32_add(sequential, numerics.bf16_mul_exact(a[k], b[k]))
    assert numerics.fp32_to_float64(sequential) == 3.0


def test_dot_accumulate_order(seed):
    rng = np.random.default_rng(seed)
    a = _bf16(rng.standard_normal((50, 37)))
    b = _bf16(rng.standard_normal((50, 37)))
    got = numerics.dot_bf16_accumulate(a, b, 8)
    # By hand: chunks of 8 (the last one padded with +0), t_0 then fp32_add in chunk order.
    a_pad = np.pad(a, [(0, 0), (0, 3)])
    b_pad = np.pad(b, [(0, 0), (0, 3)])
    acc = numerics.dot_bf16(a_pad[:, 0:8], b_pad[:, 0:8])
    for j in range(1, 5):
        acc = numerics.fp32_add(acc, numerics.dot_bf16(a_pad[:, 8 * j:8 * j + 8],
                                                       b_pad[:, 8 * j:8 * j + 8]))
    assert np.array_equal(got, acc)
    value, magnitude = numerics.dot_bf16_reference(a, b)
    bound = ((1 + 2.0 ** -24) ** (3 + 4) - 1) * magnitude
    assert np.all(np.abs(numerics.fp32_to_float64(got) - value) <= bound)
    # Broadcasting: a row against many columns (a matmul).
    m = numerics.dot_bf16_accumulate(a[:3, None, :], b[None, :4, :], 8)
    assert m.shape == (3, 4) and m[1, 2] == numerics.dot_bf16_accumulate(a[1], b[2], 8)
