"""Seeded operand generators for the arithmetic units, with functional coverage.

Uniform random bit patterns almost never hit the cases that break floating-point adders (exact
ties, massive cancellation, results at the edges of the exponent range), so the generators here
mix constructed classes of operands: exponent differences 0..40, near-cancellation, exact
round-to-nearest-even ties, operands near 2^-126 and near the fp32 maximum, zeros of both signs,
subnormals, infinities and NaNs with several payloads.

Each generator takes a :class:`numpy.random.Generator` and a count ``n`` and returns the operand
arrays (bit patterns: ``uint32`` fp32, ``uint16`` bf16; ``int8`` / ``int32`` integers) and a
:class:`Coverage` that classifies what was generated - input classes, exponent differences and
the class of the result under the golden model (:mod:`hybridgen.golden.numerics`)::

    a, b, coverage = fp32_add_operands(np.random.default_rng(seed), 4000)
    coverage.assert_all_hit()       # every bin hit at least once
    print(coverage.report())        # one line per bin

The ``*_specials`` functions return every combination of the special values.
"""

import itertools

import numpy as np

from hybridgen.golden import numerics

__all__ = [
    "Coverage",
    "FP32_SPECIAL_VALUES", "BF16_SPECIAL_VALUES",
    "fp32_add_operands", "bf16_mac_operands", "int8_mac_operands",
    "fp32_add_specials", "bf16_mac_specials", "int8_mac_specials",
    "classify_fp32_add", "classify_bf16_mac", "classify_int8_mac",
]


class Coverage:
    """Named coverage bins with hit counts.

    Parameters
    ----------
    bins : iterable of str
        The bins that must be hit, in report order.
    """

    def __init__(self, bins):
        self._counts = dict.fromkeys(bins, 0)

    @property
    def counts(self):
        """``{bin: hits}`` in declaration order (a copy)."""
        return dict(self._counts)

    def add(self, name, hits=1):
        """Count ``hits`` (an int, or a boolean array whose true entries are counted)."""
        if name not in self._counts:
            raise KeyError(f"Unknown coverage bin {name!r}; bins are {list(self._counts)}")
        self._counts[name] += int(np.count_nonzero(hits)) if np.ndim(hits) else int(hits)

    def merge(self, other):
        """Add the counts of ``other`` (same or fewer bins) to this coverage; returns self."""
        for name, hits in other.counts.items():
            self.add(name, hits)
        return self

    def missed(self):
        """Names of the bins with no hit."""
        return [name for name, hits in self._counts.items() if hits == 0]

    def report(self):
        """One line per bin: name and hit count, ``MISSED`` for empty bins."""
        width = max(map(len, self._counts), default=0)
        return "\n".join(f"{name:<{width}}  {hits:>8}{'  MISSED' if hits == 0 else ''}"
                         for name, hits in self._counts.items())

    def assert_all_hit(self):
        """Raise ``AssertionError`` naming the missed bins if any bin has no hit."""
        missed = self.missed()
        if missed:
            raise AssertionError(f"Coverage bins not hit: {', '.join(missed)}\n{self.report()}")

    def __repr__(self):
        return f"Coverage({self._counts!r})"


# -- special values ----------------------------------------------------------------------------

#: fp32 special values: +-0, +-smallest and +-largest subnormal, +-min normal, +-max normal,
#: +-1, +-inf, NaNs with several payloads and both signs (quiet, signalling, all ones).
FP32_SPECIAL_VALUES = np.array([
    0x00000000, 0x80000000, 0x00000001, 0x807FFFFF, 0x00800000, 0x80800000,
    0x7F7FFFFF, 0xFF7FFFFF, 0x3F800000, 0xBF800000, 0x7F800000, 0xFF800000,
    0x7FC00000, 0xFFC00000, 0x7F800001, 0xFFBFFFFF, 0x7FFFFFFF,
], dtype=np.uint32)

#: bf16 special values, the same classes as :data:`FP32_SPECIAL_VALUES`.
BF16_SPECIAL_VALUES = np.array([
    0x0000, 0x8000, 0x0001, 0x807F, 0x0080, 0x8080, 0x7F7F, 0xFF7F, 0x3F80, 0xBF80,
    0x7F80, 0xFF80, 0x7FC0, 0xFFC0, 0x7F81, 0xFFBF, 0x7FFF,
], dtype=np.uint16)


def fp32_add_specials():
    """Every ordered pair of :data:`FP32_SPECIAL_VALUES`: ``(a, b)`` uint32 arrays."""
    a, b = np.array(list(itertools.product(FP32_SPECIAL_VALUES, repeat=2)), dtype=np.uint32).T
    return a.copy(), b.copy()


def bf16_mac_specials():
    """Every triple of ``BF16_SPECIAL_VALUES`` x ``BF16_SPECIAL_VALUES`` x ``FP32_SPECIAL_VALUES``.

    Returns ``(a, b, acc)``: uint16, uint16, uint32 arrays.
    """
    a, b, acc = (np.array(axis) for axis in zip(*itertools.product(
        BF16_SPECIAL_VALUES, BF16_SPECIAL_VALUES, FP32_SPECIAL_VALUES)))
    return a.astype(np.uint16), b.astype(np.uint16), acc.astype(np.uint32)


_INT8_EXTREMES = np.array([-128, -127, -1, 0, 1, 126, 127], dtype=np.int8)
_INT32_EXTREMES = np.array([-2**31, -2**31 + 1, -1, 0, 1, 2**31 - 2, 2**31 - 1], dtype=np.int32)


def int8_mac_specials():
    """Every triple of int8 extremes x int8 extremes x int32 extremes: ``(a, b, acc)``."""
    a, b, acc = (np.array(axis) for axis in zip(*itertools.product(
        _INT8_EXTREMES, _INT8_EXTREMES, _INT32_EXTREMES)))
    return a.astype(np.int8), b.astype(np.int8), acc.astype(np.int32)


# -- fp32 building blocks ----------------------------------------------------------------------

def _fp32(sign, exponent, fraction):
    sign, exponent, fraction = (np.asarray(x, dtype=np.int64) for x in (sign, exponent, fraction))
    return ((sign << 31) | (exponent << 23) | fraction).astype(np.uint32)


def _bf16(sign, exponent, fraction):
    sign, exponent, fraction = (np.asarray(x, dtype=np.int64) for x in (sign, exponent, fraction))
    return ((sign << 15) | (exponent << 7) | fraction).astype(np.uint16)


def _exponent(bits, fraction_bits):
    return (np.asarray(bits).astype(np.int64) >> fraction_bits) & 0xFF


def _kinds(rng, n, weights):
    # Split n vectors among named kinds at random, in proportion to the weights.
    names = list(weights)
    p = np.array([weights[k] for k in names], dtype=float)
    counts = rng.multinomial(n, p / p.sum())
    return dict(zip(names, counts))


def _assemble(parts, rng):
    # Concatenate per-kind operand tuples and shuffle them together.
    arrays = [np.concatenate(column) for column in zip(*parts)]
    order = rng.permutation(len(arrays[0]))
    return [array[order] for array in arrays]


def _fp32_pairs(rng, kind, n):
    """n (a, b) fp32 pairs of one constructed kind."""
    sign = lambda: rng.integers(0, 2, n)  # noqa: E731
    fraction = lambda: rng.integers(0, 1 << 23, n)  # noqa: E731
    if kind == "exponent_difference":
        difference = rng.integers(0, 41, n)
        big_exponent = rng.integers(difference + 1, 255)
        a = _fp32(sign(), big_exponent, fraction())
        b = _fp32(sign(), big_exponent - difference, fraction())
    elif kind == "cancellation":
        magnitude = rng.integers(0x00800000, 0x7F800000, n)
        other = np.clip(magnitude + rng.integers(-4, 5, n), 0x00800000, 0x7F7FFFFF)
        s = sign()
        a = (magnitude | (s << 31)).astype(np.uint32)
        b = (other | ((1 - s) << 31)).astype(np.uint32)
    elif kind == "tie":
        # b is an odd multiple of half an ulp of a: a + b is exactly halfway (before any
        # renormalization); same-exponent same-sign sums with an odd fraction sum are ties too.
        exponent = rng.integers(30, 255, n)
        a = _fp32(sign(), exponent, fraction())
        odd = 2 * rng.integers(0, 4, n) + 1
        half_ulp = np.ldexp(odd.astype(np.float64), (exponent - 127 - 24).astype(np.int64))
        b = numerics.fp32_to_bits(np.where(sign() == 1, -half_ulp, half_ulp))
        same = rng.integers(0, 2, n) == 1
        s = sign()
        b = np.where(same, _fp32(s, exponent, fraction()), b)
        a = np.where(same, _fp32(s, exponent, fraction()), a).astype(np.uint32)
    elif kind == "round_carry":
        # a = 2^(e+1) - ulp and a same-sign b in [ulp/2, ulp): the exact sum is just below a
        # power of two and rounds up to it (a few with a farther b, which round elsewhere).
        s = sign()
        exponent = rng.integers(1, 231, n)
        b = _fp32(s, exponent, fraction())
        a = _fp32(s, exponent + 24 - rng.integers(0, 2, n) * rng.integers(0, 3, n),
                  (1 << 23) - 1 - rng.integers(0, 2, n))
    elif kind == "near_min_normal":
        a = _fp32(sign(), rng.integers(1, 5, n), fraction())
        b = _fp32(sign(), rng.integers(1, 5, n), fraction())
    elif kind == "near_max":
        s = sign()
        near_ones = (1 << 23) - 1 - rng.integers(0, 8, n)
        a = _fp32(s, rng.integers(250, 255, n), np.where(rng.integers(0, 2, n) == 1,
                                                         near_ones, fraction()))
        b = _fp32(np.where(rng.integers(0, 4, n) == 0, 1 - s, s), rng.integers(228, 255, n),
                  fraction())
    elif kind == "special":
        # b: another special, a normal, -a (inf - inf, +0 + -0) or a itself (-0 + -0).
        a = rng.choice(FP32_SPECIAL_VALUES, n)
        pick = rng.integers(0, 4, n)
        b = np.select([pick == 0, pick == 1, pick == 2],
                      [rng.choice(FP32_SPECIAL_VALUES, n), a ^ np.uint32(0x80000000), a],
                      _fp32(sign(), rng.integers(1, 255, n), fraction()))
    elif kind == "random_bits":
        a = rng.integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32)
        b = rng.integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32)
    else:
        raise ValueError(f"Unknown fp32 operand kind {kind!r}")
    swap = rng.integers(0, 2, n) == 1
    a, b = np.asarray(a, dtype=np.uint32), np.asarray(b, dtype=np.uint32)
    return np.where(swap, b, a), np.where(swap, a, b)


_FP32_ADD_KINDS = {"exponent_difference": 30, "cancellation": 15, "tie": 15, "round_carry": 5,
                   "near_min_normal": 10, "near_max": 10, "special": 15, "random_bits": 5}

_EXPONENT_DIFFERENCE_BINS = [f"exp_diff_{d:02d}" for d in range(31)] + ["exp_diff_31_plus"]
_ADD_RESULT_BINS = [
    "effective_add", "effective_sub",
    "result_exact", "result_inexact_down", "result_inexact_up",
    "result_tie_to_even_down", "result_tie_to_even_up", "result_round_carry_to_next_binade",
    "result_massive_cancellation", "result_min_normal_binade", "result_max_binade",
    "result_exact_cancellation_pos_zero", "result_neg_zero_from_neg_zeros",
    "result_pos_zero_from_mixed_zeros",
    "result_tiny_flushed_pos", "result_tiny_flushed_neg",
    "result_overflow_pos", "result_overflow_neg",
    "result_inf_from_input", "result_nan_from_nan_input", "result_nan_from_inf_minus_inf",
]
_FP32_INPUT_BINS = ["operand_zero", "operand_subnormal", "operand_min_normal_binade",
                    "operand_max_binade", "operand_inf", "operand_nan", "operand_nan_negative"]


def _classify_fp32_addition(coverage, a, b):
    # Shared by the adder and the addition step of the bf16 MAC (a = product there).
    a, b = np.asarray(a, dtype=np.uint32), np.asarray(b, dtype=np.uint32)
    result = numerics.fp32_add(a, b)
    exact = numerics.fp32_add_reference(a, b)
    value = numerics.fp32_to_float64(result)
    fa, fb = numerics.flush_subnormal_fp32(a), numerics.flush_subnormal_fp32(b)
    ea, eb = _exponent(fa, 23), _exponent(fb, 23)
    finite = (ea != 255) & (eb != 255)
    nonzero = (ea != 0) & (eb != 0)
    normal = finite & nonzero
    coverage.add("exp_diff_31_plus", normal & (np.abs(ea - eb) >= 31))
    for d in range(31):
        coverage.add(f"exp_diff_{d:02d}", normal & (np.abs(ea - eb) == d))
    subtract = ((fa ^ fb) >> 31) == 1
    coverage.add("effective_add", normal & ~subtract)
    coverage.add("effective_sub", normal & subtract)

    er = _exponent(result, 23)
    with np.errstate(invalid="ignore"):
        in_range = finite & (np.abs(exact) >= numerics.FP32_MIN_NORMAL) & (er != 255)
        mantissa, exponent = np.frexp(np.abs(np.where(in_range, exact, 1.0)))
        scaled = np.ldexp(mantissa, 24)  # exact significand in units of the result's ulp
        remainder = scaled - np.floor(scaled)
        up = np.abs(value) > np.abs(exact)
    coverage.add("result_exact", in_range & (remainder == 0))
    coverage.add("result_inexact_down", in_range & (remainder != 0) & (remainder != 0.5) & ~up)
    coverage.add("result_inexact_up", in_range & (remainder != 0) & (remainder != 0.5) & up)
    coverage.add("result_tie_to_even_down", in_range & (remainder == 0.5) & ~up)
    coverage.add("result_tie_to_even_up", in_range & (remainder == 0.5) & up)
    coverage.add("result_round_carry_to_next_binade",
                 in_range & up & ((result & 0x7FFFFF) == 0) & (er > exponent + 126))
    coverage.add("result_massive_cancellation",
                 in_range & subtract & (er <= np.maximum(ea, eb) - 8))
    coverage.add("result_min_normal_binade", in_range & (er == 1))
    coverage.add("result_max_binade", in_range & (er == 254))
    zero_inputs = (ea == 0) & (eb == 0)
    coverage.add("result_exact_cancellation_pos_zero", normal & (exact == 0) & (result == 0))
    coverage.add("result_neg_zero_from_neg_zeros", zero_inputs & (result == 0x80000000))
    coverage.add("result_pos_zero_from_mixed_zeros", zero_inputs & (result == 0) & subtract)
    tiny = finite & (exact != 0) & (np.abs(exact) < numerics.FP32_MIN_NORMAL)
    coverage.add("result_tiny_flushed_pos", tiny & (exact > 0) & (result == 0))
    coverage.add("result_tiny_flushed_neg", tiny & (exact < 0) & (result == 0x80000000))
    overflow = finite & (er == 255)
    coverage.add("result_overflow_pos", overflow & (result == 0x7F800000))
    coverage.add("result_overflow_neg", overflow & (result == 0xFF800000))
    a_nan, b_nan = numerics.is_nan_fp32(a), numerics.is_nan_fp32(b)
    coverage.add("result_inf_from_input", ~finite & ((result & 0x7FFFFFFF) == 0x7F800000))
    coverage.add("result_nan_from_nan_input", a_nan | b_nan)
    coverage.add("result_nan_from_inf_minus_inf",
                 (ea == 255) & (eb == 255) & ~a_nan & ~b_nan & subtract)


def _classify_fp32_inputs(coverage, *operands):
    for bits in operands:
        bits = np.asarray(bits, dtype=np.uint32)
        exponent, fraction = _exponent(bits, 23), bits & 0x7FFFFF
        coverage.add("operand_zero", (exponent == 0) & (fraction == 0))
        coverage.add("operand_subnormal", (exponent == 0) & (fraction != 0))
        coverage.add("operand_min_normal_binade", exponent == 1)
        coverage.add("operand_max_binade", exponent == 254)
        coverage.add("operand_inf", (exponent == 255) & (fraction == 0))
        coverage.add("operand_nan", numerics.is_nan_fp32(bits))
        coverage.add("operand_nan_negative", numerics.is_nan_fp32(bits) & (bits >> 31 == 1))


def classify_fp32_add(a, b):
    """:class:`Coverage` of fp32 adder operand pairs (input classes, exponent difference, result
    class under :func:`hybridgen.golden.numerics.fp32_add`)."""
    coverage = Coverage(_FP32_INPUT_BINS + _EXPONENT_DIFFERENCE_BINS + _ADD_RESULT_BINS)
    _classify_fp32_inputs(coverage, a, b)
    _classify_fp32_addition(coverage, a, b)
    return coverage


def fp32_add_operands(rng, n):
    """``n`` fp32 adder operand pairs of mixed constructed classes.

    Classes: exponent differences 0..40 with random signs, near-cancellation (``b ~ -a`` within
    4 ulps, across binades), exact ties (``b`` an odd multiple of half an ulp of ``a``; equal
    exponents with an odd fraction sum), rounding carries into the next binade, operands in the
    lowest binades (tiny results) and the
    highest (overflow, rounding carry), special values against specials and normals, and raw
    random bit patterns. Operand order is randomized.

    Returns
    -------
    a, b : numpy.ndarray of uint32
    coverage : Coverage
        :func:`classify_fp32_add` of the pairs.
    """
    parts = [_fp32_pairs(rng, kind, count)
             for kind, count in _kinds(rng, n, _FP32_ADD_KINDS).items()]
    a, b = _assemble(parts, rng)
    return a, b, classify_fp32_add(a, b)


# -- bf16 MAC ----------------------------------------------------------------------------------

_BF16_MAC_KINDS = {"product_vs_acc": 30, "cancellation": 15, "tie": 10, "round_carry": 5,
                   "tiny_product": 10, "overflow": 10, "special": 15, "near_min_normal": 5,
                   "random_bits": 5}
_PRODUCT_BINS = ["bf16_operand_zero", "bf16_operand_subnormal", "bf16_operand_inf",
                 "bf16_operand_nan", "product_zero", "product_tiny_flushed", "product_normal",
                 "product_overflow", "product_inf_from_input", "product_nan_zero_times_inf",
                 "product_nan_from_nan_input"]


def _bf16_mac_triples(rng, kind, n):
    sign = lambda: rng.integers(0, 2, n)  # noqa: E731
    fraction7 = lambda: rng.integers(0, 1 << 7, n)  # noqa: E731
    fraction23 = lambda: rng.integers(0, 1 << 23, n)  # noqa: E731

    def normal_factors(low, high):
        return (_bf16(sign(), rng.integers(low, high, n), fraction7()),
                _bf16(sign(), rng.integers(low, high, n), fraction7()))

    def acc_near(product, offset):
        # An fp32 acc whose exponent is the product's plus offset (clipped to normal range).
        exponent = np.clip(_exponent(product, 23) + offset, 1, 254)
        return _fp32(sign(), exponent, fraction23())

    if kind == "product_vs_acc":
        a, b = normal_factors(100, 155)
        acc = acc_near(numerics.bf16_mul_exact(a, b), rng.integers(-40, 41, n))
    elif kind == "cancellation":
        a, b = normal_factors(90, 165)
        product = numerics.bf16_mul_exact(a, b).astype(np.int64)
        magnitude = np.clip((product & 0x7FFFFFFF) + rng.integers(-4, 5, n),
                            0x00800000, 0x7F7FFFFF)
        acc = (magnitude | ((1 - (product >> 31)) << 31)).astype(np.uint32)
    elif kind == "tie":
        # product = 2^k or 1.5 * 2^k exactly; acc has its half ulp (or its ulp) equal to 2^k.
        exponent_a = rng.integers(100, 150, n)
        exponent_b = rng.integers(100, 150, n)
        three_halves = rng.integers(0, 2, n)
        a = _bf16(sign(), exponent_a, three_halves << 6)
        b = _bf16(sign(), exponent_b, 0)
        product_exponent = exponent_a + exponent_b - 127
        acc = _fp32(sign(), np.clip(product_exponent + 24 - three_halves, 1, 254), fraction23())
    elif kind == "tiny_product":
        exponent_a = rng.integers(1, 80, n)
        exponent_b = np.clip(127 - exponent_a + rng.integers(-12, 4, n), 1, 254)
        a = _bf16(sign(), exponent_a, fraction7())
        b = _bf16(sign(), exponent_b, fraction7())
        acc = np.where(rng.integers(0, 2, n) == 1, _fp32(sign(), rng.integers(1, 8, n),
                                                         fraction23()),
                       (sign() << 31).astype(np.uint32))
    elif kind == "overflow":
        # Products near or beyond 2^128; acc near the maximum, mostly of the product's sign,
        # sometimes an infinity (inf - inf when the product overflows the other way).
        exponent_a = rng.integers(128, 255, n)
        exponent_b = np.clip(255 - exponent_a + 127 + rng.integers(-2, 2, n), 1, 254)
        a = _bf16(sign(), exponent_a, fraction7())
        b = _bf16(sign(), exponent_b, fraction7())
        product_sign = (a.astype(np.int64) ^ b) >> 15 & 1
        acc_sign = np.where(rng.integers(0, 4, n) == 0, 1 - product_sign, product_sign)
        acc = np.where(rng.integers(0, 6, n) == 0, _fp32(sign(), 255, 0),
                       _fp32(acc_sign, rng.integers(252, 255, n), fraction23()))
    elif kind == "round_carry":
        # acc = 2^(e+1) - ulp and a same-sign product in [ulp/2, ulp): the exact sum rounds up
        # to the power of two (a few with a closer acc, which round elsewhere).
        a, b = normal_factors(100, 155)
        product = numerics.bf16_mul_exact(a, b).astype(np.int64)
        exponent = np.clip(_exponent(product, 23) + 24 - rng.integers(0, 2, n)
                           * rng.integers(0, 3, n), 1, 254)
        acc = _fp32(product >> 31, exponent, (1 << 23) - 1 - rng.integers(0, 2, n))
    elif kind == "near_min_normal":
        # Products just above 2^-126 against acc ~ -product: exact results below 2^-126.
        exponent_a = rng.integers(1, 60, n)
        a = _bf16(sign(), exponent_a, fraction7())
        b = _bf16(sign(), np.clip(128 - exponent_a + rng.integers(0, 3, n), 1, 254), fraction7())
        product = numerics.bf16_mul_exact(a, b).astype(np.int64)
        magnitude = np.clip((product & 0x7FFFFFFF) + rng.integers(-(1 << 22), 1 << 22, n),
                            0x00800000, 0x7F7FFFFF)
        acc = (magnitude | (((product >> 31) ^ (rng.integers(0, 4, n) != 0)) << 31))
        acc = acc.astype(np.uint32)
    elif kind == "special":
        # a special, b special, both, or a zero / subnormal against an infinity (0 x inf).
        pick = rng.integers(0, 4, n)
        a, b = normal_factors(1, 255)
        a = np.where(pick != 1, rng.choice(BF16_SPECIAL_VALUES, n), a)
        b = np.where(pick != 0, rng.choice(BF16_SPECIAL_VALUES, n), b)
        zero_like = rng.choice(BF16_SPECIAL_VALUES[:4], n)
        infinite = rng.choice(np.array([0x7F80, 0xFF80], dtype=np.uint16), n)
        swap = rng.integers(0, 2, n) == 1
        a = np.where(pick == 3, np.where(swap, infinite, zero_like), a)
        b = np.where(pick == 3, np.where(swap, zero_like, infinite), b)
        acc = np.where(rng.integers(0, 2, n) == 1, rng.choice(FP32_SPECIAL_VALUES, n),
                       _fp32(sign(), rng.integers(1, 255, n), fraction23()))
    elif kind == "random_bits":
        a = rng.integers(0, 1 << 16, n).astype(np.uint16)
        b = rng.integers(0, 1 << 16, n).astype(np.uint16)
        acc = rng.integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32)
    else:
        raise ValueError(f"Unknown bf16 MAC operand kind {kind!r}")
    return (np.asarray(a, dtype=np.uint16), np.asarray(b, dtype=np.uint16),
            np.asarray(acc, dtype=np.uint32))


def classify_bf16_mac(a, b, acc):
    """:class:`Coverage` of bf16 MAC triples: bf16 operand and product classes, then the
    classes of the addition ``product + acc`` (as :func:`classify_fp32_add`)."""
    coverage = Coverage(_PRODUCT_BINS + _FP32_INPUT_BINS + _EXPONENT_DIFFERENCE_BINS
                        + _ADD_RESULT_BINS)
    a, b = np.asarray(a, dtype=np.uint16), np.asarray(b, dtype=np.uint16)
    for bits in (a, b):
        exponent, fraction = _exponent(bits, 7), bits & 0x7F
        coverage.add("bf16_operand_zero", (exponent == 0) & (fraction == 0))
        coverage.add("bf16_operand_subnormal", (exponent == 0) & (fraction != 0))
        coverage.add("bf16_operand_inf", (exponent == 255) & (fraction == 0))
        coverage.add("bf16_operand_nan", numerics.is_nan_bf16(bits))
    product = numerics.bf16_mul_exact(a, b)
    ea, eb = _exponent(a, 7), _exponent(b, 7)
    nan_input = numerics.is_nan_bf16(a) | numerics.is_nan_bf16(b)
    inf_input = ((ea == 255) | (eb == 255)) & ~nan_input
    zero_input = (ea == 0) | (eb == 0)
    finite = (ea != 255) & (eb != 255)
    coverage.add("product_zero", finite & zero_input)
    coverage.add("product_tiny_flushed", finite & ~zero_input & (product & 0x7FFFFFFF == 0))
    coverage.add("product_normal", finite & ~zero_input & (_exponent(product, 23) != 0)
                 & (_exponent(product, 23) != 255))
    coverage.add("product_overflow", finite & (_exponent(product, 23) == 255))
    coverage.add("product_inf_from_input", inf_input & ~zero_input)
    coverage.add("product_nan_zero_times_inf", inf_input & zero_input)
    coverage.add("product_nan_from_nan_input", nan_input)
    _classify_fp32_inputs(coverage, acc)
    _classify_fp32_addition(coverage, product, acc)
    return coverage


def bf16_mac_operands(rng, n):
    """``n`` bf16 MAC triples ``(a, b, acc)`` where product and accumulator interact.

    Classes: acc exponent -40..40 away from the product's, cancellation (``acc ~ -a*b`` within
    4 ulps), exact ties of ``a*b + acc``, tiny products (flushed to signed zero), products
    overflowing to inf (and acc near the maximum or infinite), rounding carries into the next
    binade, results near 2^-126, special values
    (``0 x inf``, NaN payloads, subnormal bf16 and fp32), raw random bit patterns.

    Returns
    -------
    a, b : numpy.ndarray of uint16
    acc : numpy.ndarray of uint32
    coverage : Coverage
        :func:`classify_bf16_mac` of the triples.
    """
    parts = [_bf16_mac_triples(rng, kind, count)
             for kind, count in _kinds(rng, n, _BF16_MAC_KINDS).items()]
    a, b, acc = _assemble(parts, rng)
    return a, b, acc, classify_bf16_mac(a, b, acc)


# -- int8 MAC ----------------------------------------------------------------------------------

_INT8_MAC_KINDS = {"random": 40, "extremes": 30, "wrap": 30}
_INT8_MAC_BINS = ["a_min", "a_max", "b_min", "b_max", "product_max", "product_min",
                  "product_zero", "acc_max", "acc_min", "wrap_up", "wrap_down",
                  "result_zero", "result_negative", "result_positive"]


def _int8_mac_triples(rng, kind, n):
    if kind == "random":
        a = rng.integers(-128, 128, n)
        b = rng.integers(-128, 128, n)
        acc = rng.integers(-2**31, 2**31, n)
    elif kind == "extremes":
        a = rng.choice(_INT8_EXTREMES, n)
        b = rng.choice(_INT8_EXTREMES, n)
        acc = np.where(rng.integers(0, 2, n) == 1, rng.choice(_INT32_EXTREMES, n),
                       -(a.astype(np.int64) * b))  # some sums are exactly zero
    elif kind == "wrap":
        # Large products against an accumulator within 20000 of the int32 limit they cross.
        a = rng.choice([-128, -127, 127, 126], n)
        b = rng.choice([-128, -127, 127, 126], n)
        up = a.astype(np.int64) * b > 0
        margin = rng.integers(0, 20000, n)
        acc = np.where(up, 2**31 - 1 - margin, -2**31 + margin)
    else:
        raise ValueError(f"Unknown int8 MAC operand kind {kind!r}")
    return (np.asarray(a).astype(np.int8), np.asarray(b).astype(np.int8),
            np.asarray(acc).astype(np.int32))


def classify_int8_mac(a, b, acc):
    """:class:`Coverage` of int8 MAC triples (extreme operands, wrap-around, result sign)."""
    coverage = Coverage(_INT8_MAC_BINS)
    a, b, acc = (np.asarray(x).astype(np.int64) for x in (a, b, acc))
    product = a * b
    total = product + acc
    result = numerics.mac_int8(a, b, acc)
    coverage.add("a_min", a == -128)
    coverage.add("a_max", a == 127)
    coverage.add("b_min", b == -128)
    coverage.add("b_max", b == 127)
    coverage.add("product_max", product == 16384)
    coverage.add("product_min", product == -16256)
    coverage.add("product_zero", product == 0)
    coverage.add("acc_max", acc == 2**31 - 1)
    coverage.add("acc_min", acc == -2**31)
    coverage.add("wrap_up", total > 2**31 - 1)
    coverage.add("wrap_down", total < -2**31)
    coverage.add("result_zero", result == 0)
    coverage.add("result_negative", result < 0)
    coverage.add("result_positive", result > 0)
    return coverage


def int8_mac_operands(rng, n):
    """``n`` int8 MAC triples ``(a, b, acc)``: uniform, extremes, and accumulator wrap.

    Returns
    -------
    a, b : numpy.ndarray of int8
    acc : numpy.ndarray of int32
    coverage : Coverage
        :func:`classify_int8_mac` of the triples.
    """
    parts = [_int8_mac_triples(rng, kind, count)
             for kind, count in _kinds(rng, n, _INT8_MAC_KINDS).items()]
    a, b, acc = _assemble(parts, rng)
    return a, b, acc, classify_int8_mac(a, b, acc)
