"""One channel of the decode array running the Mamba-2 decode step (``ssm-step``).

Layout: :mod:`hybridgen.rtl.decode.ssm_layout`; order of operations:
:func:`hybridgen.golden.decode.ssm_step`. Per channel, for its heads in order:

* read requests (:class:`SsmReadRequests`, one read DMA): record 0, record 1, state 0,
  record 2, state 1, ...: the record of the next head is read before the state of the current
  one, so its scalars and rows are computed while the current state streams;
* the state streamer (:class:`SsmStateStream`) passes a record's beats to one of two record
  slots (:class:`SsmRecords`); the head unit (:class:`SsmHeadUnit`) computes dt, dA
  (:class:`~hybridgen.rtl.decode.ssm_head.SsmHeadScalars`) and u, D x, silu(z) of every row
  (:class:`~hybridgen.rtl.decode.ssm_head.SsmRowValues`) into the slot;
* the state chunks of the head (row group, chunk, row) go through :class:`SsmLane` with the
  slot's B and C chunks and the row's u; updated chunks are collected into rows of ``I``
  chunks and written back in place (:class:`SsmStateRows`); each finished row sum goes
  through :class:`~hybridgen.rtl.decode.ssm_head.SsmFinish` and the rows of a group are
  written as one y row (:class:`SsmYRows`); y rows go to the write DMA before state rows
  (:class:`SsmWriteMerge`);
* after the last head, flush chunks carry the last results out of the pipelines.

The job is latched on ``start`` (:class:`SsmJob`); every stage starts on its ``go``.

Every channel is the same module (the channel number is an input): :meth:`SsmChannel.place`
converts it once through the design's module library as a Verilator hierarchy block, so
Verilator also compiles it once however many channels place it.
"""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hybridgen.rtl.mem.axi import axi_signature
from hybridgen.rtl.mem.dma import COUNTER_BITS, ReadDma, WriteDma

from .layouts import descriptor_layout
from .placement import ChannelModule
from .sequencer import Phase
from .ssm_job import SSM_FLAG_BF16, SSM_FLAG_SOFTPLUS, SSM_FLAG_Z, SsmJob, channel_bits
from .ssm_lane import SsmLane
from .ssm_records import SsmHeadUnit, SsmRecords
from .ssm_requests import SsmReadRequests
from .ssm_stream import SsmStateStream
from .ssm_writeback import SsmStateRows, SsmWriteMerge, SsmYRows

__all__ = ["SsmChannel", "SSM_FLAG_SOFTPLUS", "SSM_FLAG_Z", "SSM_FLAG_BF16"]


class SsmChannel(ChannelModule, wiring.Component):
    """One channel of the decode step (module docstring).

    Parameters
    ----------
    geometry : hybridgen.rtl.decode.geometry.DecodeGeometry
    library : hybridgen.gen.hierarchy.ModuleLibrary, optional
        Where the lane's multipliers and adders are converted once.

    Members
    -------
    channel : In(channel_bits)   the channel number, constant (the heads it computes)
    start : In(1)        pulse: ``descriptor`` holds an accepted ``SSM_STEP`` descriptor
    descriptor : In(descriptor_layout)
    axi : Out(axi_signature)
    clear : In(1); read_bytes, write_bytes : Out(COUNTER_BITS)
    phase : Out(Phase); mem_wait, blocked : Out(1)   RUN: chunks left; waiting for a state
                         chunk or its head / a chunk blocked by the output queues
    done : Out(1)        every chunk and flush chunk through, every output handed to the DMA
    write_idle : Out(1)
    """

    #: the key of the channel in the module library (one geometry per design)
    LIBRARY_KEY = "ssm_channel"

    def __init__(self, geometry, library=None):
        self._g, self._library = geometry, library
        g = geometry
        super().__init__({
            "channel": In(channel_bits(g)), "start": In(1),
            "descriptor": In(descriptor_layout(g.addr_bits)),
            "axi": Out(axi_signature(g.addr_bits, 8 * g.bus_bytes)),
            "clear": In(1),
            "read_bytes": Out(COUNTER_BITS), "write_bytes": Out(COUNTER_BITS),
            "phase": Out(Phase), "mem_wait": Out(1), "blocked": Out(1),
            "done": Out(1), "write_idle": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        g = self._g
        bus, I, W = g.bus_bytes, g.interleave, g.bus_bytes // 4
        m.submodules.latch = latch = SsmJob(g)
        m.submodules.requests = requests = SsmReadRequests(g)
        m.submodules.reader = reader = ReadDma(
            addr_bits=g.addr_bits, bus_bytes=bus, chunk_bytes=(bus, bus, bus // 2),
            outstanding=g.outstanding)
        m.submodules.records = records = SsmRecords(g)
        m.submodules.head = head = SsmHeadUnit(g)
        m.submodules.lane = lane = SsmLane(width=W, interleave=I, adder_latency=g.adder_latency,
                                            library=self._library)
        m.submodules.yrows = yrows = SsmYRows(g, sum_latency=lane.sum_latency)
        m.submodules.srows = srows = SsmStateRows(g, latency=lane.latency)
        flush = -(-(I + lane.latency + yrows.latency + 2) // I) * I
        m.submodules.stream = stream = SsmStateStream(g, flush_chunks=flush)
        m.submodules.merge = merge = SsmWriteMerge(g)
        m.submodules.writer = writer = WriteDma(addr_bits=g.addr_bits, bus_bytes=bus,
                                                row_bytes=4 * I * W, outstanding=g.outstanding)

        m.d.comb += [latch.channel.eq(self.channel), latch.start.eq(self.start),
                     latch.descriptor.eq(self.descriptor),
                     stream.start.eq(self.start)]
        for stage in (requests, records, head, stream, yrows, srows):
            m.d.comb += [stage.go.eq(latch.go), stage.job.eq(latch.job)]
        # reads: requests -> DMA -> streamer (records to the slots, chunks to stage B)
        wiring.connect(m, requests=requests.req, reader=reader.req)
        wiring.connect(m, reader=reader.o, stream=stream.i)
        wiring.connect(m, stream=stream.rec, records=records.rec)
        wiring.connect(m, head=head.rec, records=records.head_rec)
        wiring.connect(m, head=head.z, records=records.head_z)
        wiring.connect(m, head=head.row, records=records.row_w)
        wiring.connect(m, stream=stream.b, records=records.b)
        wiring.connect(m, stream=stream.c, records=records.c)
        wiring.connect(m, stream=stream.row, records=records.row)
        m.d.comb += [requests.phase.eq(stream.phase), head.running.eq(requests.running),
                     head.full.eq(records.full), head.ready.eq(records.ready),
                     records.computed.eq(head.computed), records.release.eq(stream.release),
                     stream.ready.eq(records.ready), stream.da.eq(head.da)]
        # the lane and its outputs
        chunk = stream.o
        m.d.comb += [lane.en.eq(stream.en), lane.s.eq(chunk.s), lane.b.eq(chunk.b),
                     lane.c.eq(chunk.c), lane.da.eq(chunk.da), lane.u.eq(chunk.u),
                     lane.mask.eq(chunk.mask), lane.first.eq(chunk.first),
                     yrows.en.eq(stream.en), yrows.i.eq(chunk), yrows.acc.eq(lane.o.acc),
                     srows.en.eq(stream.en), srows.real.eq(chunk.real), srows.s.eq(lane.o.s),
                     stream.room.eq(yrows.room & srows.room)]
        wiring.connect(m, yrows=yrows.o, merge=merge.y)
        wiring.connect(m, srows=srows.o, merge=merge.s)
        wiring.connect(m, merge=merge.o, writer=writer.i)

        # the port: AR and R of the reader, AW, W and B of the writer
        for name, member in self.axi.signature.members.items():
            side = reader.axi if name.startswith(("ar", "r")) else writer.axi
            if member.flow == Out:
                m.d.comb += getattr(self.axi, name).eq(getattr(side, name))
            else:
                m.d.comb += getattr(side, name).eq(getattr(self.axi, name))
        m.d.comb += [reader.clear.eq(self.clear), writer.clear.eq(self.clear),
                     self.read_bytes.eq(reader.read_bytes),
                     self.write_bytes.eq(writer.written_bytes),
                     self.phase.eq(stream.phase), self.mem_wait.eq(stream.mem_wait),
                     self.blocked.eq(stream.blocked),
                     self.done.eq(stream.quiet & yrows.idle & srows.idle),
                     self.write_idle.eq(writer.idle)]
        return m
