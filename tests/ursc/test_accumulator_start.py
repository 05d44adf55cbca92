"""The DPE and RVPE start a reduction with ``fp32_add(-0, x)`` instead of a bypass path
(:data:`hybridgen.rtl.ursc.dpe.NEG_ZERO`): this equals ``x`` for every fp32 result of an adder
(canonical NaN, flushed subnormals), which is what a dot product or a vector-unit reduction
gives; it would not for a raw subnormal or a non-canonical NaN, which never reach it."""

import numpy as np

from hybridgen.golden import numerics
from hybridgen.rtl.ursc.dpe import NEG_ZERO


def test_negative_zero_is_the_identity_of_adder_results(rng):
    a = rng.integers(0, 1 << 32, 300_000, dtype=np.uint64).astype(np.uint32)
    b = rng.integers(0, 1 << 32, 300_000, dtype=np.uint64).astype(np.uint32)
    x = np.concatenate([numerics.fp32_add(a, b),
                        np.array([0, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000],
                                 dtype=np.uint32)])
    assert np.array_equal(numerics.fp32_add(np.uint32(NEG_ZERO), x), x)
    # +0 would not do: -0 + +0 = +0 changes a -0 result
    assert numerics.fp32_add(np.uint32(0), np.uint32(0x80000000)) == 0


def test_it_matters_for_raw_inputs():
    subnormal = np.uint32(0x00000001)
    assert numerics.fp32_add(np.uint32(NEG_ZERO), subnormal) != subnormal
