"""Bit-exact numpy models of the arithmetic units, and math references for them.

Every function works on raw bit patterns - ``uint16`` for bf16, ``uint32`` for fp32, ``int8`` /
``int32`` for integers - and is vectorized over numpy arrays (scalars give 0-d arrays). The
functions implement the numerics contract of DESIGN.md section 4a and have the names of the
hardware units in :mod:`rtl.arith`:

* subnormal inputs count as zeros of the same sign;
* an exact result ``r`` with ``0 < |r| < 2^-126`` is a zero with the sign of ``r``;
* everything else is rounded to nearest, ties to even, overflow giving +-inf;
* ``x + (-x) = +0`` and ``(-0) + (-0) = -0``;
* ``0 x inf``, ``inf - inf`` and any NaN input give NaN, and every NaN output is the canonical
  ``0x7FC00000`` (bf16 ``0x7FC0``) with the sign cleared.

Because a correctly rounded fp32 sum is what IEEE float32 addition computes, numpy float32
arithmetic with the input flush, the output flush and NaN canonicalization modelled is a bit-exact
model of the adder: the only place where IEEE gradual underflow would differ from 4a is an exact
subnormal result, which the output flush turns into the signed zero 4a asks for.

Math references (``*_reference``) return float64 values of the exact operation on the flushed
inputs; unit tests bound the bit-exact models against them.
"""

from fractions import Fraction

import numpy as np

__all__ = [
    "CANONICAL_NAN_FP32", "CANONICAL_NAN_BF16", "FP32_MIN_NORMAL", "FP32_MAX",
    "fp32_from_bits", "fp32_to_bits", "fp32_to_float64", "bf16_from_bits",
    "is_nan_fp32", "is_nan_bf16", "flush_subnormal_fp32", "flush_subnormal_bf16",
    "canonicalize_nan_fp32", "bf16_to_fp32", "fp32_to_bf16", "fp32_round_exact",
    "fp32_add", "bf16_mul_exact", "mac_bf16", "mac_int8",
    "fp32_add_reference", "bf16_mul_reference", "mac_bf16_reference",
]

#: The only fp32 NaN any unit produces.
CANONICAL_NAN_FP32 = 0x7FC00000
#: The only bf16 NaN any unit produces.
CANONICAL_NAN_BF16 = 0x7FC0
#: Smallest positive normal fp32 (and bf16) value, 2^-126.
FP32_MIN_NORMAL = 2.0 ** -126
#: Largest finite fp32 value, (2 - 2^-23) * 2^127.
FP32_MAX = float(np.finfo(np.float32).max)

_SIGN_FP32 = np.uint32(0x80000000)
_EXPONENT_FP32 = np.uint32(0x7F800000)
_FRACTION_FP32 = np.uint32(0x007FFFFF)
_SIGN_BF16 = np.uint16(0x8000)
_EXPONENT_BF16 = np.uint16(0x7F80)
_FRACTION_BF16 = np.uint16(0x007F)


def _u32(bits):
    return np.asarray(bits).astype(np.uint32)


def _u16(bits):
    return np.asarray(bits).astype(np.uint16)


def fp32_from_bits(bits):
    """fp32 bit patterns (any integer array) -> ``numpy.float32`` values (no flushing)."""
    return _u32(bits).view(np.float32)


def fp32_to_bits(values):
    """Values (rounded to float32 by numpy) -> ``uint32`` bit patterns (no flushing)."""
    return np.asarray(values, dtype=np.float32).view(np.uint32)


def fp32_to_float64(bits):
    """fp32 bit patterns -> exact ``float64`` values (no flushing; NaNs stay NaN)."""
    with np.errstate(invalid="ignore"):  # signalling NaNs warn in the cast
        return fp32_from_bits(bits).astype(np.float64)


def bf16_from_bits(bits):
    """bf16 bit patterns -> exact ``float64`` values (no flushing)."""
    return fp32_to_float64(_u32(_u16(bits)) << np.uint32(16))


def is_nan_fp32(bits):
    """True where the fp32 bit pattern is a NaN (any payload, any sign)."""
    bits = _u32(bits)
    return ((bits & _EXPONENT_FP32) == _EXPONENT_FP32) & ((bits & _FRACTION_FP32) != 0)


def is_nan_bf16(bits):
    """True where the bf16 bit pattern is a NaN (any payload, any sign)."""
    bits = _u16(bits)
    return ((bits & _EXPONENT_BF16) == _EXPONENT_BF16) & ((bits & _FRACTION_BF16) != 0)


def flush_subnormal_fp32(bits):
    """Subnormal fp32 bit patterns -> zero of the same sign; everything else unchanged."""
    bits = _u32(bits)
    return np.where((bits & _EXPONENT_FP32) == 0, bits & _SIGN_FP32, bits).astype(np.uint32)


def flush_subnormal_bf16(bits):
    """Subnormal bf16 bit patterns -> zero of the same sign; everything else unchanged."""
    bits = _u16(bits)
    return np.where((bits & _EXPONENT_BF16) == 0, bits & _SIGN_BF16, bits).astype(np.uint16)


def canonicalize_nan_fp32(bits):
    """Every fp32 NaN -> :data:`CANONICAL_NAN_FP32`; everything else unchanged."""
    bits = _u32(bits)
    return np.where(is_nan_fp32(bits), np.uint32(CANONICAL_NAN_FP32), bits).astype(np.uint32)


def bf16_to_fp32(bits):
    """bf16 -> fp32 widening (``u << 16``): exact, a format change and not arithmetic.

    Subnormals and NaN payloads pass through unchanged; the arithmetic unit that consumes the
    value flushes / canonicalizes them (DESIGN 4a input rows).
    """
    return _u32(_u16(bits)) << np.uint32(16)


def fp32_to_bf16(bits):
    """fp32 -> bf16, DESIGN 4a: round to nearest even, canonical NaN, no subnormal results.

    Rounding is ``(u + 0x7FFF + ((u >> 16) & 1)) >> 16`` on the flushed input (DESIGN 5), so a
    carry out of the largest finite bf16 gives +-inf. Subnormal fp32 inputs are zeros; a normal
    fp32 is never below the bf16 normal range (both have the exponent range of fp32), so every
    result is normal, zero, inf or NaN. Error: at most 0.5 bf16 ulp where the result is finite.
    """
    bits = flush_subnormal_fp32(bits).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    return np.where(is_nan_fp32(bits.astype(np.uint32)), np.uint16(CANONICAL_NAN_BF16),
                    rounded).astype(np.uint16)


def _finish_fp32(values):
    # float32 results of IEEE arithmetic on flushed inputs -> 4a results (output flush, NaN).
    return canonicalize_nan_fp32(flush_subnormal_fp32(fp32_to_bits(values)))


def fp32_add(a, b):
    """Bit-exact model of :class:`rtl.arith.fp32.Fp32Add`: ``a + b`` on fp32 bit patterns.

    Correctly rounded: the result is the exact sum of the flushed inputs rounded to nearest even,
    at most 0.5 ulp from it where the result is normal; ``|r| >= 2^128 - 2^103`` gives +-inf; an
    exact sum with ``0 < |r| < 2^-126`` gives a zero with the sign of ``r``; ``x + (-x) = +0``,
    ``(-0) + (-0) = -0``; ``inf - inf`` and NaN inputs give :data:`CANONICAL_NAN_FP32`.
    Commutative. Returns ``uint32``.
    """
    x = fp32_from_bits(flush_subnormal_fp32(a))
    y = fp32_from_bits(flush_subnormal_fp32(b))
    with np.errstate(over="ignore", invalid="ignore"):
        return _finish_fp32(x + y)


def bf16_mul_exact(a, b):
    """Bit-exact model of :class:`rtl.arith.fp32.Bf16MulExact`: bf16 x bf16 -> fp32, exact.

    The product of the flushed inputs is exact in float64 (16-bit significand) and exact in fp32
    wherever it is normal (error 0). ``0 < |p| < 2^-126`` gives a zero with the sign of ``p``;
    ``|p| >= 2^128`` gives +-inf; ``0 x inf`` and NaN inputs give :data:`CANONICAL_NAN_FP32`;
    a zero product has sign ``sign(a) xor sign(b)``. Returns ``uint32``.
    """
    product = bf16_mul_reference(a, b)
    tiny = np.abs(product) < FP32_MIN_NORMAL
    # Tiny products become signed zeros before the (then exact) conversion to float32.
    product = np.where(tiny, np.copysign(0.0, product), product)
    with np.errstate(over="ignore", invalid="ignore"):
        return _finish_fp32(product.astype(np.float32))


def mac_bf16(a, b, acc):
    """Bit-exact model of :class:`rtl.arith.mac.MacBf16`: ``fp32_add(bf16_mul_exact(a, b), acc)``.

    Not fused: the product is first put into fp32 by :func:`bf16_mul_exact` (exact where
    normal), then added with :func:`fp32_add` (one rounding). Error vs the exact
    ``a * b + acc`` of the flushed inputs: at most 0.5 ulp of the result where the product is
    normal (or zero) and the result is normal. Returns ``uint32``.
    """
    return fp32_add(bf16_mul_exact(a, b), acc)


def mac_int8(a, b, acc):
    """Bit-exact model of :class:`rtl.arith.mac.MacInt8`: ``a * b + acc`` wrapping modulo 2^32.

    ``a``, ``b`` int8 values, ``acc`` int32 values (any integer dtype holding them). Returns
    ``int32`` (exact, no rounding).
    """
    total = (np.asarray(a).astype(np.int64) * np.asarray(b).astype(np.int64)
             + np.asarray(acc).astype(np.int64))
    return total.astype(np.uint64).astype(np.uint32).view(np.int32)


def fp32_add_reference(a, b):
    """float64 math reference of :func:`fp32_add`: the sum of the flushed inputs in float64.

    Exact when the exponents differ by at most 29; otherwise within 2^-53 relative, which still
    rounds to the correctly rounded fp32 sum (float64 has more than 2 x 24 + 2 bits, so rounding
    twice is innocuous for one addition). NaN where the sum is undefined.
    """
    x = fp32_to_float64(flush_subnormal_fp32(a))
    y = fp32_to_float64(flush_subnormal_fp32(b))
    with np.errstate(invalid="ignore"):
        return x + y


def bf16_mul_reference(a, b):
    """float64 math reference of :func:`bf16_mul_exact`: exact product of the flushed inputs."""
    with np.errstate(invalid="ignore"):
        return bf16_from_bits(flush_subnormal_bf16(a)) * bf16_from_bits(flush_subnormal_bf16(b))


def mac_bf16_reference(a, b, acc):
    """float64 math reference of :func:`mac_bf16`: ``a * b + acc`` of the flushed inputs.

    The product is exact in float64; the sum is rounded once to float64 (53 bits).
    """
    acc = fp32_to_float64(flush_subnormal_fp32(acc))
    with np.errstate(invalid="ignore", over="ignore"):
        return bf16_mul_reference(a, b) + acc


def fp32_round_exact(value, *, zero_sign=0):
    """fp32 bit pattern of an exact rational, by the rows of DESIGN 4a (scalar, pure Python).

    ``0 < |value| < 2^-126`` -> zero with the sign of ``value``; otherwise round to nearest,
    ties to even, magnitudes from ``2^128 - 2^103`` up -> +-inf. ``value == 0`` -> a zero with
    sign bit ``zero_sign``. This is the definition every fp unit's result is checked against.

    Parameters
    ----------
    value : fractions.Fraction or int
        The exact result.
    zero_sign : int
        Sign bit of the result when ``value`` is exactly 0.
    """
    value = Fraction(value)
    if value == 0:
        return zero_sign << 31
    sign = 1 if value < 0 else 0
    magnitude = abs(value)
    if magnitude < Fraction(1, 1 << 126):
        return sign << 31
    exponent = magnitude.numerator.bit_length() - magnitude.denominator.bit_length()
    if Fraction(2) ** exponent > magnitude:
        exponent -= 1
    # magnitude in [2^exponent, 2^(exponent+1)); significand scaled to 24 integer bits.
    scaled = magnitude / Fraction(2) ** (exponent - 23)
    significand, remainder = divmod(scaled.numerator, scaled.denominator)
    half = Fraction(remainder, scaled.denominator)
    if half > Fraction(1, 2) or (half == Fraction(1, 2) and significand & 1):
        significand += 1
    if significand == 1 << 24:
        significand >>= 1
        exponent += 1
    biased = exponent + 127
    if biased >= 255:
        return (sign << 31) | 0x7F800000
    return (sign << 31) | (biased << 23) | (significand & 0x7FFFFF)
