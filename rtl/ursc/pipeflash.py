"""The PipeFlash controller: what happens to each row-tile item of the
:class:`~hybridgen.rtl.ursc.attention_seq.AttentionSequencer`.

Simple schedule (correctness first: one step at a time, nothing overlapped), per item
(``t`` = the row tile's index in its q-block, ``t0 = t * lanes``):

1. a new q-block (``j0 = 0``, ``t0 = 0``): load its Q rows (:class:`~.loader.Loader`);
   a new key block (``t0 = 0``): load K_j, then V_j;
2. m and l of the row tile: -inf and +0 on ``first``, else from UMEM word ``t`` (written back
   after every item, visited or skipped);
3. if ``visible``: DPE0 computes the ``ceil(visible / dpus)`` S tiles (:class:`~.feeds.SFeed`)
   into VMEM (:class:`SCollect`); the RVPE runs the softmax passes (:class:`~.softmax.Softmax`);
   DPE1 computes the ``ceil(d / dpus)`` P V tiles over ``ceil(visible / mults)`` chunks
   (:class:`~.feeds.PvFeed`) and the UpE folds them into O (:class:`~.update.OUpdate`);
   m and l go back to UMEM;
4. if ``last``: the RVPE computes ``1 / l`` and the UpE writes ``bf16(O / l)`` of the tile's
   rows to memory;
5. the item is taken; after the ``end`` item the controller waits for the write DMA, then
   reports ``finish``.

A row of the tile that sees no key of a visited block is updated like the others (its S row is
all -inf, so m stays, ``a = 1`` and l, O add zeros), as verif/ursc/attention_model.py shows.
``phase`` tells the counters what the controller waits for.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from .attention_desc import attention_descriptor
from .attention_seq import item_layout
from .dpe import dpe_results
from .dpe_order import dpe_job_layout
from .loader import LoadKind, load_command_layout
from .memories import ADDR_BITS, read_signature, write_signature
from .softmax import NEG_INF

__all__ = ["Phase", "SCollect", "PipeFlash"]


class Phase(enum.Enum, shape=3):
    """What the controller waits for (the stall class of a cycle no DPE works in)."""
    CONTROL = 0
    LOAD = 1
    S = 2
    SOFTMAX = 3
    PV = 4
    STORE = 5


class SCollect(wiring.Component):
    """DPE0's results into the S buffer: result n (tile n of the item, ``lanes x dpus`` fp32)
    is written to word ``n // G``, granule ``n % G`` of every lane's bank (``G =
    vector_width / dpus``). ``count`` counts the results since ``clear``.

    Members
    -------
    clear : In(1)
    count : Out(16)
    i : In(stream.Signature(dpe_results(lanes, dpus)))
    s_w : Out(write_signature)
    """

    def __init__(self, geometry):
        self._g = g = geometry
        banks, width, depth, gran = g.memories["s"]
        super().__init__({"clear": In(1), "count": Out(16),
                          "i": In(stream.Signature(dpe_results(g.lanes, g.dpus))),
                          "s_w": Out(write_signature(banks, width, depth, width // gran))})

    def elaborate(self, platform):
        m = Module()
        g = self._g
        per = g.vector_width // g.dpus
        word, granule = Signal(16), Signal(range(per))
        m.d.comb += [self.i.ready.eq(1), self.s_w.addr.eq(word)]
        for lane in range(g.lanes):
            row = self.i.payload[lane].as_value()
            m.d.comb += [self.s_w.data[lane].eq(Cat(*[row] * per)),
                         self.s_w.en[lane].eq(Mux(self.i.valid, 1 << granule, 0))]
        with m.If(self.i.valid):
            m.d.sync += self.count.eq(self.count + 1)
            with m.If(granule == per - 1):
                m.d.sync += [granule.eq(0), word.eq(word + 1)]
            with m.Else():
                m.d.sync += granule.eq(granule + 1)
        with m.If(self.clear):
            m.d.sync += [self.count.eq(0), word.eq(0), granule.eq(0)]
        return m


class PipeFlash(wiring.Component):
    """The item controller of the module docstring.

    Members
    -------
    desc : In(attention_descriptor())       the accepted descriptor (stable while running)
    items : In(stream.Signature(item_layout(lanes)))   from the sequencer
    finish : Out(1)                          pulse: the kernel's last output is written
    phase : Out(Phase)
    load : Out(stream.Signature(load_command_layout())), load_busy : In(1)     the loader
    s_job : Out(stream), s_clear : Out(1), s_count : In(16), q_base, dchunks : Out(16)
        DPE0's feed and collector
    pv_job : Out(stream), ctiles, keys : Out(16)                                DPE1's feed
    sm_start, sm_program : Out(1), sm_busy : In(1), vectors : Out(16),
    limit : Out(ArrayLayout(16, lanes)), m_old, l_old : Out(row), m_new, l_new : In(row)
        the softmax program (``l_old`` is also its ``l_fin``)
    up_start, up_mode, up_first : Out(1), up_busy, up_idle : In(1), o_base, tile, d : Out(16),
    row_addr, row_stride : Out(ADDR_BITS)                                       the UpE side
    writer_idle : In(1)
    u_r, u_w : UMEM ports
    """

    def __init__(self, geometry):
        self._g = g = geometry
        L = g.lanes
        row = data.ArrayLayout(32, L)
        banks, width, depth, _ = g.memories["u"]
        job = stream.Signature(dpe_job_layout())
        super().__init__({
            "desc": In(attention_descriptor()), "items": In(stream.Signature(item_layout(L))),
            "finish": Out(1), "phase": Out(Phase),
            "load": Out(stream.Signature(load_command_layout())), "load_busy": In(1),
            "s_job": Out(job), "s_clear": Out(1), "s_count": In(16), "q_base": Out(16),
            "dchunks": Out(16), "pv_job": Out(job), "ctiles": Out(16), "keys": Out(16),
            "sm_start": Out(1), "sm_program": Out(1), "sm_busy": In(1), "vectors": Out(16),
            "limit": Out(data.ArrayLayout(16, L)), "m_old": Out(row), "l_old": Out(row),
            "m_new": In(row), "l_new": In(row),
            "up_start": Out(1), "up_mode": Out(1), "up_first": Out(1), "up_busy": In(1),
            "up_idle": In(1), "o_base": Out(16), "tile": Out(16), "d": Out(16),
            "row_addr": Out(ADDR_BITS), "row_stride": Out(ADDR_BITS), "writer_idle": In(1),
            "u_r": Out(read_signature(banks, width, depth)),
            "u_w": Out(write_signature(banks, width, depth, 1)),
        })

    def geometry_of_item(self, m, desc, it):
        """Combinational figures of item ``it``: sizes, limits, addresses."""
        g = self._g
        d = desc.d
        vis = it.visible
        m.d.comb += [self.dchunks.eq((d + g.mults - 1) >> exact_log2(g.mults)),
                     self.ctiles.eq((d + g.dpus - 1) // g.dpus), self.keys.eq(it.keys),
                     self.vectors.eq((vis + g.vector_width - 1) >> exact_log2(g.vector_width)),
                     self.tile.eq(it.tile), self.d.eq(d)]
        for r in range(g.lanes):
            raw = Signal(signed(28), name=f"raw{r}")
            m.d.comb += raw.eq(it.q0 + it.t0 + r + 1 + desc.sk - desc.sq - it.j0)
            m.d.comb += self.limit[r].eq(Mux(~desc.causal, it.keys,
                                             Mux(raw < 0, 0, Mux(raw > it.keys, it.keys, raw))))
        bytes_ = d * 2
        row_q = (it.batch * desc.sq + it.q0) * desc.hq + it.head
        row_k = (it.batch * desc.sk + it.j0) * desc.hkv + it.kv_head
        row_o = (it.batch * desc.sq + it.q0 + it.t0) * desc.hq + it.head
        return {"q": (desc.q_addr + row_q * bytes_)[:ADDR_BITS],
                "k": (desc.k_addr + row_k * bytes_)[:ADDR_BITS],
                "v": (desc.v_addr + row_k * bytes_)[:ADDR_BITS],
                "o": (desc.o_addr + row_o * bytes_)[:ADDR_BITS],
                "q_stride": (desc.hq * bytes_)[:ADDR_BITS],
                "k_stride": (desc.hkv * bytes_)[:ADDR_BITS],
                "s_tiles": (vis + g.dpus - 1) // g.dpus,
                "p_chunks": (vis + g.mults - 1) >> exact_log2(g.mults)}

    def elaborate(self, platform):
        m = Module()
        g, desc = self._g, self.desc
        L = g.lanes
        it = Signal(item_layout(L))
        trow = Signal(16)
        f = self.geometry_of_item(m, desc, it)
        addr = {name: Signal(ADDR_BITS, name=f"{name}_addr") for name in ("q", "k", "v")}
        m.d.comb += [self.q_base.eq(trow * self.dchunks), self.o_base.eq(trow * self.ctiles),
                     self.row_stride.eq(f["q_stride"]), self.u_r.addr.eq(trow),
                     self.u_w.addr.eq(trow),
                     self.u_w.data[0].eq(Cat(self.m_old.as_value(), self.l_old.as_value())),
                     self.s_job.payload.tiles.eq(f["s_tiles"]),
                     self.s_job.payload.chunks.eq(self.dchunks),
                     self.pv_job.payload.tiles.eq(self.ctiles),
                     self.pv_job.payload.chunks.eq(f["p_chunks"]),
                     self.up_first.eq(it.first)]

        def load(kind, base, stride, rows, then):
            m.d.comb += [self.load.valid.eq(1), self.load.payload.kind.eq(kind),
                         self.load.payload.base.eq(base), self.load.payload.stride.eq(stride),
                         self.load.payload.rows.eq(rows), self.load.payload.d.eq(desc.d),
                         self.phase.eq(Phase.LOAD)]
            with m.If(self.load.ready):
                m.next = then

        def wait(busy, then, phase):
            m.d.comb += self.phase.eq(phase)
            with m.If(~busy):
                m.next = then

        def after_state():
            with m.If(it.visible != 0):
                m.next = "S_JOB"
            with m.Else():
                m.next = "SAVE"

        with m.FSM(name="pipeflash"):
            with m.State("IDLE"):
                with m.If(self.items.valid):
                    m.d.sync += [it.eq(self.items.payload),
                                 trow.eq(Mux(self.items.payload.t0 == 0, 0, trow + 1))]
                    m.next = "PREP"
            with m.State("PREP"):
                m.d.sync += [addr["q"].eq(f["q"]), addr["k"].eq(f["k"]), addr["v"].eq(f["v"]),
                             self.row_addr.eq(f["o"])]
                with m.If((it.t0 == 0) & (it.j0 == 0)):
                    m.next = "LOAD_Q"
                with m.Elif(it.t0 == 0):
                    m.next = "LOAD_K"
                with m.Else():
                    m.next = "STATE"
            with m.State("LOAD_Q"):
                load(LoadKind.Q, addr["q"], f["q_stride"], it.rows, "WAIT_Q")
            with m.State("WAIT_Q"):
                wait(self.load_busy, "LOAD_K", Phase.LOAD)
            with m.State("LOAD_K"):
                load(LoadKind.K, addr["k"], f["k_stride"], it.keys, "WAIT_K")
            with m.State("WAIT_K"):
                wait(self.load_busy, "LOAD_V", Phase.LOAD)
            with m.State("LOAD_V"):
                load(LoadKind.V, addr["v"], f["k_stride"], it.keys, "WAIT_V")
            with m.State("WAIT_V"):
                wait(self.load_busy, "STATE", Phase.LOAD)
            with m.State("STATE"):
                m.d.comb += self.u_r.en.eq(1)
                m.next = "STATE2"
            with m.State("STATE2"):
                stored = self.u_r.data[0]
                m.d.sync += [self.m_old.eq(Mux(it.first, Cat(*[Const(NEG_INF, 32)] * L),
                                               stored[:32 * L])),
                             self.l_old.eq(Mux(it.first, 0, stored[32 * L:]))]
                m.d.comb += self.s_clear.eq(1)
                after_state()
            with m.State("S_JOB"):
                m.d.comb += [self.s_job.valid.eq(1), self.phase.eq(Phase.S)]
                with m.If(self.s_job.ready):
                    m.next = "S_WAIT"
            with m.State("S_WAIT"):
                m.d.comb += self.phase.eq(Phase.S)
                with m.If(self.s_count == f["s_tiles"]):
                    m.next = "SOFTMAX"
            with m.State("SOFTMAX"):
                m.d.comb += [self.sm_start.eq(1), self.phase.eq(Phase.SOFTMAX)]
                m.next = "SOFTMAX_WAIT"
            with m.State("SOFTMAX_WAIT"):
                wait(self.sm_busy, "PV", Phase.SOFTMAX)
            with m.State("PV"):
                m.d.comb += [self.pv_job.valid.eq(1), self.phase.eq(Phase.PV)]
                with m.If(self.pv_job.ready):
                    m.d.comb += self.up_start.eq(1)
                    m.next = "PV_WAIT"
            with m.State("PV_WAIT"):
                m.d.comb += self.phase.eq(Phase.PV)
                with m.If(~self.up_busy):
                    m.d.sync += [self.m_old.eq(self.m_new), self.l_old.eq(self.l_new)]
                    m.next = "SAVE"
            with m.State("SAVE"):
                # m and l of the row tile to UMEM, also when the tile skipped the block (the
                # first block's -inf and +0 must be there for the next block)
                m.d.comb += self.u_w.en[0].eq(1)
                with m.If(it.last):
                    m.next = "RECIP"
                with m.Else():
                    m.next = "NEXT"
            with m.State("RECIP"):
                m.d.comb += [self.sm_start.eq(1), self.sm_program.eq(1),
                             self.phase.eq(Phase.SOFTMAX)]
                m.next = "RECIP_WAIT"
            with m.State("RECIP_WAIT"):
                wait(self.sm_busy, "STORE", Phase.SOFTMAX)
            with m.State("STORE"):
                m.d.comb += [self.up_start.eq(1), self.up_mode.eq(1), self.phase.eq(Phase.STORE)]
                m.next = "STORE_WAIT"
            with m.State("STORE_WAIT"):
                m.d.comb += self.up_mode.eq(1)
                wait(self.up_busy, "NEXT", Phase.STORE)
            with m.State("NEXT"):
                m.d.comb += self.items.ready.eq(1)
                with m.If(it.end):
                    m.next = "DRAIN"
                with m.Else():
                    m.next = "IDLE"
            with m.State("DRAIN"):
                m.d.comb += self.phase.eq(Phase.STORE)
                with m.If(self.up_idle & self.writer_idle):
                    m.d.comb += self.finish.eq(1)
                    m.next = "IDLE"
        return m
