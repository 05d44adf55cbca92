"""The job of one channel of the decode step (``ssm-step``): the descriptor latched on ``start``
and the figures of the channel layout (:class:`hybridgen.rtl.decode.ssm_layout.SsmLayout`)
that every stage of :class:`hybridgen.rtl.decode.ssm_channel.SsmChannel` reads.

* :data:`SSM_FLAG_SOFTPLUS`, :data:`SSM_FLAG_Z`, :data:`SSM_FLAG_BF16` - the descriptor's
  ``flags`` bits;
* :class:`SsmKind` - the read DMA's chunk kinds (a record beat, an fp32 or a bf16 state chunk);
* :func:`ssm_job_layout` and :class:`SsmJob`.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, enum, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2, exact_log2

from .layouts import descriptor_layout

__all__ = ["SSM_FLAG_SOFTPLUS", "SSM_FLAG_Z", "SSM_FLAG_BF16", "SsmKind", "ssm_job_layout",
           "channel_bits", "SsmJob"]

#: descriptor ``flags`` bits of the decode step
SSM_FLAG_SOFTPLUS, SSM_FLAG_Z, SSM_FLAG_BF16 = 1, 2, 4


class SsmKind(enum.Enum, shape=2):
    """Chunk kind of a read request (the read DMA's ``chunk_bytes`` index)."""
    RECORD = 0    # a head record beat (bus bytes)
    STATE32 = 1   # an fp32 state chunk (bus bytes: W values)
    STATE16 = 2   # a bf16 state chunk (half a beat: W values)


def ssm_job_layout(addr_bits):
    """The job as every stage sees it (names of :class:`SsmLayout`; counts in beats, chunks,
    rows of the channel, byte addresses in its memory):

    ``p``, ``n``; ``softplus``, ``with_z``, ``bf16`` (the flags); ``K`` chunks per row, ``Pq``
    row groups per head, ``rows = Pq * I``; the record's beats: ``z_base``, ``b_base``,
    ``c_base`` (first beat of z, B, C), ``record_beats``; ``head_state_bytes``;
    ``channel_heads`` (heads of this channel); ``state_addr``, ``record_addr``, ``y_addr``;
    ``y_start = y_addr + 2 * channel * p`` (the byte of y of the channel's first head).
    """
    return data.StructLayout({
        "p": 16, "n": 16, "softplus": 1, "with_z": 1, "bf16": 1,
        "K": 16, "Pq": 16, "rows": 16, "z_base": 16, "b_base": 16, "c_base": 16,
        "record_beats": 16, "head_state_bytes": 32, "channel_heads": 24,
        "state_addr": addr_bits, "record_addr": addr_bits, "y_addr": addr_bits,
        "y_start": addr_bits,
    })


def _ceil_shift(value, bits):
    return (value + (1 << bits) - 1) >> bits


def channel_bits(geometry):
    """Width of a channel number (at least 1)."""
    return max(1, ceil_log2(geometry.channels))


class SsmJob(wiring.Component):
    """The job of channel ``channel`` (an input, so that every channel is the same module).

    Latency: ``go`` pulses one cycle after ``start``; ``job`` holds the descriptor's step from
    that cycle until the next ``start`` (its derived fields are combinational on the latched
    descriptor).

    Parameters
    ----------
    geometry : hybridgen.rtl.decode.geometry.DecodeGeometry

    Members
    -------
    channel : In(channel_bits)   the channel number (its heads are ``e % channels == channel``);
                         constant
    start : In(1)        pulse: ``descriptor`` holds an accepted ``SSM_STEP`` descriptor
    descriptor : In(descriptor_layout)
    go : Out(1)          pulse: ``job`` is valid, the stages start
    job : Out(ssm_job_layout)
    """

    def __init__(self, geometry):
        self._g = geometry
        a = geometry.addr_bits
        super().__init__({"channel": In(channel_bits(geometry)), "start": In(1),
                          "descriptor": In(descriptor_layout(a)),
                          "go": Out(1), "job": Out(ssm_job_layout(a))})

    def elaborate(self, platform):
        m = Module()
        g, c = self._g, self.channel
        C, bus, I = g.channels, g.bus_bytes, g.interleave
        lw, lv16, li = exact_log2(bus // 4), exact_log2(bus // 2), exact_log2(I)
        a = g.addr_bits
        d, job = self.descriptor, self.job
        batch, heads = Signal(8), Signal(16)
        p, n, flags = Signal(16), Signal(16), Signal(4)
        state_addr, record_addr, y_addr = Signal(a), Signal(a), Signal(a)
        m.d.sync += self.go.eq(self.start)
        with m.If(self.start):
            m.d.sync += [batch.eq(d.batch), heads.eq(d.heads), p.eq(d.headdim),
                         n.eq(d.dstate), flags.eq(d.flags), state_addr.eq(d.state_addr),
                         record_addr.eq(d.record_addr), y_addr.eq(d.y_addr)]
        with_z, bf16 = flags[1], flags[2]
        # derived from the latched fields only (a field computed from another field of
        # ``job`` would be a combinational loop through one signal for Verilator)
        K, Pq, rows = Signal(16), Signal(16), Signal(16)
        x_beats, bc_beats, b_base = Signal(16), Signal(16), Signal(16)
        head_chunks, total_heads = Signal(32), Signal(24)
        m.d.comb += [K.eq(_ceil_shift(n, lw)), Pq.eq(_ceil_shift(p, li)), rows.eq(Pq << li),
                     x_beats.eq(_ceil_shift(rows, lv16)), bc_beats.eq(_ceil_shift(K, 1)),
                     b_base.eq(1 + x_beats + Mux(with_z, x_beats, 0)),
                     head_chunks.eq((Pq * K) << li), total_heads.eq(batch * heads)]
        m.d.comb += [job.p.eq(p), job.n.eq(n), job.softplus.eq(flags[0]),
                     job.with_z.eq(with_z), job.bf16.eq(bf16),
                     job.state_addr.eq(state_addr), job.record_addr.eq(record_addr),
                     job.y_addr.eq(y_addr), job.y_start.eq(y_addr + 2 * c * p),
                     job.K.eq(K), job.Pq.eq(Pq), job.rows.eq(rows),
                     job.z_base.eq(1 + x_beats), job.b_base.eq(b_base),
                     job.c_base.eq(b_base + bc_beats),
                     job.record_beats.eq(b_base + 2 * bc_beats),
                     job.head_state_bytes.eq(Mux(bf16, head_chunks << (lw + 1),
                                                 head_chunks << (lw + 2))),
                     job.channel_heads.eq(Mux(total_heads > c,
                                              (total_heads - c + C - 1) >> exact_log2(C), 0))]
        return m
