"""Golden models of the fp32 multiplier, min/max/compare, conversions and vector reductions
against exact references (docs/numerics.md), on random operands from the ``rng`` fixture (a fresh
seed every run, ``SEED=...`` reported on failure) plus the special values."""

from fractions import Fraction

import numpy as np

from hybridgen.golden import numerics
from hybridgen.verif import operands as mac_operands
from hybridgen.verif.vector import operands

def _exact(bits):
    bits = int(bits)
    exponent = (bits >> 23) & 0xFF
    if exponent == 0:
        return Fraction(0)
    value = Fraction((1 << 23) | (bits & 0x7FFFFF), 1 << 23) * Fraction(2) ** (exponent - 127)
    return -value if bits >> 31 else value


def test_fp32_mul_matches_exact_rounding(rng):
    a = np.concatenate([operands.fp32_random(rng, 3000), mac_operands.FP32_SPECIAL_VALUES])
    b = np.concatenate([operands.fp32_random(rng, 3000), mac_operands.FP32_SPECIAL_VALUES])
    # Products near the underflow and overflow thresholds.
    a[:300] = (a[:300] & 0x807FFFFF) | (np.uint32(60) << 23)
    b[:300] = (b[:300] & 0x807FFFFF) | (np.uint32(67) << 23)
    a[300:600] = (a[300:600] & 0x807FFFFF) | (np.uint32(190) << 23)
    b[300:600] = (b[300:600] & 0x807FFFFF) | (np.uint32(191) << 23)
    got = numerics.fp32_mul(a, b)
    for x, y, g in zip(a, b, got):
        fx, fy = (int(x) >> 23) & 0xFF, (int(y) >> 23) & 0xFF
        nan_x = fx == 255 and int(x) & 0x7FFFFF
        nan_y = fy == 255 and int(y) & 0x7FFFFF
        sign = ((int(x) ^ int(y)) >> 31) & 1
        if nan_x or nan_y or (fx == 255 and fy == 0) or (fx == 0 and fy == 255):
            assert g == numerics.CANONICAL_NAN_FP32
        elif fx == 255 or fy == 255:
            assert g == (sign << 31) | 0x7F800000
        else:
            assert g == numerics.fp32_round_exact(_exact(x) * _exact(y), zero_sign=sign)


def test_min_max_compare(rng):
    a = np.concatenate([operands.fp32_random(rng, 2000), mac_operands.FP32_SPECIAL_VALUES])
    b = np.concatenate([operands.fp32_random(rng, 2000), mac_operands.FP32_SPECIAL_VALUES[::-1]])
    b[:500] = a[:500] ^ np.uint32(0x80000000)
    mx, mn, cmp = numerics.fp32_max(a, b), numerics.fp32_min(a, b), numerics.fp32_compare(a, b)
    for x, y, hi, lo, flags in zip(a, b, mx, mn, cmp):
        x, y = (int(v) for v in numerics.flush_subnormal_fp32(np.array([x, y])))
        if numerics.is_nan_fp32(x) or numerics.is_nan_fp32(y):
            assert hi == lo == numerics.CANONICAL_NAN_FP32 and flags == 8
            continue
        key = lambda v: (_exact(v) if (v >> 23) & 0xFF != 255 else
                         Fraction(10) ** 50 * (-1 if v >> 31 else 1), -(v >> 31))
        assert hi == max(x, y, key=key) and lo == min(x, y, key=key)
        vx, vy = key(x)[0], key(y)[0]
        assert flags == (vx < vy) + 2 * (vx == vy) + 4 * (vx > vy)
    assert numerics.fp32_max(0x80000000, 0) == 0 and numerics.fp32_min(0, 0x80000000) == \
        0x80000000


def test_int_conversions(rng):
    x = np.concatenate([operands.fp32_random(rng, 5000), mac_operands.FP32_SPECIAL_VALUES,
                        np.array([0x3F000000, 0x3FC00000, 0x40200000, 0xBF000000, 0x4F000000,
                                  0xCF000000, 0x4EFFFFFF], dtype=np.uint32)])
    got = numerics.fp32_to_int32(x)
    for v, g in zip(x, got):
        if numerics.is_nan_fp32(v):
            assert g == 0
            continue
        e = (int(v) >> 23) & 0xFF
        if e == 255:
            assert g == (-(1 << 31) if int(v) >> 31 else (1 << 31) - 1)
            continue
        exact = _exact(v)
        rounded = round(exact)  # Python rounds half to even
        assert g == max(-(1 << 31), min((1 << 31) - 1, rounded))
    ints = np.concatenate([rng.integers(-2 ** 31, 2 ** 31, 5000), [-2 ** 31, 2 ** 31 - 1, 0,
                                                                   1, -1, 16777217]])
    got = numerics.int32_to_fp32(ints.astype(np.int32))
    for v, g in zip(ints, got):
        assert g == numerics.fp32_round_exact(Fraction(int(v)))


def test_reductions_order(rng):
    rows = operands.fp32_random(rng, 16 * 64).reshape(64, 16)
    rows[:32] = rng.integers(0x3E000000, 0x40800000, (32, 16), dtype=np.uint32)
    total = numerics.vector_rowsum(rows)
    prefix = numerics.vector_cumsum(rows)
    assert np.array_equal(prefix[:, -1], total)
    for r in range(32):
        f = numerics.fp32_from_bits(rows[r])
        level = list(f)
        while len(level) > 1:
            level = [np.float32(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
        assert numerics.fp32_to_bits(level[0]) == total[r]
        s = [numerics.fp32_from_bits(v) for v in rows[r]]
        # Sklansky: lane 5 = (x0 + x1 + x2 + x3) + (x4 + x5), pairwise.
        want5 = np.float32(np.float32(np.float32(s[0] + s[1]) + np.float32(s[2] + s[3]))
                           + np.float32(s[4] + s[5]))
        assert numerics.fp32_to_bits(want5) == prefix[r, 5]
    mx = numerics.vector_rowmax(rows)
    finite = ~numerics.is_nan_fp32(rows).any(axis=1)
    ref = numerics.fp32_to_float64(numerics.flush_subnormal_fp32(rows)).max(axis=1)
    assert np.array_equal(numerics.fp32_to_float64(mx)[finite], ref[finite])
    assert np.all(mx[~finite] == numerics.CANONICAL_NAN_FP32)
