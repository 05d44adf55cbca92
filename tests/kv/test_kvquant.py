"""BFP8_b / BFP4_b byte-exact golden model (docs/bfp.md) and MX quantize-dequantize."""

import struct

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hybridgen.golden.kvquant import (bfp_decode_blocks_bf16_bits, bfp_dequantize, bfp_dequantize_bf16_bits,
                            bfp_encode_blocks, bfp_pack_tile, bfp_quantize, bfp_unpack_tile,
                            bfp_unpack_tile_bf16_bits, mx_quantize, to_fp32_bits)

SEED = 4242
INF, NAN = np.float32(np.inf), np.float32(np.nan)


def f32(v):
    return struct.unpack("<I", struct.pack("<f", v))[0]


def tile_with_row(row, fmt="bfp8", face_row=0):
    """A tile that is zero except face row ``face_row`` of face 0 (= tile row ``face_row``,
    columns 0..15)."""
    x = np.zeros((32, 32), np.float32)
    x[face_row, :len(row)] = np.asarray(row, np.float32)
    return bfp_pack_tile(x, fmt)


# --------------------------------------------------------------------------- scalar reference
def ref_encode_row(bits, mb):
    """Independent scalar encoder written from docs/bfp.md with Python ints (policy: subnormal
    and NaN -> 0 and E contribution 0; inf -> E contribution 254, max magnitude)."""
    es = []
    for u in bits:
        e, f = (u >> 23) & 0xFF, u & 0x7FFFFF
        es.append(254 if (e == 255 and f == 0) else (e if 0 < e < 255 else 0))
    E = max(es)
    codes = []
    for u in bits:
        s, e, f = u >> 31, (u >> 23) & 0xFF, u & 0x7FFFFF
        mmax = (1 << mb) - 1
        if e == 255:
            codes.append(0 if f else (s << mb) | mmax)
            continue
        if e == 0:
            codes.append(0)
            continue
        m = ((1 << 23) | f) >> (E - e) if E - e < 64 else 0
        k = 24 - mb
        q, r = m >> k, m & ((1 << k) - 1)
        if r > (1 << (k - 1)) or (r == (1 << (k - 1)) and q & 1):
            q += 1
        q = min(q, mmax)
        codes.append(((s if q else 0) << mb) | q)
    return E, codes


def ref_decode(E, code, mb):
    s, M = code >> mb, code & ((1 << mb) - 1)
    return (-1.0) ** s * M / 2 ** (mb - 1) * 2.0 ** (E - 127)


# --------------------------------------------------------------------------- byte vectors
def test_worked_example():
    buf = tile_with_row([1.0, 0.75, -0.5, 2.0 ** -10])
    assert len(buf) == 1088
    assert buf[0] == 0x7F and buf[1:64] == bytes(63)  # E=127 for face 0 row 0; other rows 0
    assert buf[64:80] == bytes([0x40, 0x30, 0xA0, 0x00]) + bytes(12)
    assert buf[80:] == bytes(1024 - 16)
    out = bfp_unpack_tile(buf)
    assert out[0, :4].tolist() == [1.0, 0.75, -0.5, 0.0]


def test_all_zero_and_negative_zero():
    for fmt, n in (("bfp8", 1088), ("bfp4", 576)):
        assert bfp_pack_tile(np.zeros((32, 32), np.float32), fmt) == bytes(n)
        assert bfp_pack_tile(np.full((32, 32), -0.0, np.float32), fmt) == bytes(n)
    buf = tile_with_row([-0.0, 1.0])
    assert buf[64:66] == bytes([0x00, 0x40])
    assert bfp_unpack_tile_bf16_bits(buf)[0, 0] == 0x0000  # +0, not -0


def test_one_large_among_tiny():
    buf = tile_with_row([2.0 ** -20, 3.0 * 2 ** 10, -(2.0 ** 4), 2.0 ** 3 * 1.5])
    assert buf[0] == 127 + 11  # 3*2^10 has exponent 11
    # 3*2^10 = 1.5*2^11 -> 96; -2^4: shift 7 -> 64>>7 = 0.5 tie -> 0 (even), sign dropped;
    # 1.5*2^3: shift 8 -> 96/256 = 0.375 -> 0; 2^-20 -> 0
    assert buf[64:68] == bytes([0x00, 0x60, 0x00, 0x00])


def test_round_to_zero_and_ties_to_even():
    # row max 1.0 (E = 127): datum lsb = 2^-6
    vals = [1.0, -(2.0 ** -7), -3 * 2.0 ** -8, 3.5 / 64, 2.5 / 64, 127.5 / 64 / 2, -(2.0 ** -30)]
    buf = tile_with_row(vals)
    # -2^-7 = half an lsb, q=0 even -> 0 (sign 0); -3*2^-8 = 0.75 lsb -> 1 -> 0x81;
    # 3.5 lsb -> 4; 2.5 lsb -> 2; 63.75 lsb -> 64; -2^-30 -> 0
    assert list(buf[64:71]) == [0x40, 0x00, 0x81, 0x04, 0x02, 0x40, 0x00]
    b4 = tile_with_row([1.0, 0.5, 0.375, 0.625, -0.125, 0.875], "bfp4")
    # BFP4 lsb = 0.25: 1.0->4, 0.5->2, 0.375 = 1.5 lsb -> 2, 0.625 = 2.5 -> 2, -0.125 = 0.5 -> 0,
    # 0.875 = 3.5 -> 4; nibbles low first
    assert list(b4[64:67]) == [0x24, 0x22, 0x40]


def test_dropped_bits_are_not_sticky():
    # x = 2^-6 * (0.5 + 2^-23*...) : after the shift the tie is exact and the dropped bits
    # below it must not break the tie
    x = np.float32(1.0 + 2.0 ** -22)  # fraction bit 1 set (m = 0x800002)
    # in a row with max 2^7 (E = 134): m >> 7 = 0x10000 (bit 1 dropped) = exactly half an lsb
    buf = tile_with_row([2.0 ** 7, x])
    assert buf[65] == 0x00
    # with the tie broken by a kept bit it rounds up
    buf = tile_with_row([2.0 ** 7, np.float32(1.0 + 2.0 ** -16)])
    assert buf[65] == 0x01


def test_saturation():
    big = struct.unpack("<f", struct.pack("<I", 0x3FFFFFFF))[0]  # 1.99999988
    buf = tile_with_row([big, -big])
    assert buf[0] == 127 and buf[64:66] == bytes([0x7F, 0xFF])
    b4 = tile_with_row([big, -big, 1.9], "bfp4")
    assert b4[64:66] == bytes([0xF7, 0x07])  # 7, 0xF (sign + 7), 1.9 -> 7.6 -> 7


def test_max_and_min_exponents():
    buf = tile_with_row([1.5 * 2.0 ** 127, -(2.0 ** 127)])
    assert buf[0] == 254 and buf[64:66] == bytes([0x60, 0xC0])
    assert bfp_unpack_tile(buf)[0, :2].tolist() == [1.5 * 2.0 ** 127, -(2.0 ** 127)]
    buf = tile_with_row([2.0 ** -126, -1.5 * 2.0 ** -126])  # smallest normal exponent
    assert buf[0] == 1 and buf[64:66] == bytes([0x40, 0xE0])
    assert bfp_unpack_tile_bf16_bits(buf)[0, :2].tolist() == [0x0080, 0x80C0]
    # smallest datum the encoder can produce: E = 7, M = 1 -> 2^-126
    buf = tile_with_row([2.0 ** -120, 2.0 ** -126])
    assert buf[0] == 7 and buf[65] == 0x01


def test_decode_keeps_bf16_subnormals():
    E = np.array([[0], [0], [1], [0], [3]], np.uint8)[:, 0]
    codes = np.zeros((5, 16), np.uint8)
    codes[:, 0] = [0x01, 0x81, 0x7F, 0x7F, 0x45]
    bits = bfp_decode_blocks_bf16_bits(E, codes, "bfp8")[:, 0]
    # 2^-133 (smallest bf16 subnormal), -2^-133, 127*2^-132 (normal), 127*2^-133 (subnormal),
    # 69*2^-130 = 1.078125 * 2^-124 (biased exponent 3, fraction 0b0001010)
    assert bits.tolist() == [0x0001, 0x8001, 0x00FE, 0x007F, 0x018A]
    vals = (bits.astype(np.uint32) << 16).view(np.float32)
    expect = [ref_decode(int(e), int(c), 7) for e, c in zip(E, codes[:, 0])]
    assert vals.tolist() == expect
    b4 = bfp_decode_blocks_bf16_bits(np.array([0, 254], np.uint8),
                                     np.array([[0x1] + [0] * 15, [0xF] + [0] * 15], np.uint8),
                                     "bfp4")
    assert b4[:, 0].tolist() == [0x0010, 0xFF60]  # 2^-129; -(7/4)*2^127


def test_subnormal_inputs_are_zero():
    sub = struct.unpack("<f", struct.pack("<I", 0x00400000))[0]  # 2^-127, subnormal
    buf = tile_with_row([sub, -sub])
    assert buf[0] == 0 and buf[64:66] == bytes(2)
    buf = tile_with_row([sub, 0.5])
    assert buf[0] == 126 and buf[64:66] == bytes([0x00, 0x40])


def test_nan_inf_policy():
    buf = tile_with_row([INF, 1.0, NAN, -INF, 2.0 ** 127])
    assert buf[0] == 254
    assert buf[64:69] == bytes([0x7F, 0x00, 0x00, 0xFF, 0x40])
    out = bfp_unpack_tile(buf)[0, :5]
    assert out.tolist() == [127 / 64 * 2.0 ** 127, 0.0, 0.0, -127 / 64 * 2.0 ** 127, 2.0 ** 127]
    buf = tile_with_row([NAN, 1.0, -NAN])  # NaN does not affect E
    assert buf[0] == 127 and buf[64:67] == bytes([0x00, 0x40, 0x00])
    b4 = tile_with_row([-INF, NAN, INF], "bfp4")
    assert b4[0] == 254 and b4[64:66] == bytes([0x0F, 0x07])


def test_tile_face_order_and_bfp4_nibbles():
    x = np.zeros((32, 32), np.float32)
    for face, (r0, c0) in enumerate([(0, 0), (0, 16), (16, 0), (16, 16)]):
        for r in range(16):
            x[r0 + r, c0] = 2.0 ** (face * 16 + r - 40)
            x[r0 + r, c0 + 1] = -(2.0 ** (face * 16 + r - 41))
    for fmt in ("bfp8", "bfp4"):
        buf = bfp_pack_tile(x, fmt)
        assert list(buf[:64]) == [127 + i - 40 for i in range(64)]
        assert np.array_equal(bfp_unpack_tile(buf, fmt), x)
    b4 = bfp_pack_tile(x, "bfp4")
    # each face row: codes 4 (1.0) and 0xA (-0.5) -> byte 0xA4, then 7 zero bytes
    assert all(b4[64 + 8 * i] == 0xA4 and b4[65 + 8 * i:72 + 8 * i] == bytes(7)
               for i in range(64))


# --------------------------------------------------------------------------- properties
_f32 = st.floats(width=32, allow_nan=True, allow_infinity=True, allow_subnormal=True)
_row = st.one_of(
    st.lists(_f32, min_size=16, max_size=16),
    st.tuples(st.integers(-140, 127), st.lists(st.floats(-2, 2, width=32), min_size=16,
                                                  max_size=16))
      .map(lambda t: [np.float32(v) * np.float32(2.0) ** t[0] for v in t[1]]))


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(_row, st.sampled_from([("bfp8", 7), ("bfp4", 3)]))
def test_encoder_matches_scalar_reference(row, fmt):
    bits = np.array([f32(v) for v in row], np.uint32)
    E, codes = bfp_encode_blocks(bits, fmt[0])
    E_ref, codes_ref = ref_encode_row([int(b) for b in bits], fmt[1])
    assert int(E) == E_ref and codes.tolist() == codes_ref
    dec = bfp_decode_blocks_bf16_bits(E, codes, fmt[0])
    vals = (dec.astype(np.uint32) << 16).view(np.float32)
    assert vals.tolist() == [ref_decode(E_ref, c, fmt[1]) for c in codes_ref]


@pytest.mark.parametrize("fmt,mb", [("bfp8", 7), ("bfp4", 3)])
def test_roundtrip_error_bound(fmt, mb):
    """|x - q(x)| <= half an lsb (lsb = 2^(E-127-(mb-1))) plus the dropped bits (< 2^(E-150)),
    and <= one lsb where the value saturates."""
    print(f"seed={SEED}")
    rng = np.random.default_rng(SEED)
    x = (rng.standard_normal((64, 16)) * 2.0 ** rng.integers(-60, 60, (64, 1))).astype(np.float32)
    q = bfp_quantize(x, fmt)
    err = np.abs(bfp_dequantize(q).astype(np.float64) - x)
    lsb = 2.0 ** (q.exp.astype(np.float64) - 127 - (mb - 1))[:, 0, None]
    sat = (q.codes[:, 0] & ((1 << mb) - 1)) == (1 << mb) - 1
    assert np.all(err <= np.where(sat, lsb, lsb / 2 + lsb * 2.0 ** -(24 - mb)))
    rel = np.linalg.norm(err) / np.linalg.norm(x)
    print(f"{fmt}: max err / lsb {np.max(err / lsb):.3f}, relative rms error {rel:.2e}")
    assert rel < {"bfp8": 2.0 ** -5, "bfp4": 2.0 ** -1}[fmt]


def test_input_forms_and_array_level():
    rng = np.random.default_rng(SEED + 1)
    xb = rng.standard_normal((32, 32)).astype(ml_dtypes.bfloat16)
    b1 = bfp_pack_tile(xb)
    assert b1 == bfp_pack_tile(xb.astype(np.float32))
    assert b1 == bfp_pack_tile(xb.view(np.uint16), bf16_bits=True)
    with pytest.raises(ValueError, match="bf16_bits"):
        bfp_pack_tile(xb.view(np.uint16))
    # array level along the last axis == tile packing of each 32-column tile
    kv = rng.standard_normal((3, 64, 32)).astype(np.float32)
    deq = bfp_dequantize(bfp_quantize(kv, "bfp8"))
    tiles = np.stack([np.concatenate([bfp_unpack_tile(bfp_pack_tile(kv[i, r:r + 32]))
                                      for r in (0, 32)]) for i in range(3)])
    assert np.array_equal(deq, tiles)
    # padding: axis of 20 -> two blocks, second padded with zeros; other axis
    y = rng.standard_normal((2, 20, 3)).astype(np.float32)
    qa = bfp_quantize(y, "bfp4", axis=1)
    assert qa.exp.shape == (2, 3, 2) and qa.codes.shape == (2, 3, 2, 16)
    dy = bfp_dequantize(qa)
    assert dy.shape == y.shape
    ref = bfp_dequantize(bfp_quantize(np.moveaxis(y, 1, -1), "bfp4"))
    assert np.array_equal(dy, np.moveaxis(ref, -1, 1))
    bits = bfp_dequantize_bf16_bits(qa)
    assert bits.dtype == np.uint16 and np.array_equal(
        (bits.astype(np.uint32) << 16).view(np.float32), dy)
    assert qa.nbytes == 2 * 3 * 2 * 9
    assert to_fp32_bits(np.float64(1.0)) == 0x3F800000


# --------------------------------------------------------------------------- MX
def test_mx_int8_values_and_ties_away():
    x = np.zeros(32)
    x[:4] = [1.0, 1 / 128, -1 / 128, 3 / 128]  # X = 0: grid 1/64; 0.5 and 1.5 steps
    out = mx_quantize(x, "mxint8")
    assert out[:4].tolist() == [1.0, 1 / 64, -1 / 64, 2 / 64]  # ties away from zero
    x[0] = 1.999
    assert mx_quantize(x, "mxint8")[0] == 127 / 64  # saturates at 1.984375 * 2^X
    y = np.full(32, -3.0)  # X = 1: -3 = -1.5 * 2 -> -96/64 * 2
    assert np.all(mx_quantize(y, "mxint8") == -3.0)


def test_mx_fp8_e4m3_values():
    x = np.zeros(32)
    x[:5] = [1.0, 1.0625, 1.9, 2.0 ** -9 * 1.5, 2.0 ** -20]
    out = mx_quantize(x, "mxfp8_e4m3")  # X = floor(log2 1.9) - 8 = -8; scaled max 486 > 448
    # 1.0625*256 = 272 = 8.5 * 32 -> ties away -> 288 -> 1.125; 1.9 -> 448 * 2^-8 = 1.75;
    # 1.5*2^-9 * 256 = 0.75: subnormal grid 2^-9 (E4M3 min exp -6, 3 bits) -> 0.75 exact;
    # 2^-20 * 256 = 2^-12 < half the smallest subnormal -> 0
    assert out[:5].tolist() == [1.0, 1.125, 1.75, 1.5 * 2.0 ** -9, 0.0]
    # 1e6: X = 19 - 8 = 11, 1e6 / 2^11 = 488.3 > 448 -> saturates to 448 * 2^11
    assert np.all(mx_quantize(np.full(32, 1e6), "mxfp8") == 448.0 * 2 ** 11)


def test_mx_error_bounds_zero_nan_padding():
    print(f"seed={SEED}")
    rng = np.random.default_rng(SEED + 2)
    x = rng.standard_normal((16, 96)) * 2.0 ** rng.integers(-30, 30, (16, 1))
    # in units of 2^floor(log2 amax): MXINT8 step 2^-6 (half 2^-7), saturation error < 2^-6;
    # E4M3 step in the top binade 2^-3 (half 2^-4; finer below), saturation (>= 1.75) < 2^-2
    for fmt, bound, sat_at in (("mxint8", 2.0 ** -7, 127 / 64), ("mxfp8_e4m3", 2.0 ** -4, 1.75)):
        q = mx_quantize(x, fmt)
        blocks = np.abs(x).reshape(16, 3, 32).max(-1, keepdims=True)
        step = 2.0 ** np.floor(np.log2(blocks))  # 2^floor(log2 amax)
        err = np.abs(q - x).reshape(16, 3, 32) / step
        sat = np.abs(x).reshape(16, 3, 32) / step > sat_at
        print(f"{fmt}: max err {err[~sat].max():.4f} (saturated {err.max():.4f}) "
              f"x 2^floor(log2 amax)")
        assert err[~sat].max() <= bound and err.max() < 2 - sat_at
    assert np.all(mx_quantize(np.zeros((2, 32)), "mxint8") == 0)
    z = rng.standard_normal(64)
    z[3] = np.inf
    z[40] = np.nan
    out = mx_quantize(z, "mxint8")
    assert np.all(np.isnan(out))  # both blocks hold a non-finite value
    z[40] = 0.5
    out = mx_quantize(z, "mxfp8")
    assert np.all(np.isnan(out[:32])) and np.all(np.isfinite(out[32:]))
    # padding: 40 values = one block of 32 + one of 8 (padded with zeros), along axis 0
    w = rng.standard_normal((40, 3)).astype(np.float32)
    ow = mx_quantize(w, "mxint8", axis=0)
    assert ow.dtype == np.float32 and ow.shape == (40, 3)
    assert np.array_equal(ow[32:], mx_quantize(np.pad(w[32:], ((0, 24), (0, 0))), "mxint8",
                                               axis=0)[:8])
