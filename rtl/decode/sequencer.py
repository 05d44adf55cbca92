"""The beat sequencer of one channel: W beats (and flush pseudo-beats) into the lanes, the
activation chunk each beat needs, and when a finished output leaves the accumulator ring."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .layouts import DIM_BITS

__all__ = ["BeatSequencer", "Phase"]


class Phase(enum.Enum, shape=2):
    IDLE = 0   # no job since reset
    RUN = 1    # the channel's W beats
    FLUSH = 2  # pseudo-beats that push the last outputs out of the ring
    DONE = 3   # every beat went through the lanes


class BeatSequencer(wiring.Component):
    """Beat order (:mod:`hybridgen.rtl.decode.geometry`): for each of the channel's groups, for
    chunk c in 0..KC-1, for column j in 0..I-1: one W beat. Beat t belongs to ring slot
    ``t mod I`` (every job is a multiple of I beats, so the ring stays in phase).

    Two stages: A is the DMA's beat; moving it to B reads activation chunk c (``x_addr``,
    ``x_en``: a synchronous read port, data with B) and needs ``x_ready``. B feeds the lanes
    when ``room`` (the results queue can take a group): ``lane_en`` is that handshake. After the
    last W beat, :attr:`DecodeGeometry.flush_beats` pseudo-beats (``first`` set, nothing live).

    The sequencer tracks, beside the lanes' pipeline, whether a ring slot holds a real output
    and pulses ``capture`` in the enabled cycle in which the lanes' ``o`` shows it.

    Members
    -------
    start : In(1)        pulse: ``beats`` (W beats of this channel) and ``chunks`` valid
    beats : In(32), chunks : In(DIM_BITS)
    w : In(stream)       W beats (V bf16 values)
    x_ready : In(1)      the activation buffer holds this job's x
    x_addr : Out, x_en : Out(1)
    room : In(1)
    lane_en, lane_first : Out(1); lane_w : Out(ArrayLayout(16, V))
    capture : Out(1)     the lanes' ``o`` is a finished output (enabled cycle)
    phase : Out(Phase)
    mem_wait, blocked : Out(1)   RUN and no W beat (or x not ready) / a beat blocked by ``room``
    """

    def __init__(self, geometry):
        self._g = geometry
        V = geometry.values
        super().__init__({
            "start": In(1), "beats": In(32), "chunks": In(DIM_BITS),
            "w": In(stream.Signature(data.ArrayLayout(16, V))),
            "x_ready": In(1),
            "x_addr": Out(max(1, ceil_log2(geometry.x_depth))), "x_en": Out(1),
            "room": In(1),
            "lane_en": Out(1), "lane_first": Out(1), "lane_w": Out(data.ArrayLayout(16, V)),
            "capture": Out(1), "phase": Out(Phase),
            "mem_wait": Out(1), "blocked": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        g = self._g
        I = g.interleave
        phase = Signal(Phase)
        m.d.comb += self.phase.eq(phase)
        left = Signal(32)
        flush_left = Signal(range(g.flush_beats + 1))
        j = Signal(range(I))
        chunk = Signal(DIM_BITS)
        # stage B
        b_valid, b_first, b_real = Signal(), Signal(), Signal()
        b_w = Signal(data.ArrayLayout(16, g.values))
        consume = b_valid & self.room
        b_free = ~b_valid | consume
        run = phase == Phase.RUN
        flush = phase == Phase.FLUSH
        a_valid = Mux(run, self.w.valid & (left != 0) & self.x_ready, flush & (flush_left != 0))
        move = a_valid & b_free
        m.d.comb += [self.w.ready.eq(run & (left != 0) & self.x_ready & b_free),
                     self.x_addr.eq(chunk), self.x_en.eq(move & run),
                     self.mem_wait.eq(run & (left != 0) & ~(self.w.valid & self.x_ready)),
                     self.blocked.eq(run & (left != 0) & self.w.valid & self.x_ready & ~b_free)]
        with m.If(consume):
            m.d.sync += b_valid.eq(0)
        with m.If(move):
            m.d.sync += [b_valid.eq(1), b_first.eq(Mux(run, chunk == 0, 1)), b_real.eq(run),
                         b_w.eq(self.w.payload)]
            with m.If(run):
                m.d.sync += [left.eq(left - 1), j.eq(j + 1)]
                with m.If(j == I - 1):
                    m.d.sync += chunk.eq(Mux(chunk == self.chunks - 1, 0, chunk + 1))
            with m.Else():
                m.d.sync += flush_left.eq(flush_left - 1)
        with m.If(run & (left == 0)):
            m.d.sync += [phase.eq(Phase.FLUSH), flush_left.eq(g.flush_beats)]
        with m.If(flush & (flush_left == 0) & ~b_valid):
            m.d.sync += phase.eq(Phase.DONE)
        with m.If(self.start):
            m.d.sync += [phase.eq(Phase.RUN), left.eq(self.beats), j.eq(0), chunk.eq(0)]

        # the lanes, and the tags that travel beside them
        m.d.comb += [self.lane_en.eq(consume), self.lane_first.eq(b_first), self.lane_w.eq(b_w)]
        first, real = b_first, b_real
        for stage in range(g.dot_latency):
            first_d, real_d = Signal(name=f"first_d{stage}"), Signal(name=f"real_d{stage}")
            with m.If(consume):
                m.d.sync += [first_d.eq(first), real_d.eq(real)]
            first, real = first_d, real_d
        live = Signal(I)  # a ring slot holds a real output; bit I-1 is the slot at the adder
        emit = first & live[I - 1]
        captured = Signal()
        with m.If(consume):
            m.d.sync += [live.eq((live << 1) | Mux(first, real, live[I - 1])),
                         captured.eq(emit)]
        m.d.comb += self.capture.eq(consume & captured)
        return m
