"""Small designs that exercise the testbench kit itself (not part of any product block).

``StreamFifo`` is a correct stream FIFO; ``ValidDropper`` breaks the stream rules on purpose
(it withdraws ``o.valid`` before the beat is accepted), so tests can prove the protocol checker
fails when it must.
"""

from amaranth import Module
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["StreamFifo", "ValidDropper"]


class StreamFifo(wiring.Component):
    """A 4-deep stream FIFO of ``width``-bit payloads (``i`` -> ``o``)."""

    def __init__(self, width=16):
        super().__init__({"i": In(stream.Signature(width)), "o": Out(stream.Signature(width))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.fifo = queue = fifo.SyncFIFOBuffered(width=len(self.i.payload), depth=4)
        wiring.connect(m, wiring.flipped(self.i), queue.w_stream)
        wiring.connect(m, queue.r_stream, wiring.flipped(self.o))
        return m


class ValidDropper(wiring.Component):
    """Registered pass-through that wrongly drops ``o.valid`` after one cycle of back-pressure."""

    def __init__(self, width=16):
        super().__init__({"i": In(stream.Signature(width)), "o": Out(stream.Signature(width))})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.i.ready.eq(~self.o.valid)
        with m.If(self.o.valid):
            m.d.sync += self.o.valid.eq(0)  # drops valid whether or not o.ready was high
        with m.Elif(self.i.valid):
            m.d.sync += [self.o.valid.eq(1), self.o.payload.eq(self.i.payload)]
        return m
