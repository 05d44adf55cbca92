"""URSC golden models (golden/ursc.py): engine primitives, kernel models against float64.

Every random test draws from numpy generators seeded with the ``SEED`` printed by the test.
"""

import numpy as np
import pytest

from hybridgen.golden import ursc
from hybridgen.golden.numerics import (
    bf16_from_bits, dot_bf16_accumulate, fp32_add, fp32_to_bf16, fp32_to_bits, fp32_to_float64,
    vector_cumsum, vector_rowsum,
)

SEED = 20261203
U = 2.0 ** -24  # unit roundoff of fp32


def _gamma(k):
    """(1 + u)^k - 1: the relative bound of k chained fp32 roundings (Higham's gamma_k)."""
    return (1.0 + U) ** k - 1.0


def _fp32_rows(rng, shape, spread=4.0):
    values = rng.standard_normal(shape) * np.exp2(rng.uniform(-spread, spread, shape))
    return fp32_to_bits(values.astype(np.float32))


def _bf16(rng, shape, scale=1.0):
    return fp32_to_bf16(fp32_to_bits((rng.standard_normal(shape) * scale).astype(np.float32)))


# -- RVPE reductions ----------------------------------------------------------------------------

@pytest.mark.parametrize("width", [1, 4, 8, 64])
@pytest.mark.parametrize("n", [1, 3, 8, 13, 64, 130])
def test_rvpe_rowsum_order_and_bound(width, n):
    """rvpe_rowsum = vector trees then a chain in vector order (checked element by element).

    Bound vs the float64 sum: ``gamma(log2 W + V - 1) * sum |x|`` with V = ceil(N / W) vectors
    (log2 W tree levels, then V - 1 chained additions, each one rounding).
    """
    print(f"SEED={SEED}")
    rng = np.random.default_rng([SEED, width, n])
    rows = _fp32_rows(rng, (6, n))
    got = ursc.rvpe_rowsum(rows, width)
    vectors = -(-n // width)
    padded = np.zeros((6, vectors * width), np.uint32)
    padded[:, :n] = rows
    for r in range(6):
        acc = None
        for j in range(vectors):
            s = vector_rowsum(padded[r, j * width:(j + 1) * width])
            acc = s if acc is None else fp32_add(acc, s)
        assert got[r] == acc
    exact = fp32_to_float64(rows).sum(axis=-1)
    mag = np.abs(fp32_to_float64(rows)).sum(axis=-1)
    bound = _gamma(int(np.log2(width)) + vectors - 1) * mag
    assert np.all(np.abs(fp32_to_float64(got) - exact) <= bound)


def test_rvpe_rowsum_order_matters():
    """The chain over vectors gives other bits than one flat pairwise tree over the row."""
    rng = np.random.default_rng(SEED)
    rows = _fp32_rows(rng, (200, 32), spread=12)
    chained = ursc.rvpe_rowsum(rows, 8)
    flat = vector_rowsum(rows)
    assert np.any(chained != flat)


@pytest.mark.parametrize("width", [1, 8, 64])
@pytest.mark.parametrize("n", [1, 5, 8, 21, 128, 200])
def test_rvpe_rowmax(width, n):
    rng = np.random.default_rng([SEED, width, n, 1])
    rows = _fp32_rows(rng, (5, n))
    got = fp32_to_float64(ursc.rvpe_rowmax(rows, width))
    assert np.array_equal(got, fp32_to_float64(rows).max(axis=-1))


def test_rvpe_rowmax_minus_inf_padding():
    """A row of -inf (a fully masked attention row) stays -inf; padding never wins."""
    rows = np.full((2, 5), 0xFF800000, np.uint32)
    rows[1, 4] = fp32_to_bits(np.float32(-3.0))
    got = ursc.rvpe_rowmax(rows, 4)
    assert got[0] == 0xFF800000 and fp32_to_float64(got[1]) == -3.0


@pytest.mark.parametrize("width", [1, 4, 8, 64])
@pytest.mark.parametrize("n", [1, 6, 8, 17, 64, 150])
def test_rvpe_cumsum_order_and_bound(width, n):
    """rvpe_cumsum = Sklansky cumsum per vector, then the running carry added to every lane.

    Checked element by element against the contract; the last element of a row that fills
    whole vectors equals :func:`rvpe_rowsum`. Bound of element k vs float64:
    ``gamma(log2 W + V_k - 1) * sum_{i<=k} |x_i|``.
    """
    print(f"SEED={SEED}")
    rng = np.random.default_rng([SEED, width, n, 2])
    rows = _fp32_rows(rng, (4, n))
    got = ursc.rvpe_cumsum(rows, width)
    assert got.shape == rows.shape
    vectors = -(-n // width)
    padded = np.zeros((4, vectors * width), np.uint32)
    padded[:, :n] = rows
    expect = np.zeros_like(padded)
    for j in range(vectors):
        c = vector_cumsum(padded[:, j * width:(j + 1) * width])
        if j:
            c = fp32_add(expect[:, j * width - 1:j * width], c)
        expect[:, j * width:(j + 1) * width] = c
    assert np.array_equal(got, expect[:, :n])
    if n % width == 0:
        assert np.array_equal(got[:, -1], ursc.rvpe_rowsum(rows, width))
    x = fp32_to_float64(rows)
    k_vectors = np.arange(n) // width + 1
    bound = _gamma(int(np.log2(width)) + k_vectors - 1) * np.cumsum(np.abs(x), axis=-1)
    assert np.all(np.abs(fp32_to_float64(got) - np.cumsum(x, axis=-1)) <= bound)


def test_rvpe_bad_width():
    with pytest.raises(ValueError, match="width must be a power of two"):
        ursc.rvpe_rowsum(np.zeros((1, 4), np.uint32), 6)


# -- DPE -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("m,k,n,mults", [(1, 1, 1, 4), (3, 7, 5, 4), (4, 64, 6, 16),
                                         (5, 96, 3, 16), (2, 130, 4, 8)])
def test_dpe_matmul_elements_and_bound(m, k, n, mults):
    """dpe_matmul = dot_bf16_accumulate per output element (checked element by element).

    Bound vs the float64 product of the bf16 values: ``gamma(log2 mults + ceil(K/mults) - 1)
    * sum_k |a_ik b_kj|`` (tree levels of one DPU, then the chained chunk additions).
    """
    print(f"SEED={SEED}")
    rng = np.random.default_rng([SEED, m, k, n, mults])
    a, b = _bf16(rng, (m, k)), _bf16(rng, (k, n))
    got = ursc.dpe_matmul(a, b, mults)
    assert got.shape == (m, n) and got.dtype == np.uint32
    for i in range(m):
        for j in range(n):
            assert got[i, j] == dot_bf16_accumulate(a[i], b[:, j], mults)
    af, bf = bf16_from_bits(a), bf16_from_bits(b)
    bound = _gamma(int(np.log2(mults)) + -(-k // mults) - 1) * (np.abs(af) @ np.abs(bf))
    assert np.all(np.abs(fp32_to_float64(got) - af @ bf) <= bound)


def test_dpe_matmul_batched_and_order_matters():
    """Leading dimensions broadcast; the DPU width is part of the order (other bits)."""
    rng = np.random.default_rng(SEED)
    a, b = _bf16(rng, (3, 8, 64), 8.0), _bf16(rng, (3, 64, 8), 8.0)
    got = ursc.dpe_matmul(a, b, 16)
    for i in range(3):
        assert np.array_equal(got[i], ursc.dpe_matmul(a[i], b[i], 16))
    assert np.any(got != ursc.dpe_matmul(a, b, 4))


def test_dpe_matmul_bad_shapes():
    with pytest.raises(ValueError, match="do not chain"):
        ursc.dpe_matmul(np.zeros((2, 3), np.uint16), np.zeros((4, 2), np.uint16), 4)
