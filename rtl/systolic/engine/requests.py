"""Agent 1: the request arbiter (row requests of A and B to the read DMA)."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hybridgen.rtl.mem.dma import ROW_BYTES_BITS, row_request_layout

from ..layouts import DIM_BITS
from .job import Cursor, dims_of, job_signature, kstep_of, min_of
from .tokens import requests_tokens

__all__ = ["RequestArbiter", "KIND_A", "KIND_B"]

#: Row kinds of the read DMA: A rows (scratchpad lines) and B rows (weight buffer words).
KIND_A, KIND_B = 0, 1


class RequestArbiter(wiring.Component):
    """Requests the rows of A (a whole M block per scratchpad bank, several rows per request
    when A is dense) and of B (one job's K tile of an N tile per weight slot).

    Priority: B rows the job consumed next waits for (``ws_parity`` / ``os_parity``: the slot
    the weight loader or the OS feed takes next), then A rows, then B rows of the job after. A
    request offered and not accepted keeps its choice (stream rules). A rows requested and not
    yet in the scratchpad (``row_done`` from the fills) are capped: 4 requests when merged,
    else 16 rows, so that B rows never queue behind much A traffic.

    Members
    -------
    job : In(job_signature)
    req : Out(stream.Signature(row_request_layout(addr_bits)))
        To :class:`hybridgen.rtl.mem.dma.ReadDma`; ``kind`` is :data:`KIND_A` or :data:`KIND_B`.
    tokens : Out(requests_tokens)
        ``spad_take`` when the first row of an M block is requested, ``b_claim`` when the last
        B row of a slot is; reads ``spad_free``, ``slot_full``, ``b_slot_busy``.
    ws_parity, os_parity : In(1)
        The weight slot the weight loader (WS) / OS feed consumes next.
    row_done : In(1)
        Pulse: a whole row of A reached the scratchpad.
    """

    def __init__(self, geometry):
        self._g = g = geometry
        super().__init__({
            "job": In(job_signature(g)),
            "req": Out(stream.Signature(row_request_layout(g.addr_bits))),
            "tokens": Out(requests_tokens()),
            "ws_parity": In(1), "os_parity": In(1), "row_done": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        g = self._g
        R, C, es, acc_rows = g.rows, g.cols, g.element_bytes, g.acc_rows
        job, tk, req = self.job, self.tokens, self.req
        d, mb, merge, merge_rows = job.descriptor, job.mb, job.merge, job.merge_rows
        running, start = job.running, job.start
        consumer = Mux(job.os_mode, self.os_parity, self.ws_parity)
        fetch_b = Cursor("fetch_b", dims_of(d, mb), kstep_of(g, job), C)
        b_row = Signal(DIM_BITS + 1)
        b_kbase = Signal(g.addr_bits)       # address of B row t*R
        b_noff = Signal(g.addr_bits)        # byte offset of column n0
        b_ptr = Signal(g.addr_bits)
        a_left = Signal(DIM_BITS + 1)         # rows of A not yet requested
        a_row = Signal(range(acc_rows + 1))   # row within the block
        a_parity = Signal()
        a_ptr = Signal(g.addr_bits)
        a_rows = min_of(a_left, mb)
        want_b = running & ~fetch_b.done & ~tk.slot_full.bit_select(fetch_b.parity, 1)
        want_b = want_b & ~tk.b_slot_busy.bit_select(fetch_b.parity, 1)
        a_pending = Signal(range(4 * acc_rows + 17))
        a_limit = Mux(merge, merge_rows << 2, 16)
        want_a = (running & (a_left != 0)
                  & ((a_row != 0) | tk.spad_free.bit_select(a_parity, 1))
                  & (a_pending < a_limit))
        holding, held_b = Signal(), Signal()
        pick_b = Signal()
        b_urgent = fetch_b.parity == consumer
        m.d.comb += pick_b.eq(Mux(holding, held_b, want_b & (b_urgent | ~want_a)))
        m.d.sync += [holding.eq(req.valid & ~req.ready & ~start), held_b.eq(pick_b)]
        a_req_rows = Signal(range(acc_rows + 1))
        m.d.comb += a_req_rows.eq(Mux(merge, min_of(a_rows - a_row, merge_rows), 1))
        a_req_bytes = Signal(ROW_BYTES_BITS)
        m.d.comb += a_req_bytes.eq(a_req_rows * d.k * es)
        with m.If(pick_b):
            m.d.comb += [req.valid.eq(1), req.payload.addr.eq(Mux(b_row == 0,
                                                                  b_kbase + b_noff, b_ptr)),
                         req.payload.nbytes.eq(fetch_b.nvalid * es),
                         req.payload.kind.eq(KIND_B)]
        with m.Elif(want_a):
            m.d.comb += [req.valid.eq(1), req.payload.addr.eq(a_ptr),
                         req.payload.nbytes.eq(a_req_bytes), req.payload.kind.eq(KIND_A)]
        with m.If(start):
            m.d.sync += fetch_b.reset() + [b_row.eq(0), b_kbase.eq(d.b_addr), b_noff.eq(0),
                                           a_left.eq(d.m), a_row.eq(0), a_parity.eq(0),
                                           a_ptr.eq(d.a_addr), a_pending.eq(0)]
        with m.Elif(req.valid & req.ready):
            with m.If(pick_b):
                cur = Mux(b_row == 0, b_kbase + b_noff, b_ptr)
                m.d.sync += b_ptr.eq(cur + d.ldb)
                with m.If(b_row == fetch_b.kvalid - 1):
                    m.d.sync += b_row.eq(0)
                    m.d.comb += tk.b_claim.bit_select(fetch_b.parity, 1).eq(1)
                    fetch_b.step(m)
                    with m.If(~fetch_b.last_k):
                        m.d.sync += b_kbase.eq(b_kbase + R * d.ldb)
                    with m.Else():
                        m.d.sync += b_kbase.eq(d.b_addr)
                        with m.If(~fetch_b.last_n):
                            m.d.sync += b_noff.eq(b_noff + C * es)
                        with m.Else():
                            m.d.sync += b_noff.eq(0)
                with m.Else():
                    m.d.sync += b_row.eq(b_row + 1)
            with m.Else():
                m.d.sync += a_ptr.eq(a_ptr + Mux(merge, a_req_bytes, d.lda))
                with m.If(a_row == 0):
                    m.d.comb += tk.spad_take.bit_select(a_parity, 1).eq(1)
                with m.If(a_row + a_req_rows == a_rows):
                    m.d.sync += [a_row.eq(0), a_parity.eq(~a_parity),
                                 a_left.eq(a_left - a_rows)]
                with m.Else():
                    m.d.sync += a_row.eq(a_row + a_req_rows)

        a_accept = req.valid & req.ready & ~pick_b
        with m.If(~start):
            m.d.sync += a_pending.eq(a_pending + Mux(a_accept, a_req_rows, 0) - self.row_done)
        return m
