"""Error bounds of the bit-exact special-function models (golden/numerics.py) against float64.

Every bf16 input (65,536) and 10^6 random fp32 inputs over the whole range per op (a fixed seed,
the set the measured values are quoted for), plus 2 x 10^5 inputs from a fresh seed every run
(``fp32-drawn``, ``SEED=...`` reported on failure), so new inputs are seen too; bounds are
the issue's defaults (max relative error where the exact result is a normal fp32), with the
measured values printed (``pytest -s``) and recorded in docs/arith.md. Special-value rules are
checked exactly.
"""

import numpy as np
import pytest

from hybridgen.golden import numerics
from hybridgen.verif.vector import operands

# op: (bound over everything, bound for |x| <= 16 or None)
BOUNDS = {
    "exp2": (2.0 ** -20, None),
    "exp": (2.0 ** -17, 2.0 ** -20),
    "recip": (2.0 ** -21, None),
    "softplus": (2.0 ** -18, None),
    "sigmoid": (2.0 ** -18, None),
    "silu": (2.0 ** -18, None),
}


DRAWN_INPUTS = 2 * 10 ** 5


@pytest.fixture(scope="module")
def inputs():
    rng = np.random.default_rng(20260611)
    uniform = rng.integers(0, 1 << 32, 10 ** 6, dtype=np.uint64).astype(np.uint32)
    return {"bf16": operands.bf16_all_as_fp32(), "fp32": uniform,
            "fp32-focused": operands.fp32_random(rng, 10 ** 6)}


def _qualifying(reference, op):
    # Exact result normal in fp32, and not within a relative 2^-16 of 2^-126 (where an
    # approximation may legitimately fall on the other side of the flush threshold).
    magnitude = np.abs(reference)
    keep = np.isfinite(reference) & (magnitude <= numerics.FP32_MAX)
    keep &= magnitude >= numerics.FP32_MIN_NORMAL * (1 + 2.0 ** -16)
    return keep


@pytest.mark.parametrize("op", sorted(BOUNDS))
@pytest.mark.parametrize("kind", ["bf16", "fp32", "fp32-focused", "fp32-drawn"])
def test_error_bound(op, kind, inputs, request):
    if kind == "fp32-drawn":
        x = operands.fp32_random(request.getfixturevalue("rng"), DRAWN_INPUTS)
    else:
        x = inputs[kind]
    model, reference = numerics.SFU_UNARY_OPS[op]
    y = model(x)
    r = reference(x)
    keep = _qualifying(r, op)
    rel, ulp = numerics.measure_error(y[keep], r[keep])
    bound, small_bound = BOUNDS[op]
    print(f"{op} {kind}: max rel err 2^{np.log2(rel):.2f}, max ulp {ulp:.3f}")
    assert rel <= bound
    # The defaults do far better than the bounds (docs/arith.md): hold them to it, so a
    # regression that still meets the loose bound is caught.
    assert ulp < 1.5
    if small_bound is not None:
        small = keep & (np.abs(numerics.fp32_to_float64(x)) <= 16)
        rel_small, _ = numerics.measure_error(y[small], r[small])
        assert rel_small <= small_bound
    # Results below the normal range are zeros, never subnormals; NaN only for NaN inputs.
    exponent = (y >> 23) & 0xFF
    assert not np.any((exponent == 0) & ((y & 0x7FFFFF) != 0))
    assert np.array_equal(numerics.is_nan_fp32(y), numerics.is_nan_fp32(x))
    assert np.all(y[numerics.is_nan_fp32(y)] == numerics.CANONICAL_NAN_FP32)
    # Where the true result underflows or overflows clearly, the model flushes / saturates.
    tiny = np.abs(r) < numerics.FP32_MIN_NORMAL * (1 - 2.0 ** -16)
    assert np.all((y[tiny] & 0x7FFFFFFF) == 0)
    huge = np.isinf(r) | (np.abs(r) > numerics.FP32_MAX * (1 + 2.0 ** -16))
    assert np.all((y[huge] & 0x7FFFFFFF) == 0x7F800000)


SPECIALS = {
    # op: {input bits: expected bits}
    "exp": {0x00000000: 0x3F800000, 0x80000000: 0x3F800000, 0x00000001: 0x3F800000,
            0x7F800000: 0x7F800000, 0xFF800000: 0x00000000, 0x42B20000: 0x7F800000,
            0xC2B00000: 0x00000000, 0x7FC00001: 0x7FC00000, 0xFFC00000: 0x7FC00000},
    "exp2": {0x00000000: 0x3F800000, 0x3F800000: 0x40000000, 0xC2FC0000: 0x00800000,
             0xC2FE0000: 0x00000000, 0x42FE0000: 0x7F000000, 0x43000000: 0x7F800000,
             0xFF800000: 0x00000000, 0x7F800000: 0x7F800000},
    "recip": {0x00000000: 0x7F800000, 0x80000000: 0xFF800000, 0x00000001: 0x7F800000,
              0x807FFFFF: 0xFF800000, 0x7F800000: 0x00000000, 0xFF800000: 0x80000000,
              0x3F800000: 0x3F800000, 0x40000000: 0x3F000000, 0xC0800000: 0xBE800000,
              0x7E800000: 0x00800000, 0x7F000000: 0x00000000, 0x7F7FFFFF: 0x00000000, 0x00800000: 0x7E800000},
    "sigmoid": {0x00000000: 0x3F000000, 0x80000000: 0x3F000000, 0x7F800000: 0x3F800000,
                0xFF800000: 0x00000000, 0x42C80000: 0x3F800000, 0xC2C80000: 0x00000000},
    "silu": {0x00000000: 0x00000000, 0x80000000: 0x80000000, 0x7F800000: 0x7F800000,
             0xFF800000: 0x80000000, 0x42C80000: 0x42C80000, 0xC3000000: 0x80000000},
    "softplus": {0x7F800000: 0x7F800000, 0xFF800000: 0x00000000, 0x41A00001: 0x41A00001,
                 0x42C80000: 0x42C80000, 0xC2C80000: 0x00000000, 0xC3000000: 0x00000000},
}


@pytest.mark.parametrize("op", sorted(SPECIALS))
def test_special_values(op):
    x = np.array(list(SPECIALS[op]), dtype=np.uint32)
    want = np.array(list(SPECIALS[op].values()), dtype=np.uint32)
    got = numerics.sfu_op(op, x)
    assert [hex(v) for v in got] == [hex(v) for v in want]


def test_exp2_of_integers_is_exact():
    n = np.arange(-126, 128)
    x = numerics.fp32_to_bits(n.astype(np.float32))
    assert np.array_equal(numerics.fp32_exp2(x), ((n + 127) << 23).astype(np.uint32))


def test_silu_very_negative_stays_normal():
    # docs/arith.md (sigmoid / silu): x * sigmoid(x) in fp32 underflows for x in [-92, -87];
    # the unit does not.
    x = numerics.fp32_to_bits(np.linspace(-92, -87, 1001).astype(np.float32))
    r = numerics.fp32_silu_reference(x)
    y = numerics.fp32_to_float64(numerics.fp32_silu(x))
    normal = np.abs(r) >= numerics.FP32_MIN_NORMAL * 1.001
    assert normal.sum() > 500
    assert np.all(np.abs(y[normal] - r[normal]) <= 2.0 ** -18 * np.abs(r[normal]))


def test_softplus_negative_is_accurate():
    # log(1 + exp(x)) literally fails for x < -4 in fp32; the unit keeps 2^-18 down to -87.
    x = numerics.fp32_to_bits(np.linspace(-87, -4, 5001).astype(np.float32))
    r = numerics.fp32_softplus_reference(x)
    y = numerics.fp32_to_float64(numerics.fp32_softplus(x))
    assert np.all(np.abs(y - r) <= 2.0 ** -18 * r)


@pytest.mark.parametrize("degree", [2, 3, 4])
def test_exp_degree_knob_changes_error(degree):
    params = numerics.SfuParams(exp_table_bits=3, exp_degree=degree)
    x = operands.bf16_all_as_fp32()
    rel, _ = numerics.measure_error(numerics.fp32_exp2(x, params),
                                    numerics.fp32_exp2_reference(x))
    print(f"exp2 table 8 x degree {degree}: 2^{np.log2(rel):.2f}")
    assert rel <= {2: 2.0 ** -17, 3: 2.0 ** -21, 4: 2.0 ** -23}[degree]


def test_coefficients_are_exact_at_segment_starts():
    table = numerics.sfu_coefficients("exp2", 3, 3)
    starts = np.exp2(np.arange(8) / 8) * 2.0 ** 30
    assert np.array_equal(table[:, 0], np.round(starts).astype(np.int64))
    assert table[0, 0] == 1 << 30
