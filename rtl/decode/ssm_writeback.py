"""The write-back of the decode step (``ssm-step``) in one channel: y rows from the lane's row
sums, state rows from its updated chunks, and their merge into the write DMA (layout:
:mod:`hybridgen.rtl.decode.ssm_layout`; order: :func:`hybridgen.golden.decode.ssm_step`).

Both row builders follow the lane's pipelined-datapath convention: ``en`` is the lane's
``en`` (a chunk of :func:`~hybridgen.rtl.decode.ssm_stream.ssm_chunk_layout` enters the lane),
and each keeps its own count of what is still inside the lane, so the channel knows when
everything has been handed to the write DMA.
"""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from hybridgen.rtl.arith.convert import Fp32ToBf16
from hybridgen.rtl.arith.pipeline import pipeline_delay
from hybridgen.rtl.mem.dma import write_row_layout

from .ssm_head import SsmFinish
from .ssm_job import ssm_job_layout
from .ssm_stream import ssm_chunk_layout

__all__ = ["SsmYRows", "SsmStateRows", "SsmWriteMerge", "y_row_layout", "state_row_layout"]


def y_row_layout(addr_bits, interleave):
    """A y row: ``nbytes`` (<= 2 I) bytes of ``data`` (I bf16 values) at ``addr``."""
    return data.StructLayout({"addr": addr_bits, "nbytes": 16,
                              "data": data.ArrayLayout(16, interleave)})


def state_row_layout(addr_bits, interleave, width):
    """A state row: ``I`` updated chunks, ``nbytes`` = ``4 I W`` (fp32, chunk k in values
    ``k W ..``) or ``2 I W`` (bf16, packed into the low half) bytes at ``addr``."""
    return data.StructLayout({"addr": addr_bits, "nbytes": 16,
                              "data": data.ArrayLayout(32, interleave * width)})


class SsmYRows(wiring.Component):
    """y of every row, gathered into one row of ``I`` values per row group.

    A row's last chunk pushes its (dx, sz) into a queue; when the lane shows a finished row sum
    (a ``first`` chunk meets a ring slot that held a real row, ``sum_latency`` enabled cycles
    after that chunk, as :class:`~hybridgen.rtl.decode.ssm_lane.SsmLane` documents) the sum
    and the queue's head go through :class:`SsmFinish`; ``I`` consecutive y values make the
    row of group q, ``2 * min(I, p - q I)`` bytes at ``y_addr + 2 (e p + q I)`` (head ``e``,
    the channel's heads in order from ``job.y_start``).

    Parameters
    ----------
    geometry : DecodeGeometry
    sum_latency : int
        The lane's :attr:`~SsmLane.sum_latency`.

    Members
    -------
    go : In(1); job : In(ssm_job_layout)
    en : In(1); i : In(ssm_chunk_layout)    the chunk entering the lane
    acc : In(32)                            the lane's ``o.acc``
    o : Out(stream.Signature(y_row_layout))
    room : Out(1)     the queues can take what the next enabled cycle may produce
    idle : Out(1)     no y value in the pipelines or the queues
    """

    def __init__(self, geometry, *, sum_latency):
        self._g, self._sum_latency = geometry, sum_latency
        self._finish = SsmFinish(adder_latency=geometry.adder_latency)
        a, I = geometry.addr_bits, geometry.interleave
        super().__init__({
            "go": In(1), "job": In(ssm_job_layout(a)),
            "en": In(1), "i": In(ssm_chunk_layout(geometry.bus_bytes // 4)), "acc": In(32),
            "o": Out(stream.Signature(y_row_layout(a, I))), "room": Out(1), "idle": Out(1),
        })

    @property
    def latency(self):
        """Enabled cycles from a finished row sum to its y value (:class:`SsmFinish`)."""
        return self._finish.latency

    def elaborate(self, platform):
        m = Module()
        g, job, en, chunk = self._g, self.job, self.en, self.i
        I, C, li = g.interleave, g.channels, exact_log2(g.interleave)
        m.submodules.finish = finish = self._finish
        # pending rows: (dx, sz) pushed at a row's last chunk, popped at its sum
        m.submodules.pending = pending = fifo.SyncFIFOBuffered(width=64, depth=32)
        m.d.comb += [pending.w_data.eq(Cat(chunk.dx, chunk.sz)),
                     pending.w_en.eq(en & chunk.last)]
        # ring occupancy (as in BeatSequencer): emit when a first chunk meets a live slot
        first_a = pipeline_delay(m, en, chunk.first, self._sum_latency, name="first_a")
        real_a = pipeline_delay(m, en, chunk.real, self._sum_latency, name="real_a")
        live, emitted = Signal(I), Signal()
        with m.If(en):
            m.d.sync += [live.eq((live << 1) | Mux(first_a, real_a, live[I - 1])),
                         emitted.eq(first_a & live[I - 1])]
        take_acc = en & emitted
        pend = pending.r_data
        m.d.comb += [pending.r_en.eq(take_acc), finish.en.eq(en), finish.acc.eq(self.acc),
                     finish.dx.eq(pend[0:32]), finish.sz.eq(pend[32:64]),
                     finish.with_z.eq(job.with_z)]
        y_valid = pipeline_delay(m, en, take_acc, finish.latency, name="y_valid")
        # y rows: I values of a group -> one row of 2 * min(I, p - q*I) bytes
        y_held = Signal(data.ArrayLayout(16, I))
        y_j, y_q = Signal(range(I)), Signal(16)
        y_row_start, y_head_start = Signal(g.addr_bits), Signal(g.addr_bits)
        layout = y_row_layout(g.addr_bits, I)
        m.submodules.yq = yq = fifo.SyncFIFOBuffered(width=layout.size, depth=4)
        y_full = Signal(data.ArrayLayout(16, I))
        m.d.comb += [y_full.eq(y_held), y_full[I - 1].eq(finish.o)]
        y_cols = job.p - (y_q << li)
        row = Signal(layout)
        m.d.comb += [row.addr.eq(y_row_start), row.nbytes.eq(Mux(y_cols < I, y_cols, I) << 1),
                     row.data.eq(y_full)]
        with m.If(self.go):
            m.d.sync += [y_j.eq(0), y_q.eq(0), y_row_start.eq(job.y_start),
                         y_head_start.eq(job.y_start)]
        with m.If(en & y_valid):
            m.d.sync += [y_held[y_j].eq(finish.o), y_j.eq(y_j + 1)]
            with m.If(y_j == I - 1):
                m.d.comb += [yq.w_en.eq(1), yq.w_data.eq(row)]
                with m.If(y_q == job.Pq - 1):
                    nxt = y_head_start + ((job.p * C) << 1)
                    m.d.sync += [y_q.eq(0), y_row_start.eq(nxt), y_head_start.eq(nxt)]
                with m.Else():
                    m.d.sync += [y_q.eq(y_q + 1), y_row_start.eq(y_row_start + 2 * I)]
        y_in = Signal(8)   # row sums taken, y values not yet in a row
        m.d.sync += y_in.eq(y_in + take_acc - (en & y_valid))
        m.d.comb += [self.o.valid.eq(yq.r_rdy), self.o.payload.eq(yq.r_data),
                     yq.r_en.eq(self.o.ready),
                     self.room.eq((yq.level < 3) & (pending.level < 30)),
                     self.idle.eq((y_in == 0) & (pending.level == 0) & (yq.level == 0))]
        return m


class SsmStateRows(wiring.Component):
    """The updated state, ``I`` chunks at a time, as rows written back in place: consecutive
    rows from ``state_addr`` (the layout's order is the computation's order).

    An updated chunk (``latency`` enabled cycles after its real chunk entered the lane) is
    taken one cycle later (a bf16 state rounded RNE by :class:`Fp32ToBf16`); every ``I``-th
    chunk completes a row into the queue.

    Members
    -------
    go : In(1); job : In(ssm_job_layout)
    en, real : In(1)                      the lane's ``en``; the chunk entering is real
    s : In(ArrayLayout(32, W))            the lane's ``o.s``
    o : Out(stream.Signature(state_row_layout))
    room : Out(1); idle : Out(1)          as :class:`SsmYRows`
    """

    def __init__(self, geometry, *, latency):
        self._g, self._latency = geometry, latency
        a, I, W = geometry.addr_bits, geometry.interleave, geometry.bus_bytes // 4
        super().__init__({
            "go": In(1), "job": In(ssm_job_layout(a)), "en": In(1), "real": In(1),
            "s": In(data.ArrayLayout(32, W)),
            "o": Out(stream.Signature(state_row_layout(a, I, W))),
            "room": Out(1), "idle": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        g, job, en = self._g, self.job, self.en
        I, W = g.interleave, g.bus_bytes // 4
        s_valid = pipeline_delay(m, en, self.real, self._latency, name="s_valid")
        cap_s = en & s_valid
        rounders = []
        for k in range(W):
            rnd = Fp32ToBf16()
            m.submodules[f"st_round{k}"] = rnd
            m.d.comb += [rnd.en.eq(1), rnd.a.eq(self.s[k])]
            rounders.append(rnd.o)
        s_push, s_raw = Signal(), Signal(data.ArrayLayout(32, W))
        m.d.sync += [s_push.eq(cap_s), s_raw.eq(self.s)]
        s_row = Signal(data.ArrayLayout(32, I * W))   # fp32: I chunks; bf16: packed low half
        s_k, s_addr = Signal(range(I)), Signal(g.addr_bits)
        layout = state_row_layout(g.addr_bits, I, W)
        m.submodules.sq = sq = fifo.SyncFIFOBuffered(width=layout.size, depth=4)
        with m.If(self.go):
            m.d.sync += [s_k.eq(0), s_addr.eq(job.state_addr)]
        s_row16 = data.View(data.ArrayLayout(16, 2 * I * W), s_row)
        row = Signal(layout)
        full16 = data.View(data.ArrayLayout(16, 2 * I * W), row.data)
        m.d.comb += [row.addr.eq(s_addr), row.nbytes.eq(Mux(job.bf16, 2 * I * W, 4 * I * W)),
                     row.data.eq(s_row)]
        for k in range(W):
            with m.If(job.bf16):
                m.d.comb += full16[(I - 1) * W + k].eq(rounders[k])
            with m.Else():
                m.d.comb += row.data[(I - 1) * W + k].eq(s_raw[k])
        with m.If(s_push):
            for k in range(W):
                with m.If(job.bf16):
                    m.d.sync += s_row16[s_k * W + k].eq(rounders[k])
                with m.Else():
                    m.d.sync += s_row[s_k * W + k].eq(s_raw[k])
            m.d.sync += s_k.eq(s_k + 1)
            with m.If(s_k == I - 1):
                m.d.comb += [sq.w_en.eq(1), sq.w_data.eq(row)]
                m.d.sync += s_addr.eq(s_addr + row.nbytes)
        chunks_in = Signal(16)   # real chunks in the lane, not yet taken
        m.d.sync += chunks_in.eq(chunks_in + (en & self.real) - cap_s)
        m.d.comb += [self.o.valid.eq(sq.r_rdy), self.o.payload.eq(sq.r_data),
                     sq.r_en.eq(self.o.ready), self.room.eq(sq.level < 2),
                     self.idle.eq((chunks_in == 0) & (sq.level == 0) & ~s_push)]
        return m


class SsmWriteMerge(wiring.Component):
    """y rows before state rows into the write DMA: a queued y row is offered first, a state
    row only when no y row is queued; a row is handed over in the cycle its ``o`` is accepted
    (no register: the row queues are the buffers).

    Members
    -------
    y : In(stream.Signature(y_row_layout)); s : In(stream.Signature(state_row_layout))
    o : Out(stream.Signature(write_row_layout(addr_bits, 4 I W)))
    """

    def __init__(self, geometry):
        a, I, W = geometry.addr_bits, geometry.interleave, geometry.bus_bytes // 4
        super().__init__({"y": In(stream.Signature(y_row_layout(a, I))),
                          "s": In(stream.Signature(state_row_layout(a, I, W))),
                          "o": Out(stream.Signature(write_row_layout(a, 4 * I * W)))})

    def elaborate(self, platform):
        m = Module()
        o = self.o
        for source, cond in ((self.y, m.If), (self.s, m.Elif)):
            with cond(source.valid):
                m.d.comb += [o.valid.eq(1), o.payload.addr.eq(source.payload.addr),
                             o.payload.nbytes.eq(source.payload.nbytes),
                             o.payload.data.eq(source.payload.data), source.ready.eq(o.ready)]
        return m
