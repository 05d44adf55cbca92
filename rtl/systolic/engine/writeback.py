"""Agent 6: write-back (accumulator bank -> the write DMA)."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from hybridgen.rtl.mem.dma import ROW_BYTES_BITS

from .job import Cursor, dims_of, job_signature, kstep_of
from .memories import acc_read_signature
from .tokens import writeback_tokens

__all__ = ["WriteBack", "row_write_layout", "QUEUE_DEPTH"]

#: Rows read from the accumulator ahead of the write DMA (the queue holds them).
QUEUE_DEPTH = 4


def row_write_layout(geometry):
    """A row of C for :class:`hybridgen.rtl.mem.dma.WriteDma`: byte address, byte count, the
    row's ``cols`` results."""
    g = geometry
    return data.StructLayout({"addr": g.addr_bits, "nbytes": ROW_BYTES_BITS,
                              "data": 8 * g.c_row_bytes})


class WriteBack(wiring.Component):
    """Reads the final rows of an N tile out of its accumulator bank (row by row, as they
    become final) and queues them as C rows for the write DMA; after the tile's last row the
    bank is free again. WS rows become final in order (``final_rows``); OS results of a job
    arrive in any order, so OS rows are written up to the last job whose results are all in
    (``os_final``).

    Members
    -------
    job : In(job_signature)
    acc : Out(acc_read_signature)          the accumulator's write-back read port
    o : Out(stream.Signature(row_write_layout))   to the write DMA
    tokens : Out(writeback_tokens)         ``acc_release`` after an N tile's last row
    writer_idle : In(1)                    the write DMA is idle
    finishing : Out(1)                     every row written and acknowledged
    """

    def __init__(self, geometry):
        self._g = g = geometry
        super().__init__({
            "job": In(job_signature(g)), "acc": Out(acc_read_signature(g)),
            "o": Out(stream.Signature(row_write_layout(g))),
            "tokens": Out(writeback_tokens(g.acc_rows)),
            "writer_idle": In(1), "finishing": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        g = self._g
        C, acc_rows, addr_bits = g.cols, g.acc_rows, g.addr_bits
        job, tk = self.job, self.tokens
        d, mb, start, running, os_mode = (job.descriptor, job.mb, job.start, job.running,
                                          job.os_mode)
        wb = Cursor("wb", dims_of(d, mb), kstep_of(g, job), C)
        wb_row_i = Signal(range(acc_rows + 1))
        wb_blk = Signal(addr_bits)        # address of C row m0
        wb_noff = Signal(addr_bits)       # byte offset of column n0
        wb_ptr = Signal(addr_bits)        # address of C row m0 + i
        layout = row_write_layout(g)
        m.submodules.out_queue = queue = fifo.SyncFIFO(width=layout.size, depth=QUEUE_DEPTH)
        in_flight = Signal()
        final = Mux(wb.n_parity, tk.final_rows[1], tk.final_rows[0])
        os_rows = Mux(wb.n_parity, tk.os_final[1], tk.os_final[0])
        rows_final = Mux(os_mode, os_rows, final) > wb_row_i
        wb_ready = running & ~wb.done & rows_final
        read_now = wb_ready & (queue.level + in_flight < QUEUE_DEPTH - 1)
        m.d.comb += self.acc.addr.eq(wb_row_i)
        with m.If(start):
            m.d.sync += wb.reset() + [wb_row_i.eq(0), wb_blk.eq(d.c_addr), wb_noff.eq(0),
                                      wb_ptr.eq(d.c_addr), in_flight.eq(0)]
        row = Signal(layout)      # the row read this cycle (its data arrives next cycle)
        bank_r = Signal()
        m.d.sync += [in_flight.eq(read_now), row.addr.eq(wb_ptr + wb_noff),
                     row.nbytes.eq(wb.nvalid * 4), bank_r.eq(wb.n_parity)]
        entry = Signal(layout)
        m.d.comb += [entry.addr.eq(row.addr), entry.nbytes.eq(row.nbytes),
                     entry.data.eq(Mux(bank_r, self.acc.data[1], self.acc.data[0])),
                     queue.w_en.eq(in_flight), queue.w_data.eq(entry)]
        with m.If(read_now):
            m.d.sync += wb_ptr.eq(wb_ptr + d.ldc)
            with m.If(wb_row_i == wb.rows - 1):
                m.d.sync += wb_row_i.eq(0)
                m.d.comb += tk.acc_release.bit_select(wb.n_parity, 1).eq(1)
                # skip the K tiles: this cursor moves by N tiles
                m.d.sync += wb.k_left.eq(d.k)
                m.d.sync += wb.n_parity.eq(~wb.n_parity)
                with m.If(~wb.last_n):
                    m.d.sync += [wb.n_left.eq(wb.n_left - C), wb_noff.eq(wb_noff + C * 4),
                                 wb_ptr.eq(wb_blk)]
                with m.Else():
                    next_blk = wb_ptr + d.ldc
                    m.d.sync += [wb.n_left.eq(d.n), wb_noff.eq(0), wb_blk.eq(next_blk),
                                 wb_ptr.eq(next_blk)]
                    with m.If(~wb.last_m):
                        m.d.sync += wb.m_left.eq(wb.m_left - mb)
                    with m.Else():
                        m.d.sync += wb.done.eq(1)
            with m.Else():
                m.d.sync += wb_row_i.eq(wb_row_i + 1)
        m.d.comb += self.finishing.eq(wb.done & ~in_flight & ~queue.r_rdy & self.writer_idle)
        m.d.comb += [self.o.valid.eq(queue.r_rdy), self.o.payload.eq(queue.r_data),
                     queue.r_en.eq(self.o.ready)]
        return m
