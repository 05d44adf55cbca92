"""One channel of the decode array running the Mamba-2 decode step (``ssm-step``).

Layout: :mod:`hybridgen.rtl.decode.ssm_layout`; order of operations:
:func:`hybridgen.golden.decode.ssm_step`. Per channel, for its heads in order:

* read requests (one read DMA, in this order): record 0, record 1, state 0, record 2,
  state 1, ...: the record of the next head is read before the state of the current one, so
  its scalars and rows are computed while the current state streams;
* a record is captured beat by beat into one of two slots (:class:`SsmRecords`), then the head
  unit computes dt, dA (:class:`SsmHeadScalars`) and u, D x, silu(z) of every row
  (:class:`SsmRowValues`) into the slot's row memory;
* the state chunks of the head (row group, chunk, row) go through :class:`SsmLane` with the
  slot's B and C chunks and the row's u; updated chunks are collected into rows of ``I``
  chunks and written back in place; each finished row sum goes through :class:`SsmFinish`
  and the rows of a group are written as one y row;
* after the last head, flush chunks carry the last results out of the pipelines.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, fifo, memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from hybridgen.rtl.arith.convert import Fp32ToBf16
from hybridgen.rtl.arith.pipeline import pipeline_delay
from hybridgen.rtl.mem.axi import axi_signature
from hybridgen.rtl.mem.dma import COUNTER_BITS, ReadDma, WriteDma

from .layouts import descriptor_layout
from .sequencer import Phase
from .ssm_head import SsmFinish, SsmHeadScalars, SsmRowValues
from .ssm_lane import SsmLane

__all__ = ["SsmChannel", "SSM_FLAG_SOFTPLUS", "SSM_FLAG_Z", "SSM_FLAG_BF16"]

#: descriptor ``flags`` bits of the decode step
SSM_FLAG_SOFTPLUS, SSM_FLAG_Z, SSM_FLAG_BF16 = 1, 2, 4
KIND_REC, KIND_ST32, KIND_ST16 = 0, 1, 2


def _ceil_shift(value, bits):
    return (value + (1 << bits) - 1) >> bits


class SsmChannel(wiring.Component):
    """Channel ``index`` of the decode step (module docstring).

    Members
    -------
    start : In(1)        pulse: ``descriptor`` holds an accepted ``SSM_STEP`` descriptor
    descriptor : In(descriptor_layout)
    axi : Out(axi_signature)
    clear : In(1); read_bytes, write_bytes : Out(COUNTER_BITS)
    phase : Out(Phase); mem_wait, blocked : Out(1)   RUN: chunks left; waiting for a state
                         chunk or its head / a chunk blocked by the output queues
    done : Out(1)        every chunk and flush chunk through, every output handed to the DMA
    write_idle : Out(1)
    """

    def __init__(self, geometry, index, library=None):
        self._g, self._index, self._library = geometry, index, library
        g = geometry
        super().__init__({
            "start": In(1), "descriptor": In(descriptor_layout(g.addr_bits)),
            "axi": Out(axi_signature(g.addr_bits, 8 * g.bus_bytes)),
            "clear": In(1),
            "read_bytes": Out(COUNTER_BITS), "write_bytes": Out(COUNTER_BITS),
            "phase": Out(Phase), "mem_wait": Out(1), "blocked": Out(1),
            "done": Out(1), "write_idle": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        g, c = self._g, self._index
        C, bus, I = g.channels, g.bus_bytes, g.interleave
        W, V16 = bus // 4, bus // 2
        lw, lv16, li = exact_log2(W), exact_log2(V16), exact_log2(I)
        a = g.addr_bits
        rows_max, chunks_max, rec_max = g.ssm_rows, g.ssm_chunks, g.ssm_record_beats

        # -- the job (latched on start; derived figures are combinational on the latch) ----
        d = self.descriptor
        batch, heads = Signal(8), Signal(16)
        p, n, flags = Signal(16), Signal(16), Signal(4)
        state_addr, record_addr, y_addr = Signal(a), Signal(a), Signal(a)
        go = Signal()
        m.d.sync += go.eq(self.start)
        phase = Signal(Phase)
        with m.If(self.start):
            m.d.sync += [phase.eq(Phase.IDLE), batch.eq(d.batch), heads.eq(d.heads), p.eq(d.headdim), n.eq(d.dstate),
                         flags.eq(d.flags), state_addr.eq(d.state_addr),
                         record_addr.eq(d.record_addr), y_addr.eq(d.y_addr)]
        with_z, bf16 = flags[1], flags[2]
        K = Signal(16)
        Pq = Signal(16)
        m.d.comb += [K.eq(_ceil_shift(n, lw)), Pq.eq(_ceil_shift(p, li))]
        rows = Signal(16)
        m.d.comb += rows.eq(Pq << li)
        x_beats = Signal(16)
        m.d.comb += x_beats.eq(_ceil_shift(rows, lv16))
        bc_beats = Signal(16)
        m.d.comb += bc_beats.eq(_ceil_shift(K, 1))
        z_base = Signal(16)
        b_base, c_base, rec_beats = Signal(16), Signal(16), Signal(16)
        m.d.comb += [z_base.eq(1 + x_beats),
                     b_base.eq(1 + x_beats + Mux(with_z, x_beats, 0)),
                     c_base.eq(b_base + bc_beats), rec_beats.eq(c_base + bc_beats)]
        head_chunks = Signal(32)
        m.d.comb += head_chunks.eq((Pq * K) << li)
        head_bytes = Signal(32)
        m.d.comb += head_bytes.eq(Mux(bf16, head_chunks << (lw + 1), head_chunks << (lw + 2)))
        total_heads = Signal(24)
        m.d.comb += total_heads.eq(batch * heads)
        my_heads = Signal(24)
        m.d.comb += my_heads.eq(Mux(total_heads > c,
                                    (total_heads - c + C - 1) >> exact_log2(C), 0))

        # -- the DMAs -----------------------------------------------------------------------
        m.submodules.reader = reader = ReadDma(
            addr_bits=a, bus_bytes=bus, chunk_bytes=(bus, bus, bus // 2),
            outstanding=g.outstanding)
        row_bytes = I * W * 4
        m.submodules.writer = writer = WriteDma(addr_bits=a, bus_bytes=bus, row_bytes=row_bytes,
                                                outstanding=g.outstanding)

        # read requests: rec 0, rec 1, state 0, rec 2, state 1, ...
        rec_next, st_next = Signal(24), Signal(24)
        rec_addr_n, st_addr_n = Signal(a), Signal(a)
        running = Signal()
        req = reader.req
        with m.If(go):
            m.d.sync += [rec_next.eq(0), st_next.eq(0), rec_addr_n.eq(record_addr),
                         st_addr_n.eq(state_addr), running.eq(1)]
        rec_due = running & (rec_next < my_heads) & (rec_next <= st_next + 1)
        st_due = running & (st_next < my_heads)
        with m.If(rec_due):
            m.d.comb += [req.valid.eq(1), req.payload.addr.eq(rec_addr_n),
                         req.payload.nbytes.eq(rec_beats << exact_log2(bus)),
                         req.payload.kind.eq(KIND_REC)]
            with m.If(req.ready):
                m.d.sync += [rec_next.eq(rec_next + 1),
                             rec_addr_n.eq(rec_addr_n + (rec_beats << exact_log2(bus)))]
        with m.Elif(st_due):
            m.d.comb += [req.valid.eq(1), req.payload.addr.eq(st_addr_n),
                         req.payload.nbytes.eq(head_bytes),
                         req.payload.kind.eq(Mux(bf16, KIND_ST16, KIND_ST32))]
            with m.If(req.ready):
                m.d.sync += [st_next.eq(st_next + 1), st_addr_n.eq(st_addr_n + head_bytes)]

        # -- record slots: capture -------------------------------------------------------------
        rec_depth = 2 * rec_max
        m.submodules.records = records = memory.Memory(shape=8 * bus, depth=rec_depth, init=[])
        rec_w = records.write_port()
        slot_full = Signal(2)    # captured, not yet released by the state stage
        slot_ready = Signal(2)   # the head unit computed it
        cap_slot, cap_beat = Signal(), Signal(range(rec_max + 1))
        o = reader.o
        is_rec = o.payload.kind == KIND_REC
        cap_ok = ~slot_full.bit_select(cap_slot, 1)
        m.d.comb += [rec_w.addr.eq(cap_slot * rec_max + cap_beat),
                     rec_w.data.eq(o.payload.data),
                     rec_w.en.eq(o.valid & is_rec & cap_ok)]
        set_full = Signal(2)
        with m.If(o.valid & is_rec & cap_ok):
            with m.If(cap_beat == rec_beats - 1):
                m.d.sync += [cap_beat.eq(0), cap_slot.eq(~cap_slot)]
                m.d.comb += set_full.eq(Mux(cap_slot, 2, 1))
            with m.Else():
                m.d.sync += cap_beat.eq(cap_beat + 1)

        # -- head unit: scalars, then rows, of one captured slot at a time ---------------------
        m.submodules.scalars = scalars = SsmHeadScalars(adder_latency=g.adder_latency)
        m.submodules.rowvals = rowvals = SsmRowValues()
        m.d.comb += [scalars.en.eq(1), rowvals.en.eq(1)]
        hu_slot = Signal()
        hu_state = Signal(range(4))   # 0 wait, 1 scalars, 2 rows, 3 drain rows
        hu_count = Signal(16)
        hu_rd = records.read_port()
        hz_rd = records.read_port()
        dt_s = Signal(data.ArrayLayout(32, 2))
        da_s = Signal(data.ArrayLayout(32, 2))
        d_s = Signal(data.ArrayLayout(32, 2))
        set_ready = Signal(2)
        m.submodules.rowmem = rowmem = memory.Memory(shape=96, depth=2 * rows_max, init=[])
        row_w = rowmem.write_port()
        base = hu_slot * rec_max
        issue_scalar = Signal()
        issue_row = Signal()
        row_idx = Signal(16)
        with m.Switch(hu_state):
            with m.Case(0):
                with m.If(slot_full.bit_select(hu_slot, 1) & ~slot_ready.bit_select(hu_slot, 1)
                          & running):
                    m.d.comb += [hu_rd.addr.eq(base), issue_scalar.eq(1)]
                    m.d.sync += [hu_state.eq(1), hu_count.eq(0)]
            with m.Case(1):   # beat 0 arrives on hu_rd.data this cycle
                m.d.sync += hu_count.eq(hu_count + 1)
                with m.If(hu_count == scalars.latency):
                    m.d.sync += [dt_s[hu_slot].eq(scalars.o.dt), da_s[hu_slot].eq(scalars.o.da),
                                 hu_state.eq(2), row_idx.eq(0), hu_count.eq(0)]
            with m.Case(2):
                m.d.comb += [hu_rd.addr.eq(base + 1 + (row_idx >> lv16)),
                             hz_rd.addr.eq(base + z_base + (row_idx >> lv16)),
                             issue_row.eq(1)]
                m.d.sync += row_idx.eq(row_idx + 1)
                with m.If(row_idx == rows - 1):
                    m.d.sync += [hu_state.eq(3), hu_count.eq(0)]
            with m.Case(3):
                m.d.sync += hu_count.eq(hu_count + 1)
                with m.If(hu_count == rowvals.latency + 2):
                    m.d.comb += set_ready.eq(Mux(hu_slot, 2, 1))
                    m.d.sync += [hu_state.eq(0), hu_slot.eq(~hu_slot)]
        # beat 0 (read in state 0, data in state 1 at count 0)
        beat0 = data.View(data.ArrayLayout(32, W), hu_rd.data)
        scalar_valid = Signal()
        m.d.sync += scalar_valid.eq(issue_scalar)
        with m.If(scalar_valid):
            m.d.sync += d_s[hu_slot].eq(beat0[3])
        m.d.comb += [scalars.dt_raw.eq(beat0[0][:16]), scalars.dt_bias.eq(beat0[1]),
                     scalars.a.eq(beat0[2]), scalars.softplus.eq(flags[0])]
        # rows: read issued in state 2, data one cycle later
        row_v = Signal()
        row_r = Signal(16)
        m.d.sync += [row_v.eq(issue_row), row_r.eq(row_idx)]
        xs = data.View(data.ArrayLayout(16, V16), hu_rd.data)
        zs = data.View(data.ArrayLayout(16, V16), hz_rd.data)
        lane_sel = row_r[:lv16]
        m.d.comb += [rowvals.x.eq(xs[lane_sel]), rowvals.z.eq(Mux(with_z, zs[lane_sel], 0)),
                     rowvals.dt.eq(dt_s[hu_slot]), rowvals.d.eq(d_s[hu_slot])]
        row_vd = pipeline_delay(m, 1, row_v, rowvals.latency, name="row_vd")
        row_rd = pipeline_delay(m, 1, row_r, rowvals.latency, name="row_rd")
        m.d.comb += [row_w.addr.eq(hu_slot * rows_max + row_rd),
                     row_w.data.eq(Cat(rowvals.o.u, rowvals.o.dx, rowvals.o.sz)),
                     row_w.en.eq(row_vd)]

        # -- the state stage --------------------------------------------------------------------
        m.submodules.lane = lane = SsmLane(width=W, interleave=I, adder_latency=g.adder_latency,
                                            library=self._library)
        m.submodules.finish = finish = SsmFinish(adder_latency=g.adder_latency)
        flush_total = -(-(I + lane.latency + finish.latency + 2) // I) * I
        st_slot = Signal()
        heads_left = Signal(24)
        q, ck, j = Signal(16), Signal(16), Signal(range(I))
        flush_left = Signal(range(flush_total + 1))
        m.d.comb += self.phase.eq(phase)
        with m.If(go):
            m.d.sync += [phase.eq(Phase.RUN), heads_left.eq(my_heads), q.eq(0), ck.eq(0),
                         j.eq(0), st_slot.eq(0)]
        # stage B (operands read from the memories, valid with b_valid)
        b_valid, b_real, b_first, b_lastc = Signal(), Signal(), Signal(), Signal()
        b_s = Signal(data.ArrayLayout(32, W))
        b_mask = Signal(W)
        b_rowok = Signal()
        b_chalf = Signal()
        b_da = Signal(32)
        bc_b = records.read_port()
        bc_c = records.read_port()
        row_rd_port = rowmem.read_port()
        out_room = Signal()
        consume = b_valid & out_room
        b_free = ~b_valid | consume
        run = phase == Phase.RUN
        flush = phase == Phase.FLUSH
        head_ok = (heads_left != 0) & slot_ready.bit_select(st_slot, 1)
        st_beat = o.valid & ~is_rec
        a_valid = Mux(run, head_ok & st_beat, flush & (flush_left != 0))
        move = a_valid & b_free
        # the reader's output: records to the capture, state chunks to stage A
        m.d.comb += o.ready.eq(Mux(is_rec, cap_ok, run & head_ok & b_free))
        rbase = st_slot * rec_max
        m.d.comb += [bc_b.addr.eq(rbase + b_base + (ck >> 1)),
                     bc_c.addr.eq(rbase + c_base + (ck >> 1)),
                     bc_b.en.eq(move), bc_c.en.eq(move),
                     row_rd_port.addr.eq(st_slot * rows_max + (q << li) + j),
                     row_rd_port.en.eq(move)]
        lanes_mask = Signal(W)
        for k in range(W):
            m.d.comb += lanes_mask[k].eq((ck << lw) + k < n)
        st32 = data.View(data.ArrayLayout(32, W), o.payload.data)
        st16 = data.View(data.ArrayLayout(16, 2 * W), o.payload.data)
        widened = Signal(data.ArrayLayout(32, W))
        for k in range(W):
            m.d.comb += widened[k].eq(Mux(bf16, Cat(Const(0, 16), st16[k]), st32[k]))
        last_chunk_of_head = (ck == K - 1) & (j == I - 1) & (q == Pq - 1)
        release = Signal(2)
        with m.If(consume):
            m.d.sync += b_valid.eq(0)
        with m.If(move):
            m.d.sync += [b_valid.eq(1), b_real.eq(run), b_first.eq(Mux(run, ck == 0, 1)),
                         b_lastc.eq(run & (ck == K - 1)), b_s.eq(Mux(run, widened, 0)),
                         b_mask.eq(Mux(run, lanes_mask, 0)),
                         b_rowok.eq(((q << li) + j) < p), b_chalf.eq(ck[0]),
                         b_da.eq(da_s[st_slot])]
            with m.If(run):
                m.d.sync += j.eq(j + 1)
                with m.If(j == I - 1):
                    m.d.sync += ck.eq(ck + 1)
                    with m.If(ck == K - 1):
                        m.d.sync += [ck.eq(0), q.eq(q + 1)]
                        with m.If(q == Pq - 1):
                            m.d.sync += [q.eq(0), heads_left.eq(heads_left - 1),
                                         st_slot.eq(~st_slot)]
                            m.d.comb += release.eq(Mux(st_slot, 2, 1))
            with m.Else():
                m.d.sync += flush_left.eq(flush_left - 1)
        with m.If(run & (heads_left == 0)):
            m.d.sync += [phase.eq(Phase.FLUSH), flush_left.eq(flush_total)]
        with m.If(flush & (flush_left == 0) & ~b_valid):
            m.d.sync += phase.eq(Phase.DONE)
        m.d.sync += [slot_full.eq((slot_full | set_full) & ~release),
                     slot_ready.eq((slot_ready | set_ready) & ~release)]
        with m.If(go):
            m.d.sync += [slot_full.eq(0), slot_ready.eq(0), cap_slot.eq(0), cap_beat.eq(0),
                         hu_slot.eq(0), hu_state.eq(0)]
        m.d.comb += [self.mem_wait.eq(run & (heads_left != 0) & ~(head_ok & st_beat)),
                     self.blocked.eq(run & (heads_left != 0) & head_ok & st_beat & ~b_free)]

        # lane operands (B, C from the record beat halves, u from the row word)
        bvals = data.View(data.ArrayLayout(16, 2 * W), bc_b.data)
        cvals = data.View(data.ArrayLayout(16, 2 * W), bc_c.data)
        row_word = row_rd_port.data
        for k in range(W):
            m.d.comb += [lane.b[k].eq(Cat(Const(0, 16), Mux(b_chalf, bvals[W + k], bvals[k]))),
                         lane.c[k].eq(Cat(Const(0, 16), Mux(b_chalf, cvals[W + k], cvals[k])))]
        m.d.comb += [lane.en.eq(consume), lane.s.eq(b_s), lane.mask.eq(b_mask),
                     lane.first.eq(b_first), lane.u.eq(row_word[0:32]),
                     lane.da.eq(b_da)]

        # pending rows: (dx, sz, row ok) pushed at a row's last chunk, popped at its sum
        m.submodules.pending = pending = fifo.SyncFIFOBuffered(width=65, depth=32)
        m.d.comb += [pending.w_data.eq(Cat(row_word[32:64], row_word[64:96], b_rowok)),
                     pending.w_en.eq(consume & b_lastc)]
        # ring occupancy (as in BeatSequencer): emit when a first chunk meets a live slot
        first_a = pipeline_delay(m, consume, b_first, lane.sum_latency, name="first_a")
        real_a = pipeline_delay(m, consume, b_real, lane.sum_latency, name="real_a")
        live = Signal(I)
        emit = first_a & live[I - 1]
        emitted = Signal()
        with m.If(consume):
            m.d.sync += [live.eq((live << 1) | Mux(first_a, real_a, live[I - 1])),
                         emitted.eq(emit)]
        take_acc = consume & emitted
        m.d.comb += pending.r_en.eq(take_acc)
        pend = pending.r_data
        m.d.comb += [finish.en.eq(consume), finish.acc.eq(lane.o.acc), finish.dx.eq(pend[0:32]),
                     finish.sz.eq(pend[32:64]), finish.with_z.eq(with_z)]
        y_valid = pipeline_delay(m, consume, take_acc, finish.latency, name="y_valid")

        # y rows: I values of a group -> one row of 2 * min(I, p - q*I) bytes
        y_held = Signal(data.ArrayLayout(16, I))
        y_j = Signal(range(I))
        y_q = Signal(16)
        y_row_start, y_head_start = Signal(a), Signal(a)
        m.submodules.yq = yq = fifo.SyncFIFOBuffered(width=a + 16 + 16 * I, depth=4)
        y_full = Signal(data.ArrayLayout(16, I))
        m.d.comb += y_full.eq(y_held)
        m.d.comb += y_full[I - 1].eq(finish.o)
        y_cols = p - (y_q << li)
        y_nbytes = Signal(16)
        m.d.comb += y_nbytes.eq(Mux(y_cols < I, y_cols, I) << 1)
        with m.If(go):
            m.d.sync += [y_j.eq(0), y_q.eq(0), y_row_start.eq(y_addr + 2 * c * p),
                         y_head_start.eq(y_addr + 2 * c * p)]
        with m.If(consume & y_valid):
            m.d.sync += [y_held[y_j].eq(finish.o), y_j.eq(y_j + 1)]
            with m.If(y_j == I - 1):
                m.d.comb += [yq.w_en.eq(1),
                             yq.w_data.eq(Cat(y_row_start, y_nbytes, y_full.as_value()))]
                with m.If(y_q == Pq - 1):
                    nxt = y_head_start + ((p * C) << 1)
                    m.d.sync += [y_q.eq(0), y_row_start.eq(nxt), y_head_start.eq(nxt)]
                with m.Else():
                    m.d.sync += [y_q.eq(y_q + 1), y_row_start.eq(y_row_start + 2 * I)]

        # state rows: I updated chunks -> one row, written back in place
        s_valid = pipeline_delay(m, consume, b_real, lane.latency, name="s_valid")
        cap_s = consume & s_valid
        rounders = []
        for k in range(W):
            rnd = Fp32ToBf16()
            m.submodules[f"st_round{k}"] = rnd
            m.d.comb += [rnd.en.eq(1), rnd.a.eq(lane.o.s[k])]
            rounders.append(rnd.o)
        s_push = Signal()
        s_raw = Signal(data.ArrayLayout(32, W))
        m.d.sync += [s_push.eq(cap_s), s_raw.eq(lane.o.s)]
        s_row = Signal(data.ArrayLayout(32, I * W))   # fp32: I chunks; bf16: packed low half
        s_k = Signal(range(I))
        s_addr = Signal(a)
        m.submodules.sq = sq = fifo.SyncFIFOBuffered(width=a + 16 + 32 * I * W, depth=4)
        with m.If(go):
            m.d.sync += [s_k.eq(0), s_addr.eq(state_addr)]
        s_row16 = data.View(data.ArrayLayout(16, 2 * I * W), s_row)
        s_full = Signal(data.ArrayLayout(32, I * W))
        s_full16 = data.View(data.ArrayLayout(16, 2 * I * W), s_full)
        m.d.comb += s_full.eq(s_row)
        with m.If(bf16):
            for k in range(W):
                m.d.comb += s_full16[(I - 1) * W + k].eq(rounders[k])
        with m.Else():
            for k in range(W):
                m.d.comb += s_full[(I - 1) * W + k].eq(s_raw[k])
        row_nbytes = Signal(16)
        m.d.comb += row_nbytes.eq(Mux(bf16, 2 * I * W, 4 * I * W))
        with m.If(s_push):
            with m.If(bf16):
                for k in range(W):
                    m.d.sync += s_row16[s_k * W + k].eq(rounders[k])
            with m.Else():
                for k in range(W):
                    m.d.sync += s_row[s_k * W + k].eq(s_raw[k])
            m.d.sync += s_k.eq(s_k + 1)
            with m.If(s_k == I - 1):
                m.d.comb += [sq.w_en.eq(1),
                             sq.w_data.eq(Cat(s_addr, row_nbytes, s_full.as_value()))]
                m.d.sync += s_addr.eq(s_addr + row_nbytes)
        # done as soon as no real chunk, row or y value is left in the pipelines (the rest
        # of the flush carries only pseudo-chunks; a new job may cut it short)
        chunks_in = Signal(16)
        y_in = Signal(8)
        m.d.sync += [chunks_in.eq(chunks_in + (consume & b_real) - cap_s),
                     y_in.eq(y_in + take_acc - (consume & y_valid))]
        drained = Signal()
        m.d.comb += drained.eq(((phase == Phase.FLUSH) | (phase == Phase.DONE)) & ~go
                               & (chunks_in == 0) & (y_in == 0) & (pending.level == 0)
                               & ~(b_valid & b_real))
        # room: every queue can take what the next enabled cycle may produce
        m.d.comb += out_room.eq((sq.level < 2) & (yq.level < 3) & (pending.level < 30))

        # the write DMA: y rows first, then state rows
        wi = writer.i
        y_head = yq.r_data
        s_head = sq.r_data
        with m.If(yq.r_rdy):
            m.d.comb += [wi.valid.eq(1), wi.payload.addr.eq(y_head[:a]),
                         wi.payload.nbytes.eq(y_head[a:a + 16]),
                         wi.payload.data.eq(y_head[a + 16:]), yq.r_en.eq(wi.ready)]
        with m.Elif(sq.r_rdy):
            m.d.comb += [wi.valid.eq(1), wi.payload.addr.eq(s_head[:a]),
                         wi.payload.nbytes.eq(s_head[a:a + 16]),
                         wi.payload.data.eq(s_head[a + 16:]), sq.r_en.eq(wi.ready)]

        # the port
        for name, member in self.axi.signature.members.items():
            side = reader.axi if name.startswith(("ar", "r")) else writer.axi
            if member.flow == Out:
                m.d.comb += getattr(self.axi, name).eq(getattr(side, name))
            else:
                m.d.comb += getattr(side, name).eq(getattr(self.axi, name))
        m.d.comb += [reader.clear.eq(self.clear), writer.clear.eq(self.clear),
                     self.read_bytes.eq(reader.read_bytes),
                     self.write_bytes.eq(writer.written_bytes),
                     self.done.eq(drained & (yq.level == 0) & (sq.level == 0) & ~s_push),
                     self.write_idle.eq(writer.idle)]
        with m.If(phase == Phase.DONE):
            m.d.sync += running.eq(0)
        return m
