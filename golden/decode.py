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

Mamba-2 decode step (``ssm-step``, :func:`ssm_step`): the semantics of
:func:`hybridgen.golden.ssd.ssd_step`, all arithmetic fp32 (``rtl/arith`` units), in this order
per batch element and head (head h uses group ``h // (H / G)``):

* ``dt = fp32_add(bf16_to_fp32(dt_raw), dt_bias)``, then ``fp32_softplus`` (unless
  ``softplus=False``); ``dA = fp32_exp(fp32_mul(dt, A))``;
* per row p: ``u_p = fp32_mul(bf16_to_fp32(x_p), dt)``;
* per state element: ``s' = fp32_add(fp32_mul(s, dA), fp32_mul(u_p, B_n))`` (a bf16 state is
  widened exactly on the read and rounded RNE on the write; the fp32 value is what y uses);
* ``y_p``: n is cut into chunks of ``width`` values (``width = bus_bits / 32``: the fp32
  values a beat of an fp32 state holds; a beat of a bf16 state is two chunks), the last chunk
  padded with +0 products; chunk c's sum ``t_c`` is the pairwise tree
  (:func:`hybridgen.golden.numerics.vector_rowsum`) of ``fp32_mul(s'_n, C_n)``; the row's
  accumulator adds ``t_0, t_1, ...`` in chunk order (``acc = t_0``, then ``fp32_add``);
* ``y = fp32_add(acc, fp32_mul(D, x_p))``; with z ``y = fp32_mul(y, fp32_silu(z_p))``; then
  ``fp32_to_bf16`` (RNE) and every zero written as +0.

This is the order of the URSC core's step (:func:`hybridgen.golden.ursc.ursc_ssd_step`) with
its vector width set to ``width``: the one ``ssm-step`` kernel of both blocks.
"""

import numpy as np

from .numerics import (_u16, bf16_to_fp32, dot_bf16_accumulate, fp32_add, fp32_exp,
                       fp32_from_bits, fp32_mul, fp32_silu, fp32_softplus, fp32_to_bf16,
                       fp32_to_bits, flush_subnormal_bf16, vector_rowsum)

__all__ = ["gemv", "gemv_fp32", "gemv_reference", "gemv_bound", "ssm_step", "ssm_step_case",
           "ssm_step_bytes", "STATE_DTYPES"]

#: The state dtypes of the decode step, and their bytes per element.
STATE_DTYPES = {"fp32": 4, "bf16": 2}


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


def _check_ssm_inputs(state, x, dt, A, B, C, D, dt_bias, z, state_dtype):
    if state_dtype not in STATE_DTYPES:
        raise ValueError(f"state_dtype must be one of {', '.join(STATE_DTYPES)}, "
                         f"not {state_dtype!r}")
    x, dt, B, C = (np.asarray(a).astype(np.uint16) for a in (x, dt, B, C))
    A, D, dt_bias = (np.asarray(a).astype(np.uint32) for a in (A, D, dt_bias))
    if x.ndim != 3:
        raise ValueError(f"x must have shape (b, h, p), not {x.shape}")
    b, h, p = x.shape
    if B.ndim != 3 or B.shape[0] != b or B.shape != C.shape:
        raise ValueError(f"B {B.shape} and C {C.shape} must be (b, g, n) with b = {b}")
    g, n = B.shape[1:]
    if g < 1 or h % g:
        raise ValueError(f"heads must be a multiple of groups, not {h} and {g}")
    if dt.shape != (b, h):
        raise ValueError(f"dt must have shape {(b, h)}, not {dt.shape}")
    for name, a in (("A", A), ("D", D), ("dt_bias", dt_bias)):
        if a.shape != (h,):
            raise ValueError(f"{name} must have shape ({h},), not {a.shape}")
    if z is not None:
        z = np.asarray(z).astype(np.uint16)
        if z.shape != x.shape:
            raise ValueError(f"z must have shape {x.shape}, not {z.shape}")
    state = np.asarray(state)
    if state.shape != (b, h, p, n):
        raise ValueError(f"state must have shape {(b, h, p, n)}, not {state.shape}")
    return state, x, dt, A, B, C, D, dt_bias, z


def ssm_step(state, x, dt, A, B, C, D, dt_bias, z=None, *, width, softplus=True,
             state_dtype="fp32"):
    """Bit-exact Mamba-2 decode step of the decode array (order: the module docstring).

    Parameters
    ----------
    state : [b, h, p, n], uint32 fp32 bits (``state_dtype="fp32"``) or uint16 bf16 bits
    x : uint16 [b, h, p]; dt : uint16 [b, h] (raw, before dt_bias and softplus)
    A, D, dt_bias : uint32 [h] (fp32 bits); B, C : uint16 [b, g, n]; z : uint16 [b, h, p]
    width : int
        fp32 values per chunk of n (``bus_bits / 32``), a power of two.

    Returns
    -------
    y : uint16 [b, h, p]
    state : [b, h, p, n] in ``state_dtype`` (a new array)
    """
    if width < 1 or width & (width - 1):
        raise ValueError(f"width must be a power of two, not {width!r}")
    state, x, dt, A, B, C, D, dt_bias, z = _check_ssm_inputs(
        state, x, dt, A, B, C, D, dt_bias, z, state_dtype)
    b, h, p = x.shape
    g, n = B.shape[1:]
    group = np.arange(h) // (h // g)
    s = bf16_to_fp32(state.astype(np.uint16)) if state_dtype == "bf16" \
        else state.astype(np.uint32)
    dtf = fp32_add(bf16_to_fp32(dt), dt_bias[None, :])
    if softplus:
        dtf = fp32_softplus(dtf)
    da = fp32_exp(fp32_mul(dtf, A[None, :]))                       # [b, h]
    xf = bf16_to_fp32(x)
    u = fp32_mul(xf, dtf[..., None])                               # [b, h, p]
    bf = bf16_to_fp32(B)[:, group]                                 # [b, h, n]
    cf = bf16_to_fp32(C)[:, group]
    s = fp32_add(fp32_mul(s, da[..., None, None]), fp32_mul(u[..., None], bf[:, :, None, :]))
    prod = fp32_mul(s, cf[:, :, None, :])                          # [b, h, p, n]
    chunks = -(-n // width)
    padded = np.zeros((b, h, p, chunks * width), np.uint32)
    padded[..., :n] = prod
    sums = vector_rowsum(padded.reshape(b, h, p, chunks, width))   # [b, h, p, chunks]
    acc = sums[..., 0]
    for c in range(1, chunks):
        acc = fp32_add(acc, sums[..., c])
    yv = fp32_add(acc, fp32_mul(D[None, :, None], xf))
    if z is not None:
        yv = fp32_mul(yv, fp32_silu(bf16_to_fp32(z)))
    y = fp32_to_bf16(yv)
    y = np.where((y & np.uint16(0x7FFF)) == 0, np.uint16(0), y).astype(np.uint16)
    return y, (fp32_to_bf16(s) if state_dtype == "bf16" else s)


def ssm_step_bytes(b, h, p, n, g, state_dtype="fp32", with_z=False):
    """Necessary bytes of one decode step (the bench's ``bytes``): the state read and written
    (``2 b h p n`` elements of ``state_dtype``) plus the vectors: x, y (and z) bf16 [b, h, p],
    dt bf16 [b, h], B and C bf16 [b, g, n], A, D and dt_bias fp32 [h]."""
    vectors = 2 * b * h * p * (3 if with_z else 2) + 2 * b * h + 2 * 2 * b * g * n + 3 * 4 * h
    return 2 * b * h * p * n * STATE_DTYPES[state_dtype] + vectors


def _bf16_bits(rng, shape, scale=1.0):
    return fp32_to_bf16(fp32_to_bits((rng.standard_normal(shape) * scale).astype(np.float32)))


def ssm_step_case(rng, b, h, p, n, g, *, state_dtype="fp32", with_z=False, softplus=True):
    """Random inputs of a decode step, as the bench's npz keys (without ``state_out``/``y``):
    ``x`` [b, h, p], ``dt`` [b, h] raw, ``B``, ``C`` [b, g, n], ``z`` [b, h, p] (with_z) as bf16
    bits; ``A`` (negative), ``D``, ``dt_bias`` [h] fp32 bits; ``state_in`` [b, h, p, n] in
    ``state_dtype``. Without softplus dt + dt_bias is positive (a stable model)."""
    if softplus:
        dt, dt_bias = _bf16_bits(rng, (b, h)), rng.standard_normal(h) - 1.0
    else:
        dt = fp32_to_bf16(fp32_to_bits((np.abs(rng.standard_normal((b, h))) * 0.3)
                                       .astype(np.float32)))
        dt_bias = rng.uniform(0.0, 0.2, h)
    s0 = fp32_to_bits(rng.standard_normal((b, h, p, n)).astype(np.float32))
    case = dict(x=_bf16_bits(rng, (b, h, p)), dt=dt,
                A=fp32_to_bits((-np.exp(rng.uniform(-1, 1.5, h))).astype(np.float32)),
                D=fp32_to_bits(rng.standard_normal(h).astype(np.float32)),
                dt_bias=fp32_to_bits(np.asarray(dt_bias, np.float32)),
                B=_bf16_bits(rng, (b, g, n)), C=_bf16_bits(rng, (b, g, n)),
                state_in=fp32_to_bf16(s0) if state_dtype == "bf16" else s0)
    if with_z:
        case["z"] = _bf16_bits(rng, (b, h, p))
    return case
