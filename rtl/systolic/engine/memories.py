"""The engine's memories: scratchpad, accumulator and weight buffer (:class:`.sram.Sram`), and
the port signatures the agents access them by (from the agent's side)."""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hybridgen.rtl.mem.widths import address_bits

from ..pe import ACC_WIDTH
from ..sram import Sram

__all__ = ["EngineMemories", "sram_write_signature", "sram_read_signature",
           "spad_write_signature", "spad_read_signature", "acc_write_signature",
           "acc_read_signature", "spad_addr_bits", "acc_addr_bits"]


def spad_addr_bits(geometry):
    return address_bits(geometry.spad_lines)


def acc_addr_bits(geometry):
    return address_bits(geometry.acc_rows)


def sram_write_signature(addr_bits, width):
    """One write port: ``data`` is written at ``addr`` when ``en``."""
    return wiring.Signature({"addr": Out(addr_bits), "data": Out(width), "en": Out(1)})


def sram_read_signature(addr_bits, width):
    """One read port: ``data`` is the word at ``addr`` one cycle earlier (before a write in
    that cycle)."""
    return wiring.Signature({"addr": Out(addr_bits), "data": In(width)})


def spad_write_signature(geometry):
    """One scratchpad line (``line_chunks`` chunks, chunk j into bank j) at line ``addr`` of
    buffer i when ``en[i]``."""
    g = geometry
    return wiring.Signature({"addr": Out(spad_addr_bits(g)), "data": Out(8 * g.line_bytes),
                             "en": Out(2)})


def spad_read_signature(geometry):
    """Line ``addr`` of every bank: ``data[i][j]`` is chunk j of buffer i (one cycle later)."""
    g = geometry
    return wiring.Signature({"addr": Out(spad_addr_bits(g)),
                             "data": In(g.chunk_bits).array(2, g.line_chunks)})


def acc_write_signature(geometry):
    """Accumulator row ``addr`` of bank i when ``en[i]``."""
    g = geometry
    return wiring.Signature({"addr": Out(acc_addr_bits(g)), "data": Out(g.cols * ACC_WIDTH),
                             "en": Out(2)})


def acc_read_signature(geometry):
    """Row ``addr`` of both accumulator banks: ``data[i]`` of bank i (one cycle later)."""
    g = geometry
    return wiring.Signature({"addr": Out(acc_addr_bits(g)),
                             "data": In(g.cols * ACC_WIDTH).array(2)})


class EngineMemories(wiring.Component):
    """Scratchpad: two buffers (M block parity) x ``line_chunks`` banks of ``spad_lines``
    chunks; accumulator: two banks (N tile parity) of ``acc_rows`` rows of C, with a
    read-modify-write and a write-back read port; weight buffer: two slots of ``slot_words``
    rows of B (``wbuf_depth`` words).

    Members
    -------
    spad_w : In(spad_write_signature)      spad_r : In(spad_read_signature)
    acc_w : In(acc_write_signature)        acc_rmw, acc_wb : In(acc_read_signature)
    wbuf_w : In(sram_write_signature)      wbuf_r : In(sram_read_signature)
    """

    def __init__(self, library, geometry):
        self._g, self._library = geometry, library
        g = geometry
        wbuf_bits = g.slot_bits + 1
        super().__init__({
            "spad_w": In(spad_write_signature(g)), "spad_r": In(spad_read_signature(g)),
            "acc_w": In(acc_write_signature(g)), "acc_rmw": In(acc_read_signature(g)),
            "acc_wb": In(acc_read_signature(g)),
            "wbuf_w": In(sram_write_signature(wbuf_bits, g.wbuf_width)),
            "wbuf_r": In(sram_read_signature(wbuf_bits, g.wbuf_width)),
        })

    def elaborate(self, platform):
        m = Module()
        g, library = self._g, self._library
        R, es, q, chunk_bits = g.rows, g.element_bytes, g.line_chunks, g.chunk_bits
        for i in range(2):
            for j in range(q):
                mem = Sram(m, library, f"spad{i}_{j}", width=8 * R * es, depth=g.spad_lines)
                m.d.comb += [mem.write.addr.eq(self.spad_w.addr),
                             mem.write.data.eq(self.spad_w.data[j * chunk_bits:
                                                                (j + 1) * chunk_bits]),
                             mem.write.en.eq(self.spad_w.en[i]),
                             mem.reads[0].addr.eq(self.spad_r.addr),
                             self.spad_r.data[i][j].eq(mem.reads[0].data)]
        for i in range(2):
            mem = Sram(m, library, f"acc{i}", width=g.cols * ACC_WIDTH, depth=g.acc_rows,
                       reads=2)
            m.d.comb += [mem.write.addr.eq(self.acc_w.addr), mem.write.data.eq(self.acc_w.data),
                         mem.write.en.eq(self.acc_w.en[i]),
                         mem.reads[0].addr.eq(self.acc_rmw.addr),
                         self.acc_rmw.data[i].eq(mem.reads[0].data),
                         mem.reads[1].addr.eq(self.acc_wb.addr),
                         self.acc_wb.data[i].eq(mem.reads[1].data)]
        wbuf = Sram(m, library, "wbuf", width=g.wbuf_width, depth=g.wbuf_depth)
        m.d.comb += [wbuf.write.addr.eq(self.wbuf_w.addr), wbuf.write.data.eq(self.wbuf_w.data),
                     wbuf.write.en.eq(self.wbuf_w.en), wbuf.reads[0].addr.eq(self.wbuf_r.addr),
                     self.wbuf_r.data.eq(wbuf.reads[0].data)]
        return m
