"""Agent 2: the fills (read DMA chunks into the scratchpad and the weight buffer)."""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..layouts import DIM_BITS
from .job import Cursor, dims_of, job_signature, kstep_of, min_of
from .memories import spad_addr_bits, spad_write_signature, sram_write_signature
from .requests import KIND_A, KIND_B
from .tokens import fills_tokens

__all__ = ["Fills", "chunk_layout"]


def chunk_layout(geometry):
    """A chunk of the read DMA (:class:`hybridgen.rtl.mem.dma.ReadDma` ``o``): one scratchpad
    line (A) or one row of B, in ``data``'s low bytes."""
    g = geometry
    return data.StructLayout({"data": 8 * max(g.line_bytes, g.cols * g.element_bytes),
                              "kind": 1, "last": 1})


class Fills(wiring.Component):
    """A chunks (one scratchpad line each) go to line ``l * mb + i`` of row i of the M block,
    in the scratchpad buffer of the block's parity (every bank of the buffer, one chunk of
    ``rows`` values each); B chunks (one row of B each) go to word ``row`` of the weight slot
    of the job's parity. Always ready.

    Members
    -------
    job : In(job_signature)
    i : In(stream.Signature(chunk_layout))
        From the read DMA.
    spad : Out(spad_write_signature)
    wbuf : Out(sram_write_signature)
    tokens : Out(fills_tokens)
        ``rows_inc`` after a row's last line, ``slot_fill`` after a slot's last B row.
    row_done : Out(1)
        Pulse: a whole row of A reached the scratchpad.
    slot_rows : Out(DIM_BITS + 1).array(2)
        B rows in each weight slot (of its last fill).
    """

    def __init__(self, geometry):
        self._g = g = geometry
        spad_abits = spad_addr_bits(g)
        super().__init__({
            "job": In(job_signature(g)),
            "i": In(stream.Signature(chunk_layout(g))),
            "spad": Out(spad_write_signature(g)),
            "wbuf": Out(sram_write_signature(g.slot_bits + 1, g.wbuf_width)),
            "tokens": Out(fills_tokens()),
            "row_done": Out(1),
            "slot_rows": Out(DIM_BITS + 1).array(2),
        })
        self._spad_abits = spad_abits

    def elaborate(self, platform):
        m = Module()
        g = self._g
        C, acc_rows, spad_lines = g.cols, g.acc_rows, g.spad_lines
        job, chunk, tk = self.job, self.i, self.tokens
        d, mb, start, lines_per_row = job.descriptor, job.mb, job.start, job.lines_per_row
        m.d.comb += chunk.ready.eq(1)
        fill_b = Cursor("fill_b", dims_of(d, mb), kstep_of(g, job), C)
        wb_row = Signal(DIM_BITS + 1)           # row of B within the job (a word of its slot)
        fill_a_left = Signal(DIM_BITS + 1)
        fill_a_row = Signal(range(acc_rows + 1))
        fill_a_addr = Signal(range(spad_lines + 1))  # line l of row i: l * mb + i
        fill_line = Signal(DIM_BITS + 1)
        fill_a_parity = Signal()
        fill_a_rows = min_of(fill_a_left, mb)
        is_a = chunk.valid & (chunk.payload.kind == KIND_A)
        is_b = chunk.valid & (chunk.payload.kind == KIND_B)
        with m.If(start):
            m.d.sync += fill_b.reset() + [wb_row.eq(0), fill_a_left.eq(d.m), fill_a_row.eq(0),
                                          fill_a_addr.eq(0), fill_a_parity.eq(0),
                                          fill_line.eq(0)]
        m.d.comb += self.row_done.eq(is_a & (fill_line == lines_per_row - 1))
        # chunks of a line beyond K are zeros and never read
        m.d.comb += [self.spad.addr.eq(fill_a_addr),
                     self.spad.data.eq(chunk.payload.data[:g.line_bytes * 8])]
        for i in range(2):
            m.d.comb += self.spad.en[i].eq(is_a & (fill_a_parity == i))
        wb_word = Signal(g.slot_bits)
        m.d.comb += wb_word.eq(wb_row)
        m.d.comb += [self.wbuf.addr.eq(Cat(wb_word, fill_b.parity)),
                     self.wbuf.data.eq(chunk.payload.data), self.wbuf.en.eq(is_b)]
        with m.If(is_a):
            with m.If(fill_line == lines_per_row - 1):
                m.d.sync += fill_line.eq(0)
                m.d.comb += tk.rows_inc.bit_select(fill_a_parity, 1).eq(1)
                with m.If(fill_a_row == fill_a_rows - 1):
                    m.d.sync += [fill_a_row.eq(0), fill_a_addr.eq(0),
                                 fill_a_parity.eq(~fill_a_parity),
                                 fill_a_left.eq(fill_a_left - fill_a_rows)]
                with m.Else():
                    m.d.sync += [fill_a_row.eq(fill_a_row + 1), fill_a_addr.eq(fill_a_row + 1)]
            with m.Else():
                m.d.sync += [fill_a_addr.eq(fill_a_addr + mb), fill_line.eq(fill_line + 1)]
        with m.If(is_b):
            with m.If(wb_row == fill_b.kvalid - 1):
                m.d.sync += wb_row.eq(0)
                m.d.comb += tk.slot_fill.bit_select(fill_b.parity, 1).eq(1)
                for i in range(2):
                    with m.If(fill_b.parity == i):
                        m.d.sync += self.slot_rows[i].eq(fill_b.kvalid)
                fill_b.step(m)
            with m.Else():
                m.d.sync += wb_row.eq(wb_row + 1)
        return m
