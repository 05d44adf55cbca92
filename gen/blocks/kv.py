"""Configuration of the KV-cache codec (HMA-Serve): BFP8_b / BFP4_b packer and dequantizer."""

from dataclasses import dataclass

from ..config import Config, param

__all__ = ["KvConfig"]

_TILE_BYTES = {"bfp8": 1088, "bfp4": 576, "bf16": 2048}
_LANES = (2, 4, 8, 16, 32, 64, 128)


@dataclass(frozen=True)
class KvConfig(Config):
    """BF16 <-> block floating point KV-cache codec (docs/bfp.md), ``rtl/kv``.

    ``lanes`` bf16 values per beat on the value side, ``bus_bytes`` bytes per beat on the packed
    side (a power of two <= 64, so a packed tile is a whole number of beats: 1088 = 17 * 64,
    576 = 9 * 64). ``format = "both"`` makes the format a per-tile run-time choice (``bfp4``
    payload bit); ``"bfp8"`` / ``"bfp4"`` hard-wire it. ``unit`` picks the top: ``codec`` (packer
    and dequantizer, streams ``packer_i/o`` and ``dequantizer_i/o``), or one unit alone
    (streams ``i``/``o``).

    Each unit sustains ``lanes`` values per cycle when ``bus_bytes * 1024 >= lanes * tile
    bytes`` (``bus_bytes >= 1.0625 * lanes`` for BFP8), else the packed bus is the limit:
    ``peak_values_per_cycle`` gives the figure per format.

    The dequantizer alone (``unit = "dequantizer"``) also takes 64 or 128 lanes (two or four
    tile rows per beat; ``bus_bytes >= lanes / 16``), the decode read path's width, and with
    ``bf16 = true`` passes bf16 tiles (the third KV format, 2048 bytes, chosen per tile by the
    ``bf16`` payload bit) through unchanged (``2 * lanes >= bus_bytes``).
    """

    block = "kv"
    derived = ("formats", "value_beats_per_tile", "packed_beats_per_tile",
               "peak_values_per_cycle", "bytes_per_value", "compression_vs_bf16",
               "packer_latency", "dequantizer_latency", "buffer_word_bytes",
               "buffer_bits_per_unit")

    lanes: int = param(16, doc="bf16 values per beat on the value side (a power of two, "
                                   "2..32; up to 128 for the dequantizer alone)", min=2, max=128)
    bus_bytes: int = param(32, doc="bytes per beat on the packed side", min=1, max=64,
                           power_of_two=True)
    format: str = param("both", doc="block floating point format (both: chosen per tile)",
                        choices=("bfp8", "bfp4", "both"))
    unit: str = param("codec", doc="top component", choices=("codec", "packer", "dequantizer"))
    bf16: bool = param(False, doc="bf16 pass-through tiles as well, chosen per tile "
                                  "(dequantizer only)")

    def check(self):
        from hybridgen.gen.errors import ConfigError
        top = 128 if self.unit == "dequantizer" else 32
        if self.lanes not in _LANES or self.lanes > top:
            raise ConfigError("lanes", f"must be a power of two in 2..{top}, not {self.lanes!r}")
        if self.lanes > 32 and self.bus_bytes < self.lanes // 16:
            raise ConfigError("bus_bytes", f"must be at least lanes / 16 = {self.lanes // 16} "
                                           f"with {self.lanes} lanes, not {self.bus_bytes!r}")
        if self.bf16 and self.unit != "dequantizer":
            raise ConfigError("bf16", f"bf16 pass-through needs unit = 'dequantizer', not "
                                      f"{self.unit!r}")
        if self.bf16 and 2 * self.lanes < self.bus_bytes:
            raise ConfigError("bf16", f"bf16 pass-through needs 2 * lanes >= bus_bytes, not "
                                      f"lanes {self.lanes} with bus_bytes {self.bus_bytes}")

    def geometry(self):
        from hybridgen.rtl.kv import TileGeometry
        return TileGeometry(lanes=self.lanes, bus_bytes=self.bus_bytes, formats=self.formats)

    def build(self, library):
        """``hybridgen.rtl.kv.KvCodec`` (unit = codec), ``BfpPacker`` or ``BfpDequantizer``."""
        from hybridgen.rtl.kv import BfpDequantizer, BfpPacker, KvCodec
        top = {"codec": KvCodec, "packer": BfpPacker, "dequantizer": BfpDequantizer}[self.unit]
        return top(self.geometry())

    @property
    def formats(self):
        bfp = ("bfp8", "bfp4") if self.format == "both" else (self.format,)
        return bfp + (("bf16",) if self.bf16 else ())

    @property
    def value_beats_per_tile(self):
        return 1024 // self.lanes

    @property
    def packed_beats_per_tile(self):
        return {f: _TILE_BYTES[f] // self.bus_bytes for f in self.formats}

    @property
    def peak_values_per_cycle(self):
        """Per format: ``min(lanes, bus_bytes * 1024 / tile bytes)``."""
        return {f: round(min(self.lanes, self.bus_bytes * 1024 / _TILE_BYTES[f]), 6)
                for f in self.formats}

    @property
    def bytes_per_value(self):
        return {f: _TILE_BYTES[f] / 1024 for f in self.formats}

    @property
    def compression_vs_bf16(self):
        return {f: round(2 * 1024 / _TILE_BYTES[f], 6) for f in self.formats}

    @property
    def packer_latency(self):
        from hybridgen.rtl.kv.packer import packer_latency
        return packer_latency(self.geometry())

    @property
    def dequantizer_latency(self):
        from hybridgen.rtl.kv.dequantizer import dequantizer_latency
        return dequantizer_latency(self.geometry())

    @property
    def buffer_word_bytes(self):
        return self.geometry().word_bytes

    @property
    def buffer_bits_per_unit(self):
        """Bits of tile storage per unit: two data banks and two exponent banks (memories), each
        holding two tiles (double buffering)."""
        return 2 * 2 * 512 * 8 + 2 * 64 * 8
