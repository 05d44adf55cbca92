"""One channel of the decode array: its AXI4 port, DMAs, beat sequencer, lanes and outputs."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2, exact_log2

from hybridgen.rtl.arith.leaf import place
from hybridgen.rtl.mem.axi import axi_signature
from hybridgen.rtl.mem.dma import COUNTER_BITS, ReadDma, WriteDma

from .job import job_layout
from .lane import GemvLane
from .requests import KIND_X, RowRequests
from .results import Results
from .sequencer import BeatSequencer, Phase

__all__ = ["GemvChannel"]


def x_word_layout(geometry):
    """A word of the activation buffer: chunk c of every batch element's row of x."""
    return data.ArrayLayout(data.ArrayLayout(16, geometry.values), geometry.max_batch)


class GemvChannel(wiring.Component):
    """Channel ``index``: reads its groups of W (and, channel 0, the rows of x), runs them
    through ``max_batch`` lanes (lane b against row b of x) and writes its columns of y.

    Members
    -------
    start : In(1)           pulse: ``job`` is valid from this cycle until the next start
    job : In(job_layout)
    x_ready : In(1)         the activation buffer holds the job's x
    x_addr, x_en : Out      a synchronous read port of the activation buffer ...
    x_data : In(x_word_layout)   ... and its data
    xin : Out(stream)       channel 0: the chunks of x (``{data}``, V values)
    axi : Out(axi_signature)
    clear : In(1)           clears the byte counters
    read_bytes, write_bytes : Out(COUNTER_BITS)
    phase : Out(Phase); mem_wait, blocked : Out(1)   (see :class:`BeatSequencer`)
    done : Out(1)           the job's beats are through and its outputs handed to the write
                            DMA (its responses: ``write_idle``)
    write_idle : Out(1)
    """

    def __init__(self, geometry, index, library=None):
        self._g, self._index, self._library = geometry, index, library
        g = geometry
        super().__init__({
            "start": In(1), "job": In(job_layout(g)), "x_ready": In(1),
            "x_addr": Out(max(1, ceil_log2(g.x_depth))), "x_en": Out(1),
            "x_data": In(x_word_layout(g)),
            "xin": Out(stream.Signature(data.ArrayLayout(16, g.values))),
            "axi": Out(axi_signature(g.addr_bits, 8 * g.bus_bytes)),
            "clear": In(1),
            "read_bytes": Out(COUNTER_BITS), "write_bytes": Out(COUNTER_BITS),
            "phase": Out(Phase), "mem_wait": Out(1), "blocked": Out(1),
            "done": Out(1), "write_idle": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        g, c, job = self._g, self._index, self.job
        I, C = g.interleave, g.channels
        m.submodules.reader = reader = ReadDma(
            addr_bits=g.addr_bits, bus_bytes=g.bus_bytes, chunk_bytes=(g.bus_bytes, g.bus_bytes),
            outstanding=g.outstanding)
        m.submodules.results = results = Results(g, c)
        m.submodules.writer = writer = WriteDma(
            addr_bits=g.addr_bits, bus_bytes=g.bus_bytes, row_bytes=results.row_bytes,
            outstanding=g.outstanding)
        m.submodules.requests = requests = RowRequests(g, with_x=(c == 0))
        m.submodules.sequencer = seq = BeatSequencer(g)

        # this channel's share: groups c, c + C, ...; beats = groups * KC * I
        groups = Signal(job.groups.shape())
        m.d.comb += groups.eq(Mux(job.groups > c, (job.groups - c + C - 1) >> exact_log2(C), 0))
        beats = Signal(32)
        m.d.comb += beats.eq((groups * job.chunks) << exact_log2(I))
        m.d.comb += [requests.start.eq(self.start), requests.job.eq(job),
                     requests.w_bytes.eq(beats << exact_log2(g.bus_bytes)),
                     seq.start.eq(self.start), seq.beats.eq(beats), seq.chunks.eq(job.chunks),
                     results.start.eq(self.start), results.job.eq(job)]
        wiring.connect(m, requests=requests.req, reader=reader.req)

        # DMA chunks: kind X to the activation buffer, kind W to the sequencer
        is_x = reader.o.payload.kind == KIND_X
        m.d.comb += [self.xin.payload.eq(reader.o.payload.data),
                     seq.w.payload.eq(reader.o.payload.data),
                     self.xin.valid.eq(reader.o.valid & is_x),
                     seq.w.valid.eq(reader.o.valid & ~is_x),
                     reader.o.ready.eq(Mux(is_x, self.xin.ready, seq.w.ready))]
        m.d.comb += [seq.x_ready.eq(self.x_ready), self.x_addr.eq(seq.x_addr),
                     self.x_en.eq(seq.x_en), seq.room.eq(results.room)]

        # the lanes: lane b computes batch element b
        for b in range(g.max_batch):
            make = lambda: GemvLane(dot=g.dot, interleave=I, adder_latency=g.adder_latency,
                                    library=self._library)
            # a hierarchy block: built once for every lane of every channel (as a
            # no_inline_module it was 72 of decode-small's 100 MB of C++, docs/decode.md)
            lane = place(m, self._library, f"lane{b}",
                         f"gemv_lane_d{g.dot}_i{I}_l{g.adder_latency}", make,
                         hierarchy_block=True)
            m.d.comb += [lane.en.eq(seq.lane_en), lane.first.eq(seq.lane_first),
                         lane.w.eq(seq.lane_w), lane.x.eq(self.x_data[b]),
                         results.lanes[b].eq(lane.o)]
        m.d.comb += results.capture.eq(seq.capture)
        wiring.connect(m, results=results.o, writer=writer.i)

        # the port: AR/R from the read DMA, AW/W/B from the write DMA
        for name, member in self.axi.signature.members.items():
            side = reader.axi if name.startswith(("ar", "r")) else writer.axi
            if member.flow == Out:
                m.d.comb += getattr(self.axi, name).eq(getattr(side, name))
            else:
                m.d.comb += getattr(side, name).eq(getattr(self.axi, name))
        m.d.comb += [reader.clear.eq(self.clear), writer.clear.eq(self.clear),
                     self.read_bytes.eq(reader.read_bytes),
                     self.write_bytes.eq(writer.written_bytes),
                     self.phase.eq(seq.phase), self.mem_wait.eq(seq.mem_wait),
                     self.blocked.eq(seq.blocked),
                     self.done.eq((seq.phase == Phase.DONE) & results.idle),
                     self.write_idle.eq(writer.idle)]
        return m
