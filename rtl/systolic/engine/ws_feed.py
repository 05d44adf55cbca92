"""Agent 4: the weight-stationary A stream (scratchpad -> array) and its stall classes."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hybridgen.rtl.ctrl.counters import counter_layout, first_match

from ..array import array_layouts
from ..layouts import COUNTED
from .job import Cursor, dims_of, job_signature, kstep_of, next_chunk
from .memories import spad_read_signature
from .tokens import ws_feed_tokens

__all__ = ["WsFeed"]


class WsFeed(wiring.Component):
    """One A row per cycle into the array (row i of the M block, chunk t of K tile t), when
    the job's weight bank is loaded, the row is in the scratchpad and the N tile has an
    accumulator bank; tags name the accumulator row and bank, ``first`` (first K tile) and
    ``last`` (last K tile). Row i of the next job enters at least ``min_slot`` cycles after
    row i of this job (bubbles after short jobs). A weight bank is free ``array_latency + 3``
    cycles after the job's last row.

    Members
    -------
    job : In(job_signature)
    spad : Out(spad_read_signature)
    a : Out(stream.Signature(array a))     to the array (through the dataflow switch)
    tokens : Out(ws_feed_tokens)
    finishing : In(1)                      every result written (no cycle is classified)
    busy_zero : In(1)                      no busy cycle counted yet
    count : Out(counter_layout(COUNTED, 1))
        While running WS: each cycle one of busy_cycles (a row issued), stall_drain (after
        the last job), stall_slot (bubbles), stall_setup (before the first row),
        stall_weights, stall_a, stall_acc (the first missing of bank, row, accumulator).
    """

    def __init__(self, geometry):
        self._g = g = geometry
        a, _, _ = array_layouts(g.core)
        super().__init__({
            "job": In(job_signature(g)), "spad": Out(spad_read_signature(g)),
            "a": Out(stream.Signature(a)), "tokens": Out(ws_feed_tokens(g.acc_rows)),
            "finishing": In(1), "busy_zero": In(1),
            "count": Out(counter_layout(COUNTED, 1)),
        })

    def elaborate(self, platform):
        m = Module()
        g = self._g
        R, C, q, acc_rows, min_slot = g.rows, g.cols, g.line_chunks, g.acc_rows, g.min_slot
        job, tk = self.job, self.tokens
        d, mb, start, running, os_mode = (job.descriptor, job.mb, job.start, job.running,
                                          job.os_mode)
        feed = Cursor("feed", dims_of(d, mb), kstep_of(g, job), C)
        row = Signal(range(acc_rows + 1))
        slot = Signal(range(min_slot + 1))
        t_base = Signal(range(g.spad_lines + 1))   # (t // q) * mb
        t_sub = Signal(range(q))                   # t % q: the bank of chunk t
        n_claimed = Signal()
        with m.If(start):
            m.d.sync += feed.reset() + [row.eq(0), slot.eq(0), t_base.eq(0), t_sub.eq(0),
                                        n_claimed.eq(0)]
        have_bank = tk.bank_loaded.bit_select(feed.parity, 1)
        have_row = Mux(feed.m_parity, tk.rows_loaded[1] > row, tk.rows_loaded[0] > row)
        have_acc = n_claimed | tk.acc_free.bit_select(feed.n_parity, 1)
        in_rows = row < feed.rows
        active = running & ~os_mode & ~feed.done
        issue = active & in_rows & have_bank & have_row & have_acc
        m.d.comb += self.spad.addr.eq(t_base + row)
        a_valid, a_parity_r, a_tag = Signal(), Signal(), Signal(g.tag_layout)
        tag = Signal(g.tag_layout)
        m.d.comb += [tag.row.eq(row), tag.bank.eq(feed.n_parity), tag.first.eq(feed.first_k),
                     tag.last.eq(feed.last_k), tag.write.eq(1)]
        m.d.sync += [a_valid.eq(issue), a_parity_r.eq(feed.parity), a_tag.eq(tag)]
        spad_parity_r, t_sub_r = Signal(), Signal.like(t_sub)
        m.d.sync += [spad_parity_r.eq(feed.m_parity), t_sub_r.eq(t_sub)]
        spad_data = Signal(g.chunk_bits)
        for i in range(2):
            for j in range(q):
                with m.If((spad_parity_r == i) & (t_sub_r == j)):
                    m.d.comb += spad_data.eq(self.spad.data[i][j])
        m.d.comb += [self.a.valid.eq(a_valid), self.a.payload.sel.eq(a_parity_r.replicate(R)),
                     self.a.payload.tag.eq(a_tag), self.a.payload.data.eq(spad_data)]
        with m.If(issue):
            m.d.sync += row.eq(row + 1)
            with m.If(~n_claimed):
                m.d.sync += n_claimed.eq(1)
                m.d.comb += tk.acc_claim.bit_select(feed.n_parity, 1).eq(1)
        # Row i of the next job must enter >= min_slot cycles after row i of this job. Rows
        # enter at most one per cycle, so it suffices that the next job's first row comes
        # max(1, min_slot - rows + 1) cycles after this job's last row: a job of at least
        # min_slot rows ends with its last row, a shorter one after `slot` bubbles.
        with m.If(issue):
            m.d.sync += slot.eq(1)
        with m.Elif(active & ~in_rows & (slot != min_slot)):
            m.d.sync += slot.eq(slot + 1)
        last_issue = issue & (row == feed.rows - 1) & (feed.rows >= min_slot)
        job_end = (active & ~in_rows & (slot + feed.rows >= min_slot)) | last_issue
        with m.If(job_end):
            m.d.sync += row.eq(0)
            m.d.comb += tk.bank_used.bit_select(feed.parity, 1).eq(1)
            # (assign only the register that changes: a no-op assignment to the other one
            # would override its own update made elsewhere in this cycle)
            with m.If(~feed.last_k):
                next_chunk(m, t_base, t_sub, q, mb)
            with m.Else():
                m.d.sync += [t_base.eq(0), t_sub.eq(0), n_claimed.eq(0)]
                with m.If(feed.last_n):
                    m.d.comb += tk.spad_release.bit_select(feed.m_parity, 1).eq(1)
            feed.step(m)
        drain = [Signal(range(g.array_latency + 4), name=f"drain{i}") for i in range(2)]
        for i in range(2):
            with m.If(job_end & (feed.parity == i)):
                m.d.sync += drain[i].eq(g.array_latency + 3)
            with m.Elif(drain[i] != 0):
                m.d.sync += drain[i].eq(drain[i] - 1)
                with m.If(drain[i] == 1):
                    m.d.comb += tk.bank_release[i].eq(1)

        # stall classification (one counter per counted cycle of RUN)
        first_match(m, self.count, [
            (issue, "busy_cycles"), (feed.done, "stall_drain"), (~in_rows, "stall_slot"),
            (self.busy_zero, "stall_setup"), (~have_bank, "stall_weights"),
            (~have_row, "stall_a"), (1, "stall_acc")],
            enable=running & ~os_mode & ~self.finishing)
        return m
