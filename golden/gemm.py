"""GEMM golden models of the systolic engine (``rtl/systolic``): ``C = A @ B``.

Two levels (docs/numerics.md, "Two levels of golden model"):

* :func:`gemm_reference` - float64 math reference (of the flushed bf16 inputs for bf16);
* :func:`gemm` - bit-exact model of what the engine computes, in the hardware's order.

Accumulation order of the weight-stationary engine (``rows`` = R, the K extent of a tile):
K is cut into tiles of R (the last one padded with zeros in A and B). For every output, the
array forms each tile's partial sum down its column, starting from zero::

    p_t = fp32_add(...fp32_add(fp32_add(+0, a[k0] * b[k0]), a[k0 + 1] * b[k0 + 1])..., a[k0 + R - 1] * b[k0 + R - 1])

with exact bf16 products (``bf16_mul_exact``), then the accumulator memory adds the tiles in
order on write: ``c = p_0``, ``c = fp32_add(c, p_1)``, ... Zero padding is part of the order
(``x + (+0)`` turns a ``-0`` into ``+0``). int8: int32 sums wrapping modulo 2^32 (order-free).

Output-stationary order (``dataflow="os"``): every output is one running sum in K order,
``fp32_add(...fp32_add(fp32_add(+0, a[0] * b[0]), a[1] * b[1])..., a[K - 1] * b[K - 1])``
(the PE's fp32 adder pipeline holds several outputs at once - they are interleaved in time,
never mixed). Cycles of a tile beyond K add ``-0`` (exact identity), so no padding enters the
order.

Error bound of the bf16 model against the reference (tested): with K' = K rounded up to a
multiple of R, ``|gemm - reference| <= K' * 2^-24 * sum_k |a_k b_k| + K' * 2^-126`` elementwise
(each of at most K' additions rounds with relative error <= 2^-24; results below 2^-126 flush).
"""

import numpy as np

from .numerics import bf16_from_bits, bf16_mul_exact, flush_subnormal_bf16, fp32_add

__all__ = ["gemm", "gemm_reference", "gemm_error_bound", "padded_k"]


def padded_k(k, rows):
    """K rounded up to a multiple of the array's ``rows``."""
    return -(-k // rows) * rows


def _check(a, b):
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"Shapes {a.shape} and {b.shape} do not chain as (M, K) @ (K, N)")


def gemm(a, b, dtype, rows, dataflow="ws"):
    """Bit-exact engine result.

    Parameters
    ----------
    a : (M, K) int8, or uint16 bf16 bit patterns
    b : (K, N) same type
    dtype : {"int8", "bf16"}
    rows : int
        The array's rows (the K tile of the weight-stationary order).
    dataflow : {"ws", "os"}
        Accumulation order (see the module docstring).

    Returns
    -------
    (M, N) int32, or uint32 fp32 bit patterns.
    """
    a, b = np.asarray(a), np.asarray(b)
    _check(a, b)
    if dtype == "int8":
        total = a.astype(np.int64) @ b.astype(np.int64)
        return total.astype(np.uint64).astype(np.uint32).view(np.int32)
    m, k = a.shape
    n = b.shape[1]
    if dataflow == "os":
        c = np.zeros((m, n), np.uint32)
        for kk in range(k):
            c = fp32_add(c, bf16_mul_exact(a[:, kk].astype(np.uint16)[:, None],
                                           b[kk].astype(np.uint16)[None, :]))
        return c
    kp = padded_k(k, rows)
    a = np.concatenate([a.astype(np.uint16), np.zeros((m, kp - k), np.uint16)], axis=1)
    b = np.concatenate([b.astype(np.uint16), np.zeros((kp - k, n), np.uint16)], axis=0)
    c = None
    for k0 in range(0, kp, rows):
        partial = np.zeros((m, n), np.uint32)
        for kk in range(k0, k0 + rows):
            partial = fp32_add(partial, bf16_mul_exact(a[:, kk][:, None], b[kk][None, :]))
        c = partial if c is None else fp32_add(c, partial)
    return c


def _values(x, dtype):
    if dtype == "int8":
        return np.asarray(x).astype(np.float64)
    return bf16_from_bits(flush_subnormal_bf16(np.asarray(x, np.uint16))).astype(np.float64)


def gemm_reference(a, b, dtype):
    """float64 ``A @ B`` (bf16 inputs flushed as the hardware does)."""
    _check(np.asarray(a), np.asarray(b))
    with np.errstate(invalid="ignore", over="ignore"):
        return _values(a, dtype) @ _values(b, dtype)


def gemm_error_bound(a, b, rows):
    """Elementwise bound on ``|gemm(a, b, "bf16", rows) - gemm_reference(a, b, "bf16")|``."""
    kp = padded_k(np.asarray(a).shape[1], rows)
    magnitude = np.abs(_values(a, "bf16")) @ np.abs(_values(b, "bf16"))
    return kp * 2.0 ** -24 * magnitude + kp * 2.0 ** -126
