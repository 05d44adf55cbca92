"""Inputs for the vector unit and the special functions: bf16-exhaustive, random fp32, vectors.

Random fp32 inputs mix uniform bit patterns (the whole range, every special value class, every
mantissa bit random) with values whose exponent lies where the special functions are not
saturated (|x| in [2^-27, 2^8)), again with all 23 fraction bits random.
"""

import numpy as np

from hybridgen.golden import numerics

__all__ = ["bf16_all_as_fp32", "fp32_random", "random_ops", "BINARY_OPS", "UNARY_OPS",
           "REDUCTIONS", "ALL_OPS"]

UNARY_OPS = ("exp", "exp2", "recip", "sigmoid", "silu", "softplus", "bf16")
BINARY_OPS = ("add", "sub", "mul", "max", "min")
REDUCTIONS = ("rowsum", "rowmax", "cumsum")
ALL_OPS = UNARY_OPS + BINARY_OPS + REDUCTIONS + ("pass",)


def bf16_all_as_fp32():
    """Every bf16 bit pattern (65,536), widened to fp32 (uint32)."""
    return numerics.bf16_to_fp32(np.arange(1 << 16, dtype=np.uint32).astype(np.uint16))


def fp32_random(rng, n):
    """``n`` random fp32 bit patterns (uint32): half uniform bits, half |x| in [2^-27, 2^8)."""
    uniform = rng.integers(0, 1 << 32, n - n // 2, dtype=np.uint64).astype(np.uint32)
    k = n // 2
    sign = rng.integers(0, 2, k, dtype=np.uint32) << np.uint32(31)
    exponent = rng.integers(100, 135, k, dtype=np.uint32) << np.uint32(23)
    fraction = rng.integers(0, 1 << 23, k, dtype=np.uint32)
    focused = sign | exponent | fraction
    values = np.concatenate([uniform, focused])
    return values[rng.permutation(n)]


def random_ops(rng, n, ops=ALL_OPS):
    """``n`` op codes (uint8) drawn from op names ``ops``."""
    codes = np.array([numerics.VECTOR_OPS[op] for op in ops], dtype=np.uint8)
    return codes[rng.integers(0, len(codes), n)]
