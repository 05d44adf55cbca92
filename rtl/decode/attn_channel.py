"""One channel of the decode array running decode attention (``Op.ATTN``): its read DMA, the
request generator (:class:`~hybridgen.rtl.decode.attn_requests.AttnRequests`), the query
buffer of its unit (:class:`QueryBuffer`) and the unit
(:class:`~hybridgen.rtl.decode.attn_unit.AttnUnit`); channel 0 also writes o.

Per channel, all channels independently::

    AttnRequests --req--> ReadDma --chunks, by kind--> LENS: AttnRequests (the lengths)
        |  info (FIFO) ----------------------------+    Q: QueryBuffer --q--> AttnUnit
        |  token (FIFO) -> the combine (array top) |    K: AttnUnit.k     (the fused
        v                                          +--> AttnUnit.info     dequantizers)
                                                        V: AttnUnit.v
    AttnUnit.o (partials of the job's q heads) -> FIFO (one job) -> the combine (array top)
    channel 0: o rows (from the combine) -> WriteDma -> m_axi[0]

The K and V tiles go from the DMA straight into the unit's dequantizers: no dequantized copy
is written anywhere (the only write of the kernel is o).
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from hybridgen.rtl.ctrl.stream_fifo import buffer_stream
from hybridgen.rtl.mem.axi import axi_signature
from hybridgen.rtl.mem.dma import COUNTER_BITS, ReadDma, WriteDma, write_row_layout

from .attn_requests import KIND_K, KIND_LENS, KIND_Q, KIND_V, AttnRequests
from .attn_unit import AttnUnit, tile_info_layout
from .combine import partial_layout
from .layouts import DIM_BITS, KvFormat, descriptor_layout
from .placement import ChannelModule
from .sequencer import Phase

__all__ = ["AttnChannel", "QueryBuffer", "INFO_DEPTH", "TOKEN_DEPTH"]

#: tile-info beats (K groups requested, not yet scored) and job tokens queued per channel
INFO_DEPTH, TOKEN_DEPTH = 16, 4
POSITIONS = 32


class QueryBuffer(wiring.Component):
    """The unit's q rows: ``heads`` rows of up to ``32 max_dim_tiles`` bf16 values.

    The Q row of a job (``g`` q heads x ``d`` bf16, head-major) arrives as ``g D`` chunks of
    32 values (one 64-byte beat each): chunk ``k`` is dim tile ``k mod D`` of head
    ``k // D``, word ``(k // D) max_dim_tiles + k mod D`` of ``q``. The rows of heads ``g ..
    heads - 1`` keep what they held (their outputs are dropped). A job's chunks are taken only
    when the unit is done with the previous job's q: ``busy`` is set by a job's last chunk and
    cleared by ``release`` (the unit took the job's last tile info: every score is computed).

    Members
    -------
    i : In(stream({data}))   Q chunks (32 bf16 values in the low bytes)
    last : In(1)             with ``i``: the job's last chunk
    dim_tiles : In(DIM_BITS) D
    release : In(1)          pulse
    q : Out(ArrayLayout(16, heads * 32 * max_dim_tiles))
    """

    def __init__(self, *, heads, max_dim_tiles, chunk_bits):
        self._heads, self._max = heads, max_dim_tiles
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({"data": chunk_bits}))),
            "last": In(1), "dim_tiles": In(DIM_BITS), "release": In(1),
            "q": Out(data.ArrayLayout(16, heads * POSITIONS * max_dim_tiles)),
        })

    def elaborate(self, platform):
        m = Module()
        H, D = self._heads, self._max
        busy = Signal()
        h, j = Signal(range(max(H, 2))), Signal(range(max(D, 2)))
        m.d.comb += self.i.ready.eq(~busy)
        words = self.q.as_value()
        with m.If(self.i.valid & self.i.ready):
            with m.Switch(h * D + j):
                for w in range(H * D):
                    with m.Case(w):
                        m.d.sync += words[512 * w:512 * (w + 1)].eq(self.i.payload.data[:512])
            m.d.sync += j.eq(j + 1)
            with m.If(j == self.dim_tiles - 1):
                m.d.sync += [j.eq(0), h.eq(h + 1)]
            with m.If(self.last):
                m.d.sync += [busy.eq(1), h.eq(0), j.eq(0)]
        with m.If(self.release):
            m.d.sync += busy.eq(0)
        return m


class AttnChannel(ChannelModule, wiring.Component):
    """One channel of decode attention (module docstring); its number is the input ``channel``.

    Every channel is the same module (:meth:`place`: converted once, one Verilator hierarchy
    block), so every channel has a write DMA; only channel 0's gets o rows (``orow`` of the
    others is held idle by the array), the others' write channels stay idle.

    Members
    -------
    channel : In(range(channels))   held
    start : In(1)        pulse: ``descriptor`` holds an accepted ATTN descriptor
    descriptor : In(descriptor_layout)
    axi : Out(axi_signature)
    partial : Out(stream(partial_layout(32 max_dim_tiles)))   the unit's partials, per job
                         with a tile ``heads`` beats (q head 0 first)
    token : Out(stream(1))   per job: 1 if this unit reads a tile of it (then ``partial``
                         carries its ``heads`` beats)
    orow : In(stream(write_row_layout))   o rows to write (only channel 0's is used)
    clear : In(1); read_bytes, write_bytes : Out(COUNTER_BITS)
    phase : Out(Phase)   RUN while requests are to be issued or read rows to be received
    mem_wait : Out(1)    RUN, rows requested and not received, and no chunk at the DMA's output
    blocked : Out(1)     a chunk at the DMA's output that the unit does not take
    write_idle : Out(1)
    """

    #: the key of the channel in the module library (one geometry per design)
    LIBRARY_KEY = "attn_channel"

    def __init__(self, geometry, library=None):
        self._g, self._library = geometry, library
        g = geometry
        self.row_bytes = 2 * g.attn_max_d
        super().__init__({
            "channel": In(range(max(g.channels, 2))),
            "start": In(1), "descriptor": In(descriptor_layout(g.addr_bits)),
            "axi": Out(axi_signature(g.addr_bits, 8 * g.bus_bytes)),
            "partial": Out(stream.Signature(partial_layout(g.attn_max_d))),
            "token": Out(stream.Signature(1)),
            "orow": In(stream.Signature(write_row_layout(g.addr_bits, self.row_bytes))),
            "clear": In(1),
            "read_bytes": Out(COUNTER_BITS), "write_bytes": Out(COUNTER_BITS),
            "phase": Out(Phase), "mem_wait": Out(1), "blocked": Out(1),
            "write_idle": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        g, bus = self._g, self._g.bus_bytes
        m.submodules.reader = reader = ReadDma(addr_bits=g.addr_bits, bus_bytes=bus,
                                               chunk_bytes=(bus,) * 4, outstanding=g.outstanding)
        m.submodules.requests = requests = AttnRequests(g)
        m.d.comb += requests.channel.eq(self.channel)
        m.submodules.info = info = fifo.SyncFIFOBuffered(width=tile_info_layout().size,
                                                         depth=INFO_DEPTH)
        m.submodules.tokens = tokens = fifo.SyncFIFOBuffered(width=1, depth=TOKEN_DEPTH)
        m.submodules.qbuf = qbuf = QueryBuffer(heads=g.attn_heads,
                                               max_dim_tiles=g.attn_dim_tiles,
                                               chunk_bits=8 * bus)
        unit = AttnUnit.place(m, "unit", g.tile_geometry, width=g.attn_width,
                              heads=g.attn_heads, max_dim_tiles=g.attn_dim_tiles,
                              library=self._library)
        m.d.comb += [requests.start.eq(self.start), requests.descriptor.eq(self.descriptor)]
        wiring.connect(m, requests=requests.req, reader=reader.req)
        m.d.comb += [info.w_stream.valid.eq(requests.info.valid),
                     info.w_stream.payload.eq(requests.info.payload),
                     requests.info.ready.eq(info.w_stream.ready)]
        wiring.connect(m, requests=requests.token, fifo=tokens.w_stream)
        m.d.comb += [unit.info.valid.eq(info.r_stream.valid),
                     unit.info.payload.eq(info.r_stream.payload),
                     info.r_stream.ready.eq(unit.info.ready)]
        wiring.connect(m, tokens=tokens.r_stream, host=wiring.flipped(self.token))
        # the unit's partials of a job through a FIFO of one job (attn_heads beats): the PV lanes
        # hold their accumulators until every partial is out, and the combine takes one partial
        # per fold or normalization (of every unit in turn), so without it a unit would wait for
        # most of a kv head's combine before its next job's first V group
        buffer_stream(m, "partials", unit.o, self.partial, g.attn_heads)

        # the DMA's chunks by kind: lengths, q rows, K tiles, V tiles
        o = reader.o
        kind, chunk = o.payload.kind, o.payload.data
        fmt = requests.job.fmt
        for port in (unit.k, unit.v):
            m.d.comb += port.payload.data.eq(chunk)
            if g.tile_geometry.runtime_format:
                m.d.comb += port.payload.bfp4.eq(fmt == KvFormat.BFP4)
            if g.tile_geometry.runtime_bf16:
                m.d.comb += port.payload.bf16.eq(fmt == KvFormat.BF16)
        m.d.comb += [requests.lens.payload.data.eq(chunk), qbuf.i.payload.data.eq(chunk),
                     qbuf.last.eq(o.payload.last), qbuf.dim_tiles.eq(requests.job.dim_tiles),
                     unit.q.eq(qbuf.q), unit.dim_tiles.eq(requests.job.dim_tiles),
                     qbuf.release.eq(unit.info.valid & unit.info.ready & unit.info.payload.last)]
        targets = {KIND_K: unit.k, KIND_V: unit.v, KIND_Q: qbuf.i, KIND_LENS: requests.lens}
        with m.Switch(kind):
            for code, port in targets.items():
                with m.Case(code):
                    m.d.comb += [port.valid.eq(o.valid), o.ready.eq(port.ready)]

        # the port: AR/R from the read DMA, AW/W/B from the write DMA (it moves nothing but
        # in channel 0: no other channel gets o rows)
        m.submodules.writer = writer = WriteDma(addr_bits=g.addr_bits, bus_bytes=bus,
                                                row_bytes=self.row_bytes,
                                                outstanding=g.outstanding)
        wiring.connect(m, host=wiring.flipped(self.orow), writer=writer.i)
        m.d.comb += [writer.clear.eq(self.clear), self.write_bytes.eq(writer.written_bytes),
                     self.write_idle.eq(writer.idle)]
        for name, member in self.axi.signature.members.items():
            side = reader.axi if name.startswith(("ar", "r")) else writer.axi
            if member.flow == Out:
                m.d.comb += getattr(self.axi, name).eq(getattr(side, name))
            else:
                m.d.comb += getattr(side, name).eq(getattr(self.axi, name))
        m.d.comb += [reader.clear.eq(self.clear), self.read_bytes.eq(reader.read_bytes)]

        # cycle classes: rows requested and not yet received
        pending = Signal(16)
        asked = requests.req.valid & requests.req.ready
        got = o.valid & o.ready & o.payload.last
        m.d.sync += pending.eq(pending + asked - got)
        run = ~requests.finished | (pending != 0)
        m.d.comb += [self.phase.eq(Mux(run, Phase.RUN, Phase.DONE)),
                     self.mem_wait.eq(run & (pending != 0) & ~o.valid),
                     self.blocked.eq(o.valid & ~o.ready)]
        return m
