"""The KV codec top: packer and dequantizer side by side, every stream a top-level port.

One generated design serves the prefill side (``packer_*``), the decode side
(``dequantizer_*``) and the loop through both (a testbench or a link model carries the packed
beats from ``packer_o`` to ``dequantizer_i``), so one simulator build covers all three.
"""

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .bfp import TileGeometry
from .dequantizer import BfpDequantizer
from .layouts import packed_layout, values_in_layout, values_out_layout
from .packer import BfpPacker

__all__ = ["KvCodec"]


class KvCodec(wiring.Component):
    """:class:`~hybridgen.rtl.kv.packer.BfpPacker` and :class:`~hybridgen.rtl.kv.dequantizer.BfpDequantizer` of one
    geometry, with independent streams.

    Parameters
    ----------
    geometry : TileGeometry

    Members
    -------
    packer_i : In(stream.Signature(values_in_layout))
        bf16 tiles to pack.
    packer_o : Out(stream.Signature(packed_layout))
        Packed tiles.
    dequantizer_i : In(stream.Signature(packed_layout))
        Packed tiles to dequantize.
    dequantizer_o : Out(stream.Signature(values_out_layout))
        bf16 tiles.
    """

    def __init__(self, geometry):
        if not isinstance(geometry, TileGeometry):
            raise TypeError(f"geometry must be a TileGeometry, not {geometry!r}")
        self._geometry = geometry
        super().__init__({
            "packer_i": In(stream.Signature(values_in_layout(geometry))),
            "packer_o": Out(stream.Signature(packed_layout(geometry))),
            "dequantizer_i": In(stream.Signature(packed_layout(geometry))),
            "dequantizer_o": Out(stream.Signature(values_out_layout(geometry))),
        })

    @property
    def geometry(self):
        return self._geometry

    @property
    def packer_latency(self):
        return BfpPacker(self._geometry).latency

    @property
    def dequantizer_latency(self):
        return BfpDequantizer(self._geometry).latency

    def elaborate(self, platform):
        m = Module()
        m.submodules.packer = packer = BfpPacker(self._geometry)
        m.submodules.dequantizer = dequantizer = BfpDequantizer(self._geometry)
        wiring.connect(m, top=wiring.flipped(self.packer_i), packer=packer.i)
        wiring.connect(m, packer=packer.o, top=wiring.flipped(self.packer_o))
        wiring.connect(m, top=wiring.flipped(self.dequantizer_i), dequantizer=dequantizer.i)
        wiring.connect(m, dequantizer=dequantizer.o, top=wiring.flipped(self.dequantizer_o))
        return m
