"""The read requests of one channel of the decode step (``ssm-step``), in the order the channel
consumes them (layout: :mod:`hybridgen.rtl.decode.ssm_layout`)."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from hybridgen.rtl.mem.dma import row_request_layout

from .sequencer import Phase
from .ssm_job import SsmKind, ssm_job_layout

__all__ = ["SsmReadRequests", "ssm_request_layout"]


def ssm_request_layout(addr_bits):
    """:class:`hybridgen.rtl.mem.dma.ReadDma`'s request, with the kinds of :class:`SsmKind`."""
    return row_request_layout(addr_bits, kind_bits=2)


class SsmReadRequests(wiring.Component):
    """Read requests of the channel's heads: record 0, record 1, state 0, record 2, state 1,
    ..., state H-1 (``H = job.channel_heads``). Record ``i + 1`` is requested before state
    ``i``, so the next head's scalars and rows are computed while a state streams.

    Handshake: ``req`` is a stream, one request accepted per cycle at most. A record is one
    request of ``record_beats`` beats of kind ``RECORD`` (consecutive from ``record_addr``); a
    state is one request of ``head_state_bytes`` of kind ``STATE32`` or ``STATE16``
    (consecutive from ``state_addr``). Requests are offered from the cycle after ``go`` while
    ``running``.

    Members
    -------
    go : In(1)          pulse: ``job`` is valid; restart from head 0, ``running`` rises
    job : In(ssm_job_layout)
    phase : In(Phase)   the state stage's phase: ``DONE`` ends ``running``
    req : Out(stream.Signature(ssm_request_layout))
    running : Out(1)    from ``go`` until the state stage is ``DONE``
    """

    def __init__(self, geometry):
        self._g = geometry
        a = geometry.addr_bits
        super().__init__({"go": In(1), "job": In(ssm_job_layout(a)), "phase": In(Phase),
                          "req": Out(stream.Signature(ssm_request_layout(a))),
                          "running": Out(1)})

    def elaborate(self, platform):
        m = Module()
        a, bus_shift = self._g.addr_bits, exact_log2(self._g.bus_bytes)
        job, req, running = self.job, self.req, self.running
        rec_next, st_next = Signal(24), Signal(24)
        rec_addr, st_addr = Signal(a), Signal(a)
        with m.If(self.go):
            m.d.sync += [rec_next.eq(0), st_next.eq(0), rec_addr.eq(job.record_addr),
                         st_addr.eq(job.state_addr), running.eq(1)]
        rec_due = running & (rec_next < job.channel_heads) & (rec_next <= st_next + 1)
        st_due = running & (st_next < job.channel_heads)
        rec_bytes = job.record_beats << bus_shift
        with m.If(rec_due):
            m.d.comb += [req.valid.eq(1), req.payload.addr.eq(rec_addr),
                         req.payload.nbytes.eq(rec_bytes), req.payload.kind.eq(SsmKind.RECORD)]
            with m.If(req.ready):
                m.d.sync += [rec_next.eq(rec_next + 1), rec_addr.eq(rec_addr + rec_bytes)]
        with m.Elif(st_due):
            m.d.comb += [req.valid.eq(1), req.payload.addr.eq(st_addr),
                         req.payload.nbytes.eq(job.head_state_bytes),
                         req.payload.kind.eq(Mux(job.bf16, SsmKind.STATE16, SsmKind.STATE32))]
            with m.If(req.ready):
                m.d.sync += [st_next.eq(st_next + 1), st_addr.eq(st_addr + job.head_state_bytes)]
        with m.If(self.phase == Phase.DONE):
            m.d.sync += running.eq(0)
        return m
