"""Bit-exact numpy models of the arithmetic units, and math references for them.

Every function works on raw bit patterns - ``uint16`` for bf16, ``uint32`` for fp32, ``int8`` /
``int32`` for integers - and is vectorized over numpy arrays (scalars give 0-d arrays). The
functions implement the numerics contract of docs/numerics.md and have the names of the
hardware units in :mod:`hybridgen.rtl.arith`:

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
    value flushes / canonicalizes them (docs/numerics.md, rule 9).
    """
    return _u32(_u16(bits)) << np.uint32(16)


def fp32_to_bf16(bits):
    """fp32 -> bf16 (docs/numerics.md, rule 8): round to nearest even, canonical NaN, no subnormal.

    Rounding is ``(u + 0x7FFF + ((u >> 16) & 1)) >> 16`` on the flushed input, so a carry out of
    the largest finite bf16 gives +-inf. Subnormal fp32 inputs are zeros; a normal
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
    """Bit-exact model of :class:`hybridgen.rtl.arith.fp32.Fp32Add`: ``a + b`` on fp32 bit patterns.

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
    """Bit-exact model of :class:`hybridgen.rtl.arith.fp32.Bf16MulExact`: bf16 x bf16 -> fp32, exact.

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
    """Bit-exact model of :class:`hybridgen.rtl.arith.mac.MacBf16`: ``fp32_add(bf16_mul_exact(a, b), acc)``.

    Not fused: the product is first put into fp32 by :func:`bf16_mul_exact` (exact where
    normal), then added with :func:`fp32_add` (one rounding). Error vs the exact
    ``a * b + acc`` of the flushed inputs: at most 0.5 ulp of the result where the product is
    normal (or zero) and the result is normal. Returns ``uint32``.
    """
    return fp32_add(bf16_mul_exact(a, b), acc)


def mac_int8(a, b, acc):
    """Bit-exact model of :class:`hybridgen.rtl.arith.mac.MacInt8`: ``a * b + acc`` wrapping modulo 2^32.

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
    """fp32 bit pattern of an exact rational, by rules 2 and 3 of docs/numerics.md (scalar).

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


# =============================================================================================
# Vector arithmetic: fp32 multiply, min/max/compare, conversions and the special functions of
# rtl.arith (exp2, exp, reciprocal, sigmoid, silu, softplus with its log1p), bit-exact.
#
# The special functions are fixed-point datapaths with one final rounding (docs/numerics.md rules
# applied to the approximated value before rounding). Every integer operation below is the one
# the hardware performs, with the same widths; shifts right are floor (arithmetic) shifts.
# Coefficient tables come from :func:`sfu_coefficients`, the single source of truth that the RTL
# reads too.
# =============================================================================================

import functools as _functools
import math as _math

__all__ += [
    "SfuParams", "SFU_DEFAULTS", "sfu_coefficients", "round_pack",
    "fp32_mul", "fp32_max", "fp32_min", "fp32_compare", "fp32_to_int32", "int32_to_fp32",
    "fp32_exp2", "fp32_exp", "fp32_reciprocal", "fp32_sigmoid", "fp32_silu", "fp32_softplus",
    "fp32_mul_reference", "fp32_exp2_reference", "fp32_exp_reference",
    "fp32_reciprocal_reference", "fp32_sigmoid_reference", "fp32_silu_reference",
    "fp32_softplus_reference", "sfu_op", "sfu_reference", "SFU_UNARY_OPS", "SFU_BINARY_OPS",
    "vector_rowsum", "vector_rowmax", "vector_cumsum", "vector_op", "dot_bf16",
    "dot_bf16_reference", "dot_bf16_accumulate",
]

#: Fraction bits of the reduced argument ``t = x`` (exp2) or ``x * log2(e)`` (exp).
EXP_ARG_BITS = 32
#: Fraction bits of the fixed-point constant log2(e) (its value has EXP_LOG2E_BITS + 1 bits).
EXP_LOG2E_BITS = 40
#: ``round(log2(e) * 2^40)``.
EXP_LOG2E = 1586259972792  # checked against an exact computation below
#: Fraction bits of every polynomial coefficient and result (``K``).
POLY_COEFFICIENT_BITS = 30
#: Most bits of the segment variable a polynomial multiplier sees (``R``).
POLY_ARGUMENT_BITS = 28
#: Signed width of the Horner accumulator (K + 4 bits; the fit checks that it never overflows).
POLY_ACCUMULATOR_BITS = POLY_COEFFICIENT_BITS + 4
#: Fraction bits of the reciprocal iterate.
RECIP_BITS = 30
#: Fraction bits of the fixed-point sum x + log1p(exp(-x)) in softplus.
SOFTPLUS_SUM_BITS = 40
#: Softplus returns x itself above this threshold (Mamba's ``dt`` softplus).
SOFTPLUS_THRESHOLD = 20.0


def _log2e_constant():
    # log2(e) to 40 fraction bits, from exact integer arithmetic (no float rounding doubts).
    from decimal import Decimal, getcontext
    getcontext().prec = 60
    value = Decimal(1) / Decimal(2).ln()
    return int((value * (1 << EXP_LOG2E_BITS)).to_integral_value())


assert _log2e_constant() == EXP_LOG2E


class SfuParams:
    """Approximation parameters of the special-function units (what the sfu config sets).

    Parameters
    ----------
    exp_table_bits, exp_degree : int
        Segments (2^bits) and degree of the piecewise polynomial for 2^f on [0, 1).
    recip_table_bits, recip_seed_degree, recip_newton_steps : int
        Seed of 1/m on [1, 2): piecewise polynomial (degree 0 = a plain table); then
        Newton-Raphson steps ``y <- y (2 - m y)`` in fixed point.
    log_table_bits, log_degree : int
        Piecewise polynomial for log1p(u)/u on [0, 1) (softplus).
    """

    FIELDS = ("exp_table_bits", "exp_degree", "recip_table_bits", "recip_seed_degree",
              "recip_newton_steps", "log_table_bits", "log_degree")

    def __init__(self, exp_table_bits=3, exp_degree=3, recip_table_bits=7, recip_seed_degree=0,
                 recip_newton_steps=2, log_table_bits=4, log_degree=3):
        for name in self.FIELDS:
            setattr(self, name, int(locals()[name]))

    def key(self):
        return tuple(getattr(self, name) for name in self.FIELDS)

    @classmethod
    def of(cls, params):
        """``params`` as SfuParams: None (defaults), SfuParams, a dict or an object with fields."""
        if params is None:
            return SFU_DEFAULTS
        if isinstance(params, cls):
            return params
        if isinstance(params, dict):
            return cls(**{k: params[k] for k in cls.FIELDS if k in params})
        return cls(**{k: getattr(params, k) for k in cls.FIELDS})

    def __repr__(self):
        return "SfuParams(" + ", ".join(f"{k}={getattr(self, k)}" for k in self.FIELDS) + ")"


SFU_DEFAULTS = SfuParams()

_FUNCTIONS = {
    # name: (function on [0, 1) segment variable u, anchored at each segment start)
    "exp2": (lambda u: np.exp2(u), True),
    "log1p_ratio": (lambda u: np.where(u == 0, 1.0, np.log1p(u) / np.where(u == 0, 1, u)),
                    True),
    "recip": (lambda u: 1.0 / (1.0 + u), False),
}


@_functools.lru_cache(maxsize=None)
def sfu_coefficients(function, table_bits, degree):
    """Fixed-point coefficients of a piecewise polynomial: int64 array [2^table_bits, degree+1].

    ``function`` is ``"exp2"`` (2^u), ``"log1p_ratio"`` (log1p(u)/u) or ``"recip"`` (1/(1+u)),
    approximated on [0, 1) in ``2^table_bits`` equal segments; on segment ``i`` the polynomial
    ``sum_k c[i, k] s^k / 2^30`` with ``s`` in [0, 1) the position inside the segment. Fit:
    weighted least squares (relative error) on Chebyshev nodes, refined by Lawson iterations
    towards minimax; anchored functions interpolate the exact value at every segment start
    (so exp2(0) = 1 and exp2(n) = 2^n exactly). Coefficients are rounded to 30 fraction bits.
    """
    g, anchored = _FUNCTIONS[function]
    segments = 1 << table_bits
    nodes = 0.5 - 0.5 * np.cos(np.pi * (np.arange(96) + 0.5) / 96)
    nodes = np.concatenate([nodes, [1.0]])
    scale = 1 << POLY_COEFFICIENT_BITS
    table = np.zeros((segments, degree + 1), dtype=np.int64)
    for i in range(segments):
        y = g((i + nodes) / segments)
        if anchored:
            c0 = round(float(g(np.float64(i / segments))) * scale)
            columns = np.stack([nodes ** k for k in range(1, degree + 1)], axis=1)
            target = y - c0 / scale
        else:
            columns = np.stack([nodes ** k for k in range(0, degree + 1)], axis=1)
            target = y
        weights = 1.0 / np.abs(y)
        lawson = np.ones_like(nodes)
        for _ in range(30 if columns.shape[1] else 0):
            w = weights * np.sqrt(lawson)
            coefficients = np.linalg.lstsq(columns * w[:, None], target * w, rcond=None)[0]
            error = np.abs(columns @ coefficients - target) * weights
            lawson = lawson * (error + 1e-300)
            lawson /= lawson.sum()
        if columns.shape[1]:
            fitted = [round(float(c) * scale) for c in coefficients]
        else:
            fitted = []
        table[i] = ([c0] + fitted) if anchored else fitted
    # Horner accumulator bound: |acc| <= sum |c_k| must fit the signed accumulator.
    bound = np.abs(table).sum(axis=1).max()
    assert bound < 1 << (POLY_ACCUMULATOR_BITS - 1), (function, table_bits, degree, bound)
    return table


def _poly_argument_bits(input_bits, table_bits):
    return min(POLY_ARGUMENT_BITS, input_bits - table_bits)


def _piecewise_poly(table, table_bits, u, input_bits):
    """Horner evaluation of a :func:`sfu_coefficients` table at ``u`` (int64, ``input_bits``).

    ``i = u >> (input_bits - table_bits)``; ``s`` = the next ``R = min(28, input_bits -
    table_bits)`` bits; ``acc = c_d; acc = ((acc * s) >> R) + c_k`` for k = d-1 .. 0.
    """
    u = np.asarray(u, dtype=np.int64)
    argument_bits = _poly_argument_bits(input_bits, table_bits)
    index = u >> (input_bits - table_bits)
    s = (u >> (input_bits - table_bits - argument_bits)) & ((1 << argument_bits) - 1)
    degree = table.shape[1] - 1
    acc = table[index, degree]
    for k in range(degree - 1, -1, -1):
        acc = ((acc * s) >> argument_bits) + table[index, k]
    return acc


def _shr(value, shift):
    # Logical / arithmetic right shift by a per-element amount, valid for amounts >= 64 too.
    value = np.asarray(value)
    shift = np.asarray(shift, dtype=np.int64)
    fill = np.where(value < 0, -1, 0).astype(value.dtype) if value.dtype.kind == "i" else 0
    shifted = value >> np.clip(shift, 0, 63).astype(value.dtype)
    return np.where(shift >= 64, fill, shifted).astype(value.dtype)


def _bit_length(value):
    # Number of significant bits of non-negative int64 / uint64 values (0 for 0).
    value = np.asarray(value).astype(np.uint64)
    length = np.zeros(value.shape, dtype=np.int64)
    for step in (32, 16, 8, 4, 2, 1):
        big = value >= (np.uint64(1) << np.uint64(step))
        length += np.where(big, step, 0)
        value = np.where(big, value >> np.uint64(step), value)
    return length + (value != 0)


def round_pack(sign, mantissa, exponent):
    """fp32 bit pattern of ``(-1)^sign * mantissa * 2^exponent`` by docs/numerics.md rules 2, 3.

    The model of the hardware's normalize-and-round step every special function ends with:
    ``mantissa`` (non-negative integers below 2^63) is normalized by its leading one, rounded to
    24 significant bits to nearest even (sticky over every lower bit); a value below 2^-126
    before rounding gives a signed zero, a rounded value from 2^128 up gives +-inf, a zero
    mantissa gives a signed zero.
    """
    mantissa = np.asarray(mantissa).astype(np.uint64)
    exponent = np.asarray(exponent, dtype=np.int64)
    sign = np.asarray(sign).astype(np.uint32)
    length = _bit_length(mantissa)
    top = exponent + length - 1  # exponent of the leading one
    down = np.maximum(length - 24, 0)
    up = np.maximum(24 - length, 0)
    significand = (mantissa >> down.astype(np.uint64)) << up.astype(np.uint64)
    guard = np.where(down > 0, (mantissa >> np.maximum(down - 1, 0).astype(np.uint64)) & 1, 0)
    below = np.where(down > 1, mantissa & ((np.uint64(1) << np.maximum(down - 1, 0)
                                            .astype(np.uint64)) - np.uint64(1)), 0)
    rounded = significand + (guard & ((below != 0) | (significand & 1))).astype(np.uint64)
    carry = (rounded >> np.uint64(24)).astype(np.int64)
    biased = top + 127 + carry
    fraction = (rounded & np.uint64(0x7FFFFF)).astype(np.uint32)
    result = (sign << 31) | (np.clip(biased, 0, 255).astype(np.uint32) << 23) | fraction
    result = np.where(biased >= 255, (sign << 31) | np.uint32(0x7F800000), result)
    result = np.where((mantissa == 0) | (top + 127 <= 0), sign << 31, result)
    return result.astype(np.uint32)


def _unpack(bits):
    # Flushed fields: sign, biased exponent, 24-bit significand (0 for zeros), class flags.
    bits = flush_subnormal_fp32(bits)
    sign = (bits >> 31).astype(np.int64)
    exponent = ((bits >> 23) & 0xFF).astype(np.int64)
    fraction = (bits & 0x7FFFFF).astype(np.int64)
    zero = exponent == 0
    significand = np.where(zero, 0, fraction | (1 << 23))
    nan = (exponent == 255) & (fraction != 0)
    inf = (exponent == 255) & (fraction == 0)
    return bits, sign, exponent, significand, zero, nan, inf


_NAN32 = np.uint32(CANONICAL_NAN_FP32)
_INF32 = np.uint32(0x7F800000)


def fp32_mul(a, b):
    """Bit-exact model of :class:`hybridgen.rtl.arith.fp32_mul.Fp32Mul`: ``a * b`` correctly rounded.

    The exact 48-bit product of the flushed inputs is normalized and rounded once (0.5 ulp);
    ``0 < |p| < 2^-126`` (exact, before rounding) -> signed zero; overflow -> +-inf; ``0 x inf``
    and NaN inputs -> canonical NaN; the sign is ``sign(a) xor sign(b)`` also for zeros and
    infinities. Returns ``uint32``.
    """
    x = fp32_to_float64(flush_subnormal_fp32(a))
    y = fp32_to_float64(flush_subnormal_fp32(b))
    with np.errstate(invalid="ignore", over="ignore"):
        product = x * y  # exact: 24 x 24 bits fit float64's 53
        product = np.where(np.abs(product) < FP32_MIN_NORMAL, np.copysign(0.0, product),
                           product)
        return _finish_fp32(product.astype(np.float32))


def fp32_mul_reference(a, b):
    """float64 reference of :func:`fp32_mul`: the exact product of the flushed inputs."""
    with np.errstate(invalid="ignore", over="ignore"):
        return fp32_to_float64(flush_subnormal_fp32(a)) * fp32_to_float64(flush_subnormal_fp32(b))


def _order_key(bits):
    # Total order of flushed non-NaN fp32 patterns with -0 < +0 (monotone int64 key).
    bits = np.asarray(bits).astype(np.int64)
    return np.where(bits >> 31, -(bits & 0x7FFFFFFF) - 1, bits)


def fp32_max(a, b):
    """Bit-exact model of ``Fp32MinMax`` (max): the larger flushed input, -0 < +0; NaN if either
    input is NaN. Exact (a selection). Returns ``uint32``."""
    a, b = flush_subnormal_fp32(a), flush_subnormal_fp32(b)
    result = np.where(_order_key(a) >= _order_key(b), a, b)
    return np.where(is_nan_fp32(a) | is_nan_fp32(b), _NAN32, result).astype(np.uint32)


def fp32_min(a, b):
    """Bit-exact model of ``Fp32MinMax`` (min): the smaller flushed input, -0 < +0; NaN if either
    input is NaN. Returns ``uint32``."""
    a, b = flush_subnormal_fp32(a), flush_subnormal_fp32(b)
    result = np.where(_order_key(a) <= _order_key(b), a, b)
    return np.where(is_nan_fp32(a) | is_nan_fp32(b), _NAN32, result).astype(np.uint32)


def fp32_compare(a, b):
    """Bit-exact model of ``Fp32Compare``: 4 flag bits ``lt | eq << 1 | gt << 2 | unordered << 3``.

    IEEE comparison of the flushed inputs: ``-0 == +0`` (unlike min/max), NaN is unordered with
    everything (only the unordered bit set). Returns ``uint8``.
    """
    a, b = flush_subnormal_fp32(a), flush_subnormal_fp32(b)
    unordered = is_nan_fp32(a) | is_nan_fp32(b)
    ka = np.where((a & 0x7FFFFFFF) == 0, 0, _order_key(a))
    kb = np.where((b & 0x7FFFFFFF) == 0, 0, _order_key(b))
    lt, eq, gt = ka < kb, ka == kb, ka > kb
    flags = lt * 1 + eq * 2 + gt * 4
    return np.where(unordered, 8, flags).astype(np.uint8)


def fp32_to_int32(a):
    """Bit-exact model of ``Fp32ToInt32``: round to nearest even, saturate, NaN -> 0 (4a).

    Returns ``int32``.
    """
    x = fp32_to_float64(flush_subnormal_fp32(a))
    with np.errstate(invalid="ignore"):
        rounded = np.rint(np.where(np.isnan(x), 0.0, x))
        return np.clip(rounded, -2.0 ** 31, 2.0 ** 31 - 1).astype(np.int64).astype(np.int32)


def int32_to_fp32(a):
    """Bit-exact model of ``Int32ToFp32``: round to nearest even (exact below 2^24).

    Returns ``uint32``.
    """
    return fp32_to_bits(np.asarray(a).astype(np.int64).astype(np.float64).astype(np.float32))


def _reduced_argument(significand, exponent, sign, natural):
    """``t`` = x (exp2) or x * log2(e) (exp) in fixed point with 32 fraction bits (int64).

    The magnitude is truncated (``floor(|x| * 2^32)``, or ``floor(M * LOG2E >> k)`` with
    ``k = 158 - e`` for exp), then negated for negative x; |x| >= 256 saturates (the caller
    gives inf / 0 there).
    """
    if natural:
        shift = 158 - exponent  # >= 24 whenever exponent <= 134
        high = significand * (EXP_LOG2E >> 24)
        low = significand * (EXP_LOG2E & 0xFFFFFF)
        magnitude = _shr(high + (low >> 24), np.maximum(shift - 24, 0))
    else:
        shift = exponent - 118  # left shift for exponent >= 118
        magnitude = np.where(shift >= 0, significand << np.clip(shift, 0, 16),
                             _shr(significand, -shift))
    magnitude = np.where(exponent >= 135, 0, magnitude)
    return np.where(sign == 1, -magnitude, magnitude)


def _exp_core(significand, exponent, sign, natural, params):
    """(n, p, big): 2^t ~ p * 2^(n - 30) with p from the piecewise polynomial; ``big`` = |x| >= 256."""
    params = SfuParams.of(params)
    t = _reduced_argument(significand, exponent, sign, natural)
    n = t >> EXP_ARG_BITS
    f = t & ((1 << EXP_ARG_BITS) - 1)
    table = sfu_coefficients("exp2", params.exp_table_bits, params.exp_degree)
    p = _piecewise_poly(table, params.exp_table_bits, f, EXP_ARG_BITS)
    return n, p, exponent >= 135


def _fp32_exp_common(x, natural, params):
    bits, sign, exponent, significand, zero, nan, inf = _unpack(x)
    n, p, big = _exp_core(significand, exponent, sign, natural, params)
    result = round_pack(0, p, n - POLY_COEFFICIENT_BITS)
    saturated = np.where(sign == 1, np.uint32(0), _INF32)
    result = np.where(big | inf, saturated, result)
    return np.where(nan, _NAN32, result).astype(np.uint32)


def fp32_exp2(x, params=None):
    """Bit-exact model of ``Fp32Exp(base=2)``: 2^x.

    t = x in fixed point (32 fraction bits, magnitude truncated); n = floor(t), f = t - n;
    2^f by the piecewise polynomial (``exp_table_bits``, ``exp_degree``, exact at f = 0);
    one rounding of p * 2^n. -inf -> +0, +inf and x >= 128 -> +inf, results below 2^-126 -> +0,
    NaN -> canonical NaN. Error bound: see tests/arith/test_sfu_golden.py (default 2^-20).
    """
    return _fp32_exp_common(x, False, params)


def fp32_exp(x, params=None):
    """Bit-exact model of ``Fp32Exp(base=e)``: e^x = 2^(x log2 e), log2 e with 40 fraction bits
    in the fixed-point range reduction (no fp32 rounding of the product), then as
    :func:`fp32_exp2`."""
    return _fp32_exp_common(x, True, params)


def _recip_core(mantissa, fraction_bits, params):
    """Fixed-point 1/m for m = mantissa / 2^Q in [1, 2): result y / 2^30 (int64)."""
    params = SfuParams.of(params)
    u = mantissa - (1 << fraction_bits)
    table = sfu_coefficients("recip", params.recip_table_bits, params.recip_seed_degree)
    y = _piecewise_poly(table, params.recip_table_bits, u, fraction_bits)
    two = 2 << (fraction_bits + RECIP_BITS)
    for _ in range(params.recip_newton_steps):
        error = (two - mantissa * y) >> fraction_bits
        y = (y * error) >> RECIP_BITS
    return y


def fp32_reciprocal(x, params=None):
    """Bit-exact model of ``Fp32Reciprocal``: 1/x.

    Seed 1/m from a piecewise polynomial indexed by the top ``recip_table_bits`` fraction bits
    (degree ``recip_seed_degree``; 0 = a table), ``recip_newton_steps`` Newton-Raphson steps in
    fixed point (30 fraction bits, floor), one rounding; a power of two (m = 1) gets the exact
    1/m = 1 (Newton converges from below and would leave it just under a power of two). 1/+-0 = +-inf, 1/+-inf = +-0, results
    below 2^-126 -> signed zero, NaN -> canonical NaN.
    """
    bits, sign, exponent, significand, zero, nan, inf = _unpack(x)
    y = _recip_core(significand, 23, params)
    y = np.where(significand == 1 << 23, 1 << RECIP_BITS, y)  # 1/2^k is exact
    result = round_pack(sign, y, -(exponent - 127) - RECIP_BITS)
    result = np.where(zero, (sign.astype(np.uint32) << 31) | _INF32, result)
    result = np.where(inf, sign.astype(np.uint32) << 31, result)
    return np.where(nan, _NAN32, result).astype(np.uint32)


def _sigmoid_core(x, params):
    """Shared by sigmoid and silu: e = exp(-|x|), r = 1 / (1 + e), er = e * r or r.

    Returns (fields of x, er, exponent of er's LSB).
    """
    bits, sign, exponent, significand, zero, nan, inf = _unpack(x)
    n, p, big = _exp_core(significand, exponent, np.ones_like(sign), True, params)
    p = np.where(big, 0, p)
    # 1 + e in fixed point with 30 fraction bits, in [1, 2]; 2 is renormalized to 1 (shift 1).
    d = (1 << RECIP_BITS) + _shr(p, -n)
    d_shift = (d >> (RECIP_BITS + 1)) & 1
    d = np.where(d_shift == 1, d >> 1, d)
    r = _recip_core(d, RECIP_BITS, params)
    er = np.where(sign == 1, (p * r) >> POLY_COEFFICIENT_BITS, r)
    er_exponent = np.where(sign == 1, n, 0) - RECIP_BITS - d_shift
    return (sign, exponent, significand, zero, nan, inf), er, er_exponent


def fp32_sigmoid(x, params=None):
    """Bit-exact model of ``Fp32Sigmoid``: 1 / (1 + e^-x).

    e = exp(-|x|) as an unrounded (p, n) pair from the exp datapath, 1 + e in fixed point,
    reciprocal by the reciprocal datapath (seed + Newton); x < 0 gives e / (1 + e) (product
    truncated to 30 bits), so tiny results keep their relative accuracy down to 2^-126. One
    rounding. sigmoid(+inf) = 1, sigmoid(-inf) = +0, NaN -> canonical NaN.
    """
    (sign, exponent, significand, zero, nan, inf), er, er_exponent = _sigmoid_core(x, params)
    result = round_pack(0, er, er_exponent)
    result = np.where(inf, np.where(sign == 1, np.uint32(0), np.uint32(0x3F800000)), result)
    return np.where(nan, _NAN32, result).astype(np.uint32)


def fp32_silu(x, params=None):
    """Bit-exact model of ``Fp32Sigmoid(silu=True)``: x * sigmoid(x).

    x times the unrounded sigmoid of :func:`fp32_sigmoid` (24 x 31-bit product, one rounding),
    with a wide internal exponent, so very negative x (-104 < x < -87, where an fp32 sigmoid
    underflows) still gives the normal result x e^x. silu(+inf) = +inf, silu(-inf) = -0 (the
    limit), silu(+-0) = +-0, NaN -> canonical NaN.
    """
    (sign, exponent, significand, zero, nan, inf), er, er_exponent = _sigmoid_core(x, params)
    result = round_pack(sign, significand.astype(np.uint64) * er.astype(np.uint64),
                        exponent - 150 + er_exponent)
    result = np.where(inf, np.where(sign == 1, np.uint32(0x80000000), _INF32), result)
    return np.where(nan, _NAN32, result).astype(np.uint32)


def fp32_softplus(x, params=None):
    """Bit-exact model of ``Fp32Softplus``: x for x > 20, else max(x, 0) + log1p(exp(-|x|)).

    e = exp(-|x|) as an unrounded (p, n) pair; u = e with 32 fraction bits (clamped below 1);
    log1p(e) = e * h(u), h(u) = log1p(u)/u by a piecewise polynomial (``log_table_bits``,
    ``log_degree``), so tiny e keep their relative accuracy. x < 0: one rounding of e * h.
    0 <= x <= 20: x and e * h summed in fixed point (40 fraction bits, truncated), one rounding.
    softplus(+inf) = +inf, softplus(-inf) = +0, NaN -> canonical NaN.
    """
    params = SfuParams.of(params)
    bits, sign, exponent, significand, zero, nan, inf = _unpack(x)
    n, p, big = _exp_core(significand, exponent, np.ones_like(sign), True, params)
    p = np.where(big, 0, p)
    u = np.minimum(_shr(p << 2, -n), (1 << 32) - 1)
    table = sfu_coefficients("log1p_ratio", params.log_table_bits, params.log_degree)
    h = _piecewise_poly(table, params.log_table_bits, u, 32)
    log1p = p * h  # value log1p * 2^(60 - n)
    negative = round_pack(0, log1p, n - 2 * POLY_COEFFICIENT_BITS)
    x_fixed = np.where(exponent - 110 >= 0, significand << np.clip(exponent - 110, 0, 63),
                       _shr(significand, 110 - exponent))
    total = x_fixed + _shr(log1p, 2 * POLY_COEFFICIENT_BITS - SOFTPLUS_SUM_BITS - n)
    positive = round_pack(0, total, -SOFTPLUS_SUM_BITS)
    result = np.where(sign == 1, negative, positive)
    above = (sign == 0) & (bits > np.uint32(0x41A00000))  # x > 20 (inf and NaN included)
    result = np.where(above, bits, result)
    result = np.where(inf & (sign == 1), np.uint32(0), result)
    return np.where(nan, _NAN32, result).astype(np.uint32)


# -- float64 references ------------------------------------------------------------------------

def _flushed64(x):
    return fp32_to_float64(flush_subnormal_fp32(x))


def fp32_exp2_reference(x):
    """float64 2^x of the flushed input."""
    with np.errstate(over="ignore"):
        return np.exp2(_flushed64(x))


def fp32_exp_reference(x):
    """float64 e^x of the flushed input."""
    with np.errstate(over="ignore"):
        return np.exp(_flushed64(x))


def fp32_reciprocal_reference(x):
    """float64 1/x of the flushed input (1/+-0 = +-inf)."""
    with np.errstate(divide="ignore"):
        return 1.0 / _flushed64(x)


def fp32_sigmoid_reference(x):
    """float64 sigmoid of the flushed input, accurate for both signs."""
    v = _flushed64(x)
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(-np.abs(v))
        return np.where(v >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def fp32_silu_reference(x):
    """float64 x * sigmoid(x) of the flushed input (silu(-inf) = -0)."""
    v = _flushed64(x)
    with np.errstate(invalid="ignore"):
        result = v * fp32_sigmoid_reference(x)
    return np.where(v == -np.inf, -0.0, result)


def fp32_softplus_reference(x):
    """float64 softplus of the flushed input: x for x > 20, else max(x,0) + log1p(exp(-|x|))."""
    v = _flushed64(x)
    with np.errstate(over="ignore", invalid="ignore"):
        value = np.maximum(v, 0) + np.log1p(np.exp(-np.abs(v)))
    return np.where(v > SOFTPLUS_THRESHOLD, v, value)


# -- op tables (what the vector lane computes) -------------------------------------------------

#: Unary ops of the vector lane and their bit-exact models / float64 references.
SFU_UNARY_OPS = {
    "exp": (fp32_exp, fp32_exp_reference),
    "exp2": (fp32_exp2, fp32_exp2_reference),
    "recip": (fp32_reciprocal, fp32_reciprocal_reference),
    "sigmoid": (fp32_sigmoid, fp32_sigmoid_reference),
    "silu": (fp32_silu, fp32_silu_reference),
    "softplus": (fp32_softplus, fp32_softplus_reference),
}

#: Binary ops of the vector lane and their bit-exact models.
SFU_BINARY_OPS = {
    "add": fp32_add,
    "sub": lambda a, b: fp32_add(a, _u32(b) ^ np.uint32(0x80000000)),
    "mul": fp32_mul,
    "max": fp32_max,
    "min": fp32_min,
}


def sfu_op(op, a, b=None, params=None):
    """Bit-exact result of lane op ``op`` (unary ops ignore ``b``); ``uint32``."""
    if op in SFU_UNARY_OPS:
        return SFU_UNARY_OPS[op][0](a, params)
    if op == "bf16":
        return bf16_to_fp32(fp32_to_bf16(a))
    return SFU_BINARY_OPS[op](a, b)


def sfu_reference(op, a):
    """float64 math reference of unary op ``op``."""
    return SFU_UNARY_OPS[op][1](a)


# -- vector reductions -------------------------------------------------------------------------

def vector_rowsum(rows):
    """Bit-exact model of the vector unit's row sum: pairwise tree over the lanes.

    ``rows`` is a uint32 array [R, W] (W a power of two). Level 1 adds lanes (0, 1), (2, 3), ...;
    each further level adds neighbouring partial sums, so the sum of W lanes is the balanced
    binary tree ``((x0 + x1) + (x2 + x3)) + ...``, each addition :func:`fp32_add`.
    """
    level = _u32(rows)
    while level.shape[-1] > 1:
        level = fp32_add(level[..., 0::2], level[..., 1::2])
    return level[..., 0]


def dot_bf16(a, b):
    """Bit-exact model of :class:`hybridgen.rtl.arith.dot.Bf16Dot`: ``sum_k a[k] * b[k]``.

    ``a``, ``b`` are bf16 bit patterns [..., W] (W a power of two). The W exact products
    (:func:`bf16_mul_exact`) are summed by the pairwise tree of :func:`vector_rowsum`:
    ``((p0 + p1) + (p2 + p3)) + ...``, each addition :func:`fp32_add`. Returns uint32 [...].

    Error against the float64 dot product of the flushed inputs
    (:func:`dot_bf16_reference`): at most ``((1 + 2^-24)^log2(W) - 1) * sum_k |a_k b_k|`` (one
    rounding per tree level, each at most half an ulp of a partial sum) where no partial sum
    overflows or falls below the normal range.
    """
    return vector_rowsum(bf16_mul_exact(_u16(a), _u16(b)))


def dot_bf16_accumulate(a, b, width):
    """Bit-exact model of a long dot product on a :class:`~hybridgen.rtl.arith.dot.Bf16Dot` of
    ``width`` products plus an fp32 accumulator (the engines' reduction over K).

    ``a``, ``b``: bf16 bit patterns [..., K], K >= 1. K is padded with +0 to a multiple of
    ``width`` (a padded product is a signed zero, which never changes a sum of another value).
    Chunk j is ``t_j = dot_bf16(a[..., j*width:(j+1)*width], b[...])``; the result is
    ``t_0`` for one chunk, else ``acc = t_0`` then ``acc = fp32_add(acc, t_j)`` for
    j = 1, 2, ... in increasing order (no addition of an initial zero). Returns uint32 [...].
    """
    a, b = np.broadcast_arrays(_u16(a), _u16(b))
    k = a.shape[-1]
    if k < 1:
        raise ValueError("dot_bf16_accumulate needs K >= 1")
    chunks = -(-k // width)
    pad = [(0, 0)] * (a.ndim - 1) + [(0, chunks * width - k)]
    a = np.pad(a, pad).reshape(a.shape[:-1] + (chunks, width))
    b = np.pad(b, pad).reshape(b.shape[:-1] + (chunks, width))
    partial = dot_bf16(a, b)
    acc = partial[..., 0]
    for j in range(1, chunks):
        acc = fp32_add(acc, partial[..., j])
    return acc


def dot_bf16_reference(a, b):
    """float64 math reference of :func:`dot_bf16`: the exact dot product of the flushed inputs,
    and ``sum_k |a_k b_k|`` (for the error bound). Returns ``(value, magnitude)``."""
    products = bf16_mul_reference(a, b)
    return products.sum(axis=-1), np.abs(products).sum(axis=-1)


def vector_rowmax(rows):
    """Bit-exact model of the row max: the same pairwise tree with :func:`fp32_max` (exact;
    NaN if any lane is NaN, -0 < +0, subnormals flushed)."""
    level = flush_subnormal_fp32(rows)
    while level.shape[-1] > 1:
        level = fp32_max(level[..., 0::2], level[..., 1::2])
    return level[..., 0]


def vector_cumsum(rows):
    """Bit-exact model of the inclusive prefix sum along each row (Sklansky order).

    For levels l = 0 .. log2(W) - 1, every lane k with bit l set becomes
    ``fp32_add(s[j], s[k])`` with ``j = (k >> l << l) - 1`` (the last lane of the preceding
    block of 2^l lanes); other lanes pass unchanged. Lane k then holds x0 + ... + xk summed as a
    balanced tree (lane W-1 equals :func:`vector_rowsum`). Lanes are flushed like any fp32 input
    (lane 0 passes through as its flushed value).
    """
    s = flush_subnormal_fp32(rows).copy()
    width = s.shape[-1]
    level = 0
    while (1 << level) < width:
        k = np.arange(width)
        active = (k >> level) & 1 == 1
        j = ((k >> level) << level) - 1
        updated = fp32_add(s[..., np.where(active, j, k)], s)
        s = np.where(active, updated, s)
        level += 1
    return canonicalize_nan_fp32(s)


def vector_op(op, a, b=None, params=None):
    """Bit-exact output of the vector unit for one op on rows ``a`` (and ``b``), uint32 [R, W].

    Elementwise ops apply :func:`sfu_op` per lane; ``rowsum`` / ``rowmax`` broadcast the row
    result to every lane; ``cumsum`` is :func:`vector_cumsum`.
    """
    a = _u32(a)
    if op == "rowsum":
        return np.repeat(vector_rowsum(a)[..., None], a.shape[-1], axis=-1)
    if op == "rowmax":
        return np.repeat(vector_rowmax(a)[..., None], a.shape[-1], axis=-1)
    if op == "cumsum":
        return vector_cumsum(a)
    if op == "pass":
        return a
    return sfu_op(op, a, None if b is None else _u32(b), params)


#: Op codes of the vector lane / vector unit (4-bit ``op`` field), shared by RTL, golden and
#: testbenches. Elementwise: add .. bf16 (``bf16`` rounds a to bf16 and widens it back to fp32);
#: reductions along the vector: rowsum, rowmax (result broadcast to every lane), cumsum;
#: ``pass`` returns a unchanged.
VECTOR_OPS = {"add": 0, "sub": 1, "mul": 2, "max": 3, "min": 4, "exp": 5, "exp2": 6,
              "recip": 7, "sigmoid": 8, "silu": 9, "softplus": 10, "bf16": 11, "rowsum": 12,
              "rowmax": 13, "cumsum": 14, "pass": 15}
__all__ += ["VECTOR_OPS"]


def lane_op(op, a, b, params=None):
    """Bit-exact output of one vector lane for op name ``op`` (reductions and pass give a)."""
    if op in ("rowsum", "rowmax", "cumsum", "pass"):
        return _u32(a)
    return sfu_op(op, a, b, params)


def measure_error(result_bits, reference):
    """(max relative error, max ulp error) of fp32 results against float64 ``reference``.

    Counted where the reference is finite and normal in fp32 (``2^-126 <= |r| <= FP32_MAX``);
    a result there that is 0 or inf counts with its true distance. ulp = 2^(floor(log2|r|) - 23).
    Returns (0.0, 0.0) when no element qualifies.
    """
    reference = np.asarray(reference, dtype=np.float64)
    got = fp32_to_float64(result_bits)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        normal = np.isfinite(reference) & (np.abs(reference) >= FP32_MIN_NORMAL) & \
            (np.abs(reference) <= FP32_MAX)
        if not normal.any():
            return 0.0, 0.0
        r, y = reference[normal], got[normal]
        diff = np.abs(y - r)
        rel = diff / np.abs(r)
        ulp = np.exp2(np.floor(np.log2(np.abs(r))) - 23)
        return float(np.max(rel)), float(np.max(diff / ulp))


__all__ += ["measure_error", "lane_op"]
