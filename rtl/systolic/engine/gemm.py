"""The top of the GEMM engine: it places the agents and connects them (no logic of its own)."""

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hybridgen.rtl.ctrl.counters import CounterBank
from hybridgen.rtl.ctrl.descriptor import DescriptorIntake
from hybridgen.rtl.mem.axi import axi_signature
from hybridgen.rtl.mem.dma import ReadDma, WriteDma

from ..array import SystolicArray
from ..layouts import COUNTED, COUNTERS, COUNTER_BITS, Error, counters_layout
from .accumulate import Accumulate
from .fills import Fills
from .memories import EngineMemories
from .os_feed import OsFeed
from .requests import RequestArbiter
from .setup import GemmSetup
from .switch import DataflowSwitch
from .tokens import Tokens
from .weights import WeightLoader
from .writeback import WriteBack
from .ws_feed import WsFeed

__all__ = ["GemmEngine"]


class GemmEngine(wiring.Component):
    """See :mod:`hybridgen.rtl.systolic.engine`.

    Parameters
    ----------
    library : hybridgen.gen.hierarchy.ModuleLibrary
        Where the PEs, the core, the feeder and the SRAMs are defined.
    geometry : hybridgen.rtl.systolic.geometry.EngineGeometry

    Members
    -------
    desc : In(stream.Signature(descriptor_layout))
    done : Out(stream.Signature(completion_layout))
    m_axi : Out(axi_signature(addr_bits, 8 * bus_bytes))
    """

    def __init__(self, library, geometry):
        self.geometry = geometry
        self._library = library
        super().__init__({
            "desc": In(stream.Signature(geometry.descriptor_layout)),
            "done": Out(stream.Signature(geometry.completion_layout)),
            "m_axi": Out(axi_signature(geometry.addr_bits, 8 * geometry.bus_bytes)),
        })

    @property
    def min_slot(self):
        """Cycles a job occupies the A stream at least (:attr:`EngineGeometry.min_slot`)."""
        return self.geometry.min_slot

    def elaborate(self, platform):
        m = Module()
        g, library = self.geometry, self._library
        m.submodules.array = array = SystolicArray(library, g.core)
        m.submodules.reader = reader = ReadDma(
            addr_bits=g.addr_bits, bus_bytes=g.bus_bytes,
            chunk_bytes=(g.line_bytes, g.cols * g.element_bytes), outstanding=g.outstanding)
        m.submodules.writer = writer = WriteDma(
            addr_bits=g.addr_bits, bus_bytes=g.bus_bytes, row_bytes=g.c_row_bytes,
            outstanding=g.outstanding)
        m.submodules.intake = intake = DescriptorIntake(
            descriptor=g.descriptor_layout, status=counters_layout(), error=Error)
        m.submodules.counters = counters = CounterBank(COUNTED, width=COUNTER_BITS, sources=3)
        m.submodules.setup = setup = GemmSetup(g)
        m.submodules.tokens = tokens = Tokens(g)
        m.submodules.memories = memories = EngineMemories(library, g)
        m.submodules.switch = switch = DataflowSwitch(g)
        m.submodules.requests = requests = RequestArbiter(g)
        m.submodules.fills = fills = Fills(g)
        m.submodules.accumulate = accumulate = Accumulate(library, g)
        m.submodules.writeback = writeback = WriteBack(g)

        # host side: descriptors in, completions out (counters; byte counts from the DMA)
        wiring.connect(m, host=wiring.flipped(self.desc), intake=intake.desc)
        wiring.connect(m, intake=intake.done, host=wiring.flipped(self.done))
        m.d.comb += [setup.incoming.eq(intake.incoming), intake.check.eq(setup.check),
                     setup.taken.eq(intake.taken), setup.begin.eq(intake.start),
                     setup.descriptor.eq(intake.descriptor), intake.fail.eq(setup.fail),
                     intake.finish.eq(setup.finish), setup.counting.eq(intake.counting),
                     counters.clear.eq(intake.taken), counters.inc[0].eq(setup.count)]
        sources = {"read_bytes": reader.read_bytes, "write_bytes": writer.written_bytes,
                   **{name: getattr(counters.count, name) for name in COUNTED}}
        for name in COUNTERS:
            m.d.comb += getattr(intake.status, name).eq(sources[name])

        # memory side: the AXI port is the read DMA's AR/R and the write DMA's AW/W/B
        for name, member in self.m_axi.signature.members.items():
            port = getattr(self.m_axi, name)
            side = reader.axi if name.startswith(("ar", "r")) else writer.axi
            if member.flow == Out:
                m.d.comb += port.eq(getattr(side, name))
            else:
                m.d.comb += getattr(side, name).eq(port)
        m.d.comb += [reader.clear.eq(setup.job.start), writer.clear.eq(setup.job.start),
                     tokens.start.eq(setup.job.start), switch.os_mode.eq(setup.job.os_mode),
                     writeback.writer_idle.eq(writer.idle),
                     setup.finishing.eq(writeback.finishing)]

        # the agents
        agents = {"requests": requests, "fills": fills, "writeback": writeback}
        wiring.connect(m, requests=requests.req, reader=reader.req)
        wiring.connect(m, reader=reader.o, fills=fills.i)
        wiring.connect(m, requests=requests.tokens, tokens=tokens.requests)
        wiring.connect(m, fills=fills.tokens, tokens=tokens.fills)
        wiring.connect(m, fills=fills.spad, memories=memories.spad_w)
        wiring.connect(m, fills=fills.wbuf, memories=memories.wbuf_w)
        m.d.comb += requests.row_done.eq(fills.row_done)
        if g.has_ws:
            m.submodules.loader = loader = WeightLoader(g)
            m.submodules.ws_feed = ws_feed = WsFeed(g)
            agents.update(loader=loader, ws_feed=ws_feed)
            wiring.connect(m, loader=loader.tokens, tokens=tokens.loader)
            wiring.connect(m, ws_feed=ws_feed.tokens, tokens=tokens.ws_feed)
            wiring.connect(m, loader=loader.w, switch=switch.ws_w)
            wiring.connect(m, loader=loader.wbuf, switch=switch.ws_wbuf)
            wiring.connect(m, ws_feed=ws_feed.a, switch=switch.ws_a)
            wiring.connect(m, ws_feed=ws_feed.spad, switch=switch.ws_spad)
            m.d.comb += [requests.ws_parity.eq(loader.parity),
                         ws_feed.finishing.eq(writeback.finishing),
                         ws_feed.busy_zero.eq(counters.zero.busy_cycles),
                         counters.inc[1].eq(ws_feed.count)]
            for i in range(2):
                m.d.comb += loader.slot_rows[i].eq(fills.slot_rows[i])
        if g.has_os:
            m.submodules.os_feed = os_feed = OsFeed(library, g)
            agents.update(os_feed=os_feed)
            wiring.connect(m, os_feed=os_feed.tokens, tokens=tokens.os_feed)
            wiring.connect(m, os_feed=os_feed.a, switch=switch.os_a)
            wiring.connect(m, os_feed=os_feed.w, switch=switch.os_w)
            wiring.connect(m, os_feed=os_feed.spad, switch=switch.os_spad)
            wiring.connect(m, os_feed=os_feed.wbuf, switch=switch.os_wbuf)
            m.d.comb += [requests.os_parity.eq(os_feed.parity),
                         os_feed.finishing.eq(writeback.finishing),
                         os_feed.busy_zero.eq(counters.zero.busy_cycles),
                         counters.inc[2].eq(os_feed.count)]
        wiring.connect(m, setup=setup.job, **{name: agent.job for name, agent in agents.items()})
        wiring.connect(m, switch=switch.a, array=array.a)
        wiring.connect(m, switch=switch.w, array=array.w)
        if g.dataflow == "both":
            m.d.comb += array.os.eq(switch.array_os)
        wiring.connect(m, switch=switch.spad, memories=memories.spad_r)
        wiring.connect(m, switch=switch.wbuf, memories=memories.wbuf_r)
        wiring.connect(m, array=array.o, accumulate=accumulate.i)
        wiring.connect(m, accumulate=accumulate.rmw, memories=memories.acc_rmw)
        wiring.connect(m, accumulate=accumulate.acc_w, memories=memories.acc_w)
        wiring.connect(m, accumulate=accumulate.tokens, tokens=tokens.accumulate)
        wiring.connect(m, writeback=writeback.acc, memories=memories.acc_wb)
        wiring.connect(m, writeback=writeback.tokens, tokens=tokens.writeback)
        wiring.connect(m, writeback=writeback.o, writer=writer.i)
        return m
