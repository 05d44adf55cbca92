"""Decode attention over a packed KV cache: the bit-exact model of the decode array (issue 14).

One query token per batch element against K/V caches held in memory in the tile layout of
:func:`hybridgen.golden.kvquant.pack_kv_cache` (BFP8, BFP4 or bf16 tiles of 32 positions x 32
dims of one (batch, kv head)), dequantized on the way in and never written back. The schedule
(docs/decode.md) and the order of every operation, which this model follows exactly:

Schedule
--------
* ``units`` vector units; every score and every output element is computed by one lane, a
  :class:`~hybridgen.rtl.arith.dot.Bf16Dot` of ``dot`` products plus an fp32 accumulator, its
  chunks in order, so the numerics depend only on ``dot`` and ``units`` (not on which lane).
  The decode array uses ``dot = 32`` (rtl/decode/scores.py, rtl/decode/pv.py: a lane takes a
  32-value tile row for QK, a tile column for PV).
* Split-KV: unit ``u`` takes the position tiles ``t = u, u + units, u + 2 units, ...`` of every
  (batch, kv head), in increasing ``t``; a tile with no position below the batch element's
  length (``32 t >= len``) is not read at all. With the channel layout of docs/decode.md
  (position tile ``t`` in channel ``t mod channels``, ``units == channels``) unit ``u`` reads
  only channel ``u``.
* GQA: a K / V tile is read once per kv head and used for all ``g = hq / hkv`` query heads of
  its group (q heads ``h g .. h g + g - 1`` for kv head ``h``) before the next tile; each q head
  keeps its own state in every unit. The numerics of a q head do not depend on ``g``.

Numerics, per (batch, q head), all operations :mod:`hybridgen.golden.numerics` bit patterns
-------------------------------------------------------------------------------------------
* Scores: ``s_p = fp32_mul(dot_bf16_accumulate(q, K_p, dot), c)`` with ``K_p`` the
  dequantized bf16 row of position ``p`` (``d`` dims, chunks of ``dot`` in dim order) and
  ``c = fp32(1 / sqrt(d))`` (round to nearest): the scale is one fp32 multiply of the fp32 dot,
  not a pre-scaled bf16 q (``2^-3.5`` is not a bf16 and rounding q would add an error of up to
  2^-9 to every score).
* Mask: positions ``p >= len`` of a tile are dropped - their score is replaced by ``-inf``
  before the max and their weight by ``+0``, and their V row by ``+0`` before the PV product -
  so whatever they hold (NaN, inf) never reaches ``o``.
* Online softmax over the unit's tiles, state ``(m, l, O[d])`` fp32, initially
  ``(-inf, +0, +0)``; per tile: ``m_t = vector_rowmax(s)`` (pairwise tree over the 32 lanes),
  ``m' = fp32_max(m, m_t)``, ``alpha = fp32_exp(m - m')`` (``fp32_add(m, -m')``; ``exp(-inf) =
  +0`` on the first tile), ``P_p = fp32_to_bf16(fp32_exp(s_p - m'))`` - P is rounded to bf16
  once, and the same rounded weights feed both ``l`` and the PV product, so ``O / l`` is an
  exact weighted average of V rows with those weights -, ``l' = fp32_add(fp32_mul(alpha, l),
  vector_rowsum(P))``, ``O'[j] = fp32_add(fp32_mul(alpha, O[j]), dot_bf16_accumulate(P,
  V[:, j], dot))`` (the 32 positions of the tile in chunks of ``dot``).
* Combine (no log unit): the partial triples of units ``0, 1, ..., units - 1`` are folded in
  that order, ``acc = partial_0``, then with ``partial_u``: ``m = fp32_max(m_acc, m_u)``,
  ``a = fp32_exp(m_acc - m)``, ``b = fp32_exp(m_u - m)``, ``l = fp32_add(fp32_mul(a, l_acc),
  fp32_mul(b, l_u))``, ``O = fp32_add(fp32_mul(a, O_acc), fp32_mul(b, O_u))``; a unit that read
  no tile (``m_u = -inf``) is skipped.
* Output: ``o = fp32_to_bf16(fp32_mul(O, fp32_reciprocal(l)))``; a batch element of length 0
  (every partial empty) gives ``o = +0``.

Error bound (tested in tests/golden/test_decode_attn.py): against the float64
:func:`hybridgen.golden.attention.decode_attention` on the same dequantized K / V,
``|o - o_ref| <= 2^-9 |o_ref| + 2^-7.9 * max_p |V[p, j]|`` per output element (max over the
valid positions of the element's kv head): P's bf16 rounding perturbs each weight by at most
2^-9 relative (exp's 2^-20, the fp32 scores and sums are far below), which moves a weighted
average by at most ``2 * 2^-9 / (1 - 2^-9)`` of the largest ``|V|``; the output rounding adds
2^-9 relative. The quantization error (float64 on the dequantized cache vs float64 on the bf16
cache) is bounded separately by :func:`quantization_bound`.
"""

from __future__ import annotations

import numpy as np

from .kvquant import KV_TILE_BYTES, TILE, _unpack_tiles, kv_cache_tiles, pack_kv_cache
from .numerics import (bf16_to_fp32, dot_bf16_accumulate, fp32_add, fp32_exp, fp32_max,
                       fp32_mul, fp32_reciprocal, fp32_to_bf16, vector_rowmax, vector_rowsum)

__all__ = ["decode_attention_bits", "softmax_step", "combine_partials", "score_scale_bits", "error_bound",
           "quantization_bound", "decode_attention_bytes", "kv_bytes_ratio",
           "dequantized_cache", "decode_attention_case"]

_NEG_INF = np.uint32(0xFF800000)
_SIGN = np.uint32(0x80000000)
#: relative half step of a datum against 2^(E - 127) of its face row, per format
#: (BFP4: saturation of a bf16 row maximum near 2, 1.9921875 -> 1.75, costs up to 0.2421875)
_QUANT_STEP = {"bfp8": 2.0 ** -7, "bfp4": 2.0 ** -2, "bf16": 0.0}


def score_scale_bits(d):
    """fp32 bits of the score scale ``c = fp32(1 / sqrt(d))`` (round to nearest)."""
    return np.float32(1.0 / np.sqrt(d)).view(np.uint32)


def _neg(bits):
    return np.asarray(bits, np.uint32) ^ _SIGN


def dequantized_cache(packed, fmt):
    """uint8 tiles [b, hkv, T, d/32, tile bytes] -> the dequantized bf16 bits as the lanes see
    them, [b, hkv, T, 32 positions, d] (uint16)."""
    x = _unpack_tiles(packed, fmt)                              # [b, hkv, T, D, 32, 32]
    b, hkv, T, D = x.shape[:4]
    return np.ascontiguousarray(x.transpose(0, 1, 2, 4, 3, 5).reshape(b, hkv, T, TILE, D * TILE))


def _check(q, k_packed, v_packed, cache_lens, fmt):
    q = np.asarray(q)
    if q.dtype != np.uint16 or q.ndim != 3:
        raise ValueError(f"q must be uint16 bf16 bits [b, hq, d], not {q.dtype} {q.shape}")
    b, hq, d = q.shape
    k_packed, v_packed = np.asarray(k_packed, np.uint8), np.asarray(v_packed, np.uint8)
    if (k_packed.ndim != 5 or k_packed.shape != v_packed.shape or k_packed.shape[0] != b
            or k_packed.shape[3] * TILE != d or k_packed.shape[4] != KV_TILE_BYTES[fmt]):
        raise ValueError(f"k_packed / v_packed must be [b, hkv, T, d/32, {KV_TILE_BYTES[fmt]}] "
                         f"for q {q.shape}, not {k_packed.shape} / {v_packed.shape}")
    hkv, T = k_packed.shape[1], k_packed.shape[2]
    if hq % hkv:
        raise ValueError(f"hq {hq} must be a multiple of hkv {hkv}")
    lens = np.broadcast_to(np.asarray(cache_lens, np.int64), (b,))
    if np.any(lens < 0) or np.any(lens > TILE * T):
        raise ValueError(f"cache_lens must be in 0..{TILE * T}, not {lens.tolist()}")
    return q, k_packed, v_packed, lens


def decode_attention_bits(q, k_packed, v_packed, cache_lens, fmt, *, units=4, dot=8,
                          params=None, return_partials=False):
    """Bit-exact decode attention of the decode array (module docstring for every step).

    Parameters
    ----------
    q : uint16 [b, hq, d]
        bf16 bits of the query.
    k_packed, v_packed : uint8 [b, hkv, T, d / 32, tile bytes]
        The caches as in memory (:func:`hybridgen.golden.kvquant.pack_kv_cache`).
    cache_lens : int or int array [b]
        Valid positions per batch element, 0 .. 32 T.
    fmt : {"bfp8", "bfp4", "bf16"}
    units : int
        Split-KV ways (vector units); unit ``u`` takes position tiles ``u mod units``.
    dot : int
        Products per lane per cycle (the chunk width of every dot product).
    params : SfuParams, optional
        The exp unit's parameters (default ones when None).
    return_partials : bool
        Also return the per-unit triples ``(m, l, O)``: uint32 [units, b, hq], [units, b, hq],
        [units, b, hq, d].

    Returns
    -------
    o : uint16 [b, hq, d]
    """
    q, k_packed, v_packed, lens = _check(q, k_packed, v_packed, cache_lens, fmt)
    b, hq, d = q.shape
    hkv, T = k_packed.shape[1], k_packed.shape[2]
    g = hq // hkv
    K = dequantized_cache(k_packed, fmt)                       # [b, hkv, T, 32, d]
    V = dequantized_cache(v_packed, fmt)
    c = score_scale_bits(d)
    qg = q.reshape(b, hkv, g, 1, d)                            # q heads of each kv head
    m = np.full((units, b, hkv, g), _NEG_INF, np.uint32)
    l = np.zeros((units, b, hkv, g), np.uint32)
    O = np.zeros((units, b, hkv, g, d), np.uint32)
    positions = np.arange(TILE)
    for step in range(-(-T // units)):
        for u in range(units):
            t = u + step * units
            if t >= T:
                continue
            valid = positions[None, :] + TILE * t < lens[:, None]          # [b, 32]
            active = valid[:, 0]                                           # tile read at all
            if not active.any():
                continue
            vmask = valid[:, None, None, :]                                # [b, 1, 1, 32]
            s = dot_bf16_accumulate(qg, K[:, :, t][:, :, None], dot)       # [b, hkv, g, 32]
            s = fp32_mul(s, c)
            m_new, l_new, alpha, P = softmax_step(m[u], l[u], s, vmask, params)
            Vt = np.where(valid[:, None, :, None], V[:, :, t], np.uint16(0))  # [b, hkv, 32, d]
            pv = dot_bf16_accumulate(P[..., None, :],
                                     np.swapaxes(Vt, -1, -2)[:, :, None], dot)  # [b,hkv,g,d]
            O_new = fp32_add(fp32_mul(alpha[..., None], O[u]), pv)
            keep = active[:, None, None]
            m[u] = np.where(keep, m_new, m[u])
            l[u] = np.where(keep, l_new, l[u])
            O[u] = np.where(keep[..., None], O_new, O[u])
    m, l, O = m.reshape(units, b, hq), l.reshape(units, b, hq), O.reshape(units, b, hq, d)
    o = combine_partials(m, l, O, params=params)
    return (o, (m, l, O)) if return_partials else o


def softmax_step(m, l, s, valid, params=None):
    """One online-softmax step (module docstring; the hardware is
    :class:`hybridgen.rtl.decode.softmax.SoftmaxStep`): state ``m``, ``l`` (uint32 [...]),
    scores ``s`` (uint32 [..., 32]) and the valid positions (bool, broadcast to ``s``) ->
    ``(m', l', alpha, P)``, P bf16 bits [..., 32] (+0 where not valid)."""
    s = np.asarray(s, np.uint32)
    valid = np.broadcast_to(valid, s.shape)
    m_new = fp32_max(m, vector_rowmax(np.where(valid, s, _NEG_INF)))
    alpha = fp32_exp(fp32_add(m, _neg(m_new)), params)
    p = fp32_exp(fp32_add(s, _neg(m_new[..., None])), params)
    P = np.where(valid, fp32_to_bf16(p), np.uint16(0)).astype(np.uint16)
    l_new = fp32_add(fp32_mul(alpha, l), vector_rowsum(bf16_to_fp32(P)))
    return m_new, l_new, alpha, P


def combine_partials(m, l, O, order=None, params=None, bf16=True):
    """Fold partial triples (uint32 ``m``, ``l`` [n, ...], ``O`` [n, ..., d]) in ``order``
    (default ``0 .. n - 1``) by rescaling (module docstring), then normalize into bf16 bits
    (``bf16=False``: the fp32 bits of ``O / l`` before the rounding to bf16, for tests).
    An empty partial (``m = -inf``) is skipped; all empty gives ``+0``."""
    n = m.shape[0]
    order = range(n) if order is None else order
    acc_m = np.full(m.shape[1:], _NEG_INF, np.uint32)
    acc_l = np.zeros(l.shape[1:], np.uint32)
    acc_O = np.zeros(O.shape[1:], np.uint32)
    have = np.zeros(m.shape[1:], bool)
    for u in order:
        present = m[u] != _NEG_INF
        mm = fp32_max(acc_m, m[u])
        a = fp32_exp(fp32_add(acc_m, _neg(mm)), params)
        bb = fp32_exp(fp32_add(m[u], _neg(mm)), params)
        ll = fp32_add(fp32_mul(a, acc_l), fp32_mul(bb, l[u]))
        OO = fp32_add(fp32_mul(a[..., None], acc_O), fp32_mul(bb[..., None], O[u]))
        first = present & ~have
        both = present & have
        acc_m = np.where(first, m[u], np.where(both, mm, acc_m))
        acc_l = np.where(first, l[u], np.where(both, ll, acc_l))
        acc_O = np.where(first[..., None], O[u], np.where(both[..., None], OO, acc_O))
        have |= present
    r = fp32_reciprocal(acc_l, params)
    o = fp32_mul(acc_O, r[..., None])
    if not bf16:
        return np.where(have[..., None], o, np.uint32(0)).astype(np.uint32)
    return np.where(have[..., None], fp32_to_bf16(o), np.uint16(0)).astype(np.uint16)


def _float(bits):
    return (np.asarray(bits, np.uint16).astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def error_bound(o_ref, v_bits, cache_lens, hq):
    """The bound of the module docstring: ``2^-9 |o_ref| + 2^-7.9 max_p |V[p, j]|``.

    ``o_ref`` float64 [b, hq, d]; ``v_bits`` the dequantized V cache, uint16 [b, sk, hkv, d];
    the max runs over the valid positions of each batch element (0 for length 0)."""
    v = np.abs(_float(v_bits))
    b, sk, hkv, d = v.shape
    lens = np.broadcast_to(np.asarray(cache_lens), (b,))
    valid = np.arange(sk)[None, :, None, None] < lens[:, None, None, None]
    vmax = np.where(valid, v, 0).max(axis=1) if sk else np.zeros((b, hkv, d))  # [b, hkv, d]
    vmax = np.repeat(vmax, hq // hkv, axis=1)
    return 2.0 ** -9 * np.abs(o_ref) + 2.0 ** -7.9 * vmax


def quantization_bound(q_bits, k_bits, v_bits, cache_lens, fmt):
    """Bound of ``|o(dequantized cache) - o(bf16 cache)|`` (both float64 softmax averages).

    A datum's quantization error is at most ``eps 2^(E - 127) <= eps max |row|`` (``eps`` =
    2^-7 BFP8 - half a step, and the saturation of a bf16 maximum -, 2^-2 BFP4 - saturation
    1.9921875 -> 1.75 -, 0 bf16; the max over its 16-dim face row; normal inputs), so a score moves by at
    most ``D_p = c sum_j |q_j| eps max|row(p, j)|`` and the weights by a factor within
    ``exp(+-2 max_p D_p)``; with ``|dV| <= eps max|row|``:
    ``|do_j| <= max_p |dV[p, j]| + (exp(2 max_p D_p) - 1) max_p |V[p, j]|``.

    ``q_bits`` uint16 [b, hq, d]; ``k_bits``, ``v_bits`` the bf16 caches [b, sk, hkv, d].
    Returns float64 [b, hq, d]."""
    eps = _QUANT_STEP[fmt]
    q, k, v = (np.abs(_float(x)) for x in (q_bits, k_bits, v_bits))
    b, sk, hkv, d = k.shape
    hq = q.shape[1]
    lens = np.broadcast_to(np.asarray(cache_lens), (b,))
    valid = np.arange(sk)[None, :] < lens[:, None]                        # [b, sk]

    def row_max(x):                                          # max |.| over each 16-dim row
        r = x.reshape(b, sk, hkv, d // 16, 16).max(axis=-1)
        return np.repeat(r, 16, axis=-1)
    mask = valid[:, :, None, None]
    dk = eps * row_max(k)
    dv = np.where(mask, eps * row_max(v), 0).max(axis=1)                  # [b, hkv, d]
    vmax = np.where(mask, v, 0).max(axis=1)                               # [b, hkv, d]
    shift = np.einsum("bhgd,bphd->bhgp", q.reshape(b, hkv, hq // hkv, d), dk) / np.sqrt(d)
    dmax = np.where(valid[:, None, None, :], shift, 0).max(axis=-1)       # [b, hkv, g]
    bound = dv[:, :, None, :] + np.expm1(2 * dmax)[..., None] * vmax[:, :, None, :]
    return bound.reshape(b, hq, d)


def decode_attention_bytes(b, hq, hkv, d, cache_lens, fmt):
    """Necessary bytes of one decode-attention call (issue 14): the K and V tiles read (per
    batch element ``ceil(len / 32)`` position tiles x ``d / 32`` dim tiles x ``hkv``, twice),
    q read and o written (bf16, ``2 b hq d`` each). Tiles past a length are never read."""
    lens = np.broadcast_to(np.asarray(cache_lens, np.int64), (b,))
    tiles = int(sum(kv_cache_tiles(n) for n in lens)) * hkv * (d // TILE)
    return 2 * tiles * KV_TILE_BYTES[fmt] + 2 * (2 * b * hq * d)


def kv_bytes_ratio(fmt="bfp8"):
    """KV bytes of bf16 over those of ``fmt`` (HMA-Serve's 1.88x for BFP8: 2048 / 1088)."""
    return KV_TILE_BYTES["bf16"] / KV_TILE_BYTES[fmt]


#: bf16 patterns written past a cache length in test caches: NaN, +-inf, the largest finite
_JUNK = np.array([0x7FC0, 0xFFC1, 0x7F80, 0xFF80, 0x7F7F], np.uint16)


def decode_attention_case(rng, *, b, sk, hq, hkv, d, fmt, cache_lens=None, units=4, dot=8):
    """A decode-attention problem with the npz keys of ``hybridgen bench decode-attn``
    (issue 14): ``q`` [b, hq, d], ``k`` and ``v`` [b, sk, hkv, d] (bf16 bits before
    quantization, standard normal values; NaN / inf / the largest bf16 at the positions past
    each length), ``k_packed`` / ``v_packed`` [b, hkv, T, d / 32, tile bytes] (uint8, the bytes
    in memory), ``cache_lens`` (int32 [b], default all ``sk``) and ``o`` [b, hq, d] (this
    model, ``units`` and ``dot`` of the array)."""
    lens = np.broadcast_to(np.asarray(sk if cache_lens is None else cache_lens, np.int32),
                           (b,)).copy()
    if np.any(lens < 0) or np.any(lens > sk):
        raise ValueError(f"cache_lens must be in 0..{sk}, not {lens.tolist()}")

    def bf16(shape):
        x = rng.standard_normal(shape).astype(np.float32)
        bits = x.view(np.uint32)
        return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    q = bf16((b, hq, d))
    k, v = bf16((b, sk, hkv, d)), bf16((b, sk, hkv, d))
    for i, n in enumerate(lens):
        k[i, n:] = rng.choice(_JUNK, k[i, n:].shape)
        v[i, n:] = rng.choice(_JUNK, v[i, n:].shape)
    k_packed, v_packed = pack_kv_cache(k, fmt), pack_kv_cache(v, fmt)
    o = decode_attention_bits(q, k_packed, v_packed, lens, fmt, units=units, dot=dot)
    return {"q": q, "k": k, "v": v, "k_packed": k_packed, "v_packed": v_packed,
            "cache_lens": lens, "o": o}
