"""The state streamer of the decode step (``ssm-step``) in one channel: it takes the read DMA's
output, passes record beats to the record slots and turns each state chunk into one chunk of
:class:`hybridgen.rtl.decode.ssm_lane.SsmLane` with its B, C and row operands (layout:
:mod:`hybridgen.rtl.decode.ssm_layout`)."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from .sequencer import Phase
from .ssm_job import SsmKind, ssm_job_layout
from .ssm_records import record_read_port, row_read_port

__all__ = ["SsmStateStream", "ssm_chunk_layout", "ssm_read_layout"]


def ssm_read_layout(bus_bytes):
    """:class:`hybridgen.rtl.mem.dma.ReadDma`'s output with the kinds of :class:`SsmKind`."""
    return data.StructLayout({"data": 8 * bus_bytes, "kind": 2, "last": 1})


def ssm_chunk_layout(width):
    """A chunk into the lane: the operands of :class:`SsmLane` (``s``, ``b``, ``c``, ``da``,
    ``u``, ``mask``, ``first``) and what the outputs need with it: ``real`` (a state chunk,
    not a flush chunk), ``last`` (the row's last chunk), the row's ``dx`` and ``sz`` (fp32)."""
    vec = data.ArrayLayout(32, width)
    return data.StructLayout({"s": vec, "b": vec, "c": vec, "da": 32, "u": 32, "mask": width,
                              "first": 1, "real": 1, "last": 1, "dx": 32, "sz": 32})


class SsmStateStream(wiring.Component):
    """Phase and chunk order of the channel's decode step.

    Order: for each of the channel's heads (record slots in turn), for row group q, chunk c,
    row j (the layout's order), one chunk; then ``flush_chunks`` flush chunks (``real`` low,
    ``first`` high, zero state) that carry the last results out of the pipelines.

    Two stages: stage A is the DMA's state chunk (a head's chunks wait for its slot to be
    ready); moving it to stage B reads B, C (the record beat of chunk c) and the row word. A
    chunk leaves stage B (``en``, one per cycle) when the outputs have ``room``; ``o`` holds
    it during that cycle. A bf16 state chunk is widened exactly to fp32. The slot is
    ``release``\\ d when its head's last chunk enters stage B.

    Phase: ``IDLE`` from ``start``, ``RUN`` from ``go``, ``FLUSH`` when every head's chunks
    are in, ``DONE`` after the last flush chunk left stage B.

    Parameters
    ----------
    geometry : hybridgen.rtl.decode.geometry.DecodeGeometry
    flush_chunks : int
        Flush chunks after the last head (a multiple of the ring ``interleave``).

    Members
    -------
    start, go : In(1); job : In(ssm_job_layout)
    i : In(stream.Signature(ssm_read_layout))    the read DMA's output
    rec : Out(stream.Signature(8 * bus_bytes))   its record beats (to :class:`SsmRecords`)
    ready : In(2); da : In(ArrayLayout(32, 2))   the slots' ready flags and dA
    release : Out(2)                             one-hot pulse
    b, c : In(record_read_port); row : In(row_read_port)
    room : In(1)                                 the outputs can take a chunk this cycle
    en : Out(1); o : Out(ssm_chunk_layout)       a chunk leaves stage B
    phase : Out(Phase)
    mem_wait, blocked : Out(1)   RUN with heads left: no state chunk of a ready head / a chunk
                                 blocked by the outputs
    quiet : Out(1)               FLUSH or DONE, not ``go``, no state chunk in stage B
    """

    def __init__(self, geometry, *, flush_chunks):
        self._g, self._flush = geometry, flush_chunks
        W = geometry.bus_bytes // 4
        super().__init__({
            "start": In(1), "go": In(1), "job": In(ssm_job_layout(geometry.addr_bits)),
            "i": In(stream.Signature(ssm_read_layout(geometry.bus_bytes))),
            "rec": Out(stream.Signature(8 * geometry.bus_bytes)),
            "ready": In(2), "da": In(data.ArrayLayout(32, 2)), "release": Out(2),
            "b": In(record_read_port(geometry)), "c": In(record_read_port(geometry)),
            "row": In(row_read_port(geometry)),
            "room": In(1), "en": Out(1), "o": Out(ssm_chunk_layout(W)),
            "phase": Out(Phase), "mem_wait": Out(1), "blocked": Out(1), "quiet": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        g, job, phase, i = self._g, self.job, self.phase, self.i
        I, W = g.interleave, g.bus_bytes // 4
        lw, li = exact_log2(W), exact_log2(I)
        st_slot, heads_left = Signal(), Signal(24)
        q, ck, j = Signal(16), Signal(16), Signal(range(I))
        flush_left = Signal(range(self._flush + 1))
        with m.If(self.start):
            m.d.sync += phase.eq(Phase.IDLE)
        with m.If(self.go):
            m.d.sync += [phase.eq(Phase.RUN), heads_left.eq(job.channel_heads), q.eq(0),
                         ck.eq(0), j.eq(0), st_slot.eq(0)]
        # stage B (operands read from the slot memories, valid with b_valid)
        b_valid, b_real, b_first, b_lastc = Signal(), Signal(), Signal(), Signal()
        b_s, b_mask = Signal(data.ArrayLayout(32, W)), Signal(W)
        b_chalf, b_da = Signal(), Signal(32)
        consume = b_valid & self.room
        b_free = ~b_valid | consume
        run, flush = phase == Phase.RUN, phase == Phase.FLUSH
        head_ok = (heads_left != 0) & self.ready.bit_select(st_slot, 1)
        is_rec = i.payload.kind == SsmKind.RECORD
        st_beat = i.valid & ~is_rec
        a_valid = Mux(run, head_ok & st_beat, flush & (flush_left != 0))
        move = a_valid & b_free
        m.d.comb += [self.rec.valid.eq(i.valid & is_rec), self.rec.payload.eq(i.payload.data),
                     i.ready.eq(Mux(is_rec, self.rec.ready, run & head_ok & b_free))]
        rbase = st_slot * g.ssm_record_beats
        m.d.comb += [self.b.addr.eq(rbase + job.b_base + (ck >> 1)),
                     self.c.addr.eq(rbase + job.c_base + (ck >> 1)),
                     self.b.en.eq(move), self.c.en.eq(move),
                     self.row.addr.eq(st_slot * g.ssm_rows + (q << li) + j),
                     self.row.en.eq(move)]
        lanes_mask = Signal(W)
        for k in range(W):
            m.d.comb += lanes_mask[k].eq((ck << lw) + k < job.n)
        st32 = data.View(data.ArrayLayout(32, W), i.payload.data)
        st16 = data.View(data.ArrayLayout(16, 2 * W), i.payload.data)
        widened = Signal(data.ArrayLayout(32, W))
        for k in range(W):
            m.d.comb += widened[k].eq(Mux(job.bf16, Cat(Const(0, 16), st16[k]), st32[k]))
        with m.If(consume):
            m.d.sync += b_valid.eq(0)
        with m.If(move):
            m.d.sync += [b_valid.eq(1), b_real.eq(run), b_first.eq(Mux(run, ck == 0, 1)),
                         b_lastc.eq(run & (ck == job.K - 1)), b_s.eq(Mux(run, widened, 0)),
                         b_mask.eq(Mux(run, lanes_mask, 0)), b_chalf.eq(ck[0]),
                         b_da.eq(self.da[st_slot])]
            with m.If(run):
                m.d.sync += j.eq(j + 1)
                with m.If(j == I - 1):
                    m.d.sync += ck.eq(ck + 1)
                    with m.If(ck == job.K - 1):
                        m.d.sync += [ck.eq(0), q.eq(q + 1)]
                        with m.If(q == job.Pq - 1):
                            m.d.sync += [q.eq(0), heads_left.eq(heads_left - 1),
                                         st_slot.eq(~st_slot)]
                            m.d.comb += self.release.eq(Mux(st_slot, 2, 1))
            with m.Else():
                m.d.sync += flush_left.eq(flush_left - 1)
        with m.If(run & (heads_left == 0)):
            m.d.sync += [phase.eq(Phase.FLUSH), flush_left.eq(self._flush)]
        with m.If(flush & (flush_left == 0) & ~b_valid):
            m.d.sync += phase.eq(Phase.DONE)
        m.d.comb += [self.mem_wait.eq(run & (heads_left != 0) & ~(head_ok & st_beat)),
                     self.blocked.eq(run & (heads_left != 0) & head_ok & st_beat & ~b_free),
                     self.quiet.eq(((phase == Phase.FLUSH) | (phase == Phase.DONE)) & ~self.go
                                   & ~(b_valid & b_real))]
        # the chunk: B, C from the halves of their record beats, u, dx, sz from the row word
        o = self.o
        bvals = data.View(data.ArrayLayout(16, 2 * W), self.b.data)
        cvals = data.View(data.ArrayLayout(16, 2 * W), self.c.data)
        for k in range(W):
            m.d.comb += [o.b[k].eq(Cat(Const(0, 16), Mux(b_chalf, bvals[W + k], bvals[k]))),
                         o.c[k].eq(Cat(Const(0, 16), Mux(b_chalf, cvals[W + k], cvals[k])))]
        row = self.row.data
        m.d.comb += [self.en.eq(consume), o.s.eq(b_s), o.mask.eq(b_mask), o.first.eq(b_first),
                     o.da.eq(b_da), o.u.eq(row.u), o.real.eq(b_real), o.last.eq(b_lastc),
                     o.dx.eq(row.dx), o.sz.eq(row.sz)]
        return m
