"""Stimulus and expected results of the KV codec: bf16 tiles, packed tiles, stream beats.

Tiles are ``(32, 32)`` uint16 arrays of bf16 bit patterns (row-major), packed tiles ``bytes``.
Expected results come from :mod:`hybridgen.golden.kvquant` only.

* :func:`random_tiles` - a mix of generators (wide dynamic range per face row, every shift
  distance between a value and its row maximum, raw random bit patterns with NaN/inf/subnormals);
* :func:`edge_tiles` - the edge cases of ``tests/kv/test_kvquant.py`` in bf16 (zeros and
  -0, the worked example, values rounding to zero, ties, saturation, extreme exponents,
  subnormal inputs, the NaN/inf policy, face order), one face row each or whole tiles;
* :func:`decode_sweep_tiles` - packed tiles holding every (exponent, code) pair of a format,
  including exponent 255 (never written by the packer) for the dequantizer alone;
* :class:`Beats` - conversion between tiles / packed bytes and stream payload integers, using
  the field layout of the design's sidecar.
"""

import numpy as np
from ml_dtypes import bfloat16

from hybridgen.golden.kvquant import bfp_pack_tile, bfp_unpack_tile_bf16_bits

__all__ = ["FORMATS", "TILE_BYTES", "random_tiles", "edge_tiles", "decode_sweep_tiles",
           "golden_pack", "golden_unpack", "Beats", "tile_formats"]

FORMATS = ("bfp8", "bfp4")
TILE_BYTES = {"bfp8": 1088, "bfp4": 576}


def _bf16(values):
    """bf16 bit patterns (uint16) of float values (round to nearest even, ml_dtypes)."""
    return np.asarray(values, np.float32).astype(bfloat16).view(np.uint16)


def _face_row_mask(face_row):
    """(row slice, column slice) of face row ``face_row`` (0..63) in a tile."""
    face, r = divmod(face_row, 16)
    return 16 * (face // 2) + r, slice(16 * (face % 2), 16 * (face % 2) + 16)


def _wide_tile(rng):
    """Normal values whose face rows span 2^-135 .. 2^127 and which spread 2^-12 within a row."""
    x = rng.standard_normal((32, 32)) * np.exp2(rng.integers(-12, 1, (32, 32)))
    x *= np.exp2(np.repeat(rng.integers(-135, 127, (32, 2)), 16, axis=1))
    with np.errstate(over="ignore"):
        return _bf16(x)


def _shift_tile(rng):
    """Each face row: a maximum and values exactly 1..15 exponents below it (random mantissas,
    signs, positions), so every shift distance and rounding case of the encoder occurs."""
    tile = np.zeros((32, 32), np.uint16)
    for fr in range(64):
        E = int(rng.integers(17, 255))
        exps = np.concatenate([[E], E - rng.permutation(np.arange(1, 16))])
        mant = rng.integers(0, 128, 16)
        signs = rng.integers(0, 2, 16)
        row, cols = _face_row_mask(fr)
        tile[row, cols] = rng.permutation(((signs << 15) | (exps << 7) | mant).astype(np.uint16))
    return tile


def _bits_tile(rng):
    """Raw random bit patterns: NaN, inf, subnormals and zeros come up in most rows."""
    tile = rng.integers(0, 1 << 16, (32, 32)).astype(np.uint16)
    # make some rows share a narrow exponent range so that fewer codes round to zero
    rows = rng.random(32) < 0.5
    tile[rows] = (tile[rows] & 0x807F) | (rng.integers(100, 140, (int(rows.sum()), 1)) << 7)
    return tile


def random_tiles(rng, count):
    """``count`` random tiles cycling through the generators above."""
    makers = (_wide_tile, _shift_tile, _bits_tile)
    return [makers[i % len(makers)](rng) for i in range(count)]


def _tile_with_rows(rows):
    """A tile with the given face rows (lists of floats or uint16 arrays) from face row 0 on."""
    tile = np.zeros((32, 32), np.uint16)
    for fr, values in enumerate(rows):
        bits = values if isinstance(values, np.ndarray) and values.dtype == np.uint16 \
            else _bf16(values)
        row, cols = _face_row_mask(fr)
        tile[row, cols.start:cols.start + len(bits)] = bits
    return tile


INF, NAN = np.inf, np.nan


def edge_tiles():
    """The golden tests' edge cases as bf16 tiles (each tile valid in both formats)."""
    tiles = [
        np.zeros((32, 32), np.uint16),                                  # all +0
        np.full((32, 32), 0x8000, np.uint16),                           # all -0
    ]
    big = 1.9921875                                                     # largest bf16 below 2
    rows = [
        [1.0, 0.75, -0.5, 2.0 ** -10],                                  # worked example
        [-0.0, 1.0],
        [2.0 ** -20, 3.0 * 2 ** 10, -(2.0 ** 4), 2.0 ** 3 * 1.5],       # one large among tiny
        [1.0, -(2.0 ** -7), -3 * 2.0 ** -8, 3.5 / 64, 2.5 / 64, 127.5 / 64 / 2, -(2.0 ** -30)],
        [1.0, 0.5, 0.375, 0.625, -0.125, 0.875],                        # BFP4 ties
        [big, -big],                                                    # saturation
        [big, -big, 1.9],
        [1.5 * 2.0 ** 127, -(2.0 ** 127)],                              # largest exponent
        [2.0 ** -126, -1.5 * 2.0 ** -126],                              # smallest normal
        [2.0 ** -120, 2.0 ** -126],
        [INF, 1.0, NAN, -INF, 2.0 ** 127],                              # NaN / inf policy
        [NAN, 1.0, -NAN],
        [-INF, NAN, INF],
        [INF, -INF, 2.0 ** -126, 1.0],
        np.array([0x7FC0, 0xFFC0, 0x7F81, 0xFF81, 0x7F80, 0xFF80, 0x3F80, 0x0001], np.uint16),
        np.array([0x0040, 0x8040, 0x0001, 0x807F], np.uint16),          # subnormals only -> 0
        np.array([0x0040, 0x3F00, 0x807F, 0x0001], np.uint16),          # subnormals and 0.5
        [2.0 ** -133 * 1e10, -(2.0 ** -100), 2.0 ** -100 * 1.0078125],  # tiny normals
        np.arange(0x3F80, 0x3F90, dtype=np.uint16),                     # 1.0 .. 1.1171875
        np.arange(0xBF70, 0xBF80, dtype=np.uint16),                     # ties in many places
        [1.0] + [2.0 ** -k * 1.5 for k in range(1, 16)],                # every shift, 1.5
        [-(2.0 ** 100)] + [2.0 ** (100 - k) * 1.9921875 for k in range(1, 16)],
    ]
    tiles.append(_tile_with_rows(rows))
    # face order: distinct exponent per face row, two values in the first columns of each face
    x = np.zeros((32, 32), np.float32)
    for face, (r0, c0) in enumerate([(0, 0), (0, 16), (16, 0), (16, 16)]):
        for r in range(16):
            x[r0 + r, c0] = 2.0 ** (face * 16 + r - 40)
            x[r0 + r, c0 + 1] = -(2.0 ** (face * 16 + r - 41))
    tiles.append(_bf16(x))
    # every bf16 exponent (0..255) as a face-row maximum somewhere in four tiles, mantissas random
    rng = np.random.default_rng(12345)
    for t in range(4):
        tile = rng.integers(0, 1 << 16, (32, 32)).astype(np.uint16) & 0x80FF
        for fr in range(64):
            row, cols = _face_row_mask(fr)
            E = t * 64 + fr
            tile[row, cols] = (tile[row, cols] & 0x807F) | (
                np.clip(E - rng.integers(0, 10, 16), 0, 255) << 7).astype(np.uint16)
        tiles.append(tile)
    return tiles


def golden_pack(tile, fmt):
    return bfp_pack_tile(tile, fmt, bf16_bits=True)


def golden_unpack(packed, fmt):
    return bfp_unpack_tile_bf16_bits(packed, fmt).astype(np.uint16)


def check_tiles(values, last, lanes, packed_tiles, formats, unpack=golden_unpack):
    """Compare a dequantizer's output with the golden unpacking of every tile.

    ``values`` (uint16, every beat's lanes in order) and ``last`` (one flag per beat) of the
    beats of ``len(packed_tiles)`` tiles, ``lanes`` values per beat; ``unpack(tile, fmt)`` is
    the golden model. Fails on a missing or extra value, a wrong value (naming the first) and
    a ``last`` flag anywhere but on each tile's final beat. Returns the values as
    (tiles, 32, 32).
    """
    n = len(packed_tiles)
    assert values.size == n * 1024, f"dequantizer emitted {values.size} values, expected {n * 1024}"
    values = values.reshape(n, 32, 32)
    per_tile = 1024 // lanes
    for index, (packed, fmt) in enumerate(zip(packed_tiles, formats)):
        want = unpack(packed, fmt)
        bad = np.argwhere(values[index] != want)
        if bad.size:
            r, c = bad[0]
            raise AssertionError(
                f"tile {index} ({fmt}): {len(bad)} values differ, first at row {r} col {c}: "
                f"rtl {int(values[index][r, c]):#06x} golden {int(want[r, c]):#06x}")
        flags = last[index * per_tile:(index + 1) * per_tile]
        assert flags[-1] == 1 and not flags[:-1].any(), f"tile {index}: bad 'last' framing"
    return values


def decode_sweep_tiles(fmt, rng):
    """Packed tiles that hold every (E, code) pair of ``fmt`` once (E = 0..255).

    BFP8: 256 exponents x 256 codes = 64 tiles; BFP4: 256 x 16 = 4 tiles. Pairs are shuffled
    over face rows and positions so that each tile mixes exponents.
    """
    codes_per_e = 256 if fmt == "bfp8" else 16
    pairs = np.array([(e, c) for e in range(256) for c in range(codes_per_e)], np.int64)
    # group into face rows of 16 pairs with one exponent: E-major order keeps a row's E shared
    rows = pairs.reshape(-1, 16, 2)
    order = rng.permutation(len(rows))
    rows = rows[order]
    rows[:, :, 1] = np.array([rng.permutation(r) for r in rows[:, :, 1]])
    tiles = []
    for t in range(0, len(rows), 64):
        chunk = rows[t:t + 64]
        if len(chunk) < 64:
            pad = np.zeros((64 - len(chunk), 16, 2), np.int64)
            chunk = np.concatenate([chunk, pad])
        E = chunk[:, 0, 0].astype(np.uint8)
        codes = chunk[:, :, 1].reshape(-1).astype(np.uint8)
        if fmt == "bfp4":
            codes = (codes[0::2] | (codes[1::2] << 4)).astype(np.uint8)
        tiles.append(E.tobytes() + codes.tobytes())
    return tiles


def tile_formats(config_formats, count, rng=None):
    """Format of each of ``count`` tiles: the fixed one, or (run-time choice) random with a
    generator, else alternating BFP8, BFP4."""
    if len(config_formats) == 1:
        return [config_formats[0]] * count
    if rng is None:
        return [FORMATS[i % 2] for i in range(count)]
    return [FORMATS[int(b)] for b in rng.integers(0, 2, count)]


class Beats:
    """Payload integers of the codec's streams, from the design's sidecar.

    Parameters
    ----------
    design : dict
        The sidecar (``hybridgen.verif.stream.load_design()``).
    prefix : str
        ``"packer_"`` / ``"dequantizer_"`` for the codec top; ``""`` for a unit alone.
    """

    def __init__(self, design):
        config = design["config"]
        self.lanes = config["lanes"]
        self.bus_bytes = config["bus_bytes"]
        self.formats = tuple(design["derived"]["formats"])
        self.runtime = len(self.formats) == 2
        ports = {p["name"]: p for p in design["ports"]}
        self.fields = {name: {f["name"]: f for f in ports[f"{name}__payload"]["fields"]}
                       for name in ("packer_i", "packer_o", "dequantizer_i", "dequantizer_o")}

    def _flag(self, port, name, value):
        field = self.fields[port].get(name)
        return (int(value) << field["offset"]) if field is not None else 0

    def values_in(self, tile, fmt):
        """Payloads of ``packer_i`` for one bf16 tile in format ``fmt``."""
        flat = np.ascontiguousarray(tile, dtype="<u2").reshape(-1, self.lanes)
        flag = self._flag("packer_i", "bfp4", fmt == "bfp4")
        return [int.from_bytes(row.tobytes(), "little") | flag for row in flat]

    def packed_in(self, packed, fmt):
        """Payloads of ``dequantizer_i`` for one packed tile."""
        B = self.bus_bytes
        beats = len(packed) // B
        flag = self._flag("dequantizer_i", "bfp4", fmt == "bfp4")
        last_at = self.fields["dequantizer_i"]["last"]["offset"]
        return [int.from_bytes(packed[k * B:(k + 1) * B], "little") | flag
                | (int(k == beats - 1) << last_at) for k in range(beats)]

    def _split(self, port, payloads, data_bytes):
        fields = self.fields[port]
        mask = (1 << (8 * data_bytes)) - 1
        data = b"".join((w & mask).to_bytes(data_bytes, "little") for w in payloads)
        flags = {name: np.array([(w >> f["offset"]) & 1 for w in payloads], np.uint8)
                 for name, f in fields.items() if name != "data"}
        return data, flags

    def packed_out(self, payloads):
        """(bytes, {"last": ..., "bfp4": ...}) of ``packer_o`` beats."""
        return self._split("packer_o", payloads, self.bus_bytes)

    def values_out(self, payloads):
        """(uint16 values, {"last": ...}) of ``dequantizer_o`` beats."""
        data, flags = self._split("dequantizer_o", payloads, 2 * self.lanes)
        return np.frombuffer(data, "<u2").astype(np.uint16), flags
