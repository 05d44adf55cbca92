"""KV-cache quantization golden models: BFP8_b / BFP4_b (bit-exact) and MX formats (values).

Block floating point (docs/bfp.md is the byte-level definition; ``rtl/kv`` must match
this module byte for byte)
---------------------------------------------------------------------------------------------
* Block: 16 values (one face row) share an 8-bit exponent ``E``, the largest biased fp32 exponent
  among them (zeros count as 0).
* Datum: sign + magnitude, no hidden bit. BFP8: ``(-1)^s * M/2^6 * 2^(E-127)``, ``M`` in 0..127,
  code byte ``s << 7 | M``. BFP4: ``(-1)^s * M/2^2 * 2^(E-127)``, ``M`` in 0..7, code nibble
  ``s << 3 | M``.
* Encoding a value with biased exponent ``e``, fraction ``f``: ``m = (1 << 23) | f``;
  ``m >>= E - e`` (shifted-out bits are dropped, no sticky); round the remaining 24-bit ``m``
  to 7 (BFP4: 3) bits, nearest, ties to even, looking only at the remaining bits; saturate at
  127 (BFP4: 7). A datum whose magnitude rounds to 0 gets sign 0; +-0 encodes as 0.
* Tile (32x32, row-major input): four 16x16 faces (top-left, top-right, bottom-left,
  bottom-right); 64 exponent bytes (face 0 rows 0..15, face 1, ...), then the codes face by face,
  row by row. BFP8 tile = 64 + 1024 = 1088 bytes; BFP4 = 64 + 512 = 576 bytes, two codes per
  byte, the earlier value in the low nibble.
* Decoding is exact into bf16 (and float32) for every code the encoder produces, including
  results below the bf16 normal range, which are kept as bf16 subnormals (the smallest nonzero
  BFP8 magnitude, 2^-133, is the smallest bf16 subnormal).

Special inputs (this project's policy; simple for hardware, a pure function of (e, f)):

* subnormal inputs (``e == 0``, ``f != 0``) are zeros: they contribute 0 to ``E`` and encode as 0
  (the tt-metal host packer gives them a hidden bit; not copied);
* NaN encodes as 0 (code 0x00) and contributes 0 to ``E`` (it does not affect its row);
* +-inf contributes 254 to ``E`` (so a row holding an inf has ``E = 254``) and encodes as the
  largest magnitude with its sign: BFP8 ``0x7F`` / ``0xFF``, BFP4 ``0x7`` / ``0xF``, i.e. it
  decodes to ``+-(127/64) * 2^127`` (BFP8) or ``+-(7/4) * 2^127`` (BFP4), finite;
* a finite value with ``e = 255`` does not exist, so the encoder never writes ``E = 255``. The
  decoder still applies the formula to ``E = 255`` (a byte stream not produced here); magnitudes
  ``>= 2^128`` then decode to +-inf.

Inputs: float32 arrays as they are; bfloat16 (``ml_dtypes.bfloat16``) and float16 are widened
exactly; float64 is first rounded to float32 (numpy's round-to-nearest-even cast); uint16 arrays
are bf16 bit patterns when ``bf16_bits=True`` is passed (and rejected otherwise).

Array level: :func:`bfp_quantize` groups blocks of 16 consecutive values along ``axis``. When the
axis length is not a multiple of 16, the axis is padded with zeros up to the next multiple
(zeros do not change a block's ``E`` nor any other datum); :func:`bfp_dequantize` strips the
padding. For a row-major matrix whose rows are split into 32-column tiles, quantizing along the
last axis gives exactly the values of :func:`bfp_pack_tile` on each tile (a face row is 16
consecutive elements of one tile row).

KV-cache layout (the decode array's memory image; issue 14)
---------------------------------------------------------------
A cache ``[b, sk, hkv, d]`` of bf16 bit patterns (``d`` a multiple of 32) is stored as tiles of
32 positions x 32 dims of one (batch, kv head), :func:`pack_kv_cache` ->
``uint8 [b, hkv, T, d / 32, tile bytes]`` with ``T = ceil(sk / 32)``: tiles ordered (batch, kv
head, position tile, dim tile), each tile row one position (so a BFP face row, which shares one
exponent, is 16 dims of one token), the positions ``sk .. 32 T - 1`` of the last position tile
zero (+0). Tile bytes per format (:data:`KV_TILE_BYTES`): BFP8 1088 and BFP4 576 as above; bf16
2048, the 1024 values row-major, two bytes each, little-endian (what ``rtl/kv``'s dequantizer
passes through). :func:`unpack_kv_cache_bf16_bits` is the exact inverse for bf16 and the
dequantized cache (exactly what the RTL dequantizer returns) for BFP8 / BFP4. A position's
values depend only on its own two face rows, so whatever a position past a cache length holds
(NaN, inf) changes no other position's dequantized value.

MX formats (values level only)
------------------------------
:func:`mx_quantize` follows ``microsoft/microxcaling`` ``quantize_mx_op`` with block size 32 along
``axis`` (zero padding as there), scale_bits 8 (E8M0) and rounding ``"nearest"``:

* shared exponent ``X = floor(log2(max |x|)) - emax_elem`` (``max |x| = 0`` counts as 2^-126),
  then ``X > 127`` -> NaN (the whole block becomes NaN) and ``X < -127`` -> -127;
* element: ``a = x / 2^X`` quantized with microxcaling's ``"nearest"``, which is
  ``sign(a) * floor(|a| + 0.5)`` on the scaled mantissa: round half AWAY from zero (not to even);
* MXINT8: ``emax_elem = 0``, element = ``k / 64`` with ``|k| <= 127`` (saturating at 1.984375);
* MXFP8 E4M3: ``emax_elem = 8``, element private exponent ``floor(log2|a|)`` clipped to >= -6
  (subnormals), 3 mantissa bits, saturating at +-448;
* a block holding inf or NaN comes out all NaN (in microxcaling the NaN/inf max makes the scale
  NaN).

Deviation, documented: ``floor(log2(.))`` is computed exactly here (``numpy.frexp``);
microxcaling evaluates ``torch.log2`` in float32, which rounds up to the next integer for inputs
within about 2^-24 (relative) below a power of two and then picks a scale one step larger.
Computation is in float64, the result is returned in the input float dtype (float64 for
non-float inputs).
"""

from __future__ import annotations

from typing import NamedTuple

import ml_dtypes
import numpy as np

__all__ = [
    "BFP_FORMATS", "BFPArray", "bfp_encode_blocks", "bfp_decode_blocks_bf16_bits",
    "bfp_pack_tile", "bfp_unpack_tile", "bfp_unpack_tile_bf16_bits", "bfp_quantize",
    "bfp_dequantize", "bfp_dequantize_bf16_bits", "bfp_roundtrip", "to_fp32_bits",
    "bf16_bits_to_float32", "mx_quantize", "MX_FORMATS",
    "KV_FORMATS", "KV_TILE_BYTES", "kv_pack_tile", "kv_unpack_tile_bf16_bits", "kv_cache_tiles",
    "pack_kv_cache", "unpack_kv_cache_bf16_bits", "kv_cache_bytes",
]

BLOCK = 16
TILE = 32

#: fmt -> (magnitude bits, tile bytes). Value = M / 2^(mbits - 1) * 2^(E - 127).
BFP_FORMATS = {"bfp8": (7, 64 + 1024), "bfp4": (3, 64 + 512)}


def _fmt(fmt):
    f = str(fmt).lower().removesuffix("_b")
    if f not in BFP_FORMATS:
        raise ValueError(f"fmt must be one of 'bfp8', 'bfp4' (or with '_b'), got {fmt!r}")
    return f, BFP_FORMATS[f][0]


def to_fp32_bits(x, bf16_bits=False):
    """fp32 bit patterns (uint32 array, same shape) of ``x``.

    float32 as is; bfloat16 / float16 widened exactly; float64 rounded to float32 (RNE);
    uint16 only with ``bf16_bits=True`` (bf16 bit patterns, widened by ``<< 16``).
    """
    x = np.asarray(x)
    if bf16_bits:
        if x.dtype != np.uint16:
            raise ValueError(f"bf16_bits=True needs a uint16 array, got {x.dtype}")
        return x.astype(np.uint32) << 16
    if x.dtype == np.uint16:
        raise ValueError("uint16 input is ambiguous: pass bf16_bits=True for bf16 bit patterns")
    if x.dtype == ml_dtypes.bfloat16:
        return x.view(np.uint16).astype(np.uint32) << 16
    if x.dtype == np.float32:
        return x.view(np.uint32)
    if np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer):
        return np.ascontiguousarray(x.astype(np.float32)).view(np.uint32)
    raise ValueError(f"unsupported input dtype {x.dtype}")


def bf16_bits_to_float32(bits):
    """Exact float32 values of uint16 bf16 bit patterns."""
    return (np.asarray(bits, np.uint16).astype(np.uint32) << 16).view(np.float32)


def bfp_encode_blocks(u, fmt="bfp8"):
    """Encode blocks of 16 fp32 bit patterns.

    Parameters
    ----------
    u : ndarray of uint32, shape (..., 16)
        fp32 bit patterns; each last-axis row is one block (face row).
    fmt : {"bfp8", "bfp4"}

    Returns
    -------
    exp : ndarray of uint8, shape (...)
        Shared exponent E per block.
    codes : ndarray of uint8, shape (..., 16)
        Sign-magnitude codes: BFP8 ``s << 7 | M``; BFP4 ``s << 3 | M`` (one code per byte).
    """
    f, mb = _fmt(fmt)
    u = np.asarray(u, np.uint32)
    if u.shape[-1:] != (BLOCK,):
        raise ValueError(f"last axis must be {BLOCK}, got shape {u.shape}")
    s = (u >> 31).astype(np.uint32)
    e = ((u >> 23) & 0xFF).astype(np.int64)
    frac = u & 0x7FFFFF
    is_inf = (e == 255) & (frac == 0)
    is_nan = (e == 255) & (frac != 0)
    live = (e > 0) & (e < 255)  # normal finite nonzero values
    e_eff = np.where(live, e, np.where(is_inf, 254, 0))
    E = e_eff.max(axis=-1)
    m = np.where(live, frac | (1 << 23), 0).astype(np.int64)
    shift = np.where(live, E[..., None] - e, 0)
    m = np.where(shift >= 24, 0, m >> np.minimum(shift, 31))  # dropped bits: no sticky
    k = 23 - (mb - 1)  # BFP8: 17, BFP4: 21  (M / 2^(mb-1) == m / 2^23)
    q = m >> k
    rem = m & ((1 << k) - 1)
    half = 1 << (k - 1)
    up = (rem > half) | ((rem == half) & ((q & 1) == 1))
    mmax = (1 << mb) - 1
    M = np.minimum(q + up, mmax)
    M = np.where(is_inf, mmax, M)
    sign = np.where((M > 0) & ~is_nan, s, 0)
    codes = ((sign << mb) | M).astype(np.uint8)
    return E.astype(np.uint8), codes


def bfp_decode_blocks_bf16_bits(exp, codes, fmt="bfp8"):
    """Exact bf16 bit patterns of BFP codes.

    Parameters
    ----------
    exp : ndarray of uint8, shape (...)
    codes : ndarray of uint8, shape (..., 16)
        As returned by :func:`bfp_encode_blocks`.

    Returns
    -------
    ndarray of uint16, shape (..., 16)
        ``(-1)^s * M * 2^(E - 127 - (mb - 1))`` as bf16: normal where the biased bf16 exponent is
        >= 1, a bf16 subnormal below (exact: 7 fraction bits suffice for a 7-bit M), +-inf at
        2^128 and above (only possible for E = 255, never produced by the encoder). ``M = 0``
        gives a zero with the code's sign bit.
    """
    f, mb = _fmt(fmt)
    E = np.asarray(exp, np.int64)[..., None]
    c = np.asarray(codes, np.int64)
    s = (c >> mb) & 1
    M = c & ((1 << mb) - 1)
    # value = M * 2^(E - 127 - (mb-1)) = M * 2^(t - 133) with t = E + 7 - mb
    t = E + 7 - mb
    msb = sum(((M >> i) > 0).astype(np.int64) for i in range(1, mb))  # leading-one position
    be = msb + t - 6  # biased bf16 exponent of the leading bit
    frac_n = (M << np.clip(7 - msb, 0, 7)) & 0x7F
    normal = (be << 7) | frac_n
    sub = M << np.clip(t, 0, 7)  # value / 2^-133, < 128 when be <= 0
    mag = np.where(be >= 255, 0x7F80, np.where(be >= 1, normal, sub))
    mag = np.where(M == 0, 0, mag)
    return ((s << 15) | mag).astype(np.uint16)


def _face_rows(tile):
    """(32, 32) -> (64, 16): face rows in tile order (TL, TR, BL, BR; row by row)."""
    return tile.reshape(2, 16, 2, 16).transpose(0, 2, 1, 3).reshape(64, 16)


def _from_face_rows(rows):
    return rows.reshape(2, 2, 16, 16).transpose(0, 2, 1, 3).reshape(32, 32)


def bfp_pack_tile(x, fmt="bfp8", bf16_bits=False):
    """Pack one 32x32 tile (row-major) into BFP8_b (1088 bytes) or BFP4_b (576 bytes).

    Parameters
    ----------
    x : array_like, shape (32, 32)
        float32, ``ml_dtypes.bfloat16``, float16, float64 (rounded to float32 first), or uint16
        bf16 bit patterns with ``bf16_bits=True``.
    fmt : {"bfp8", "bfp4"}

    Returns
    -------
    bytes
    """
    f, mb = _fmt(fmt)
    u = to_fp32_bits(x, bf16_bits)
    if u.shape != (TILE, TILE):
        raise ValueError(f"tile must be (32, 32), got {u.shape}")
    E, codes = bfp_encode_blocks(_face_rows(u), f)
    data = codes.reshape(-1)
    if f == "bfp4":
        pairs = data.reshape(-1, 2)
        data = (pairs[:, 0] | (pairs[:, 1] << 4)).astype(np.uint8)
    return E.tobytes() + data.tobytes()


def _split_tile(buf, fmt):
    f, mb = _fmt(fmt)
    b = np.frombuffer(bytes(buf), dtype=np.uint8)
    if b.size != BFP_FORMATS[f][1]:
        raise ValueError(f"{f} tile must be {BFP_FORMATS[f][1]} bytes, got {b.size}")
    E, data = b[:64], b[64:]
    if f == "bfp4":
        data = np.stack([data & 0xF, data >> 4], axis=-1).reshape(-1)
    return f, E, data.reshape(64, 16)


def bfp_unpack_tile_bf16_bits(buf, fmt="bfp8"):
    """Unpack a BFP tile into uint16 bf16 bit patterns, shape (32, 32) row-major (exact)."""
    f, E, codes = _split_tile(buf, fmt)
    return _from_face_rows(bfp_decode_blocks_bf16_bits(E, codes, f))


def bfp_unpack_tile(buf, fmt="bfp8"):
    """Unpack a BFP tile into float32, shape (32, 32) row-major (exact)."""
    return bf16_bits_to_float32(bfp_unpack_tile_bf16_bits(buf, fmt))


#: The KV-cache formats of the decode array: BFP8_b, BFP4_b, bf16 (uncompressed).
KV_FORMATS = ("bfp8", "bfp4", "bf16")
#: Bytes of one 32 x 32 KV tile per format.
KV_TILE_BYTES = {"bfp8": 64 + 1024, "bfp4": 64 + 512, "bf16": 2 * TILE * TILE}


def _kv_format(fmt):
    if fmt not in KV_FORMATS:
        raise ValueError(f"fmt must be one of 'bfp8', 'bfp4', 'bf16', not {fmt!r}")
    return fmt


def _pack_tiles(bits, fmt):
    """uint16 bf16 tiles [..., 32, 32] (row-major) -> uint8 [..., tile bytes] (vectorized
    :func:`kv_pack_tile`)."""
    bits = np.asarray(bits, np.uint16)
    lead = bits.shape[:-2]
    if fmt == "bf16":
        return np.ascontiguousarray(bits, "<u2").view(np.uint8).reshape(lead + (2048,))
    rows = bits.reshape(lead + (2, 16, 2, 16)).swapaxes(-3, -2).reshape(lead + (64, 16))
    E, codes = bfp_encode_blocks(rows.astype(np.uint32) << 16, fmt)
    data = codes.reshape(lead + (1024,))
    if fmt == "bfp4":
        data = (data[..., 0::2] | (data[..., 1::2] << 4)).astype(np.uint8)
    return np.concatenate([E, data], axis=-1)


def _unpack_tiles(packed, fmt):
    """uint8 [..., tile bytes] -> uint16 bf16 tiles [..., 32, 32] (vectorized
    :func:`kv_unpack_tile_bf16_bits`)."""
    packed = np.asarray(packed, np.uint8)
    lead = packed.shape[:-1]
    if packed.shape[-1:] != (KV_TILE_BYTES[fmt],):
        raise ValueError(f"{fmt} tiles must have {KV_TILE_BYTES[fmt]} bytes on the last axis, "
                         f"not shape {packed.shape}")
    if fmt == "bf16":
        return np.ascontiguousarray(packed).view("<u2").astype(np.uint16).reshape(lead + (32, 32))
    E, data = packed[..., :64], packed[..., 64:]
    if fmt == "bfp4":
        data = np.stack([data & 0xF, data >> 4], axis=-1).reshape(lead + (1024,))
    values = bfp_decode_blocks_bf16_bits(E, data.reshape(lead + (64, 16)), fmt)
    return values.reshape(lead + (2, 2, 16, 16)).swapaxes(-3, -2).reshape(lead + (32, 32))


def kv_pack_tile(bits, fmt):
    """One 32 x 32 tile of bf16 bit patterns (uint16, row-major) as the bytes of ``fmt``:
    :func:`bfp_pack_tile` for BFP8 / BFP4, the values little-endian for bf16."""
    bits = np.asarray(bits)
    if bits.dtype != np.uint16 or bits.shape != (TILE, TILE):
        raise ValueError(f"tile must be uint16 bf16 bits of shape (32, 32), not {bits.dtype} "
                         f"{bits.shape}")
    return _pack_tiles(bits, _kv_format(fmt)).tobytes()


def kv_unpack_tile_bf16_bits(buf, fmt):
    """The bf16 bit patterns (uint16 (32, 32)) of a tile of ``fmt`` (exact)."""
    return _unpack_tiles(np.frombuffer(bytes(buf), np.uint8), _kv_format(fmt))


def kv_cache_tiles(sk):
    """Position tiles of a cache of ``sk`` positions: ``ceil(sk / 32)``."""
    return -(-int(sk) // TILE)


def pack_kv_cache(cache, fmt):
    """The memory image of a K or V cache: uint16 bf16 bits [b, sk, hkv, d] -> uint8
    [b, hkv, T, d / 32, tile bytes] (module docstring: tile order, zero-padded tail)."""
    fmt = _kv_format(fmt)
    cache = np.asarray(cache)
    if cache.dtype != np.uint16 or cache.ndim != 4:
        raise ValueError(f"cache must be uint16 bf16 bits [b, sk, hkv, d], not {cache.dtype} "
                         f"{cache.shape}")
    b, sk, hkv, d = cache.shape
    if d % TILE or d < TILE:
        raise ValueError(f"d must be a positive multiple of 32, not {d}")
    T = kv_cache_tiles(sk)
    x = np.pad(cache, [(0, 0), (0, T * TILE - sk), (0, 0), (0, 0)])
    x = x.reshape(b, T, TILE, hkv, d // TILE, TILE).transpose(0, 3, 1, 4, 2, 5)
    return _pack_tiles(x, fmt)


def unpack_kv_cache_bf16_bits(packed, fmt, sk):
    """Inverse of :func:`pack_kv_cache`: uint8 [b, hkv, T, d / 32, tile bytes] -> uint16
    [b, sk, hkv, d] (the dequantized values for BFP; the padding positions dropped)."""
    fmt = _kv_format(fmt)
    packed = np.asarray(packed, np.uint8)
    if packed.ndim != 5 or packed.shape[2] != kv_cache_tiles(sk):
        raise ValueError(f"packed must be [b, hkv, ceil(sk / 32), d / 32, tile bytes] for sk "
                         f"{sk}, not {packed.shape}")
    b, hkv, T, D, _ = packed.shape
    x = _unpack_tiles(packed, fmt)                          # [b, hkv, T, D, 32 pos, 32 dim]
    x = x.transpose(0, 2, 4, 1, 3, 5).reshape(b, T * TILE, hkv, D * TILE)
    return np.ascontiguousarray(x[:, :sk])


def kv_cache_bytes(b, sk, hkv, d, fmt):
    """Bytes of one packed K (or V) cache: ``b hkv ceil(sk / 32) (d / 32)`` tiles."""
    return b * hkv * kv_cache_tiles(sk) * (d // TILE) * KV_TILE_BYTES[_kv_format(fmt)]


class BFPArray(NamedTuple):
    """Array-level BFP encoding (see :func:`bfp_quantize`).

    exp : uint8 (..., nblocks) with the quantized axis moved last; codes : uint8 (..., nblocks,
    16), one code per byte; fmt; axis (normalized, non-negative); shape : original shape.
    """

    exp: np.ndarray
    codes: np.ndarray
    fmt: str
    axis: int
    shape: tuple

    @property
    def nbytes(self):
        """Packed size in bytes: one exponent byte per block plus 16 (BFP4: 8) bytes of data."""
        per = 16 if self.fmt == "bfp8" else 8
        return int(self.exp.size * (1 + per))


def bfp_quantize(x, fmt="bfp8", axis=-1, bf16_bits=False):
    """Quantize an array of any shape to BFP, blocks of 16 consecutive values along ``axis``.

    The axis is zero-padded to a multiple of 16 (padding is removed by :func:`bfp_dequantize`).
    Inputs as in :func:`bfp_pack_tile`.

    Returns
    -------
    BFPArray
    """
    f, mb = _fmt(fmt)
    u = to_fp32_bits(x, bf16_bits)
    ax = axis % u.ndim
    um = np.moveaxis(u, ax, -1)
    n = um.shape[-1]
    pad = (-n) % BLOCK
    if pad:
        um = np.pad(um, [(0, 0)] * (um.ndim - 1) + [(0, pad)])
    E, codes = bfp_encode_blocks(um.reshape(um.shape[:-1] + (-1, BLOCK)), f)
    return BFPArray(E, codes, f, ax, tuple(u.shape))


def bfp_dequantize_bf16_bits(q):
    """Exact dequantized values of a :class:`BFPArray` as uint16 bf16 bit patterns, in the
    original shape."""
    bits = bfp_decode_blocks_bf16_bits(q.exp, q.codes, q.fmt)
    bits = bits.reshape(bits.shape[:-2] + (-1,))
    n = q.shape[q.axis]
    return np.moveaxis(bits[..., :n], -1, q.axis)


def bfp_dequantize(q):
    """Exact dequantized values of a :class:`BFPArray` as float32, in the original shape."""
    return bf16_bits_to_float32(bfp_dequantize_bf16_bits(q))


def bfp_roundtrip(x, fmt="bfp8", axis=-1, bf16_bits=False):
    """``bfp_dequantize(bfp_quantize(x, fmt, axis))`` (float32)."""
    return bfp_dequantize(bfp_quantize(x, fmt, axis, bf16_bits))


#: MX element formats: name -> (ebits, mbits incl. sign and implicit bit, emax, max_norm),
#: microxcaling's ``_get_format_params`` values.
MX_FORMATS = {
    "mxint8": (0, 8, 0, 127 / 64),
    "mxfp8_e4m3": (4, 5, 8, 448.0),
}
_MX_ALIASES = {"mxfp8": "mxfp8_e4m3", "int8": "mxint8", "fp8_e4m3": "mxfp8_e4m3"}


def _floor_log2(a):
    """Exact floor(log2(a)) for finite a > 0 (float64)."""
    _, ex = np.frexp(a)
    return (ex - 1).astype(np.float64)


def mx_quantize(x, fmt="mxint8", axis=-1, block_size=32):
    """MX quantize-dequantize (values only), microxcaling ``quantize_mx_op`` semantics.

    Parameters
    ----------
    x : array_like (float)
    fmt : {"mxint8", "mxfp8_e4m3"} ("mxfp8" is an alias of E4M3)
    axis : int
        Blocks of ``block_size`` consecutive values along this axis (zero padded, then cut).
    block_size : int

    Returns
    -------
    ndarray, same shape as x
        The dequantized values, in x's float dtype (float64 for other inputs).
    """
    name = _MX_ALIASES.get(str(fmt).lower(), str(fmt).lower())
    if name not in MX_FORMATS:
        raise ValueError(f"fmt must be one of {sorted(MX_FORMATS)}, got {fmt!r}")
    ebits, mbits, emax, max_norm = MX_FORMATS[name]
    x = np.asarray(x)
    out_dt = x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float64)
    a = np.moveaxis(x.astype(np.float64), axis, -1)
    n = a.shape[-1]
    pad = (-n) % block_size
    a = np.pad(a, [(0, 0)] * (a.ndim - 1) + [(0, pad)]).reshape(a.shape[:-1] + (-1, block_size))

    amax = np.max(np.abs(a), axis=-1, keepdims=True)  # NaN propagates
    finite = np.isfinite(amax)
    amax_s = np.where(finite & (amax > 0), amax, 2.0 ** -126)
    X = _floor_log2(amax_s) - emax
    X = np.where(finite & (X <= 127), np.maximum(X, -127), np.nan)
    with np.errstate(invalid="ignore"):
        s = a / np.exp2(X)
        mag = np.abs(s)
        if ebits == 0:
            grid = 2.0 ** (mbits - 2)  # int8: 64
            qm = np.floor(mag * grid + 0.5) / grid
        else:
            pe = _floor_log2(np.where(mag > 0, mag, 1.0))
            pe = np.maximum(pe, -(2 ** (ebits - 1)) + 2)
            scale = np.exp2(pe - (mbits - 2))
            qm = np.floor(mag / scale + 0.5) * scale
        q = np.sign(s) * np.minimum(qm, max_norm)
        q = q * np.exp2(X)
    q = q.reshape(q.shape[:-2] + (-1,))[..., :n]
    return np.moveaxis(q, -1, axis).astype(out_dt)
