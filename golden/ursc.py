"""Bit-exact golden models of the URSC core (``rtl/ursc``, docs/ursc.md): engines and kernels.

The URSC core has two dot-product engines (DPE0, DPE1), a reconfigurable vector engine (RVPE)
and an update engine (UpE). This module models, on raw bit patterns (``uint16`` bf16,
``uint32`` fp32) and in the hardware's order of operations:

* the engine primitives - :func:`dpe_matmul` (every DPE output element), :func:`rvpe_rowsum`,
  :func:`rvpe_rowmax`, :func:`rvpe_cumsum` (RVPE reductions of rows longer than one vector);
* the kernels in the hardware's order - :func:`ursc_attention` (PipeFlash), :func:`ursc_ssd`
  (PipeSSD, the five chunked-SSD steps fused per chunk) and :func:`ursc_ssd_step` (decode step);
* the useful-MAC counts of the benchmarks (:func:`attention_useful_macs`,
  :func:`ssd_useful_macs`) and the analytic schedule of both dataflows
  (:func:`pipeflash_schedule`, :func:`pipessd_schedule`): busy cycles per engine, the
  utilization cap, and what the RVPE, UpE and DMA must sustain.

The numerics of every primitive are those of :mod:`hybridgen.golden.numerics` (docs/numerics.md);
the order of every kernel is written down in its docstring and in docs/ursc.md ("Numerics"),
and tests/golden/test_ursc.py bounds each kernel against the float64 models of
:mod:`hybridgen.golden.attention` and :mod:`hybridgen.golden.ssd`.
"""

from dataclasses import dataclass as _dataclass

import numpy as np

from .numerics import (
    SfuParams, bf16_to_fp32, fp32_add, fp32_exp, fp32_max, fp32_mul, fp32_reciprocal,
    fp32_silu, fp32_softplus, fp32_to_bf16, fp32_to_bits, vector_cumsum, vector_rowmax,
    vector_rowsum,
)

__all__ = [
    "dpe_matmul", "rvpe_rowsum", "rvpe_rowmax", "rvpe_cumsum", "EngineParams", "ursc_attention",
    "ursc_ssd", "ursc_ssd_step", "attention_useful_macs", "ssd_useful_macs",
    "pipeflash_schedule", "pipessd_schedule",
]

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

    Computed chunk by chunk in numpy float32 with the docs/numerics.md rules applied after
    every operation (:func:`_flush`), which is the same arithmetic: a bf16 x bf16 product is
    exact in float32 unless it is below 2^-126 (then flushed to a signed zero; it cannot round
    up to 2^-126, its significand has 16 bits) or overflows (inf either way); an IEEE float32
    sum of normal numbers is correctly rounded and is subnormal only when the exact sum is, so
    flushing it gives the signed zero of the rules; NaNs are canonicalized at the end. The
    tests check it element by element against ``dot_bf16_accumulate``.
    """
    a = np.asarray(a).astype(np.uint16)
    b = np.asarray(b).astype(np.uint16)
    if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != b.shape[-2]:
        raise ValueError(f"shapes {a.shape} and {b.shape} do not chain as (M, K) @ (K, N)")
    mults = _check_width(mults, "mults")
    k = a.shape[-1]
    if k < 1:
        raise ValueError("dpe_matmul needs K >= 1")
    chunks = -(-k // mults)
    pad = chunks * mults - k
    af = _bf16_as_float32(np.pad(a, [(0, 0)] * (a.ndim - 1) + [(0, pad)]))[..., :, None, :]
    bf = _bf16_as_float32(np.pad(np.swapaxes(b, -1, -2),
                                 [(0, 0)] * (b.ndim - 1) + [(0, pad)]))[..., None, :, :]
    acc = None
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        for j in range(chunks):
            level = _flush(af[..., j * mults:(j + 1) * mults] * bf[..., j * mults:(j + 1) * mults])
            while level.shape[-1] > 1:
                level = _flush(level[..., 0::2] + level[..., 1::2])
            acc = level[..., 0] if acc is None else _flush(acc + level[..., 0])
    bits = acc.view(np.uint32)
    return np.where(np.isnan(acc), np.uint32(0x7FC00000), bits).astype(np.uint32)


_TINY = np.float32(2.0 ** -126)


def _bf16_as_float32(bits):
    """bf16 bits -> float32 values, subnormals flushed to signed zeros."""
    return _flush((bits.astype(np.uint32) << np.uint32(16)).view(np.float32))


def _flush(x):
    """float32 values with magnitude below 2^-126 -> zeros of the same sign (NaN kept)."""
    return np.where(np.abs(x) < _TINY, np.copysign(np.float32(0), x), x).astype(np.float32)


# =============================================================================================
# Engine parameters the models read from a configuration.
# =============================================================================================

_SIGN = np.uint32(0x80000000)


@_dataclass(frozen=True)
class EngineParams:
    """The engine sizes the models and the schedule read (a view of a URSC configuration).

    ``lanes`` x ``dpus`` x ``mults`` per DPE (two DPEs), ``vector_units`` x ``vector_width``
    RVPE lanes, ``update_units`` UpE units, ``sfu`` the special-function approximations.
    Only ``mults`` and ``vector_width`` (and ``sfu``) enter the bits; the others enter the
    schedule alone.
    """

    lanes: int = 4
    dpus: int = 4
    mults: int = 16
    vector_units: int = 2
    vector_width: int = 64
    update_units: int = 2
    sfu: SfuParams = SfuParams()

    _FIELDS = {"lanes": "dpe_lanes", "dpus": "dpe_dpus", "mults": "dpe_mults",
               "vector_units": "vector_units", "vector_width": "vector_width",
               "update_units": "update_units"}

    def __post_init__(self):
        for name in self._FIELDS:
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        _check_width(self.mults, "mults")
        _check_width(self.vector_width, "vector_width")

    @classmethod
    def of(cls, config=None, **overrides):
        """EngineParams of ``config``: None (the defaults, ursc-small's sizes), an EngineParams,
        a dict or an object with the UrscConfig fields (``dpe_lanes`` ... ``update_units`` and an
        optional ``sfu`` group); ``overrides`` (model field names) win."""
        fields = {}
        if isinstance(config, cls):
            fields = {name: getattr(config, name) for name in cls._FIELDS}
            fields["sfu"] = config.sfu
        elif config is not None:
            get = config.get if isinstance(config, dict) else \
                (lambda key, default=None: getattr(config, key, default))
            for name, key in cls._FIELDS.items():
                value = get(key, get(name, None))
                if value is not None:
                    fields[name] = value
            sfu = get("sfu", None)
            if sfu is not None:
                fields["sfu"] = SfuParams.of(sfu.params() if hasattr(sfu, "params") else sfu)
        fields.update({k: v for k, v in overrides.items() if v is not None})
        if "sfu" in fields:
            fields["sfu"] = SfuParams.of(fields["sfu"])
        return cls(**fields)

    @property
    def peak_macs(self):
        """MACs per cycle of both DPEs: 2 * lanes * dpus * mults."""
        return 2 * self.lanes * self.dpus * self.mults


# -- small fp32 helpers (each one RVPE / UpE lane op) -------------------------------------------

def _sub(a, b):
    return fp32_add(a, np.asarray(b).astype(np.uint32) ^ _SIGN)


def _positive_zero(bits):
    """The output stage writes every zero as +0 (fp32 or bf16 bit patterns)."""
    bits = np.asarray(bits)
    magnitude = bits & (np.uint32(0x7FFFFFFF) if bits.dtype == np.uint32 else np.uint16(0x7FFF))
    return np.where(magnitude == 0, 0, bits).astype(bits.dtype)


def _f32(value):
    """A Python/numpy float -> fp32 bits (rounded by numpy), or fp32 bits unchanged."""
    value = np.asarray(value)
    if value.dtype == np.uint32:
        return value
    return fp32_to_bits(value.astype(np.float32))


# =============================================================================================
# PipeFlash attention
# =============================================================================================

def _visible(sq, sk, causal):
    """bool [sq, sk]: query i sees key j (bottom-right aligned causal mask)."""
    if not causal:
        return np.ones((sq, sk), bool)
    return np.arange(sk)[None, :] <= np.arange(sq)[:, None] + (sk - sq)


def ursc_attention(q, k, v, *, causal=False, scale=None, block_q=128, block_k=128, config=None,
                   mults=None, vector_width=None, lanes=None, sfu=None, skip=True,
                   _variant=()):
    """Bit-exact PipeFlash attention in the URSC order: bf16 bits in, bf16 bits out.

    Parameters
    ----------
    q : uint16 [b, sq, hq, d]; k, v : uint16 [b, sk, hkv, d]
        bf16 bit patterns; query head i uses kv head ``i // (hq // hkv)`` (GQA).
    causal : bool
        Bottom-right aligned: query i sees key j iff ``j <= i + sk - sq``.
    scale : float or fp32 bits, optional
        Defaults to ``1/sqrt(d)`` rounded to fp32.
    block_q, block_k : int
        Query rows per output block and keys per key block. ``block_q`` (and ``lanes``) only
        move work in time; the bits depend on ``block_k``, ``mults``, ``vector_width``, ``sfu``.
    config : optional
        A URSC configuration (see :meth:`EngineParams.of`); ``mults``, ``vector_width``,
        ``lanes`` and ``sfu`` override it.
    skip : bool
        True: the hardware's work skipping - causal key blocks with no visible pair are not
        visited, and inside a visited block the P V reduction of a row tile (``lanes`` rows)
        stops at the last ``mults``-chunk holding a key visible to one of its rows, S output
        tiles with no visible pair are not computed. False: every block is computed in full
        and masked. Both give the same bits (see below), which the tests check.

    Order, per (batch, head) and key block ``j`` of ``block_k`` keys (the last one short), for
    every query row; every operation is one :mod:`~hybridgen.golden.numerics` op:

    1. ``S = dpe_matmul(Q, K_j^T, mults)`` (DPE0, fp32); ``S = fp32_mul(S, scale)`` (RVPE);
       masked entries are set to -inf;
    2. ``m' = fp32_max(m, rvpe_rowmax(S))``; ``m_s = m'`` if finite else +0 (a row that has
       seen no key yet);
    3. ``P = fp32_exp(S - m_s)``; ``P16 = fp32_to_bf16(P)`` (the DPE1 operand);
    4. ``l = fp32_add(fp32_mul(a, l), rvpe_rowsum(P16 widened))`` with ``a = fp32_exp(m - m_s)``
       (l sums the bf16 P that the DPE multiplies, so numerator and denominator use the same
       weights);
    5. ``O = fp32_add(fp32_mul(a, O), dpe_matmul(P16, V_j, mults))`` (DPE1, then the UpE);
       ``m = m'``. Initially ``m = -inf``, ``l = O = +0``.

    Finally (UpE) ``o = fp32_to_bf16(fp32_mul(O, fp32_reciprocal(l)))``; a row with ``l = 0``
    (no visible key) gives +0, and every zero output is written as +0.

    Differences from FlashAttention-2: the scale is one fp32 multiply of S before the max
    (FA2 folds ``scale * log2 e`` into an exp2 argument, ``exp2(S c - m c)`` with a fused
    multiply-add); exp is the natural-exponent unit :func:`~hybridgen.golden.numerics.fp32_exp`;
    l sums the bf16-rounded P (FA2 sums fp32 P before its conversion); reductions are the
    RVPE trees (:func:`rvpe_rowmax`, :func:`rvpe_rowsum`) and the DPE's chunked trees, not
    warp shuffles; the final ``O * (1/l)`` is FA2's own order. The update
    ``O = a O + P V`` and ``l = a l + rowsum P`` per key block are FA2's.

    Why skipping keeps the bits: a skipped S tile would be masked to -inf; a skipped key
    block leaves m unchanged, so ``a = exp(+0) = 1``, and ``l``, ``O`` change only by
    adding ``+-0`` (``1 * x = x`` exactly); a skipped P V chunk has P = +0, so it adds a
    zero. Adding a zero changes at most the sign of a zero (``-0 + +0 = +0``), and every zero
    output is written as +0; m and l never depend on skipping.

    Returns
    -------
    uint16 [b, sq, hq, d]
    """
    params = EngineParams.of(config, mults=mults, vector_width=vector_width, lanes=lanes,
                             sfu=sfu)
    q, k, v = (np.asarray(a).astype(np.uint16) for a in (q, k, v))
    if q.ndim != 4 or k.ndim != 4 or k.shape != v.shape or k.shape[0] != q.shape[0] \
            or k.shape[3] != q.shape[3]:
        raise ValueError(f"need q (b,sq,hq,d), k and v (b,sk,hkv,d); got {q.shape} {k.shape} "
                         f"{v.shape}")
    b, sq, hq, d = q.shape
    sk, hkv = k.shape[1], k.shape[2]
    if sk < 1 or sq < 1:
        raise ValueError(f"sq and sk must be >= 1, not {sq!r} and {sk!r}")
    if hq % hkv:
        raise ValueError(f"hq must be a multiple of hkv, not {hq!r} and {hkv!r}")
    for name, value in (("block_q", block_q), ("block_k", block_k)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, not {value!r}")
    scale = _f32(1.0 / np.sqrt(d) if scale is None else scale)
    mults, width, sfu = params.mults, params.vector_width, params.sfu
    rep = hq // hkv
    # [b, hq, s, d]: query head i reads kv head i // rep.
    qh = np.moveaxis(q, 2, 1)
    kh = np.repeat(np.moveaxis(k, 2, 1), rep, axis=1)
    vh = np.repeat(np.moveaxis(v, 2, 1), rep, axis=1)
    visible = _visible(sq, sk, causal)
    out = np.zeros((b, hq, sq, d), np.uint16)
    neg_inf = np.uint32(0xFF800000)
    for q0 in range(0, sq, block_q):
        q1 = min(q0 + block_q, sq)
        rows = q1 - q0
        m = np.full((b, hq, rows), neg_inf, np.uint32)
        l = np.zeros((b, hq, rows), np.uint32)
        o = np.zeros((b, hq, rows, d), np.uint32)
        for j0 in range(0, sk, block_k):
            j1 = min(j0 + block_k, sk)
            vis = visible[q0:q1, j0:j1]
            if skip and not vis.any():
                continue  # a fully masked key block is never visited
            s = fp32_mul(dpe_matmul(qh[:, :, q0:q1], np.swapaxes(kh[:, :, j0:j1], -1, -2),
                                    mults), scale)
            s = np.where(vis, s, neg_inf)
            m_new = fp32_max(m, rvpe_rowmax(s, width))
            finite = (m_new & np.uint32(0x7F800000)) != np.uint32(0x7F800000)
            m_safe = np.where(finite, m_new, np.uint32(0))
            p = fp32_exp(_sub(s, m_safe[..., None]), sfu)
            p16 = fp32_to_bf16(p)
            alpha = fp32_exp(_sub(m, m_safe), sfu)
            summed = p if "l_fp32" in _variant else bf16_to_fp32(p16)
            l_new = fp32_add(fp32_mul(alpha, l), rvpe_rowsum(summed, width))
            vj = vh[:, :, j0:j1]
            if skip:
                pv = np.zeros((b, hq, rows, d), np.uint32)
                for t0 in range(0, rows, params.lanes):
                    t1 = min(t0 + params.lanes, rows)
                    seen = np.nonzero(vis[t0:t1].any(axis=0))[0]
                    if seen.size == 0:
                        continue  # the row tile sees nothing in this block: left unchanged
                    extent = min(j1 - j0, -(-(int(seen[-1]) + 1) // mults) * mults)
                    pv[:, :, t0:t1] = dpe_matmul(p16[:, :, t0:t1, :extent], vj[:, :, :extent],
                                                 mults)
                o_new = fp32_add(fp32_mul(alpha[..., None], o), pv)
                # A row that sees no key of this block keeps its state (the skipped work).
                keep = ~vis.any(axis=1)
                m = np.where(keep, m, m_new)
                l = np.where(keep, l, l_new)
                o = np.where(keep[:, None], o, o_new)
            else:
                pv = dpe_matmul(p16, vj, mults)
                m, l = m_new, l_new
                o = fp32_add(fp32_mul(alpha[..., None], o), pv)
        normalized = fp32_mul(o, fp32_reciprocal(l, sfu)[..., None])
        result = np.where((l == 0)[..., None], np.uint16(0), fp32_to_bf16(normalized))
        out[:, :, q0:q1] = _positive_zero(result.astype(np.uint16))
    return np.moveaxis(out, 1, 2).copy()


# =============================================================================================
# PipeSSD (chunked Mamba-2 SSD) and the decode step
# =============================================================================================

_STATE_DTYPES = ("fp32", "bf16")


def _state_in(state, shape, state_dtype):
    if state_dtype not in _STATE_DTYPES:
        raise ValueError(f"state_dtype must be one of {_STATE_DTYPES}, not {state_dtype!r}")
    if state is None:
        return np.zeros(shape, np.uint32)
    state = np.asarray(state)
    if state.shape != shape:
        raise ValueError(f"state must have shape {shape}, not {state.shape}")
    return bf16_to_fp32(state.astype(np.uint16)) if state_dtype == "bf16" \
        else state.astype(np.uint32)


def _state_out(state, state_dtype):
    return fp32_to_bf16(state) if state_dtype == "bf16" else state


def _dt(dt, dt_bias, softplus, sfu):
    """dt (bf16 bits [..., h]) -> fp32: dt + dt_bias, then softplus (RVPE)."""
    dt = fp32_add(bf16_to_fp32(dt), dt_bias)
    return fp32_softplus(dt, sfu) if softplus else dt


def _ssd_inputs(x, dt, A, B, C, D, dt_bias, z):
    x, dt, B, C = (np.asarray(a).astype(np.uint16) for a in (x, dt, B, C))
    A, D, dt_bias = (np.asarray(a).astype(np.uint32) for a in (A, D, dt_bias))
    h = x.shape[-2]
    g = B.shape[-2]
    if g < 1 or h % g:
        raise ValueError(f"heads must be a multiple of groups, not {h!r} and {g!r}")
    if B.shape != C.shape or B.shape[:-2] != x.shape[:-2]:
        raise ValueError(f"B {B.shape} and C {C.shape} must match x {x.shape} up to (g, n)")
    if dt.shape != x.shape[:-1]:
        raise ValueError(f"dt must have shape {x.shape[:-1]}, not {dt.shape}")
    for name, a in (("A", A), ("D", D), ("dt_bias", dt_bias)):
        if a.shape != (h,):
            raise ValueError(f"{name} must have shape ({h},), not {a.shape}")
    if z is not None:
        z = np.asarray(z).astype(np.uint16)
        if z.shape != x.shape:
            raise ValueError(f"z must have shape {x.shape}, not {z.shape}")
    return x, dt, A, B, C, D, dt_bias, z


def ursc_ssd(x, dt, A, B, C, D, dt_bias, z=None, initial_state=None, *, chunk=256,
             softplus=True, state_dtype="fp32", config=None, mults=None, vector_width=None,
             lanes=None, sfu=None, skip=True, _variant=()):
    """Bit-exact PipeSSD (Mamba-2 chunked SSD, the five steps fused per chunk) in the URSC order.

    Parameters
    ----------
    x : uint16 [b, L, h, p]; dt : uint16 [b, L, h]; B, C : uint16 [b, L, g, n]; z : uint16
        [b, L, h, p] or None - bf16 bit patterns. Head i uses group ``i // (h // g)``.
    A, D, dt_bias : uint32 [h]
        fp32 bit patterns.
    initial_state : [b, h, p, n] or None (zeros)
        In ``state_dtype`` ("fp32": uint32 bits, "bf16": uint16 bits); the returned final
        state has the same dtype. Between chunks the state is always fp32.
    chunk : int
        Tokens per chunk; the last chunk is padded to ``chunk`` with ``x = B = C = 0`` and
        ``dt = +0`` (after softplus).
    softplus : bool
        ``dt = softplus(dt + dt_bias)`` (else ``dt + dt_bias``).
    config, mults, vector_width, lanes, sfu
        As in :func:`ursc_attention`.
    skip : bool
        True: Y_diag's reduction of a row tile (``lanes`` tokens) stops at the last
        ``mults``-chunk holding a key token at or before its last row (the causal work skip);
        False: the full masked chunk is reduced. Same bits (a skipped chunk adds zero products;
        zeros of y are written as +0).

    Order, per batch, chunk (tokens ``c``) and head h with group ``G(h)``, fp32 unless bf16
    is said; each step one or more :mod:`~hybridgen.golden.numerics` ops:

    1. RVPE: ``dt_t = softplus(fp32_add(dt_t, dt_bias))``; ``cum = rvpe_cumsum(fp32_mul(dt,
       A))`` over the chunk (vectors of ``vector_width``);
    2. DPE: ``CB = dpe_matmul(C, B^T)`` once per group (fp32 [c, c]); RVPE:
       ``M[i, j] = fp32_to_bf16(fp32_mul(CB[i, j], fp32_exp(cum_i - cum_j)))`` for j <= i,
       else +0 (exp(segsum) as ``exp(cum_i - cum_j)``, never a product of exps);
    3. RVPE: ``u = fp32_mul(x, dt)`` (fp32), ``X = fp32_to_bf16(u)``; DPE:
       ``Y_diag = dpe_matmul(M, X)``;
    4. RVPE: ``Xd = fp32_to_bf16(fp32_mul(u, fp32_exp(cum_last - cum_s)))`` (one rounding of
       the fp32 ``dt x``); DPE: ``S_c = dpe_matmul(Xd^T, B)`` ([p, n]); UpE:
       ``S = fp32_add(fp32_mul(S, fp32_exp(cum_last)), S_c)`` (the state stays fp32);
    5. DPE: ``Y_raw = dpe_matmul(C, fp32_to_bf16(S_prev)^T)`` with the state before this
       chunk's update; UpE: ``Y_off = fp32_mul(Y_raw, fp32_exp(cum_t))``;

    then ``y = fp32_add(fp32_add(Y_diag, Y_off), fp32_mul(D, x))``, with z
    ``y = fp32_mul(y, fp32_silu(z))``, ``fp32_to_bf16`` and every zero written as +0.

    Returns
    -------
    y : uint16 [b, L, h, p]
    final_state : [b, h, p, n] in ``state_dtype``
    """
    params = EngineParams.of(config, mults=mults, vector_width=vector_width, lanes=lanes,
                             sfu=sfu)
    x, dt, A, B, C, D, dt_bias, z = _ssd_inputs(x, dt, A, B, C, D, dt_bias, z)
    if x.ndim != 4:
        raise ValueError(f"x must have shape (b, L, h, p), not {x.shape}")
    if not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise ValueError(f"chunk must be a positive integer, not {chunk!r}")
    b, L, h, p = x.shape
    g, n = B.shape[-2], B.shape[-1]
    mults, width, sfu = params.mults, params.vector_width, params.sfu
    group = np.arange(h) // (h // g)
    state = _state_in(initial_state, (b, h, p, n), state_dtype)
    dt_all = _dt(dt, dt_bias, softplus, sfu)  # [b, L, h] fp32
    y = np.zeros((b, L, h, p), np.uint16)
    tril = np.tril(np.ones((chunk, chunk), bool))
    for c0 in range(0, L, chunk):
        c1 = min(c0 + chunk, L)
        valid = c1 - c0

        def pad(a, value=0):
            out = np.full(a.shape[:1] + (chunk,) + a.shape[2:], value, a.dtype)
            out[:, :valid] = a[:, c0:c1]
            return out

        xc = np.moveaxis(pad(x), 2, 1)  # [b, h, c, p] bf16
        dtc = np.moveaxis(pad(dt_all), 2, 1)  # [b, h, c] fp32, +0 padded
        Bc = np.moveaxis(pad(B), 2, 1)  # [b, g, c, n]
        Cc = np.moveaxis(pad(C), 2, 1)
        # 1. dt, cumsum
        cum = rvpe_cumsum(fp32_mul(dtc, A[:, None]), width)  # [b, h, c]
        # 2. CB^T per group, the exp(segsum) mask per head
        cb = dpe_matmul(Cc, np.swapaxes(Bc, -1, -2), mults)[:, group]  # [b, h, c, c]
        with np.errstate(over="ignore"):
            if "exp_product" in _variant:
                decay = fp32_mul(fp32_exp(cum, sfu)[..., :, None],
                                 fp32_exp(cum ^ _SIGN, sfu)[..., None, :])
            else:
                decay = fp32_exp(_sub(cum[..., :, None], cum[..., None, :]), sfu)
        masked = np.where(tril, fp32_to_bf16(fp32_mul(cb, decay)), np.uint16(0))
        # 3. Y_diag
        u = fp32_mul(bf16_to_fp32(xc), dtc[..., None])  # [b, h, c, p] fp32
        xdt = fp32_to_bf16(u)
        if skip:
            y_diag = np.zeros((b, h, chunk, p), np.uint32)
            for t0 in range(0, valid, params.lanes):
                t1 = min(t0 + params.lanes, chunk)
                extent = min(chunk, -(-t1 // mults) * mults)
                y_diag[:, :, t0:t1] = dpe_matmul(masked[:, :, t0:t1, :extent],
                                                 xdt[:, :, :extent], mults)
        else:
            y_diag = dpe_matmul(masked, xdt, mults)
        # 5. Y_off from the state before this chunk
        y_raw = dpe_matmul(Cc[:, group], np.swapaxes(fp32_to_bf16(state), -1, -2), mults)
        y_off = fp32_mul(y_raw, fp32_exp(cum, sfu)[..., None])
        # 4. chunk state and the inter-chunk recurrence
        last = cum[..., -1:]
        if "state_from_bf16" in _variant:
            u_state = bf16_to_fp32(xdt)
        else:
            u_state = u
        xd = fp32_to_bf16(fp32_mul(u_state, fp32_exp(_sub(last, cum), sfu)[..., None]))
        s_chunk = dpe_matmul(np.swapaxes(xd, -1, -2), Bc[:, group], mults)  # [b, h, p, n]
        state = fp32_add(fp32_mul(state, fp32_exp(last, sfu)[..., None]), s_chunk)
        # output
        yc = fp32_add(y_diag, y_off)[:, :, :valid]
        xv = bf16_to_fp32(xc[:, :, :valid])
        yc = fp32_add(yc, fp32_mul(D[:, None, None], xv))
        if z is not None:
            zc = bf16_to_fp32(np.moveaxis(z[:, c0:c1], 2, 1))
            yc = fp32_mul(yc, fp32_silu(zc, sfu))
        y[:, c0:c1] = np.moveaxis(_positive_zero(fp32_to_bf16(yc)), 1, 2)
    return y, _state_out(state, state_dtype)


def ursc_ssd_step(state, x, dt, A, B, C, D, dt_bias, z=None, *, softplus=True,
                  state_dtype="fp32", config=None, vector_width=None, sfu=None):
    """Bit-exact SSD decode step (one token per batch element), the semantics of
    :func:`hybridgen.golden.ssd.ssd_step`, in the URSC order (RVPE and UpE only, all fp32).

    Parameters
    ----------
    state : [b, h, p, n] in ``state_dtype`` (uint32 fp32 bits or uint16 bf16 bits)
    x : uint16 [b, h, p]; dt : uint16 [b, h]; B, C : uint16 [b, g, n]; z : uint16 [b, h, p]
    A, D, dt_bias : uint32 [h]

    Order: ``dt = softplus(fp32_add(dt, dt_bias))``; ``dA = fp32_exp(fp32_mul(dt, A))``;
    ``u = fp32_mul(x, dt)``; ``state = fp32_add(fp32_mul(state, dA), fp32_mul(u_p, B_n))``
    (UpE); ``y_p = rvpe_rowsum(fp32_mul(state_pn, C_n))`` over n (RVPE, vectors of
    ``vector_width``; no bf16 rounding of the state); ``y = fp32_add(y, fp32_mul(D, x))``,
    with z ``y = fp32_mul(y, fp32_silu(z))``; ``fp32_to_bf16``, zeros written as +0. The
    state is written back in ``state_dtype``.

    Returns
    -------
    y : uint16 [b, h, p]
    state : [b, h, p, n] in ``state_dtype``
    """
    params = EngineParams.of(config, vector_width=vector_width, sfu=sfu)
    x, dt, A, B, C, D, dt_bias, z = _ssd_inputs(x, dt, A, B, C, D, dt_bias, z)
    if x.ndim != 3:
        raise ValueError(f"x must have shape (b, h, p), not {x.shape}")
    b, h, p = x.shape
    g, n = B.shape[-2], B.shape[-1]
    sfu = params.sfu
    group = np.arange(h) // (h // g)
    s = _state_in(state, (b, h, p, n), state_dtype)
    dtf = _dt(dt, dt_bias, softplus, sfu)  # [b, h]
    da = fp32_exp(fp32_mul(dtf, A), sfu)
    xf = bf16_to_fp32(x)
    u = fp32_mul(xf, dtf[..., None])  # [b, h, p]
    bf = bf16_to_fp32(B)[:, group]  # [b, h, n]
    cf = bf16_to_fp32(C)[:, group]
    s = fp32_add(fp32_mul(s, da[..., None, None]), fp32_mul(u[..., None], bf[:, :, None, :]))
    yv = rvpe_rowsum(fp32_mul(s, cf[:, :, None, :]), params.vector_width)
    yv = fp32_add(yv, fp32_mul(D[:, None], xf))
    if z is not None:
        yv = fp32_mul(yv, fp32_silu(bf16_to_fp32(z), sfu))
    return _positive_zero(fp32_to_bf16(yv)), _state_out(s, state_dtype)


# =============================================================================================
# Useful MACs (the benchmarks' definitions) and the analytic schedule
# =============================================================================================

def _visible_pairs(sq, sk, causal):
    if not causal:
        return sq * sk
    i = np.arange(sq, dtype=np.int64)
    return int(np.clip(i + sk - sq + 1, 0, sk).sum())


def attention_useful_macs(b, sq, sk, hq, d, causal):
    """Useful MACs of attention: ``2 * b * hq * d * (number of unmasked (query, key) pairs)``
    (S = Q K^T and P V; masked pairs never count)."""
    return 2 * b * hq * d * _visible_pairs(sq, sk, causal)


def _chunk_lengths(L, chunk):
    return [min(chunk, L - c0) for c0 in range(0, L, chunk)]


def ssd_useful_macs(b, L, h, g, p, n, chunk):
    """Useful MACs of chunked SSD: per batch element and chunk of length c (the last chunk
    its true length), ``g * c(c+1)/2 * n + h * (c(c+1)/2 * p + 2 * c * p * n)`` (the causal
    part of CB^T once per group, of Y_diag per head, then the chunk state and Y_off)."""
    total = 0
    for c in _chunk_lengths(L, chunk):
        tri = c * (c + 1) // 2
        total += g * tri * n + h * (tri * p + 2 * c * p * n)
    return b * total


def _ceil(a, b):
    return -(-a // b)


#: Lane-ops per element the RVPE spends in PipeFlash: scale multiply (with the mask select),
#: row max, subtract, exp, bf16 rounding, row sum.
FLASH_RVPE_OPS = 6
#: Passes over a row tile of S with the per-mode chained datapath: (scale, mask, max tree),
#: then (subtract, exp, bf16, sum tree). An RVPE that runs one op per pass needs
#: FLASH_RVPE_OPS passes.
FLASH_RVPE_PASSES = 2
#: Lane-ops per row and key block: m' = max, m - m', exp, a * l, + rowsum.
FLASH_RVPE_ROW_OPS = 5


def _flow_shop(t0, tr, t1, rvpe_latency, dpe_latency):
    """Finish time of DPE0 -> RVPE -> DPE1 over items, two buffer slots between stages.

    DPE0 may start item i when it finished i-1 and the RVPE has released the S slot of
    i-2; the RVPE starts item i when S_i is ready (plus ``dpe_latency``), it finished i-1 and
    DPE1 released the P slot of i-2; DPE1 starts i when P_i is ready (plus ``rvpe_latency``)
    and it finished i-1.
    """
    f0 = fr = f1 = 0
    fr_hist = [0, 0]
    f1_hist = [0, 0]
    for a, r, c in zip(t0, tr, t1):
        f0 = max(f0, fr_hist[-2]) + a
        fr = max(f0 + dpe_latency, fr, f1_hist[-2]) + r
        f1 = max(fr + rvpe_latency, f1) + c
        fr_hist = [fr_hist[-1], fr]
        f1_hist = [f1_hist[-1], f1]
    return f1


def pipeflash_schedule(config=None, *, b=1, sq, sk, hq, hkv=None, d, causal=False,
                       block_q=128, block_k=128, skip=True, read_latency=100, bus_bits=None,
                       dpe_latency=8, rvpe_latency=24, upe_lanes=None,
                       rvpe_passes=FLASH_RVPE_PASSES):
    """Analytic PipeFlash schedule: per-engine busy cycles, cycles and utilization.

    The controller's loop order: ``for b, head, q-block (block_q rows): for key block j
    (visible ones): for row tile t (lanes rows): DPE0 S(t, j) -> RVPE softmax(t, j) -> DPE1
    P(t, j) V_j -> UpE O(t) update``, one flat stream of row-tile items over the whole kernel
    (j outer, t inner, so consecutive items never depend on each other). A DPE computes an
    output tile of ``lanes x dpus`` elements over K in ``ceil(K / mults)`` cycles:

    * DPE0 S(t, j): ``ceil(d / mults)`` cycles per key tile of ``dpus`` keys, only the tiles
      with a visible pair (causal skip at output-tile granularity);
    * DPE1 P V: ``ceil(d / dpus) * ceil(extent / mults)``, extent = keys of the block up to
      the tile's last visible key (the skipped chunks of :func:`ursc_attention`);
    * RVPE: ``(rvpe_passes * ceil(bk / vector_width) + 1) * lanes / vector_units`` cycles
      (the +1: the row statistics m, a, l);
    * UpE: ``lanes * d`` fused multiply-adds at ``upe_lanes`` per cycle (default
      ``update_units * dpus``), overlapped with DPE1.

    ``bus_bits`` defaults to the config's (else 128). Cycles = the flow shop of
    :func:`_flow_shop` over the items, plus the start (read latency
    and the first Q tile and K block over the bus) and the end (UpE normalization of the last
    q-block, ``block_q * d / upe_lanes``); at least the DMA bytes over the bus. K_j and V_j
    are double-buffered in the DPE0 / DPE1 operand memories, Q and O of a q-block in the
    global buffer (O double-buffered), S and P row tiles double-buffered in VMEM, m and l in
    UMEM.

    Returns
    -------
    dict with ``useful_macs``, ``cycles``, ``utilization`` (useful / (peak * cycles)),
    ``cap`` (useful / (peak * max DPE busy)), ``dpe0_busy``, ``dpe1_busy``, ``rvpe_busy``,
    ``upe_busy``, ``items``, ``dma_bytes``, and the per-cycle rates the DPEs need:
    ``rvpe_ops_per_cycle``, ``upe_ops_per_cycle``, ``dma_bytes_per_cycle``.
    """
    e = EngineParams.of(config)
    hkv = hq if hkv is None else hkv
    upe_lanes = upe_lanes or e.update_units * e.dpus
    vis = _visible(sq, sk, causal)
    t0, tr, t1, upe = [], [], [], 0
    for q0 in range(0, sq, block_q):
        q1 = min(q0 + block_q, sq)
        for j0 in range(0, sk, block_k):
            j1 = min(j0 + block_k, sk)
            block = vis[q0:q1, j0:j1]
            if skip and not block.any():
                continue
            for r0 in range(q0, q1, e.lanes):
                tile = vis[r0:min(r0 + e.lanes, q1), j0:j1]
                if skip:
                    seen = tile.any(axis=0)
                    if not seen.any():
                        continue
                    key_tiles = sum(bool(seen[k0:k0 + e.dpus].any())
                                    for k0 in range(0, j1 - j0, e.dpus))
                    extent = min(j1 - j0, _ceil(int(np.nonzero(seen)[0][-1]) + 1, e.mults)
                                 * e.mults)
                else:
                    key_tiles = _ceil(j1 - j0, e.dpus)
                    extent = j1 - j0
                t0.append(key_tiles * _ceil(d, e.mults))
                t1.append(_ceil(d, e.dpus) * _ceil(extent, e.mults))
                tr.append(_ceil((rvpe_passes * _ceil(j1 - j0, e.vector_width) + 1) * e.lanes,
                                e.vector_units))
                upe += _ceil(e.lanes * d, upe_lanes)
    reps = b * hq
    t0, tr, t1 = t0 * reps, tr * reps, t1 * reps
    bus = _bus_bytes(config, bus_bits)
    start = read_latency + _ceil((e.lanes + min(block_k, sk)) * d * 2, bus)
    end = dpe_latency + _ceil(min(block_q, sq) * d, upe_lanes)
    cycles = _flow_shop(t0, tr, t1, rvpe_latency, dpe_latency) + start + end
    q_blocks = _ceil(sq, block_q)
    # K and V of every visited block (per q head), Q read and O written once.
    dma_bytes = reps * (2 * sq * d * 2 + _kv_bytes(vis, block_q, block_k, d, skip))
    cycles = max(cycles, _ceil(dma_bytes, bus) + read_latency)
    useful = attention_useful_macs(b, sq, sk, hq, d, causal)
    busy0, busy1 = sum(t0), sum(t1)
    rvpe_ops = reps * _visible_pairs(sq, sk, causal) * FLASH_RVPE_OPS
    return {
        "useful_macs": useful, "cycles": int(cycles),
        "utilization": useful / (e.peak_macs * cycles),
        "cap": useful / (e.peak_macs * max(busy0, busy1)),
        "dpe0_busy": busy0, "dpe1_busy": busy1, "rvpe_busy": sum(tr), "upe_busy": upe * reps,
        "items": len(t0), "q_blocks": q_blocks, "dma_bytes": int(dma_bytes),
        "rvpe_ops_per_cycle": rvpe_ops / max(busy0, busy1),
        "upe_ops_per_cycle": upe_lanes * upe * reps / max(busy0, busy1),
        "dma_bytes_per_cycle": dma_bytes / max(busy0, busy1),
    }


def _bus_bytes(config, bus_bits):
    """Bytes per cycle of the AXI data bus: ``bus_bits``, else the config's, else 128 bits."""
    if bus_bits is None and config is not None:
        bus_bits = config.get("bus_bits") if isinstance(config, dict) else \
            getattr(config, "bus_bits", None)
    return (bus_bits or 128) // 8


def _kv_bytes(vis, block_q, block_k, d, skip):
    sq, sk = vis.shape
    total = 0
    for q0 in range(0, sq, block_q):
        for j0 in range(0, sk, block_k):
            block = vis[q0:q0 + block_q, j0:j0 + block_k]
            if skip and not block.any():
                continue
            total += 2 * block.shape[1] * d * 2
    return total


#: RVPE lane-ops per element of SSD (per head): the mask (sub, exp, mul, bf16) per causal
#: CB entry; dt x and its bf16 (2), the decayed dt x and its bf16 (2), the output
#: (Y_diag + Y_off, D x, add, bf16: 4; with z silu and mul: 2 more) per x element.
SSD_RVPE_MASK_OPS = 4
SSD_RVPE_X_OPS = 8
SSD_RVPE_Z_OPS = 2


def _matmul_cycles(m, n, k, e):
    return _ceil(m, e.lanes) * _ceil(n, e.dpus) * _ceil(k, e.mults)


def pipessd_schedule(config=None, *, b=1, L, h, g, p, n, chunk=256, split="balanced",
                     z=False, read_latency=100, bus_bits=None, upe_lanes=None):
    """Analytic PipeSSD schedule: per-DPE busy cycles and the utilization cap.

    Loop order of the controller: ``for b, group: for chunk k: for head h of the group``;
    per chunk the DPEs run, in this order, CB^T of
    the group (lower-triangle output tiles of the valid rows), then for each head Y_off(h)
    (needs only the state of chunk k-1, finished during chunk k-1), Y_diag(h) (the masked
    CB row tiles come from the RVPE; reduction truncated at the row tile's last token), and
    the chunk state S_c(h) (K = the padded chunk); the UpE turns S_c(h) into the state of
    chunk k while the DPEs go on. Per matmul ``[M, K] x [K, N]`` a DPE spends
    ``ceil(M/lanes) * ceil(N/dpus) * ceil(K/mults)`` cycles (M: tokens for CB, Y_diag, Y_off;
    p for the state).

    ``split``:

    * ``"whole"``: each matmul kind on one DPE - DPE0 CB^T and Y_diag, DPE1 the chunk states
      and Y_off. Its cap is ``total / (2 * max(DPE0, DPE1))``; at h/g = 8, p = 64, n = 128,
      chunk 256 DPE1 has 2 c p n of the 3 head matmuls of ~c p n each, about 0.81.
    * ``"balanced"``: the heads of a group alternate between the DPEs (its i-th head on DPE
      i mod 2 for all three matmuls; when a group has an odd number of heads, its last head's
      output row tiles alternate), and the CB^T row tiles alternate (even tiles DPE0); the
      RVPE fetches the CB rows of either DPE.

    No split changes the bits (every output element is one DPE reduction). Cycles = max of
    the two DPEs' busy sums + start (read latency, B and C of the first chunk over the bus)
    + end (the last state update and y).

    Returns
    -------
    dict with ``useful_macs``, ``cycles``, ``utilization``, ``cap``, ``dpe0_busy``,
    ``dpe1_busy``, ``rvpe_busy``, ``upe_busy``, ``rvpe_ops_per_cycle``,
    ``upe_ops_per_cycle``, ``dma_bytes``, ``dma_bytes_per_cycle``.
    """
    if split not in ("balanced", "whole"):
        raise ValueError(f"split must be 'balanced' or 'whole', not {split!r}")
    e = EngineParams.of(config)
    upe_lanes = upe_lanes or e.update_units * e.dpus
    busy = [0, 0]
    rvpe_ops = upe_ops = 0
    for c in _chunk_lengths(L, chunk):
        # CB^T lower-triangle output tiles, split by row tile.
        cb = [0, 0]
        for t, r0 in enumerate(range(0, c, e.lanes)):
            r1 = min(r0 + e.lanes, c)
            cols = sum(1 for k0 in range(0, c, e.dpus) if k0 <= r1 - 1)
            cb[t % 2] += cols * _ceil(n, e.mults)
        ydiag_tiles = [_ceil(p, e.dpus) * _ceil(min(chunk, _ceil(min(r0 + e.lanes, chunk),
                                                                   e.mults) * e.mults), e.mults)
                       for r0 in range(0, c, e.lanes)]
        ydiag = sum(ydiag_tiles)
        state = _matmul_cycles(p, n, chunk, e)
        yoff = _matmul_cycles(c, p, n, e)
        if split == "whole":
            busy[0] += g * sum(cb) + h * ydiag
            busy[1] += h * (state + yoff)
        else:
            for side in (0, 1):
                busy[side] += g * cb[side]
            pairs = (h // g) // 2  # per group
            for side in (0, 1):
                busy[side] += g * pairs * (ydiag + state + yoff)
            if (h // g) % 2:
                halves = [0, 0]
                for i, cycles in enumerate(ydiag_tiles):
                    halves[i % 2] += cycles
                for tiles, per in ((_ceil(p, e.lanes), _ceil(n, e.dpus) * _ceil(chunk, e.mults)),
                                   (_ceil(c, e.lanes), _ceil(p, e.dpus) * _ceil(n, e.mults))):
                    halves[0] += _ceil(tiles, 2) * per
                    halves[1] += (tiles // 2) * per
                busy[0] += g * halves[0]
                busy[1] += g * halves[1]
        tri = c * (c + 1) // 2
        rvpe_ops += h * (SSD_RVPE_MASK_OPS * tri + (SSD_RVPE_X_OPS + z * SSD_RVPE_Z_OPS) * c * p
                         + 6 * c)
        upe_ops += h * (c * p + p * n)
    busy = [b * x for x in busy]
    rvpe_ops *= b
    upe_ops *= b
    bus = _bus_bytes(config, bus_bits)
    dma_bytes = b * L * (h * p * 2 * (2 + z) + h * 2 + 2 * g * n * 2)
    start = read_latency + _ceil(2 * min(chunk, L) * n * 2, bus)
    end = _ceil(p * n, upe_lanes) + _ceil(min(chunk, L) * p * 2, bus)
    cycles = max(max(busy) + start + end, _ceil(dma_bytes, bus) + read_latency)
    useful = ssd_useful_macs(b, L, h, g, p, n, chunk)
    lanes = e.vector_units * e.vector_width
    return {
        "useful_macs": useful, "cycles": int(cycles),
        "utilization": useful / (e.peak_macs * cycles),
        "cap": useful / (e.peak_macs * max(busy)),
        "dpe0_busy": busy[0], "dpe1_busy": busy[1],
        "rvpe_busy": _ceil(rvpe_ops, lanes), "upe_busy": _ceil(upe_ops, upe_lanes),
        "rvpe_ops_per_cycle": rvpe_ops / max(busy), "upe_ops_per_cycle": upe_ops / max(busy),
        "dma_bytes": int(dma_bytes), "dma_bytes_per_cycle": dma_bytes / max(busy),
    }
