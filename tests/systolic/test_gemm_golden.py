"""The GEMM golden models: bit-exact model vs a naive scalar model of the hardware order, and
vs the float64 reference within the stated bound."""

import numpy as np
import pytest

from hybridgen.golden.gemm import gemm, gemm_error_bound, gemm_reference
from hybridgen.golden.numerics import bf16_mul_exact, fp32_add, fp32_to_float64
from hybridgen.verif.systolic.gemm import random_operands


def _scalar_model(a, b, rows):
    """One output at a time: tiles of `rows` K values, zero padded, each summed from +0 down
    the column, tiles added in order (the order golden.gemm documents)."""
    m, k = a.shape
    n = b.shape[1]
    out = np.zeros((m, n), np.uint32)
    for i in range(m):
        for j in range(n):
            acc = None
            for k0 in range(0, k, rows):
                partial = np.uint32(0)
                for kk in range(k0, k0 + rows):
                    x = a[i, kk] if kk < k else np.uint16(0)
                    y = b[kk, j] if kk < k else np.uint16(0)
                    partial = fp32_add(partial, bf16_mul_exact(x, y))
                acc = partial if acc is None else fp32_add(acc, partial)
            out[i, j] = acc
    return out


@pytest.mark.parametrize("rows", [1, 3, 4, 16])
def test_bf16_model_follows_the_documented_order(rows):
    rng = np.random.default_rng(rows)
    a, b = random_operands(rng, 5, 11, 4, "bf16")
    assert np.array_equal(gemm(a, b, "bf16", rows), _scalar_model(a, b, rows))


def test_bf16_order_is_visible():
    """Different tile sizes give different roundings (the order is not a detail)."""
    rng = np.random.default_rng(7)
    a, b = random_operands(rng, 16, 64, 16, "bf16")
    assert not np.array_equal(gemm(a, b, "bf16", 4), gemm(a, b, "bf16", 16))


def test_zero_padding_turns_negative_zero_positive():
    a = np.array([[0x8000]], np.uint16)  # -0
    b = np.array([[0x3F80]], np.uint16)  # 1.0
    assert gemm(a, b, "bf16", 4)[0, 0] == 0  # +0: (+0) + (-0) in the first PE


@pytest.mark.parametrize("shape", [(7, 1, 5), (16, 64, 16), (3, 257, 9)])
def test_bf16_model_within_bound_of_reference(shape):
    rng = np.random.default_rng(sum(shape))
    a, b = random_operands(rng, *shape, "bf16")
    for rows in (4, 16):
        got = fp32_to_float64(gemm(a, b, "bf16", rows))
        error = np.abs(got - gemm_reference(a, b, "bf16"))
        bound = gemm_error_bound(a, b, rows)
        assert np.all(error <= bound), float(np.max(error / bound))
        assert shape[1] == 1 or np.any(error > 0)  # K = 1: products are exact


def test_int8_wraps_modulo_2_32():
    a = np.full((2, 140_000), -128, np.int8)
    b = np.full((140_000, 3), -128, np.int8)
    exact = a.shape[1] * 16384
    want = np.int64(exact) % (1 << 32)
    want = want - (1 << 32) if want >= 1 << 31 else want
    assert np.all(gemm(a, b, "int8", 16) == want)
    assert exact >= 1 << 31  # really wraps


def test_shapes_must_chain():
    with pytest.raises(ValueError):
        gemm(np.zeros((2, 3), np.int8), np.zeros((4, 2), np.int8), "int8", 4)


def _scalar_model_os(a, b):
    """Output-stationary order: one running sum per output, from +0, in K order."""
    m, k = a.shape
    out = np.zeros((m, b.shape[1]), np.uint32)
    for i in range(m):
        for j in range(b.shape[1]):
            acc = np.uint32(0)
            for kk in range(k):
                acc = fp32_add(acc, bf16_mul_exact(a[i, kk], b[kk, j]))
            out[i, j] = acc
    return out


def test_bf16_output_stationary_order():
    rng = np.random.default_rng(11)
    a, b = random_operands(rng, 5, 11, 4, "bf16")
    assert np.array_equal(gemm(a, b, "bf16", 4, "os"), _scalar_model_os(a, b))
    a, b = random_operands(rng, 16, 64, 16, "bf16")
    assert not np.array_equal(gemm(a, b, "bf16", 16, "os"), gemm(a, b, "bf16", 16, "ws"))
    a, b = random_operands(rng, 3, 257, 9, "bf16")
    error = np.abs(fp32_to_float64(gemm(a, b, "bf16", 16, "os")) - gemm_reference(a, b, "bf16"))
    assert np.all(error <= gemm_error_bound(a, b, 1)) and np.any(error > 0)
    a, b = random_operands(rng, 4, 9, 3, "int8")
    assert np.array_equal(gemm(a, b, "int8", 4, "os"), gemm(a, b, "int8", 4))
