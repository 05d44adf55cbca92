"""Attention golden models: reference, flash (online softmax), decode, split-KV + LSE combine."""

import itertools

import numpy as np
import pytest

from hybridgen.golden.attention import (attention, combine_lse, decode_attention, decode_attention_split,
                              flash_attention)

SEED = 7771
TOL = 1e-10


def _rel(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300)


def _qkv(rng, b, sq, sk, hq, hkv, d):
    return (rng.standard_normal((b, sq, hq, d)), rng.standard_normal((b, sk, hkv, d)),
            rng.standard_normal((b, sk, hkv, d)))


def _naive(q, k, v, causal, scale=None):
    """Per-head loops, explicit GQA index and mask; fully masked rows -> 0."""
    b, sq, hq, d = q.shape
    sk, hkv = k.shape[1], k.shape[2]
    scale = 1 / np.sqrt(d) if scale is None else scale
    o = np.zeros_like(q)
    lse = np.full((b, hq, sq), -np.inf)
    for bi, hi, i in itertools.product(range(b), range(hq), range(sq)):
        kh = hi // (hq // hkv)
        js = [j for j in range(sk) if not causal or j <= i + sk - sq]
        if not js:
            continue
        s = np.array([scale * q[bi, i, hi] @ k[bi, j, kh] for j in js])
        w = np.exp(s - s.max())
        o[bi, i, hi] = sum(wj * v[bi, j, kh] for wj, j in zip(w, js)) / w.sum()
        lse[bi, hi, i] = s.max() + np.log(w.sum())
    return o, lse


def test_all_forms_agree_random_shapes():
    print(f"seed={SEED}")
    rng = np.random.default_rng(SEED)
    worst = {"flash": 0.0, "lse": 0.0, "decode": 0.0, "split": 0.0}
    cases = []
    for d, ratio in itertools.product((64, 96, 128), (1, 4, 8)):
        hkv = int(rng.integers(1, 3))
        sk = int(rng.integers(2, 90))
        sq = int(rng.choice([1, int(rng.integers(1, sk)), sk]))
        cases.append((int(rng.integers(1, 3)), sq, sk, hkv * ratio, hkv, d))
    for b, sq, sk, hq, hkv, d in cases:
        q, k, v = _qkv(rng, b, sq, sk, hq, hkv, d)
        for causal in (False, True):
            o_ref = attention(q, k, v, causal=causal)
            block = int(rng.choice([1, 7, 16, 33, 64]))  # mostly not dividing sk
            o_f, lse = flash_attention(q, k, v, causal=causal, block_k=block)
            s = np.einsum("bqhd,bkhd->bhqk", q, np.repeat(k, hq // hkv, 2)) / np.sqrt(d)
            if causal:
                s = np.where(np.arange(sk)[None] <= np.arange(sq)[:, None] + sk - sq, s, -np.inf)
            m = s.max(-1)
            lse_ref = m + np.log(np.exp(s - m[..., None]).sum(-1))
            worst["flash"] = max(worst["flash"], _rel(o_f, o_ref))
            worst["lse"] = max(worst["lse"], _rel(lse, lse_ref))
            assert _rel(o_f, o_ref) <= TOL and _rel(lse, lse_ref) <= TOL
        # decode: last query row against a cache with per-batch lengths, junk beyond them
        lens = rng.integers(1, sk + 1, size=b)
        kc = k + np.where(np.arange(sk)[None, :, None, None] >= lens[:, None, None, None],
                          1e3, 0)  # garbage beyond cache_len must be ignored
        q1 = q[:, -1:]
        ref = np.concatenate([attention(q1[i:i + 1], k[i:i + 1, :lens[i]], v[i:i + 1, :lens[i]])
                              for i in range(b)])
        o_d = decode_attention(q1, kc, v, lens)
        worst["decode"] = max(worst["decode"], _rel(o_d, ref))
        assert _rel(o_d, ref) <= TOL
        for ns in (1, 3, 8):
            o_s = decode_attention_split(q1, kc, v, lens, num_splits=ns)
            worst["split"] = max(worst["split"], _rel(o_s, ref))
            assert _rel(o_s, ref) <= TOL
    print("max rel err vs reference: " + ", ".join(f"{k} {v:.2e}" for k, v in worst.items()))


def test_reference_matches_naive_loops_gqa():
    rng = np.random.default_rng(SEED + 1)
    for b, sq, sk, hq, hkv, d, causal in [(1, 3, 7, 8, 2, 4, True), (2, 5, 5, 4, 1, 3, False),
                                          (1, 6, 4, 4, 4, 2, True)]:
        q, k, v = _qkv(rng, b, sq, sk, hq, hkv, d)
        o_n, lse_n = _naive(q, k, v, causal, scale=0.37)
        assert _rel(attention(q, k, v, causal, scale=0.37), o_n) < 1e-13
        o_f, lse_f = flash_attention(q, k, v, causal, scale=0.37, block_k=3)
        assert _rel(o_f, o_n) < 1e-13
        assert np.array_equal(np.isinf(lse_f), np.isinf(lse_n))
        fin = np.isfinite(lse_n)
        assert np.allclose(lse_f[fin], lse_n[fin], rtol=1e-13, atol=1e-13)


def test_fully_masked_rows_are_zero():
    """sq > sk with a causal mask: the first sq - sk query rows see no key."""
    rng = np.random.default_rng(SEED + 2)
    q, k, v = _qkv(rng, 1, 6, 3, 2, 2, 4)
    o = attention(q, k, v, causal=True)
    o_f, lse = flash_attention(q, k, v, causal=True, block_k=2)
    assert np.all(o[:, :3] == 0) and np.all(o_f[:, :3] == 0)
    assert np.all(lse[:, :, :3] == -np.inf) and np.all(np.isfinite(lse[:, :, 3:]))
    assert np.all(np.abs(o[:, 3:]) > 0)


def test_decode_empty_cache_and_empty_splits():
    rng = np.random.default_rng(SEED + 3)
    q, k, v = _qkv(rng, 3, 1, 10, 4, 2, 8)
    lens = np.array([0, 1, 10])
    o = decode_attention(q, k, v, lens)
    assert np.all(o[0] == 0)
    assert _rel(o[1, 0], np.repeat(v[1, 0], 2, axis=0)) < 1e-15  # one key: output = its value
    o_s, parts = decode_attention_split(q, k, v, lens, num_splits=4, return_partials=True)
    assert _rel(o_s, o) <= TOL and np.all(o_s[0] == 0)
    o_c, lse = combine_lse(parts)
    assert np.all(lse[0] == -np.inf) and np.array_equal(o_c, o_s)


def test_validation():
    rng = np.random.default_rng(SEED + 4)
    q, k, v = _qkv(rng, 1, 2, 3, 6, 4, 8)
    with pytest.raises(ValueError, match="divisible"):
        attention(q, k, v)
    with pytest.raises(ValueError, match="cache_len"):
        decode_attention(q[:, :1], k[:, :, :3], v[:, :, :3], 4)
