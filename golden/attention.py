"""Scaled dot-product attention: float reference models (pure numpy).

Forms of one operator:

* :func:`attention` - the definition: full score matrix, masked softmax.
* :func:`flash_attention` - online softmax over key blocks (FlashAttention): running row max
  ``m``, running sum ``l`` and a rescaled accumulator ``O``; per block ``m' = max(m, rowmax S)``,
  ``a = exp(m - m')``, ``l = a l + rowsum P``, ``O = a O + P V``; finally ``O / l``.
* :func:`decode_attention` - one query token against a KV cache with per-batch valid length.
* :func:`decode_attention_split` / :func:`combine_lse` - split-KV decode (flash-decoding): each
  split yields a partial output and its log-sum-exp; partials combine exactly by LSE weights.

Conventions (shared by all forms): ``q`` (b, sq, hq, d); ``k, v`` (b, sk, hkv, d); ``hq % hkv == 0``
and query head ``i`` uses kv head ``i // (hq // hkv)`` (GQA/MQA). ``scale`` defaults to
``1/sqrt(d)``. The causal mask is aligned bottom-right: query ``i`` sees keys
``j <= i + sk - sq``. A query row that sees no key gives an output of 0 (and ``lse = -inf``).
LSE arrays have shape (b, hq, sq) and are the natural log of the row sum of ``exp(scale q.k)``.
Computation in ``numpy.result_type`` of the inputs (float64 for float64 inputs).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "attention", "flash_attention", "decode_attention", "decode_attention_split", "combine_lse",
]


def _setup(q, k, v, scale):
    ft = np.result_type(np.asarray(q).dtype, np.asarray(k).dtype, np.asarray(v).dtype)
    if not np.issubdtype(ft, np.floating):
        ft = np.dtype(np.float64)
    q, k, v = (np.asarray(a, ft) for a in (q, k, v))
    if q.ndim != 4 or k.ndim != 4 or v.shape != k.shape:
        raise ValueError(f"need q (b,sq,hq,d), k and v (b,sk,hkv,d); got {q.shape} {k.shape} "
                         f"{v.shape}")
    b, sq, hq, d = q.shape
    if k.shape[0] != b or k.shape[3] != d:
        raise ValueError(f"k {k.shape} does not match q {q.shape} in batch or head dim")
    hkv = k.shape[2]
    if hq % hkv != 0:
        raise ValueError(f"hq {hq} must be divisible by hkv {hkv}")
    rep = hq // hkv
    k = np.repeat(k, rep, axis=2)  # q head i -> kv head i // rep
    v = np.repeat(v, rep, axis=2)
    if scale is None:
        scale = 1.0 / np.sqrt(d)
    return ft, q, k, v, ft.type(scale)


def _causal_mask(sq, sk):
    """(sq, sk) bool, True where query i may see key j (bottom-right aligned)."""
    return np.arange(sk)[None, :] <= np.arange(sq)[:, None] + (sk - sq)


def _masked_softmax_av(s, mask, v):
    """Softmax over the last axis of scores ``s`` (b,h,sq,sk) restricted to ``mask``
    (broadcastable), times v (b,sk,h,d). Returns (o (b,sq,h,d), lse (b,h,sq))."""
    s = np.where(mask, s, -np.inf)
    m = np.max(s, axis=-1, keepdims=True)
    m_safe = np.where(np.isfinite(m), m, 0)
    p = np.exp(s - m_safe)  # exp(-inf) = 0 for masked entries
    l = np.sum(p, axis=-1, keepdims=True)
    o = np.einsum("bhqk,bkhd->bqhd", p, v)
    lt = np.moveaxis(l[..., 0], 1, 2)[..., None]  # (b, sq, h, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        o = np.where(lt > 0, o / np.where(lt > 0, lt, 1), 0)
        lse = np.where(l[..., 0] > 0, m_safe[..., 0] + np.log(l[..., 0]), -np.inf)
    return o, lse


def attention(q, k, v, causal=False, scale=None):
    """Reference attention (the definition).

    Parameters
    ----------
    q : ndarray, shape (b, sq, hq, d)
    k, v : ndarray, shape (b, sk, hkv, d)
    causal : bool
        Bottom-right aligned causal mask (query i sees keys j <= i + sk - sq).
    scale : float, optional
        Defaults to 1/sqrt(d).

    Returns
    -------
    o : ndarray, shape (b, sq, hq, d)
        Fully masked rows are 0.
    """
    ft, q, k, v, scale = _setup(q, k, v, scale)
    s = np.einsum("bqhd,bkhd->bhqk", q, k) * scale
    mask = _causal_mask(q.shape[1], k.shape[1]) if causal else np.ones((1, 1), bool)
    return _masked_softmax_av(s, mask, v)[0]


def flash_attention(q, k, v, causal=False, scale=None, block_k=64):
    """Online-softmax attention over key blocks of ``block_k`` (the last block may be short).

    Same contract as :func:`attention`; additionally returns the row log-sum-exp.

    Returns
    -------
    o : ndarray, shape (b, sq, hq, d)
    lse : ndarray, shape (b, hq, sq)
        ``log(sum_j exp(scale * q.k_j))`` over visible keys; ``-inf`` for fully masked rows.
    """
    if block_k < 1:
        raise ValueError(f"block_k must be >= 1, got {block_k}")
    ft, q, k, v, scale = _setup(q, k, v, scale)
    b, sq, hq, d = q.shape
    sk = k.shape[1]
    m = np.full((b, hq, sq, 1), -np.inf, ft)
    l = np.zeros((b, hq, sq, 1), ft)
    acc = np.zeros((b, hq, sq, d), ft)
    full_mask = _causal_mask(sq, sk) if causal else None
    for j0 in range(0, sk, block_k):
        j1 = min(j0 + block_k, sk)
        s = np.einsum("bqhd,bkhd->bhqk", q, k[:, j0:j1]) * scale
        if full_mask is not None:
            s = np.where(full_mask[:, j0:j1], s, -np.inf)
        m_new = np.maximum(m, np.max(s, axis=-1, keepdims=True))
        m_safe = np.where(np.isfinite(m_new), m_new, 0)
        alpha = np.exp(m - m_safe)  # exp(-inf) = 0 on the first visible block
        p = np.exp(s - m_safe)
        l = alpha * l + np.sum(p, axis=-1, keepdims=True)
        acc = alpha * acc + np.einsum("bhqk,bkhd->bhqd", p, v[:, j0:j1])
        m = m_new
    with np.errstate(divide="ignore", invalid="ignore"):
        o = np.where(l > 0, acc / np.where(l > 0, l, 1), 0)
        lse = np.where(l > 0, np.where(np.isfinite(m), m, 0) + np.log(l), -np.inf)[..., 0]
    return np.moveaxis(o, 1, 2), lse


def _cache_mask(cache_len, b, s):
    cl = np.broadcast_to(np.asarray(cache_len, dtype=np.int64), (b,))
    if np.any(cl < 0) or np.any(cl > s):
        raise ValueError(f"cache_len must be within [0, {s}], got {cache_len}")
    return (np.arange(s)[None, :] < cl[:, None])[:, None, None, :]  # (b, 1, 1, s)


def decode_attention(q, k_cache, v_cache, cache_len, scale=None):
    """Decode attention: one query token against a KV cache.

    Parameters
    ----------
    q : ndarray, shape (b, 1, hq, d)
    k_cache, v_cache : ndarray, shape (b, S, hkv, d)
    cache_len : int or array of shape (b,)
        Valid cache positions per batch entry; positions ``>= cache_len`` are ignored
        (no causal mask otherwise: the query is the newest token).
    scale : float, optional

    Returns
    -------
    o : ndarray, shape (b, 1, hq, d)
        0 for an entry with ``cache_len == 0``.
    """
    return _decode_partial(q, k_cache, v_cache, cache_len, scale)[0]


def _decode_partial(q, k, v, cache_len, scale, lo=0, hi=None):
    ft, q, k, v, scale = _setup(q, k, v, scale)
    if q.shape[1] != 1:
        raise ValueError(f"decode q must have sq == 1, got shape {q.shape}")
    mask = _cache_mask(cache_len, q.shape[0], k.shape[1])
    hi = k.shape[1] if hi is None else hi
    s = np.einsum("bqhd,bkhd->bhqk", q, k[:, lo:hi]) * scale
    return _masked_softmax_av(s, mask[..., lo:hi], v[:, lo:hi])


def decode_attention_split(q, k_cache, v_cache, cache_len, num_splits, scale=None,
                           return_partials=False):
    """Split-KV decode attention (flash-decoding).

    The S cache positions are cut into ``num_splits`` contiguous splits of ``ceil(S /
    num_splits)`` positions (the last may be shorter or empty); each split computes a partial
    output and LSE over its valid positions; :func:`combine_lse` merges them.

    Returns
    -------
    o : ndarray, shape (b, 1, hq, d)
    partials : list of (o_i, lse_i), only if ``return_partials``
        ``o_i`` (b, 1, hq, d) normalized within split i, ``lse_i`` (b, hq, 1).
    """
    if num_splits < 1:
        raise ValueError(f"num_splits must be >= 1, got {num_splits}")
    S = np.shape(k_cache)[1]
    size = max(1, -(-S // num_splits))
    partials = [_decode_partial(q, k_cache, v_cache, cache_len, scale, lo, min(lo + size, S))
                for lo in range(0, size * num_splits, size) if lo < S or S == 0]
    o, _ = combine_lse(partials)
    return (o, partials) if return_partials else o


def combine_lse(partials):
    """Combine partial attention results by log-sum-exp.

    Parameters
    ----------
    partials : sequence of (o_i, lse_i)
        ``o_i`` (b, sq, h, d) each normalized over its own key subset; ``lse_i`` (b, h, sq);
        an empty subset has ``lse_i = -inf`` (its ``o_i`` is ignored).

    Returns
    -------
    o : ndarray, shape (b, sq, h, d)
        ``sum_i w_i o_i`` with ``w_i = exp(lse_i - lse)``; 0 where every subset is empty.
    lse : ndarray, shape (b, h, sq)
        ``log(sum_i exp(lse_i))``.
    """
    os_ = np.stack([np.asarray(o) for o, _ in partials])  # (k, b, sq, h, d)
    ls = np.stack([np.asarray(l) for _, l in partials])  # (k, b, h, sq)
    m = np.max(ls, axis=0)
    m_safe = np.where(np.isfinite(m), m, 0)
    w = np.exp(ls - m_safe)  # 0 for empty subsets
    tot = np.sum(w, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        wn = np.where(tot > 0, w / np.where(tot > 0, tot, 1), 0)  # (k, b, h, sq)
        lse = np.where(tot > 0, m_safe + np.log(tot), -np.inf)
    wn = np.moveaxis(wn, 2, 3)[..., None]  # (k, b, sq, h, 1)
    o = np.sum(np.where(wn > 0, wn * os_, 0), axis=0)
    return o, lse
