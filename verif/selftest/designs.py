"""Small designs that exercise the testbench kit itself (not part of any product block).

``StreamFifo`` is a correct stream FIFO; ``ValidDropper`` breaks the stream rules on purpose
(it withdraws ``o.valid`` before the beat is accepted), so tests can prove the protocol checker
fails when it must; ``ExtraBeat`` is a correct FIFO that emits one beat too many, some cycles
after the last expected one, so tests can prove the sinks notice it.
"""

from amaranth import Module, Signal
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["StreamFifo", "ValidDropper", "ExtraBeat"]


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


class ExtraBeat(wiring.Component):
    """:class:`StreamFifo` that, ``delay`` cycles after its ``beats``-th output beat, emits one
    more beat (a copy of the last payload) that no input asked for."""

    def __init__(self, width=16, *, beats=500, delay=8):
        self._beats, self._delay = beats, delay
        super().__init__({"i": In(stream.Signature(width)), "o": Out(stream.Signature(width))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.fifo = queue = fifo.SyncFIFOBuffered(width=len(self.i.payload), depth=4)
        wiring.connect(m, wiring.flipped(self.i), queue.w_stream)
        sent = Signal(range(self._beats + 2))
        wait = Signal(range(self._delay + 1))
        last = Signal.like(self.o.payload)
        extra = Signal()  # offering the extra beat
        with m.If(extra):
            m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(last)]
        with m.Else():
            m.d.comb += [self.o.valid.eq(queue.r_stream.valid),
                         self.o.payload.eq(queue.r_stream.payload),
                         queue.r_stream.ready.eq(self.o.ready)]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += [sent.eq(sent + 1), last.eq(self.o.payload)]
            with m.If(extra):
                m.d.sync += extra.eq(0)
        with m.If((sent == self._beats) & ~extra):
            m.d.sync += wait.eq(wait + 1)
            with m.If(wait == self._delay - 1):
                m.d.sync += extra.eq(1)
        return m
