"""Row requests of one channel: the activation rows (channel 0 only), then the channel's W."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hybridgen.rtl.mem.dma import ROW_BYTES_BITS, row_request_layout

from .job import job_layout
from .layouts import BATCH_BITS

__all__ = ["RowRequests", "KIND_W", "KIND_X", "MAX_ROW_BYTES"]

KIND_W, KIND_X = 0, 1
#: W is read as rows of at most this many bytes (a row costs the DMA one cycle more than its
#: beats; 512 KiB rows make that negligible)
MAX_ROW_BYTES = 1 << (ROW_BYTES_BITS - 1)


class RowRequests(wiring.Component):
    """On ``start``: ``batch`` rows of x (``2k`` bytes at ``x_addr + b*ldx``, kind
    :data:`KIND_X`) if ``with_x``, then the ``w_bytes`` bytes at ``w_addr`` as rows of at most
    :data:`MAX_ROW_BYTES` (kind :data:`KIND_W`), one request per cycle.

    Members
    -------
    start : In(1)          pulse; ``job`` and ``w_bytes`` are valid from this cycle on
    job : In(job_layout)
    w_bytes : In(32)       bytes of W this channel reads
    req : Out(stream)      to :class:`hybridgen.rtl.mem.dma.ReadDma`
    """

    def __init__(self, geometry, *, with_x):
        self._g, self._with_x = geometry, with_x
        super().__init__({
            "start": In(1), "job": In(job_layout(geometry)), "w_bytes": In(32),
            "req": Out(stream.Signature(row_request_layout(geometry.addr_bits, 1))),
        })

    def elaborate(self, platform):
        m = Module()
        g, job, req = self._g, self.job, self.req
        x_left = Signal(BATCH_BITS + 1)
        x_addr = Signal(g.addr_bits)
        w_left = Signal(32)
        w_addr = Signal(g.addr_bits)
        with m.If(self.start):
            m.d.sync += [x_left.eq(job.batch if self._with_x else 0), x_addr.eq(job.x_addr),
                         w_left.eq(self.w_bytes), w_addr.eq(job.w_addr)]
        fire = req.valid & req.ready
        w_row = Mux(w_left < MAX_ROW_BYTES, w_left, MAX_ROW_BYTES)
        with m.If(x_left != 0):
            m.d.comb += [req.valid.eq(1), req.payload.addr.eq(x_addr),
                         req.payload.nbytes.eq(job.k * 2), req.payload.kind.eq(KIND_X)]
            with m.If(fire):
                m.d.sync += [x_left.eq(x_left - 1), x_addr.eq(x_addr + job.ldx)]
        with m.Elif(w_left != 0):
            m.d.comb += [req.valid.eq(1), req.payload.addr.eq(w_addr),
                         req.payload.nbytes.eq(w_row), req.payload.kind.eq(KIND_W)]
            with m.If(fire):
                m.d.sync += [w_left.eq(w_left - w_row), w_addr.eq(w_addr + w_row)]
        return m
