"""The outputs of one channel: finished columns from the lanes, then y rows to the write DMA."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from hybridgen.rtl.mem.dma import write_row_layout

from .job import job_layout
from .layouts import BATCH_BITS

__all__ = ["Results"]


class Results(wiring.Component):
    """Collects a group's outputs and writes them as one y row per batch element.

    A group's I columns leave the lanes on consecutive ``capture`` pulses (column j of the group
    on the j-th); ``lanes[b]`` is batch element b's result. The channel's q-th group is global
    group ``q * channels + channel``, columns ``n0 = that * I`` onwards; its row for batch
    element b is ``2 * min(I, n - n0)`` bytes at ``y_addr + b * ldy + 2 * n0``.

    ``room`` is high while the queue of finished groups (depth 2) can take one more, so a
    group completed in an enabled cycle always has a place.

    Members
    -------
    start : In(1), job : In(job_layout)
    capture : In(1)
    lanes : In(ArrayLayout(16, max_batch))
    room : Out(1)
    o : Out(stream)   rows for :class:`hybridgen.rtl.mem.dma.WriteDma`
    idle : Out(1)     no finished group waiting or being written
    """

    def __init__(self, geometry, channel):
        self._g, self._channel = geometry, channel
        self.row_bytes = 2 * geometry.interleave
        super().__init__({
            "start": In(1), "job": In(job_layout(geometry)),
            "capture": In(1), "lanes": In(data.ArrayLayout(16, geometry.max_batch)),
            "room": Out(1),
            "o": Out(stream.Signature(write_row_layout(geometry.addr_bits, self.row_bytes))),
            "idle": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        g, job = self._g, self.job
        I, B = g.interleave, g.max_batch
        group = data.ArrayLayout(data.ArrayLayout(16, I), B)  # [batch][column]
        held = Signal(group)
        slot = Signal(range(I))
        m.submodules.queue = queue = fifo.SyncFIFOBuffered(width=group.size, depth=2)
        complete = Signal(group)
        m.d.comb += complete.eq(held)
        for b in range(B):
            m.d.comb += complete[b][I - 1].eq(self.lanes[b])
        with m.If(self.capture):
            for b in range(B):
                m.d.sync += held[b][slot].eq(self.lanes[b])
            m.d.sync += slot.eq(slot + 1)
            with m.If(slot == I - 1):
                m.d.comb += queue.w_en.eq(1)
        m.d.comb += [queue.w_data.eq(complete), self.room.eq(queue.level < 2)]

        # the write side: one row per batch element of the head group
        head = data.View(group, queue.r_data)
        n0 = Signal(job.n.shape())
        b = Signal(BATCH_BITS)
        addr = Signal(g.addr_bits)
        row_start = Signal(g.addr_bits)
        with m.If(self.start):
            m.d.sync += [n0.eq(self._channel * I), b.eq(0), slot.eq(0),
                         addr.eq(job.y_addr + 2 * self._channel * I),
                         row_start.eq(job.y_addr + 2 * self._channel * I)]
        cols = job.n - n0
        m.d.comb += [self.o.valid.eq(queue.r_rdy), self.o.payload.addr.eq(addr),
                     self.o.payload.nbytes.eq(2 * Mux(cols < I, cols, I)),
                     self.o.payload.data.eq(head[b])]
        with m.If(self.o.valid & self.o.ready):
            with m.If(b == job.batch - 1):
                step = 2 * g.channels * I
                m.d.comb += queue.r_en.eq(1)
                m.d.sync += [b.eq(0), n0.eq(n0 + g.channels * I), addr.eq(row_start + step),
                             row_start.eq(row_start + step)]
            with m.Else():
                m.d.sync += [b.eq(b + 1), addr.eq(addr + job.ldy)]
        m.d.comb += self.idle.eq(~queue.r_rdy)
        return m
