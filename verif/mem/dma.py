"""The row DMA on its own: a test top around :class:`~hybridgen.rtl.mem.dma.ReadDma` and
:class:`~hybridgen.rtl.mem.dma.WriteDma`, and a Python model of their contract.

:func:`dma_design` builds ``DmaPair``: both DMAs sharing one AXI4 master port ``m_axi`` (reads on
AR/R, writes on AW/W/B, as in the GEMM engine), with their streams (``req``, ``o``, ``i``), the
byte counters and ``idle`` as top-level ports. Its sidecar carries the parameters under ``"dma"``.

The model (:func:`row_chunks`, :func:`row_bursts`) is what the testbench
(:mod:`hybridgen.verif.mem.tb_dma`) checks the hardware against, beat by beat.
"""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hybridgen.gen.elaborate import design_from_component
from hybridgen.rtl.mem.axi import BOUNDARY_BYTES, MAX_BURST_BEATS, axi_signature
from hybridgen.rtl.mem.dma import ReadDma, WriteDma

__all__ = ["DmaPair", "dma_design", "row_chunks", "row_bursts"]


class DmaPair(wiring.Component):
    """A :class:`ReadDma` and a :class:`WriteDma` on one AXI4 master port.

    Parameters
    ----------
    addr_bits, bus_bytes, outstanding :
        As for both DMAs.
    chunk_bytes :
        The reader's chunk size per kind.
    row_bytes :
        The writer's row width.

    Members
    -------
    req, o, read_bytes :
        The reader's ports.
    i, idle, written_bytes :
        The writer's ports.
    clear : In(1)
        Clears both byte counters.
    m_axi : Out(axi_signature)
    """

    def __init__(self, *, addr_bits=32, bus_bytes, chunk_bytes, outstanding, row_bytes):
        self._reader = ReadDma(addr_bits=addr_bits, bus_bytes=bus_bytes,
                               chunk_bytes=chunk_bytes, outstanding=outstanding)
        self._writer = WriteDma(addr_bits=addr_bits, bus_bytes=bus_bytes, row_bytes=row_bytes,
                                outstanding=outstanding)
        reader, writer = self._reader.signature.members, self._writer.signature.members
        super().__init__({
            "req": reader["req"], "o": reader["o"], "read_bytes": reader["read_bytes"],
            "i": writer["i"], "idle": writer["idle"], "written_bytes": writer["written_bytes"],
            "clear": In(1), "m_axi": Out(axi_signature(addr_bits, 8 * bus_bytes)),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.reader = reader = self._reader
        m.submodules.writer = writer = self._writer
        wiring.connect(m, wiring.flipped(self.req), reader.req)
        wiring.connect(m, reader.o, wiring.flipped(self.o))
        wiring.connect(m, wiring.flipped(self.i), writer.i)
        m.d.comb += [self.read_bytes.eq(reader.read_bytes), self.idle.eq(writer.idle),
                     self.written_bytes.eq(writer.written_bytes),
                     reader.clear.eq(self.clear), writer.clear.eq(self.clear)]
        for name, member in self.m_axi.signature.members.items():
            side = reader.axi if name.startswith(("ar", "r")) else writer.axi
            port = getattr(self.m_axi, name)
            if member.flow == Out:
                m.d.comb += port.eq(getattr(side, name))
            else:
                m.d.comb += getattr(side, name).eq(port)
        return m


def dma_design(*, bus_bytes, chunk_bytes, outstanding, row_bytes, addr_bits=32):
    """A :class:`~hybridgen.gen.elaborate.Design` of :class:`DmaPair` with these parameters
    (top ``dma_b<bus bits>_c<chunks>_o<outstanding>_w<row bytes>``)."""
    chunk_bytes = tuple(chunk_bytes)
    params = dict(addr_bits=addr_bits, bus_bytes=bus_bytes, chunk_bytes=list(chunk_bytes),
                  outstanding=outstanding, row_bytes=row_bytes)
    top = (f"dma_b{8 * bus_bytes}_c{'_'.join(map(str, chunk_bytes))}_o{outstanding}"
           f"_w{row_bytes}")
    component = DmaPair(addr_bits=addr_bits, bus_bytes=bus_bytes, chunk_bytes=chunk_bytes,
                        outstanding=outstanding, row_bytes=row_bytes)
    return design_from_component(component, top, info={"block": "mem-dma", "dma": params})


def row_chunks(memory, addr, nbytes, chunk):
    """The chunks :class:`ReadDma` delivers for the row ``[addr, addr + nbytes)`` of
    ``memory`` (bytes-like) with chunk size ``chunk``: ``ceil(nbytes / chunk)`` byte strings
    of ``chunk`` bytes each, the last one zero-padded past the row's end."""
    row = bytes(memory[addr:addr + nbytes])
    assert len(row) == nbytes, "row outside the memory"
    return [row[start:start + chunk].ljust(chunk, b"\0") for start in range(0, nbytes, chunk)]


def row_bursts(addr, nbytes, bus_bytes):
    """The AXI bursts ``[(address, beats)]`` of a row: its bus-aligned cover
    ``[addr - addr % bus, ceil((addr + nbytes) / bus) * bus)`` cut into INCR bursts of at most
    256 beats that never cross a 4 KB boundary (each burst as long as those rules allow)."""
    start = addr - addr % bus_bytes
    end = -(-(addr + nbytes) // bus_bytes) * bus_bytes
    bursts = []
    while start < end:
        stop = min(end, start + MAX_BURST_BEATS * bus_bytes,
                   (start // BOUNDARY_BYTES + 1) * BOUNDARY_BYTES)
        bursts.append((start, (stop - start) // bus_bytes))
        start = stop
    return bursts
