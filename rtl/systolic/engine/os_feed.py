"""Agent 4b: the output-stationary stream (scratchpad, weight buffer -> array) and its stall
classes."""

from amaranth.hdl import Cat, ClockSignal, Instance, Module, Mux, ResetSignal, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hybridgen.rtl.ctrl.counters import counter_layout, first_match
from hybridgen.rtl.mem.widths import address_bits

from ..array import array_layouts
from ..core import delay_verilog
from ..feeder import feeder_verilog
from ..layouts import COUNTED, DIM_BITS, job_layout
from .job import Cursor, dims_of, job_signature, kstep_of, min_of, next_chunk
from .memories import spad_read_signature, sram_read_signature
from .tokens import os_feed_tokens

__all__ = ["OsFeed"]


class OsFeed(wiring.Component):
    """One job per M tile (R * I rows) x N tile, ``ceil(K / R) * R * I`` cycles (see
    :mod:`hybridgen.rtl.systolic.engine`); meanwhile the previous job's results are announced
    to the array (tags).

    Cycle ``tau`` of a job that starts at cycle F (F a multiple of I), with
    ``s = tau mod RI = r * I + u``:

    * scratchpad read of output row ``m0 + s``, chunk ``tau // RI``; the data loads
      serializer (r, u) at the end of F + tau + 1;
    * array row r takes serializer (r, u)'s next value in the cycles F + 2 + r * I + k * I
      + u (K step k): serializers shift after each use, rows' control is row 0's delayed
      ``r * I`` cycles;
    * at the start of each K step (u = 0), weight buffer word k (B row k) is read; it is
      shifted into the array at the end of F + tau + 1;
    * for ``tau < RI`` the previous job's result row ``tau`` is announced at F + tau + 2,
      as row 0's first A value of this job enters the array.

    Members
    -------
    job : In(job_signature)
    spad : Out(spad_read_signature)        wbuf : Out(sram_read_signature)
    a, w : Out(stream.Signature(array a / w))   to the array (through the dataflow switch)
    tokens : Out(os_feed_tokens)
    parity : Out(1)                        the weight slot consumed next
    finishing, busy_zero : In(1)           as for :class:`.ws_feed.WsFeed`
    count : Out(counter_layout(COUNTED, 1))
        While running OS: busy_cycles (a job's first K steps), stall_drain (after the last
        job), stall_slot (K padding and frame alignment), stall_setup, stall_weights (the B
        slab), stall_a, stall_acc, else stall_slot.
    """

    def __init__(self, library, geometry):
        self._g, self._library = geometry, library
        g = geometry
        a, w, _ = array_layouts(g.core)
        super().__init__({
            "job": In(job_signature(g)), "spad": Out(spad_read_signature(g)),
            "wbuf": Out(sram_read_signature(g.slot_bits + 1, g.wbuf_width)),
            "a": Out(stream.Signature(a)), "w": Out(stream.Signature(w)),
            "tokens": Out(os_feed_tokens(g.acc_rows)), "parity": Out(1),
            "finishing": In(1), "busy_zero": In(1),
            "count": Out(counter_layout(COUNTED, 1)),
        })

    def _serializers(self, m, **ports):
        """The R * I serializers (:mod:`hybridgen.rtl.systolic.feeder`, templated Verilog):
        returns the array rows' A values and first-K-step flags."""
        g, library = self._g, self._library
        R, I = g.rows, g.os_interleave
        a_data = Signal(R * g.core.element_width)
        firsts = Signal(R)
        delay_name = library.define("delay", verilog=delay_verilog(f"{library.prefix}__delay"))
        key = f"os_feeder_{R}x{I}_{g.dtype}"
        name = library.define(key, verilog=feeder_verilog(f"{library.prefix}__{key}", g.core,
                                                          delay_name), instances=1)
        m.submodules.os_feeder = Instance(
            name, i_clk=ClockSignal(), i_rst=ResetSignal(), i_bus=ports["bus"],
            i_load=ports["load"], i_target=ports["target"], i_ok_in=ports["ok"],
            i_pick=ports["pick"], i_active=ports["active"], i_first=ports["first"],
            o_a_out=a_data, o_first_out=firsts)
        return a_data, firsts

    def elaborate(self, platform):
        m = Module()
        g = self._g
        R, C, q, acc_rows = g.rows, g.cols, g.line_chunks, g.acc_rows
        I, RI = g.os_interleave, g.os_tile_rows
        job, tk = self.job, self.tokens
        d, mb, kt, os_mode = job.descriptor, job.mb, job.kt, job.os_mode
        running, start = job.running, job.start
        ofeed = Cursor("ofeed", dims_of(d, mb), kstep_of(g, job), C)
        m.d.comb += self.parity.eq(ofeed.parity)

        job_cycles = g.os_max_job_cycles
        tau = Signal(range(job_cycles + 1))
        job_last = Signal(range(job_cycles + 1))
        k_step = Signal(DIM_BITS + 1)           # tau // I
        u_step = Signal(range(I))               # tau mod I
        sub = Signal(range(RI))                 # tau mod RI: the output row read
        t_base = Signal(range(g.spad_lines + 1))  # (t // q) * mb for chunk t = tau // RI
        t_sub = Signal(range(q))                # t mod q
        m_sub = Signal(range(acc_rows + RI + 1))  # first row of the M tile within the block
        busy, flushing, claimed = Signal(), Signal(), Signal()
        phase = Signal(range(I))                # cycle mod I (jobs start at phase 0)
        m.d.comb += job_last.eq(Mux(flushing, RI - 1, kt * RI - 1))

        # the job whose results are in the array (cur) and the one being announced (pend)
        jobs = job_layout(len(m_sub))
        cur, pend = Signal(jobs), Signal(jobs)

        rows_needed = min_of(m_sub + RI, ofeed.rows)
        have_rows = Mux(ofeed.m_parity, tk.rows_loaded[1], tk.rows_loaded[0]) >= rows_needed
        have_slot = tk.slot_full.bit_select(ofeed.parity, 1)
        have_acc = claimed | tk.acc_free.bit_select(ofeed.n_parity, 1)
        idle = running & os_mode & ~busy & (phase == 0)
        can_start = idle & ~ofeed.done & have_slot & have_rows & have_acc
        can_flush = idle & ofeed.done & cur.valid
        go = busy | can_start | can_flush
        at_end = go & (tau == job_last)
        streaming = go & ~flushing & ~can_flush   # a job's cycle (not a flush)
        useful = streaming & (k_step < d.k)

        with m.If(start):
            m.d.sync += ofeed.reset() + [tau.eq(0), k_step.eq(0), u_step.eq(0), sub.eq(0),
                                         t_base.eq(0), t_sub.eq(0), m_sub.eq(0), busy.eq(0),
                                         flushing.eq(0), claimed.eq(0), phase.eq(0),
                                         cur.eq(0), pend.eq(0)]
        with m.Else():
            if I > 1:
                m.d.sync += phase.eq(Mux(phase == I - 1, 0, phase + 1))
            with m.If(can_start | can_flush):
                m.d.sync += [pend.eq(cur), busy.eq(1), flushing.eq(can_flush)]
            with m.If(can_start):
                m.d.sync += [cur.valid.eq(1), cur.m_sub.eq(m_sub), cur.rows.eq(ofeed.rows),
                             cur.bank.eq(ofeed.n_parity)]
                with m.If(~claimed):
                    m.d.sync += claimed.eq(1)
                    m.d.comb += tk.acc_claim.bit_select(ofeed.n_parity, 1).eq(1)
            with m.If(can_flush):
                m.d.sync += cur.valid.eq(0)
            with m.If(at_end):
                m.d.sync += [busy.eq(0), tau.eq(0), k_step.eq(0), u_step.eq(0), sub.eq(0),
                             t_base.eq(0), t_sub.eq(0)]
                with m.If(streaming):
                    with m.If(m_sub + RI >= ofeed.rows):  # the N tile's last M tile
                        m.d.sync += [m_sub.eq(0), claimed.eq(0)]
                        m.d.comb += tk.slot_done.bit_select(ofeed.parity, 1).eq(1)
                        with m.If(ofeed.last_n):
                            m.d.comb += tk.spad_release.bit_select(ofeed.m_parity, 1).eq(1)
                        ofeed.step(m)
                    with m.Else():
                        m.d.sync += m_sub.eq(m_sub + RI)
            with m.Elif(go):
                m.d.sync += tau.eq(tau + 1)
                with m.If(u_step == I - 1):
                    m.d.sync += [u_step.eq(0), k_step.eq(k_step + 1)]
                with m.Else():
                    m.d.sync += u_step.eq(u_step + 1)
                with m.If(sub == RI - 1):
                    m.d.sync += sub.eq(0)
                    next_chunk(m, t_base, t_sub, q, mb)
                with m.Else():
                    m.d.sync += sub.eq(sub + 1)

        # scratchpad -> serializers: output row s = r * I + u of the tile is serializer s
        read_row = m_sub + sub
        spad_parity_r, t_sub_r, row_ok_r = Signal(), Signal.like(t_sub), Signal()
        load_r, target_r = Signal(), Signal.like(sub)
        m.d.comb += self.spad.addr.eq(t_base + read_row)
        m.d.sync += [spad_parity_r.eq(ofeed.m_parity), t_sub_r.eq(t_sub),
                     row_ok_r.eq(read_row < ofeed.rows), load_r.eq(streaming),
                     target_r.eq(sub)]
        bus = Signal(g.chunk_bits)
        banks = [Mux(spad_parity_r, self.spad.data[1][j], self.spad.data[0][j])
                 for j in range(q)]
        chosen = banks[0]
        for j in range(1, q):
            chosen = Mux(t_sub_r == j, banks[j], chosen)
        m.d.comb += bus.eq(chosen)
        # the serializer each row reads this cycle: u = (cycle - 2) mod I, the same for every
        # row (rows are I cycles apart)
        pick = Signal(address_bits(I))
        if I > 1:
            m.d.comb += pick.eq(Mux(phase >= 2, phase - 2, phase + I - 2))
        a_data, firsts = self._serializers(m, bus=bus, load=load_r, target=target_r,
                                           ok=row_ok_r, pick=pick, active=useful,
                                           first=go & (k_step == 0))

        # weight buffer -> the array's columns: B row k at the start of K step k (zeros
        # outside a job's first K steps), shifted in once per K step
        b_valid, b_shift = Signal(), Signal()
        m.d.sync += [b_valid.eq(useful & (u_step == 0)), b_shift.eq(phase == 0)]
        word = Signal(g.slot_bits)
        m.d.comb += word.eq(k_step)
        m.d.comb += self.wbuf.addr.eq(Cat(word, ofeed.parity))

        # result tags of the previous job: row j is output row (R - 1 - j // I) * I + j mod I
        announcing = Signal()
        t_row = Signal(range(RI))               # output row within the tile
        t_u = Signal(range(I))
        tag = Signal(g.tag_layout)
        with m.If(start):
            m.d.sync += announcing.eq(0)
        with m.Elif((can_start | can_flush) & cur.valid):
            m.d.sync += [announcing.eq(1), t_row.eq((R - 1) * I), t_u.eq(0)]
        with m.Elif(announcing):
            with m.If(t_u == I - 1):
                m.d.sync += [t_u.eq(0), t_row.eq(t_row - (2 * I - 1))]
                with m.If(t_row == I - 1):
                    m.d.sync += announcing.eq(0)
            with m.Else():
                m.d.sync += [t_u.eq(t_u + 1), t_row.eq(t_row + 1)]
        m.d.comb += [tag.row.eq(pend.m_sub + t_row), tag.bank.eq(pend.bank),
                     tag.first.eq(1), tag.last.eq(1),
                     tag.write.eq(pend.m_sub + t_row < pend.rows),
                     tag.end.eq(t_row == I - 1)]
        tag_valid, tag_r = Signal(), Signal(g.tag_layout)
        m.d.sync += [tag_valid.eq(announcing), tag_r.eq(tag)]
        m.d.comb += [self.a.valid.eq(tag_valid), self.a.payload.tag.eq(tag_r),
                     self.a.payload.data.eq(a_data), self.a.payload.sel.eq(firsts),
                     self.w.valid.eq(b_shift), self.w.payload.bank.eq(0),
                     self.w.payload.data.eq(Mux(b_valid, self.wbuf.data, 0))]

        # stall classification (one counter per counted cycle of RUN)
        first_match(m, self.count, [
            (useful, "busy_cycles"), (ofeed.done, "stall_drain"), (go, "stall_slot"),
            (self.busy_zero, "stall_setup"), (~have_slot, "stall_weights"),
            (~have_rows, "stall_a"), (~have_acc, "stall_acc"), (1, "stall_slot")],
            enable=running & os_mode & ~self.finishing)
        return m
