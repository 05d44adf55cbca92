"""golden/decode_attn.py (the decode array's decode attention) and the KV-cache layout of
golden/kvquant.py: bounds against the float64 models, masking, GQA reuse, split/combine order,
bytes moved."""

import numpy as np
import pytest
from ml_dtypes import bfloat16

from hybridgen.golden.attention import decode_attention
from hybridgen.golden.decode_attn import (combine_partials, decode_attention_bits,
                                          decode_attention_bytes, decode_attention_case,
                                          error_bound, kv_bytes_ratio, quantization_bound)
from hybridgen.golden.kvquant import (KV_FORMATS, kv_pack_tile, kv_unpack_tile_bf16_bits,
                                      pack_kv_cache, unpack_kv_cache_bf16_bits)


def _bf16(x):
    return np.asarray(x, np.float32).astype(bfloat16).view(np.uint16)


def _f64(bits):
    return (np.asarray(bits, np.uint16).astype(np.uint32) << 16).view(np.float32).astype(
        np.float64)


def _problem(rng, b, sk, hkv, hq, d, spread=1.0):
    q = _bf16(rng.standard_normal((b, hq, d)))
    k = _bf16(rng.standard_normal((b, sk, hkv, d)) * spread)
    v = _bf16(rng.standard_normal((b, sk, hkv, d)))
    return q, k, v


def _reference(q, k_bits, v_bits, lens):
    return decode_attention(_f64(q)[:, None], _f64(k_bits), _f64(v_bits), lens)[:, 0]


# -- KV-cache layout ----------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", KV_FORMATS)
def test_cache_layout_tiles_and_inverse(fmt, rng):
    b, sk, hkv, d = 2, 45, 3, 64
    cache = rng.integers(0, 1 << 16, (b, sk, hkv, d)).astype(np.uint16)
    packed = pack_kv_cache(cache, fmt)
    assert packed.shape == (b, hkv, 2, 2, {"bfp8": 1088, "bfp4": 576, "bf16": 2048}[fmt])
    # tile (b, h, t, j) is positions 32t.., dims 32j.. of (b, h), the tail zero-padded
    for bi, h, t, j in [(0, 0, 0, 0), (1, 2, 1, 1), (0, 1, 1, 0)]:
        tile = np.zeros((32, 32), np.uint16)
        rows = cache[bi, 32 * t:32 * t + 32, h, 32 * j:32 * j + 32]
        tile[:len(rows)] = rows
        assert packed[bi, h, t, j].tobytes() == kv_pack_tile(tile, fmt)
    back = unpack_kv_cache_bf16_bits(packed, fmt, sk)
    assert back.shape == cache.shape
    want = np.zeros_like(cache)
    for bi in range(b):
        for h in range(hkv):
            for t in range(2):
                for j in range(2):
                    tile = kv_unpack_tile_bf16_bits(packed[bi, h, t, j].tobytes(), fmt)
                    n = min(32, sk - 32 * t)
                    want[bi, 32 * t:32 * t + n, h, 32 * j:32 * j + 32] = tile[:n]
    assert np.array_equal(back, want)
    if fmt == "bf16":
        assert np.array_equal(back, cache)


def test_cache_layout_errors():
    with pytest.raises(ValueError, match="d must be a positive multiple of 32"):
        pack_kv_cache(np.zeros((1, 4, 1, 48), np.uint16), "bfp8")
    with pytest.raises(ValueError, match="fmt must be one of"):
        pack_kv_cache(np.zeros((1, 4, 1, 32), np.uint16), "fp8")
    with pytest.raises(ValueError, match="uint16"):
        pack_kv_cache(np.zeros((1, 4, 1, 32), np.float32), "bf16")
    with pytest.raises(ValueError, match="ceil"):
        unpack_kv_cache_bf16_bits(np.zeros((1, 1, 2, 1, 1088), np.uint8), "bfp8", 70)


# -- decode attention ---------------------------------------------------------------------------

@pytest.mark.parametrize("d", [64, 96, 128])
@pytest.mark.parametrize("fmt", KV_FORMATS)
@pytest.mark.parametrize("hq, hkv", [(4, 4), (8, 2)], ids=["mha", "gqa"])
def test_bound_against_float64(d, fmt, hq, hkv, rng):
    """Within error_bound of float64 decode attention on the dequantized cache, and within
    quantization_bound of float64 on the bf16 cache; lengths 0, 1, 33, 77 (not multiples)."""
    b, sk = 4, 80
    lens = np.array([77, 1, 33, 0])
    q, k, v = _problem(rng, b, sk, hkv, hq, d)
    kp, vp = pack_kv_cache(k, fmt), pack_kv_cache(v, fmt)
    o = decode_attention_bits(q, kp, vp, lens, fmt)
    assert o.shape == (b, hq, d) and o.dtype == np.uint16
    kd, vd = unpack_kv_cache_bf16_bits(kp, fmt, sk), unpack_kv_cache_bf16_bits(vp, fmt, sk)
    ref = _reference(q, kd, vd, lens)
    err = np.abs(_f64(o) - ref)
    bound = error_bound(ref, vd, lens, hq)
    assert np.all(err <= bound), f"max err/bound {np.max(err / np.maximum(bound, 1e-300))}"
    assert np.all(o[3] == 0)                      # length 0: o = +0
    exact = _reference(q, k, v, lens)
    assert np.all(np.abs(ref - exact) <= quantization_bound(q, k, v, lens, fmt) + 1e-12)
    if fmt == "bf16":
        assert np.array_equal(ref, exact)


@pytest.mark.parametrize("fmt", KV_FORMATS)
def test_positions_past_the_length_never_matter(fmt, rng):
    """NaN / inf (and huge values) past each length: o bit-identical to a zero-filled tail."""
    b, sk, hkv, hq, d = 3, 70, 2, 4, 64
    lens = np.array([70 - 37, 1, 64])
    q, k, v = _problem(rng, b, sk, hkv, hq, d)
    dirty_k, dirty_v = k.copy(), v.copy()
    junk = np.array([0x7FC0, 0x7F80, 0xFF80, 0x7F7F, 0xFFC1], np.uint16)
    for i, n in enumerate(lens):
        k[i, n:], v[i, n:] = 0, 0
        dirty_k[i, n:] = rng.choice(junk, dirty_k[i, n:].shape)
        dirty_v[i, n:] = rng.choice(junk, dirty_v[i, n:].shape)
    clean = decode_attention_bits(q, pack_kv_cache(k, fmt), pack_kv_cache(v, fmt), lens, fmt)
    dirty = decode_attention_bits(q, pack_kv_cache(dirty_k, fmt), pack_kv_cache(dirty_v, fmt),
                                  lens, fmt)
    assert np.array_equal(clean, dirty)
    assert np.all(np.isfinite(_f64(clean)))


def test_gqa_reuse_equals_repeated_heads(rng):
    """A q head's result does not depend on how many q heads share its kv head."""
    b, sk, hkv, hq, d = 2, 50, 2, 8, 64
    q, k, v = _problem(rng, b, sk, hkv, hq, d)
    lens = np.array([50, 17])
    gqa = decode_attention_bits(q, pack_kv_cache(k, "bfp8"), pack_kv_cache(v, "bfp8"), lens,
                                "bfp8")
    k_mha, v_mha = np.repeat(k, hq // hkv, axis=2), np.repeat(v, hq // hkv, axis=2)
    mha = decode_attention_bits(q, pack_kv_cache(k_mha, "bfp8"), pack_kv_cache(v_mha, "bfp8"),
                                lens, "bfp8")
    assert np.array_equal(gqa, mha)


def _fp32_out(q, kp, vp, lens, fmt, **kw):
    """The fp32 ``O / l`` before the output rounding (bf16 hides most order effects)."""
    _, (m, l, O) = decode_attention_bits(q, kp, vp, lens, fmt, return_partials=True, **kw)
    return combine_partials(m, l, O, bf16=False)


def test_split_and_combine_order_matter(rng):
    """Different split counts and combine orders give different bits (fp32, before the output
    rounding; so the model must follow the hardware's), every one within the bound."""
    b, sk, hkv, hq, d = 2, 256, 2, 4, 64
    q, k, v = _problem(rng, b, sk, hkv, hq, d, spread=2.0)
    lens = np.array([256, 201])
    kp, vp = pack_kv_cache(k, "bfp8"), pack_kv_cache(v, "bfp8")
    o4, (m, l, O) = decode_attention_bits(q, kp, vp, lens, "bfp8", units=4,
                                          return_partials=True)
    o1 = decode_attention_bits(q, kp, vp, lens, "bfp8", units=1)
    o2 = decode_attention_bits(q, kp, vp, lens, "bfp8", units=2)
    assert np.array_equal(o4, combine_partials(m, l, O, order=[0, 1, 2, 3]))
    reverse = combine_partials(m, l, O, order=[3, 2, 1, 0])
    f4 = combine_partials(m, l, O, bf16=False)
    assert not np.array_equal(f4, _fp32_out(q, kp, vp, lens, "bfp8", units=1))
    assert not np.array_equal(f4, _fp32_out(q, kp, vp, lens, "bfp8", units=2))
    assert not np.array_equal(f4, combine_partials(m, l, O, order=[3, 2, 1, 0], bf16=False))
    ref = _reference(q, unpack_kv_cache_bf16_bits(kp, "bfp8", sk),
                     unpack_kv_cache_bf16_bits(vp, "bfp8", sk), lens)
    bound = error_bound(ref, unpack_kv_cache_bf16_bits(vp, "bfp8", sk), lens, hq)
    for o in (o4, o1, o2, reverse):
        assert np.all(np.abs(_f64(o) - ref) <= bound)
    # each unit's partial covers exactly its tiles: l >= 1 for a unit that read a tile
    assert np.all((m == 0xFF800000) == (l == 0))


def test_dot_width_changes_bits_not_accuracy(rng):
    q, k, v = _problem(rng, 1, 64, 1, 4, 128)
    kp, vp = pack_kv_cache(k, "bf16"), pack_kv_cache(v, "bf16")
    o8 = decode_attention_bits(q, kp, vp, [64], "bf16", dot=8)
    o4 = decode_attention_bits(q, kp, vp, [64], "bf16", dot=4)
    assert not np.array_equal(_fp32_out(q, kp, vp, [64], "bf16", dot=8),
                              _fp32_out(q, kp, vp, [64], "bf16", dot=4))
    ref = _reference(q, k, v, [64])
    for o in (o8, o4):
        assert np.all(np.abs(_f64(o) - ref) <= error_bound(ref, v, [64], 4))


def test_bad_arguments():
    q = np.zeros((1, 4, 64), np.uint16)
    kp = np.zeros((1, 2, 1, 2, 1088), np.uint8)
    with pytest.raises(ValueError, match="cache_lens"):
        decode_attention_bits(q, kp, kp, [33], "bfp8")
    with pytest.raises(ValueError, match="k_packed"):
        decode_attention_bits(q, kp, kp, [3], "bfp4")
    with pytest.raises(ValueError, match="multiple of hkv"):
        decode_attention_bits(np.zeros((1, 3, 64), np.uint16), kp, kp, [3], "bfp8")


def test_bytes_moved_and_hma_serve_ratio():
    # decode-small target: b 1, sk 4096, hkv 8, hq 32, d 128
    kv = 2 * 8 * 128 * 4 * 1088
    assert decode_attention_bytes(1, 32, 8, 128, 4096, "bfp8") == kv + 2 * 2 * 32 * 128
    assert decode_attention_bytes(1, 32, 8, 128, 4096, "bf16") == kv // 1088 * 2048 + 16384
    # tiles past a length are not read: lengths 33 and 0 read 2 + 0 position tiles
    assert decode_attention_bytes(2, 4, 2, 64, [33, 0], "bfp4") == 2 * 2 * 2 * 2 * 576 + 2048
    assert round(kv_bytes_ratio("bfp8"), 2) == 1.88 and kv_bytes_ratio("bfp4") == 2048 / 576


@pytest.mark.parametrize("fmt", KV_FORMATS)
def test_bench_case_keys(fmt, rng):
    case = decode_attention_case(rng, b=2, sk=40, hq=4, hkv=2, d=64, fmt=fmt,
                                 cache_lens=[40, 9])
    assert case["q"].shape == (2, 4, 64) and case["k"].shape == (2, 40, 2, 64)
    assert case["k_packed"].shape == (2, 2, 2, 2, {"bfp8": 1088, "bfp4": 576,
                                                   "bf16": 2048}[fmt])
    assert case["cache_lens"].dtype == np.int32 and case["cache_lens"].tolist() == [40, 9]
    assert not np.all(np.isfinite(_f64(case["k"][1, 9:])))       # junk past the length
    assert np.array_equal(case["k_packed"], pack_kv_cache(case["k"], fmt))
    assert np.array_equal(case["o"], decode_attention_bits(
        case["q"], case["k_packed"], case["v_packed"], case["cache_lens"], fmt))
    assert np.all(np.isfinite(_f64(case["o"])))
