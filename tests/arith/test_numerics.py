"""Golden numerics (golden/numerics.py) against exact rational references, docs/numerics.md.

The exact reference is :func:`hybridgen.golden.numerics.fp32_round_exact` applied to the exact rational
result of the flushed inputs (fractions.Fraction); it encodes the 4a rows directly and shares no
code with the numpy float32 models under test.
"""

from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from hybridgen.golden import numerics
from hybridgen.golden.numerics import CANONICAL_NAN_BF16, CANONICAL_NAN_FP32
from hybridgen.verif import operands

MIN_NORMAL = Fraction(1, 1 << 126)
PROPERTY = settings(max_examples=400, deadline=None)


# -- scalar exact references --------------------------------------------------------------------

def fp32_class(bits):
    """('nan' | 'inf' | 'zero' | 'finite', sign, exact Fraction or None) of a flushed fp32."""
    sign = bits >> 31
    exponent = (bits >> 23) & 0xFF
    fraction = bits & 0x7FFFFF
    if exponent == 0xFF:
        return ("nan" if fraction else "inf"), sign, None
    if exponent == 0:
        return "zero", sign, Fraction(0)
    value = Fraction((1 << 23) | fraction, 1 << 23) * Fraction(2) ** (exponent - 127)
    return "finite", sign, -value if sign else value


def bf16_class(bits):
    return fp32_class(int(bits) << 16)


def exact_add(a, b):
    """4a result of fp32 a + b, from exact rationals."""
    kind_a, sign_a, value_a = fp32_class(int(a))
    kind_b, sign_b, value_b = fp32_class(int(b))
    if "nan" in (kind_a, kind_b):
        return CANONICAL_NAN_FP32
    if kind_a == "inf" and kind_b == "inf":
        return CANONICAL_NAN_FP32 if sign_a != sign_b else (sign_a << 31) | 0x7F800000
    if kind_a == "inf" or kind_b == "inf":
        return ((sign_a if kind_a == "inf" else sign_b) << 31) | 0x7F800000
    return numerics.fp32_round_exact(value_a + value_b, zero_sign=sign_a & sign_b)


def exact_product(a, b):
    """('nan' | 'inf' | 'finite', sign, exact Fraction) of bf16 a x b (subnormals are zeros)."""
    kind_a, sign_a, value_a = bf16_class(a)
    kind_b, sign_b, value_b = bf16_class(b)
    sign = sign_a ^ sign_b
    if "nan" in (kind_a, kind_b) or {kind_a, kind_b} == {"inf", "zero"}:
        return "nan", 0, None
    if "inf" in (kind_a, kind_b):
        return "inf", sign, None
    return "finite", sign, value_a * value_b


def exact_mul(a, b):
    kind, sign, value = exact_product(a, b)
    if kind == "nan":
        return CANONICAL_NAN_FP32
    if kind == "inf":
        return (sign << 31) | 0x7F800000
    return numerics.fp32_round_exact(value, zero_sign=sign)


# -- strategies ---------------------------------------------------------------------------------

def _bits(value):
    return int(np.float32(value).view(np.uint32))


FP32_BITS = st.one_of(
    st.integers(0, 0xFFFFFFFF),
    st.floats(width=32, allow_nan=True, allow_infinity=True, allow_subnormal=True).map(_bits),
    st.sampled_from([int(x) for x in operands.FP32_SPECIAL_VALUES]),
    st.tuples(st.integers(0, 1), st.sampled_from([1, 2, 3, 252, 253, 254]),
              st.integers(0, 0x7FFFFF)).map(lambda t: (t[0] << 31) | (t[1] << 23) | t[2]),
)
BF16_BITS = st.one_of(
    st.integers(0, 0xFFFF),
    st.sampled_from([int(x) for x in operands.BF16_SPECIAL_VALUES]),
    st.tuples(st.integers(0, 1), st.sampled_from([1, 2, 60, 64, 66, 127, 190, 192, 254]),
              st.integers(0, 0x7F)).map(lambda t: (t[0] << 15) | (t[1] << 7) | t[2]),
)


@st.composite
def fp32_pairs(draw):
    """Pairs that stress the adder: independent, near-cancelling, offset exponents, ties."""
    a = draw(FP32_BITS)
    how = draw(st.sampled_from(["independent", "near_negation", "exponent_offset", "tie"]))
    if how == "independent":
        return a, draw(FP32_BITS)
    magnitude = a & 0x7FFFFFFF
    if how == "near_negation":
        other = min(max(magnitude + draw(st.integers(-3, 3)), 0), 0x7F7FFFFF)
        return a, other | ((a ^ 0x80000000) & 0x80000000)
    exponent = (a >> 23) & 0xFF
    if how == "exponent_offset":
        shifted = min(max(exponent - draw(st.integers(0, 40)), 0), 254)
        return a, (draw(st.integers(0, 1)) << 31) | (shifted << 23) | draw(
            st.integers(0, 0x7FFFFF))
    # b = an odd multiple of half an ulp of a (an exact tie before any renormalization).
    if not 26 <= exponent <= 254:
        return a, draw(FP32_BITS)
    odd = 2 * draw(st.integers(0, 3)) + 1
    half_ulp = Fraction(odd) * Fraction(2) ** (exponent - 127 - 24)
    b = numerics.fp32_round_exact(half_ulp)
    return a, b | (draw(st.integers(0, 1)) << 31)


# -- fp32 adder ---------------------------------------------------------------------------------

@PROPERTY
@given(fp32_pairs())
def test_fp32_add_matches_exact_rounding(pair):
    a, b = pair
    assert int(numerics.fp32_add(a, b)) == exact_add(a, b)
    assert int(numerics.fp32_add(b, a)) == exact_add(a, b)  # commutative


@PROPERTY
@given(fp32_pairs())
def test_fp32_add_error_bound_against_float64_reference(pair):
    """Where the result is normal: at most 0.5 ulp from the exact sum, exact ties to even, and
    equal to the float64 reference rounded to float32 (double rounding is innocuous here)."""
    a, b = pair
    result = int(numerics.fp32_add(a, b))
    kind, _sign, value = fp32_class(result)
    if kind != "finite":
        return
    exact = fp32_class(a)[2] + fp32_class(b)[2]
    ulp = Fraction(2) ** (((result >> 23) & 0xFF) - 127 - 23)
    error = abs(value - exact)
    assert error <= ulp / 2
    if error == ulp / 2:
        assert result & 1 == 0, "tie not rounded to even"
    assert _bits(numerics.fp32_add_reference(a, b)) == result


def test_fp32_add_on_generated_classes_matches_exact_rounding():
    a, b, coverage = operands.fp32_add_operands(np.random.default_rng(1), 3000)
    coverage.assert_all_hit()
    got = numerics.fp32_add(a, b)
    expected = [exact_add(x, y) for x, y in zip(a.tolist(), b.tolist())]
    assert got.tolist() == expected


def test_fp32_add_on_every_special_combination():
    a, b = operands.fp32_add_specials()
    assert numerics.fp32_add(a, b).tolist() == [exact_add(x, y)
                                                for x, y in zip(a.tolist(), b.tolist())]


ONE, TWO, MAX, MIN = 0x3F800000, 0x40000000, 0x7F7FFFFF, 0x00800000


@pytest.mark.parametrize("a, b, expected", [
    (ONE, TWO, 0x40400000),                    # 1 + 2 = 3
    (ONE, 0x33800000, ONE),                    # 1 + 2^-24: tie, stays at even 1.0
    (0x3F800001, 0x33800000, 0x3F800002),      # (1 + 2^-23) + 2^-24: tie, up to even
    (ONE, 0x34400000, 0x3F800002),             # 1 + 3 * 2^-24: tie, up to even
    (ONE, 0xBF800000, 0x00000000),             # x + (-x) = +0
    (0xBF800000, ONE, 0x00000000),
    (0x80000000, 0x80000000, 0x80000000),      # (-0) + (-0) = -0
    (0x00000000, 0x80000000, 0x00000000),      # (+0) + (-0) = +0
    (0x80000001, 0x80000000, 0x80000000),      # subnormal input is a signed zero
    (0x00000001, ONE, ONE),
    (0x807FFFFF, 0x00000001, 0x00000000),      # two subnormals: (-0) + (+0) = +0
    (0x00800001, 0x80800000, 0x00000000),      # exact 2^-149: tiny, flushed to +0
    (0x80800001, 0x00800000, 0x80000000),      # exact -2^-149: tiny, flushed to -0
    (0x00C00000, 0x80800000, 0x00000000),      # 1.5 * 2^-126 - 2^-126 = 2^-127: +0
    (0x00800000, 0x00800000, 0x01000000),      # 2^-126 + 2^-126 = 2^-125
    (MAX, MAX, 0x7F800000),                    # overflow to +inf
    (MAX | 0x80000000, 0xFF000000, 0xFF800000),  # overflow to -inf
    (MAX, 0x73000000, 0x7F800000),             # max + half ulp: tie, odd max -> inf
    (MAX, 0x72800000, MAX),                    # max + quarter ulp: stays max
    (0x7F800000, 0xFF800000, CANONICAL_NAN_FP32),  # inf - inf
    (0x7F800000, MAX, 0x7F800000),
    (0xFF800000, 0x00000000, 0xFF800000),
    (0xFFC00001, ONE, CANONICAL_NAN_FP32),     # NaN payload and sign dropped
    (0x7F800001, 0x7F800000, CANONICAL_NAN_FP32),
])
def test_fp32_add_vectors(a, b, expected):
    assert int(numerics.fp32_add(a, b)) == expected
    assert int(numerics.fp32_add(b, a)) == expected
    assert exact_add(a, b) == expected


# -- bf16 multiplier and MAC --------------------------------------------------------------------

@PROPERTY
@given(BF16_BITS, BF16_BITS)
def test_bf16_mul_exact_is_exact(a, b):
    result = int(numerics.bf16_mul_exact(a, b))
    assert result == exact_mul(a, b)
    kind, _sign, value = exact_product(a, b)
    if kind == "finite" and MIN_NORMAL <= abs(value) < 2 ** 128:
        assert fp32_class(result)[2] == value  # no rounding ever


@pytest.mark.parametrize("a, b, expected", [
    (0x3F80, 0x3F80, ONE),
    (0x3FC0, 0xC000, 0xC0400000),              # 1.5 * -2 = -3
    (0x3F81, 0x3F81, 0x3F820200),              # (1 + 2^-7)^2 exact: 1 + 2^-6 + 2^-14
    (0x0000, 0x7F80, CANONICAL_NAN_FP32),      # 0 x inf
    (0x8001, 0x7F80, CANONICAL_NAN_FP32),      # subnormal counts as 0: 0 x inf
    (0x7F80, 0x3F80, 0x7F800000),
    (0xFF80, 0x3F80, 0xFF800000),
    (0x0080, 0x3F00, 0x00000000),              # 2^-126 * 0.5: tiny -> +0
    (0x8080, 0x3F00, 0x80000000),              # tiny -> -0
    (0x0001, 0x3F80, 0x00000000),              # subnormal input
    (0x8000, 0x3F80, 0x80000000),              # -0 * 1 = -0
    (0x7F00, 0x4000, 0x7F800000),              # 2^127 * 2 = 2^128 -> inf
    (0x7F7F, 0x3F80, 0x7F7F0000),              # largest bf16 is exact
    (0xFFC1, 0x3F80, CANONICAL_NAN_FP32),
])
def test_bf16_mul_exact_vectors(a, b, expected):
    assert int(numerics.bf16_mul_exact(a, b)) == expected


@PROPERTY
@given(BF16_BITS, BF16_BITS, FP32_BITS)
def test_mac_bf16_is_product_then_add(a, b, acc):
    result = int(numerics.mac_bf16(a, b, acc))
    assert result == exact_add(exact_mul(a, b), acc)
    # Where the product is normal, the non-fused MAC equals the correctly rounded a * b + acc.
    kind, _sign, product = exact_product(a, b)
    acc_kind, acc_sign, acc_value = fp32_class(acc)
    if kind == "finite" and product != 0 and MIN_NORMAL <= abs(product) < 2 ** 128 \
            and acc_kind in ("finite", "zero"):
        assert result == numerics.fp32_round_exact(product + acc_value, zero_sign=0)


def test_mac_bf16_on_generated_classes():
    a, b, acc, coverage = operands.bf16_mac_operands(np.random.default_rng(2), 3000)
    coverage.assert_all_hit()
    expected = [exact_add(exact_mul(x, y), z)
                for x, y, z in zip(a.tolist(), b.tolist(), acc.tolist())]
    assert numerics.mac_bf16(a, b, acc).tolist() == expected


def test_mac_bf16_on_every_special_combination():
    a, b, acc = operands.bf16_mac_specials()
    expected = [exact_add(exact_mul(x, y), z)
                for x, y, z in zip(a.tolist(), b.tolist(), acc.tolist())]
    assert numerics.mac_bf16(a, b, acc).tolist() == expected


@pytest.mark.parametrize("a, b, acc, expected", [
    (0x3F80, 0x3F80, 0xBF800000, 0x00000000),  # 1 * 1 - 1 = +0
    (0xBF80, 0x3F80, 0x80000000, 0xBF800000),  # -1 + -0 = -1
    (0x8000, 0x3F80, 0x80000000, 0x80000000),  # (-0) + (-0) = -0
    (0x0000, 0xFF80, ONE, CANONICAL_NAN_FP32),  # 0 x inf
    (0x7F80, 0x3F80, 0xFF800000, CANONICAL_NAN_FP32),  # inf - inf
    (0x7F00, 0x4000, 0xFF7FFFFF, 0x7F800000),  # product overflows to inf before the add
    (0x0080, 0x3F00, 0x00800000, 0x00800000),  # tiny product flushed: 0 + 2^-126
    (0x3F80, 0x3380, ONE, ONE),                # 1 + 2^-24: tie to even
])
def test_mac_bf16_vectors(a, b, acc, expected):
    assert int(numerics.mac_bf16(a, b, acc)) == expected


# -- int8 MAC -----------------------------------------------------------------------------------

@PROPERTY
@given(st.integers(-128, 127), st.integers(-128, 127), st.integers(-2**31, 2**31 - 1))
def test_mac_int8_wraps(a, b, acc):
    expected = (a * b + acc + 2**31) % 2**32 - 2**31
    result = numerics.mac_int8(np.int8(a), np.int8(b), np.int32(acc))
    assert result.dtype == np.int32
    assert int(result) == expected


@pytest.mark.parametrize("a, b, acc, expected", [
    (127, 127, 2**31 - 1, -2**31 + 16128),
    (-128, -128, 2**31 - 1, -2**31 + 16383),
    (-128, 127, -2**31, 2**31 - 16256),
    (-128, 1, 128, 0),
    (0, 0, -1, -1),
])
def test_mac_int8_vectors(a, b, acc, expected):
    assert int(numerics.mac_int8(a, b, acc)) == expected


def test_mac_int8_on_generated_classes():
    a, b, acc, coverage = operands.int8_mac_operands(np.random.default_rng(3), 2000)
    coverage.assert_all_hit()
    expected = [(x * y + z + 2**31) % 2**32 - 2**31
                for x, y, z in zip(a.tolist(), b.tolist(), acc.tolist())]
    assert numerics.mac_int8(a, b, acc).tolist() == expected


# -- conversions --------------------------------------------------------------------------------

@PROPERTY
@given(FP32_BITS)
def test_fp32_to_bf16(bits):
    result = int(numerics.fp32_to_bf16(bits))
    kind, sign, value = fp32_class(bits)
    if kind == "nan":
        assert result == CANONICAL_NAN_BF16
    elif kind == "inf" or kind == "zero":
        assert result == (bits >> 16) & 0xFF80  # inf and (flushed) zeros keep their sign
    else:
        # Round to nearest even at 8 significant bits == ml_dtypes on normal values.
        reference = np.float32(np.uint32(bits).view(np.float32)).astype(ml_dtypes.bfloat16)
        assert result == int(reference.view(np.uint16))
        if result & 0x7FFF == 0x7F80:  # rounded past the largest bf16
            assert abs(value) >= Fraction(2) ** 128 - Fraction(2) ** (127 - 8)
        else:
            ulp = Fraction(2) ** (((bits >> 23) & 0xFF) - 127 - 7)
            assert abs(bf16_class(result)[2] - value) <= ulp / 2


@pytest.mark.parametrize("bits, expected", [
    (0x3F808000, 0x3F80),   # tie, stays even
    (0x3F818000, 0x3F82),   # tie, up to even
    (0x3F808001, 0x3F81),
    (0x7F7FFFFF, 0x7F80),   # rounds past the largest bf16: inf
    (0x00400000, 0x0000),   # subnormal fp32: +0 (ml_dtypes would keep a subnormal)
    (0x80400000, 0x8000),
    (0x00800000, 0x0080),
    (0xFFC00001, CANONICAL_NAN_BF16),  # NaN: canonical, sign cleared (unlike ml_dtypes)
])
def test_fp32_to_bf16_vectors(bits, expected):
    assert int(numerics.fp32_to_bf16(bits)) == expected


@PROPERTY
@given(BF16_BITS)
def test_bf16_to_fp32_is_exact_widening(bits):
    result = int(numerics.bf16_to_fp32(bits))
    assert result == bits << 16
    if not numerics.is_nan_bf16(bits):
        widened = np.uint16(bits).view(ml_dtypes.bfloat16).astype(np.float32)
        assert result == int(widened.view(np.uint32))


def test_models_are_vectorized_and_typed():
    a = np.array([ONE, TWO, MAX], dtype=np.uint32)
    assert numerics.fp32_add(a, a).dtype == np.uint32
    assert numerics.fp32_add(a, a).shape == (3,)
    assert numerics.bf16_mul_exact(np.array([0x3F80] * 4, np.uint16), 0x4000).shape == (4,)
    assert numerics.fp32_to_bf16(a).dtype == np.uint16
    assert numerics.flush_subnormal_fp32(np.array([1, 0x80000001, ONE])).tolist() == \
        [0, 0x80000000, ONE]
