"""The activation buffer: x of every batch element, read by every channel."""

from amaranth.hdl import Module, Signal
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .channel import x_word_layout
from .job import job_layout
from .layouts import BATCH_BITS, DIM_BITS

__all__ = ["XBuffer"]


class XBuffer(wiring.Component):
    """``x_depth`` words of :func:`x_word_layout` (word c: chunk c of every row of x), one
    synchronous read port per channel.

    On ``start`` it expects ``batch`` rows of ``KC`` chunks on ``i`` (row by row; the DMA pads
    a row's last chunk with zeros, so x is +0 past k); ``ready`` rises once all are written
    and stays until the next ``start``.

    Members
    -------
    start : In(1), job : In(job_layout)
    i : In(stream)      chunks of x (V bf16 values), always accepted
    ready : Out(1)
    read : In({addr, en}).array(channels); data : Out(x_word_layout).array(channels)
    """

    def __init__(self, geometry):
        self._g = g = geometry
        addr_bits = max(1, ceil_log2(g.x_depth))
        super().__init__({
            "start": In(1), "job": In(job_layout(g)),
            "i": In(stream.Signature(data.ArrayLayout(16, g.values))),
            "ready": Out(1),
            "addr": In(addr_bits).array(g.channels), "en": In(1).array(g.channels),
            "data": Out(x_word_layout(g)).array(g.channels),
        })

    def elaborate(self, platform):
        m = Module()
        g, job = self._g, self.job
        word = x_word_layout(g)
        m.submodules.mem = mem = memory.Memory(
            shape=data.ArrayLayout(16 * g.values, g.max_batch), depth=g.x_depth, init=[])
        write = mem.write_port(granularity=1)
        row = Signal(BATCH_BITS)
        chunk = Signal(DIM_BITS)
        pending = Signal()
        m.d.comb += [self.i.ready.eq(1), write.addr.eq(chunk)]
        for b in range(g.max_batch):
            m.d.comb += [write.data[b].eq(self.i.payload),
                         write.en[b].eq(self.i.valid & (row == b))]
        with m.If(self.i.valid):
            with m.If(chunk == job.chunks - 1):
                m.d.sync += [chunk.eq(0), row.eq(row + 1)]
                with m.If(row == job.batch - 1):
                    m.d.sync += pending.eq(0)
            with m.Else():
                m.d.sync += chunk.eq(chunk + 1)
        with m.If(self.start):
            m.d.sync += [row.eq(0), chunk.eq(0), pending.eq(1)]
        m.d.comb += self.ready.eq(~pending)
        for c in range(g.channels):
            read = mem.read_port()
            m.d.comb += [read.addr.eq(self.addr[c]), read.en.eq(self.en[c]),
                         self.data[c].eq(read.data.as_value())]
        del word
        return m
