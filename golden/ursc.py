"""Bit-exact golden models of the URSC core (``rtl/ursc``, docs/ursc.md): engine primitives.

The URSC core has two dot-product engines (DPE0, DPE1), a reconfigurable vector engine (RVPE)
and an update engine (UpE). This module models, on raw bit patterns (``uint16`` bf16,
``uint32`` fp32) and in the hardware's order of operations:

* the engine primitives - :func:`dpe_matmul` (every DPE output element), :func:`rvpe_rowsum`,
  :func:`rvpe_rowmax`, :func:`rvpe_cumsum` (RVPE reductions of rows longer than one vector);

The numerics of every primitive are those of :mod:`hybridgen.golden.numerics` (docs/numerics.md).
"""

import numpy as np

from .numerics import (
    dot_bf16_accumulate, fp32_add, fp32_max, vector_cumsum, vector_rowmax, vector_rowsum,
)

__all__ = ["dpe_matmul", "rvpe_rowsum", "rvpe_rowmax", "rvpe_cumsum"]

#: fp32 bit patterns used for padding.
_POS_ZERO = np.uint32(0x00000000)
_NEG_INF = np.uint32(0xFF800000)


def _check_width(width, name):
    if not isinstance(width, (int, np.integer)) or width < 1 or width & (width - 1):
        raise ValueError(f"{name} must be a power of two >= 1, not {width!r}")
    return int(width)


def _vectors(rows, width, pad):
    """rows uint32 [..., N] -> [..., V, width], the tail padded with ``pad``."""
    rows = np.asarray(rows).astype(np.uint32)
    n = rows.shape[-1]
    if n < 1:
        raise ValueError("an RVPE row needs at least one element")
    count = -(-n // width)
    padded = np.full(rows.shape[:-1] + (count * width,), pad, dtype=np.uint32)
    padded[..., :n] = rows
    return padded.reshape(rows.shape[:-1] + (count, width))


def rvpe_rowsum(rows, width):
    """Bit-exact RVPE row sum of fp32 rows ``[..., N]`` on vectors of ``width`` lanes.

    The row is cut into vectors ``v_0, v_1, ...`` of ``width`` lanes in order, the tail padded
    with +0; ``r = vector_rowsum(v_0)``, then ``r = fp32_add(r, vector_rowsum(v_j))`` for
    j = 1, 2, ... (:func:`~hybridgen.golden.numerics.vector_rowsum` is the pairwise lane tree).
    Returns uint32 ``[...]``.
    """
    v = _vectors(rows, _check_width(width, "width"), _POS_ZERO)
    sums = vector_rowsum(v)
    acc = sums[..., 0]
    for j in range(1, v.shape[-2]):
        acc = fp32_add(acc, sums[..., j])
    return acc


def rvpe_rowmax(rows, width):
    """Bit-exact RVPE row max of fp32 rows ``[..., N]``: the max of the vector maxima.

    Vectors of ``width`` lanes, the tail padded with -inf; exact and order-free (NaN if any
    element is NaN, -0 < +0, subnormals flushed, as :func:`~hybridgen.golden.numerics.fp32_max`).
    Returns uint32 ``[...]``.
    """
    v = _vectors(rows, _check_width(width, "width"), _NEG_INF)
    maxima = vector_rowmax(v)
    acc = maxima[..., 0]
    for j in range(1, v.shape[-2]):
        acc = fp32_max(acc, maxima[..., j])
    return acc


def rvpe_cumsum(rows, width):
    """Bit-exact RVPE inclusive prefix sum of fp32 rows ``[..., N]`` on vectors of ``width``.

    Vectors ``v_j`` of ``width`` lanes in order (the tail padded with +0 and dropped from the
    result); ``c_j = vector_cumsum(v_j)`` (Sklansky order within the vector); for j >= 1 every
    lane becomes ``fp32_add(carry, c_j[k])`` where ``carry`` is the last lane of vector j-1's
    final result (for j = 0 the lanes are ``c_0`` unchanged). Returns uint32 ``[..., N]``.
    """
    rows = np.asarray(rows)
    n = rows.shape[-1]
    v = _vectors(rows, _check_width(width, "width"), _POS_ZERO)
    out = vector_cumsum(v)
    for j in range(1, v.shape[-2]):
        carry = out[..., j - 1, -1:]
        out[..., j, :] = fp32_add(carry, out[..., j, :])
    return out.reshape(rows.shape[:-1] + (-1,))[..., :n]


def dpe_matmul(a, b, mults):
    """Bit-exact DPE matrix product of bf16 operands: ``a [..., M, K] @ b [..., K, N]``.

    Every output element ``[i, j]`` is ``dot_bf16_accumulate(a[i, :], b[:, j], mults)``: K in
    chunks of ``mults`` (+0 padding), each chunk the DPU's pairwise tree of exact products, the
    chunks added in increasing order into the fp32 accumulator
    (:func:`~hybridgen.golden.numerics.dot_bf16_accumulate`). Leading dimensions broadcast.
    The result does not depend on how the output elements are spread over lanes, DPUs or the
    two DPEs. Returns uint32 ``[..., M, N]``.
    """
    a = np.asarray(a).astype(np.uint16)
    b = np.asarray(b).astype(np.uint16)
    if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != b.shape[-2]:
        raise ValueError(f"shapes {a.shape} and {b.shape} do not chain as (M, K) @ (K, N)")
    mults = _check_width(mults, "mults")
    return dot_bf16_accumulate(a[..., :, None, :], np.swapaxes(b, -1, -2)[..., None, :, :],
                               mults)
