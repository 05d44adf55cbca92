"""Stream payload layouts of the KV codec (shared by the units, the top and the testbenches).

Value side (bf16, row-major 32x32 tiles, ``lanes`` values per beat; value ``k`` of a beat at
bits ``16k..16k+15`` of ``data``, i.e. the lower column in the lower bits):

* :func:`values_in_layout` - packer input: ``data`` (+ ``bfp4`` when the format is chosen at run
  time: 1 selects BFP4_b for the tile; the value on a tile's first beat applies to the tile).
* :func:`values_out_layout` - dequantizer output: ``data``, ``last`` (the tile's final beat).

Packed side (``bus_bytes`` bytes per beat; byte ``k`` of the beat at bits ``8k..8k+7``):

* :func:`packed_layout` - ``data``, ``last`` (final beat of a tile) (+ ``bfp4``, constant over a
  tile, when the format is chosen at run time). A tile is exactly
  ``tile bytes / bus_bytes`` beats (1088 = 17 * 64 and 576 = 9 * 64, and ``bus_bytes`` is a
  power of two <= 64), so every beat is full and a tile always starts on a new beat: the
  framing of an AXI4-Stream link with ``TLAST`` per tile and no ``TKEEP``.
  With bf16 pass-through configured (dequantizer only) the field ``bf16``, constant over a
  tile, selects it (``bfp4`` is then ignored); a bf16 tile is its 1024 values row-major, two
  bytes each, little-endian: ``2048 / bus_bytes`` beats.
"""

from amaranth.hdl import unsigned
from amaranth.lib import data

__all__ = ["values_in_layout", "values_out_layout", "packed_layout", "format_of"]


def values_in_layout(geometry):
    fields = {"data": data.ArrayLayout(unsigned(16), geometry.lanes)}
    if geometry.runtime_format:
        fields["bfp4"] = unsigned(1)
    return data.StructLayout(fields)


def values_out_layout(geometry):
    return data.StructLayout({"data": data.ArrayLayout(unsigned(16), geometry.lanes),
                              "last": unsigned(1)})


def packed_layout(geometry):
    fields = {"data": data.ArrayLayout(unsigned(8), geometry.bus_bytes), "last": unsigned(1)}
    if geometry.runtime_format:
        fields["bfp4"] = unsigned(1)
    if geometry.runtime_bf16:
        fields["bf16"] = unsigned(1)
    return data.StructLayout(fields)


def format_of(geometry, bfp4):
    """``bfp4`` (a 1-bit Value) when the BFP format is chosen at run time, else a Python
    bool."""
    if geometry.runtime_format:
        return bfp4
    return geometry.bfp_formats == ("bfp4",)
