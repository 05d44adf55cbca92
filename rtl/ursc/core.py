"""The URSC core top for PipeFlash attention: it places the agents and connects them.

Host side: one attention descriptor (:func:`~.attention_desc.attention_descriptor`) per kernel
through :class:`~hybridgen.rtl.ctrl.descriptor.DescriptorIntake`; the verdict is
:class:`~.attention_desc.AttentionCheck`'s code, plus ``MEMORY`` when the blocks do not fit the
banked memories (:meth:`~.memories.CoreGeometry.layout_fits`; :func:`core_errors` is the
reference). The completion beat carries the counters (:data:`COUNTERS`) and the error code.

Memory side: one AXI4 master port, the read channels from the shared
:class:`~hybridgen.rtl.mem.dma.ReadDma` (Q, K, V rows), the write channels from the shared
:class:`~hybridgen.rtl.mem.dma.WriteDma` (O pieces).

Inside: :class:`~.attention_seq.AttentionSequencer` (the loop nest) ->
:class:`~.pipeflash.PipeFlash` (the item pipeline: front, softmax and PV stages side by side)
driving the :class:`~.loader.Loader`, the DPE feeds (:mod:`.feeds`), the S collector, the
:class:`~.softmax.Softmax` programs on RVPE units 0 and 1 (one item each) and
:class:`~.update.OUpdate` on UpE unit 0; the engines are the :class:`~.datapath.UrscDatapath`; the memories :class:`~.memories.UrscMemories`.

Counters (32 bits, cleared when a descriptor is taken): ``cycles`` (descriptor taken -> finish),
``dpe0_busy``, ``dpe1_busy``, ``rvpe_busy``, ``upe_busy`` (beats the engine accepted, every
unit: the two softmax units' RVPE beats are counted apart and added), and one
class per counted cycle that adds up to ``cycles``: ``dpe_cycles`` (a DPE takes a beat), else
by what the controller waits for: ``stall_load``, ``stall_dpe`` (DPE pipeline latency),
``stall_softmax``, ``stall_update``, ``stall_store``, ``stall_control``; and ``read_bytes``,
``write_bytes`` from the DMA.
"""

from amaranth.hdl import Module, Mux
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hybridgen.rtl.ctrl.counters import CounterBank, counter_layout, first_match
from hybridgen.rtl.ctrl.descriptor import DescriptorIntake, completion_layout
from hybridgen.rtl.mem.axi import axi_signature
from hybridgen.rtl.mem.dma import ReadDma, WriteDma

from .attention_desc import AttentionCheck, AttentionError, attention_descriptor, attention_errors
from .attention_seq import AttentionSequencer
from .datapath import UrscDatapath
from .feeds import PvFeed, SFeed
from .loader import Loader
from .memories import ADDR_BITS, CoreGeometry, UrscMemories
from .pipeflash import Phase, PipeFlash, SCollect
from .softmax import Softmax
from .update import OUpdate

__all__ = ["UrscCore", "COUNTERS", "STALL_CLASSES", "core_errors", "status_layout"]

COUNTER_BITS = 32
STALL_CLASSES = ("dpe_cycles", "stall_load", "stall_dpe", "stall_softmax", "stall_update",
                 "stall_store", "stall_control")
COUNTED = ("cycles", "dpe0_busy", "dpe1_busy", "rvpe_busy", "upe_busy") + STALL_CLASSES
COUNTERS = COUNTED + ("read_bytes", "write_bytes")
#: Beats of RVPE unit 1 (a counter adds at most 1 per cycle; ``rvpe_busy`` is its sum with unit
#: 0's; unit 1 counts even when the controller does not drive it).
_UNIT_COUNTERS = ("rvpe1_busy",)


def status_layout():
    return counter_layout(COUNTERS, COUNTER_BITS)


def core_errors(config, **desc):
    """Reference verdict of the core: :func:`attention_errors` plus ``MEMORY`` when the
    banked layout does not hold the blocks (int descriptor fields)."""
    code = attention_errors(config, **desc)
    g = CoreGeometry.of(config)
    if not g.layout_fits(block_q=min(desc["block_q"], desc["sq"]) or 1,
                         block_k=min(desc["block_k"], desc["sk"]) or 1, d=desc["d"]):
        code |= AttentionError.MEMORY
    return code


class UrscCore(wiring.Component):
    """See the module docstring.

    Parameters
    ----------
    config : UrscConfig
    library : gen.hierarchy.ModuleLibrary, optional

    Members
    -------
    desc : In(stream.Signature(attention_descriptor()))
    done : Out(stream.Signature(completion_layout(status_layout(), AttentionError)))
    m_axi : Out(axi_signature(ADDR_BITS, bus_bits))
    """

    def __init__(self, config, library=None):
        self._config = config
        self._g = g = CoreGeometry.of(config)
        self._library = library
        super().__init__({
            "desc": In(stream.Signature(attention_descriptor())),
            "done": Out(stream.Signature(completion_layout(status_layout(), AttentionError))),
            "m_axi": Out(axi_signature(ADDR_BITS, 8 * g.bus_bytes)),
        })

    @property
    def geometry(self):
        return self._g

    def elaborate(self, platform):
        m = Module()
        g, config = self._g, self._config
        sub = m.submodules
        sub.engines = engines = UrscDatapath(**config.datapath_params(), library=self._library)
        sub.reader = reader = ReadDma(addr_bits=ADDR_BITS, bus_bytes=g.bus_bytes,
                                      chunk_bytes=g.chunk_bytes, outstanding=g.outstanding)
        sub.writer = writer = WriteDma(addr_bits=ADDR_BITS, bus_bytes=g.bus_bytes,
                                       row_bytes=g.store_bytes, outstanding=g.outstanding)
        sub.intake = intake = DescriptorIntake(descriptor=attention_descriptor(),
                                               status=status_layout(), error=AttentionError)
        sub.check = check = AttentionCheck(config)
        sub.counters = counters = CounterBank(COUNTED + _UNIT_COUNTERS, width=COUNTER_BITS)
        sub.sequencer = seq = AttentionSequencer(lanes=g.lanes)
        sub.pipeflash = flash = PipeFlash(g)
        sub.loader = loader = Loader(g)
        sub.s_feed = s_feed = SFeed(g)
        sub.pv_feed = pv_feed = PvFeed(g)
        sub.s_collect = s_collect = SCollect(g)
        softmaxes = []
        for u in range(g.softmax_units):
            softmaxes.append(Softmax(g))
            sub[f"softmax{u}"] = softmaxes[u]
        sub.update = update = OUpdate(g)
        sub.memories = mem = UrscMemories(g)

        # host side
        wiring.connect(m, host=wiring.flipped(self.desc), intake=intake.desc)
        wiring.connect(m, intake=intake.done, host=wiring.flipped(self.done))
        inc = intake.incoming
        fits = g.layout_fits(block_q=Mux(inc.block_q < inc.sq, inc.block_q, inc.sq),
                             block_k=Mux(inc.block_k < inc.sk, inc.block_k, inc.sk), d=inc.d)
        m.d.comb += [check.desc.eq(inc),
                     intake.check.eq(check.error.as_value()
                                     | Mux(fits, 0, AttentionError.MEMORY.value)),
                     intake.finish.eq(flash.finish), seq.start.eq(intake.start),
                     seq.desc.eq(intake.descriptor), flash.desc.eq(intake.descriptor),
                     counters.clear.eq(intake.taken), reader.clear.eq(intake.taken),
                     writer.clear.eq(intake.taken)]
        for name in COUNTED:
            value = getattr(counters.count, name)
            if name == "rvpe_busy":
                for extra in _UNIT_COUNTERS:
                    value = value + getattr(counters.count, extra)
            m.d.comb += getattr(intake.status, name).eq(value)
        m.d.comb += [intake.status.read_bytes.eq(reader.read_bytes),
                     intake.status.write_bytes.eq(writer.written_bytes)]
        self._count(m, intake, counters, engines, flash)

        # memory side: AR/R of the read DMA, AW/W/B of the write DMA
        for name, member in self.m_axi.signature.members.items():
            port = getattr(self.m_axi, name)
            side = reader.axi if name.startswith(("ar", "r")) else writer.axi
            if member.flow == Out:
                m.d.comb += port.eq(getattr(side, name))
            else:
                m.d.comb += getattr(side, name).eq(port)

        # the controller and its agents
        wiring.connect(m, sequencer=seq.items, pipeflash=flash.items)
        wiring.connect(m, pipeflash=flash.load, loader=loader.cmd)
        wiring.connect(m, loader=loader.req, reader=reader.req)
        wiring.connect(m, reader=reader.o, loader=loader.i)
        wiring.connect(m, pipeflash=flash.s_job, s_feed=s_feed.job)
        wiring.connect(m, pipeflash=flash.pv_job, pv_feed=pv_feed.job)
        wiring.connect(m, s_feed=s_feed.dpe, engines=engines.dpe_i[0])
        wiring.connect(m, pv_feed=pv_feed.dpe, engines=engines.dpe_i[1])
        wiring.connect(m, engines=engines.dpe_o[0], s_collect=s_collect.i)
        wiring.connect(m, engines=engines.dpe_o[1], update=update.pv)
        for u, softmax in enumerate(softmaxes):
            wiring.connect(m, softmax=softmax.rvpe, engines=engines.rvpe_i[u])
            wiring.connect(m, engines=engines.rvpe_o[u], softmax=softmax.rvpe_o)
            wiring.connect(m, softmax.s_r, getattr(mem, f"s{u}_r"))
            wiring.connect(m, softmax.s_w, getattr(mem, f"s{u}_w"))
            wiring.connect(m, softmax.p_w, getattr(mem, f"p_w{u or ''}"))
            m.d.comb += [
                softmax.start.eq(flash.sm_start[u]), softmax.program.eq(flash.sm_program[u]),
                softmax.p_base.eq(flash.sm_base[u]), flash.sm_busy[u].eq(softmax.busy),
                softmax.vectors.eq(flash.vectors[u]), softmax.scale.eq(intake.descriptor.scale),
                softmax.limit.eq(flash.limit[u]), softmax.m_old.eq(flash.m_old[u]),
                softmax.l_old.eq(flash.l_old[u]), softmax.l_fin.eq(flash.l_old[u]),
                flash.m_new[u].eq(softmax.m_new), flash.l_new[u].eq(softmax.l_new),
                flash.alpha[u].eq(softmax.alpha), flash.rinv[u].eq(softmax.rinv)]
            # DPE0's S results go to the S memory of the item's parity
            s_w1 = getattr(mem, f"s{u}_w1")
            m.d.comb += [s_w1.addr.eq(s_collect.s_w.addr), s_w1.data.eq(s_collect.s_w.data)]
            for lane in range(g.lanes):
                m.d.comb += s_w1.en[lane].eq(Mux(flash.s_half == u, s_collect.s_w.en[lane], 0))
        wiring.connect(m, update=update.upe, engines=engines.upe_i[0])
        wiring.connect(m, engines=engines.upe_o[0], update=update.upe_o)
        wiring.connect(m, update=update.store, writer=writer.i)
        for agent, port, name in ((loader, "q_w", "q_w"), (loader, "k_w", "k_w"),
                                  (loader, "v_w", "v_w"), (s_feed, "q_r", "q_r"),
                                  (s_feed, "k_r", "k_r"), (pv_feed, "p_r", "p_r"),
                                  (pv_feed, "v_r", "v_r"), (update, "o_r", "o_r"),
                                  (update, "o_w", "o_w"), (flash, "u_r", "u_r"),
                                  (flash, "u_w", "u_w")):
            wiring.connect(m, getattr(agent, port), getattr(mem, name))
        m.d.comb += [
            flash.load_busy.eq(loader.busy),
            s_collect.clear.eq(flash.s_clear), s_collect.go.eq(flash.s_go),
            flash.s_count.eq(s_collect.count), s_feed.dchunks.eq(flash.dchunks),
            pv_feed.ctiles.eq(flash.ctiles),
            *[getattr(feed, name)[p].eq(getattr(flash, name)[p]) for p in range(2)
              for feed, names in ((s_feed, ("q_base", "k_base")),
                                  (pv_feed, ("v_base", "keys", "p_base"))) for name in names],
            update.start.eq(flash.up_start), update.store_start.eq(flash.up_store),
            update.first.eq(flash.up_first), flash.up_busy.eq(update.busy), flash.up_store_busy.eq(update.store_busy),
            flash.up_idle.eq(update.idle), update.o_base.eq(flash.o_base),
            update.ctiles.eq(flash.ctiles), update.tile.eq(flash.tile), update.d.eq(flash.d),
            update.row_addr.eq(flash.row_addr), update.row_stride.eq(flash.row_stride),
            update.alpha.eq(flash.up_alpha), update.rinv.eq(flash.up_rinv),
            update.l_fin.eq(flash.up_l), flash.writer_idle.eq(writer.idle),
        ]
        return m

    @staticmethod
    def _count(m, intake, counters, engines, flash):
        inc = counters.inc[0]
        counting = intake.counting
        m.d.comb += [inc.cycles.eq(counting),
                     inc.dpe0_busy.eq(counting & engines.dpe_busy[0]),
                     inc.dpe1_busy.eq(counting & engines.dpe_busy[1]),
                     inc.rvpe_busy.eq(counting & engines.rvpe_busy[0]),
                     *[getattr(inc, name).eq(counting & engines.rvpe_busy[u])
                       for u, name in enumerate(_UNIT_COUNTERS, start=1)
                       if u < len(engines.rvpe_busy)],
                     inc.upe_busy.eq(counting & engines.upe_busy[0])]
        phase = flash.phase
        first_match(m, inc, [
            (engines.dpe_busy[0] | engines.dpe_busy[1], "dpe_cycles"),
            (phase == Phase.LOAD, "stall_load"),
            (phase == Phase.S, "stall_dpe"),
            (phase == Phase.SOFTMAX, "stall_softmax"),
            (phase == Phase.PV, "stall_update"),
            (phase == Phase.STORE, "stall_store"),
            (1, "stall_control"),
        ], enable=counting)
