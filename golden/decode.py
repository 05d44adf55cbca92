"""Bit-exact models of the decode array's kernels (``rtl/decode``) and their float64 references.

GEMV / skinny GEMM ``y[b, n] = x[b, k] @ W[k, n]`` (bf16 in, fp32 accumulation, bf16 out), in
the hardware's order (docs/decode.md, "Order of operations"):

* split points: k is cut into chunks of ``dot`` values (one beat of a channel: ``dot =
  bus_bits / 16``), the last chunk padded with +0 (x past k is +0 in the activation buffer,
  W past k is zero in the channel layout); no split along k across lanes or channels (each
  output is owned by one lane of one channel), so there is no combine step;
* chunk c's dot product ``t_c`` is the pairwise tree of
  :func:`hybridgen.golden.numerics.dot_bf16` (``((p0 + p1) + (p2 + p3)) + ...``);
* the lane's accumulator starts at -0 and adds ``t_0, t_1, ...`` in chunk order with
  ``fp32_add`` (``-0 + t = t`` exactly for every ``t`` the tree gives, so this is
  :func:`hybridgen.golden.numerics.dot_bf16_accumulate`), then ``fp32_to_bf16`` (RNE).

The order of the columns in memory (groups, channels) changes when an output is computed,
not how.
"""

import numpy as np

from .numerics import (_u16, bf16_to_fp32, dot_bf16_accumulate, fp32_from_bits,
                       fp32_to_bf16, flush_subnormal_bf16)

__all__ = ["gemv", "gemv_fp32", "gemv_reference", "gemv_bound"]


def gemv_fp32(x, w, dot):
    """The fp32 accumulators (uint32 [b, n]) of :func:`gemv` before rounding to bf16."""
    x, w = _u16(x), _u16(w)
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[0]:
        raise ValueError(f"x (b x k) and w (k x n) do not chain: {x.shape}, {w.shape}")
    # [b, 1, k] against [1, n, k]
    return dot_bf16_accumulate(x[:, None, :], w.T[None, :, :], dot)


def gemv(x, w, dot):
    """Bit-exact ``y = x @ w`` of the decode array whose lanes are ``dot`` wide.

    ``x`` [b, k] and ``w`` [k, n] are bf16 bit patterns (uint16); returns uint16 [b, n].
    """
    return fp32_to_bf16(gemv_fp32(x, w, dot))


def gemv_reference(x, w):
    """float64 ``x @ w`` of the flushed bf16 inputs and ``|x| @ |w|`` (for the bound)."""
    xf = fp32_from_bits(bf16_to_fp32(flush_subnormal_bf16(_u16(x)))).astype(np.float64)
    wf = fp32_from_bits(bf16_to_fp32(flush_subnormal_bf16(_u16(w)))).astype(np.float64)
    return xf @ wf, np.abs(xf) @ np.abs(wf)


def gemv_bound(k, dot):
    """Relative bound (against ``|x| @ |w|``) of the fp32 accumulator of :func:`gemv_fp32`:
    ``(1 + u)^(log2(dot) + ceil(k / dot) - 1) - 1`` with ``u = 2^-24`` (one rounding per tree
    level and per accumulation, the products exact), where no partial sum overflows or falls
    below the normal range. The bf16 output adds half a bf16 ulp of the result (2^-8
    relative)."""
    depth = (dot.bit_length() - 1) + (-(-k // dot)) - 1
    return (1 + 2.0 ** -24) ** depth - 1
