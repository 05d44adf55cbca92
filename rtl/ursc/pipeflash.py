"""The PipeFlash controller: what happens to each row-tile item of the
:class:`~hybridgen.rtl.ursc.attention_seq.AttentionSequencer`.

The item pipeline: three stages, each holding one item, run side by side (``t`` = the row
tile's index in its q-block, ``t0 = t * lanes``; item i's *half* is its parity, the half of
the S and P buffers it uses, :attr:`~.memories.CoreGeometry.vmem_half` words each):

1. **front** (item i): takes the item from the sequencer; a new q-block (``j0 = 0``,
   ``t0 = 0``): loads its Q rows (:class:`~.loader.Loader`); a new key block (``t0 = 0``):
   loads K_j, then V_j -- V_j only once the later stages are empty (their items still read
   V of the block before); if ``visible``: DPE0 computes the ``ceil(visible / dpus)`` S
   tiles (:class:`~.feeds.SFeed`) into the item's S half (:class:`SCollect`); then hands the
   item to the softmax stage (waiting until that is free);
2. **softmax** (item i - 1): m and l of the row tile (-inf and +0 on ``first``, else UMEM word
   ``t``); if ``visible``: the RVPE runs the softmax passes (:class:`~.softmax.Softmax`) on
   the item's S half, P into its P half; m and l go back to UMEM (also for a skipped item);
   if ``last``: the RVPE computes ``1 / l``; the item goes to the PV stage with its ``a``,
   ``1 / l`` and l;
3. **PV** (item i - 2): if ``visible``: DPE1 computes the ``ceil(d / dpus)`` P V tiles over
   ``ceil(visible / mults)`` chunks (:class:`~.feeds.PvFeed`) from the item's P half and the
   UpE folds them into O (:class:`~.update.OUpdate`); if ``last``: the UpE writes
   ``bf16(O / l)`` of the tile's rows to memory; after the ``end`` item the stage waits for
   the write DMA, then reports ``finish``.

Hazards: S and P halves alternate with the item's parity, and an item enters a stage only
when the one before it has left, so DPE0 writes S of item i while the RVPE works in the other
half and DPE1 reads P of item i - 2 (the same half as item i, but of the P buffer, which the
front never writes). m and l of a row tile are read and written by the softmax stage only,
in item order, so the read of an item always follows the write of the previous item of the
same row tile. O is read and written by the PV stage only, in item order. Q and K are read
by the front only; V by the PV stage, hence the drain before a V load.

A row of the tile that sees no key of a visited block is updated like the others (its S row is
all -inf, so m stays, ``a = 1`` and l, O add zeros), as verif/ursc/attention_model.py shows.
``phase`` tells the counters what the controller waits for: the softmax stage running
(``SOFTMAX``), else the PV stage (``PV``, ``STORE``: updating, storing or draining), else the
front (``LOAD``, ``S``), else ``CONTROL``.
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

__all__ = ["Phase", "SCollect", "PipeFlash", "SCHEDULE", "stage_layout"]

#: What the bench reports as the schedule.
SCHEDULE = ("item pipeline: front (Q/K/V loads, S on DPE0), softmax (RVPE unit 0), PV (DPE1 + "
            "UpE) stages; S/P halves by item parity; V loads wait for the later stages")


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
    is written to word ``base + n // G``, granule ``n % G`` of every lane's bank (``G =
    vector_width / dpus``). ``count`` counts the results since ``clear``.

    Members
    -------
    clear : In(1)
    base : In(16)           first word of the item's S half (stable from ``clear`` on)
    count : Out(16)
    i : In(stream.Signature(dpe_results(lanes, dpus)))
    s_w : Out(write_signature)
    """

    def __init__(self, geometry):
        self._g = g = geometry
        banks, width, depth, gran = g.memories["s"]
        super().__init__({"clear": In(1), "base": In(16), "count": Out(16),
                          "i": In(stream.Signature(dpe_results(g.lanes, g.dpus))),
                          "s_w": Out(write_signature(banks, width, depth, width // gran))})

    def elaborate(self, platform):
        m = Module()
        g = self._g
        per = g.vector_width // g.dpus
        word, granule = Signal(16), Signal(range(per))
        m.d.comb += [self.i.ready.eq(1), self.s_w.addr.eq(self.base + word)]
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



def stage_layout(lanes):
    """What a stage holds of its item: the item, the row tile's index ``trow`` in its q-block
    (its UMEM word, ``trow * dchunks`` its Q word, ``trow * ctiles`` its O word), the S / P
    half, the byte address of its first O row."""
    return data.StructLayout({"it": item_layout(lanes), "trow": 16, "half": 1,
                              "o": ADDR_BITS})


class PipeFlash(wiring.Component):
    """The item pipeline of the module docstring.

    Members
    -------
    desc : In(attention_descriptor())       the accepted descriptor (stable while running)
    items : In(stream.Signature(item_layout(lanes)))   from the sequencer
    finish : Out(1)                          pulse: the kernel's last output is written
    phase : Out(Phase)
    load : Out(stream.Signature(load_command_layout())), load_busy : In(1)     the loader
    s_job : Out(stream), s_clear : Out(1), s_count : In(16), s_base, q_base, dchunks : Out(16)
        DPE0's feed and collector (front stage)
    sm_start, sm_program : Out(1), sm_busy : In(1), sm_base, vectors : Out(16),
    limit : Out(ArrayLayout(16, lanes)), m_old, l_old : Out(row), m_new, l_new, alpha,
    rinv : In(row)
        the softmax program (softmax stage; ``l_old`` is also its ``l_fin``)
    pv_job : Out(stream), ctiles, keys, p_base : Out(16)                 DPE1's feed (PV stage)
    up_start, up_mode, up_first : Out(1), up_busy, up_idle : In(1), o_base, tile, d : Out(16),
    row_addr, row_stride : Out(ADDR_BITS), up_alpha, up_rinv, up_l : Out(row)
        the UpE side (PV stage)
    writer_idle : In(1)
    u_r, u_w : UMEM ports (softmax stage)
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
            "s_job": Out(job), "s_clear": Out(1), "s_count": In(16), "s_base": Out(16),
            "q_base": Out(16), "dchunks": Out(16),
            "sm_start": Out(1), "sm_program": Out(1), "sm_busy": In(1), "sm_base": Out(16),
            "vectors": Out(16), "limit": Out(data.ArrayLayout(16, L)),
            "m_old": Out(row), "l_old": Out(row), "m_new": In(row), "l_new": In(row),
            "alpha": In(row), "rinv": In(row),
            "pv_job": Out(job), "ctiles": Out(16), "keys": Out(16), "p_base": Out(16),
            "up_start": Out(1), "up_mode": Out(1), "up_first": Out(1), "up_busy": In(1),
            "up_idle": In(1), "o_base": Out(16), "tile": Out(16), "d": Out(16),
            "row_addr": Out(ADDR_BITS), "row_stride": Out(ADDR_BITS),
            "up_alpha": Out(row), "up_rinv": Out(row), "up_l": Out(row), "writer_idle": In(1),
            "u_r": Out(read_signature(banks, width, depth)),
            "u_w": Out(write_signature(banks, width, depth, 1)),
        })

    def addresses(self, desc, it):
        """Byte addresses of item ``it``'s first Q, K, V and O rows, and the row strides."""
        bytes_ = desc.d * 2
        row_q = (it.batch * desc.sq + it.q0) * desc.hq + it.head
        row_k = (it.batch * desc.sk + it.j0) * desc.hkv + it.kv_head
        row_o = (it.batch * desc.sq + it.q0 + it.t0) * desc.hq + it.head
        return {"q": (desc.q_addr + row_q * bytes_)[:ADDR_BITS],
                "k": (desc.k_addr + row_k * bytes_)[:ADDR_BITS],
                "v": (desc.v_addr + row_k * bytes_)[:ADDR_BITS],
                "o": (desc.o_addr + row_o * bytes_)[:ADDR_BITS],
                "q_stride": (desc.hq * bytes_)[:ADDR_BITS],
                "k_stride": (desc.hkv * bytes_)[:ADDR_BITS]}

    def elaborate(self, platform):
        m = Module()
        g, desc = self._g, self.desc
        L = g.lanes
        half = g.vmem_half
        d = desc.d
        dchunks = (d + g.mults - 1) >> exact_log2(g.mults)
        ctiles = (d + g.dpus - 1) // g.dpus
        m.d.comb += [self.dchunks.eq(dchunks), self.ctiles.eq(ctiles), self.d.eq(d)]

        fr, sm, pv = (Signal(stage_layout(L), name=n) for n in ("front", "soft", "pv"))
        sm_full, pv_full = Signal(), Signal()
        sm_leave, pv_leave = Signal(), Signal()      # the stage hands its item on
        fr_enter_sm, sm_enter_pv = Signal(), Signal()
        m.d.sync += [sm_full.eq((sm_full & ~sm_leave) | fr_enter_sm),
                     pv_full.eq((pv_full & ~pv_leave) | sm_enter_pv)]
        sm_free = ~sm_full | sm_leave
        pv_free = ~pv_full | pv_leave

        # -- front: loads, S on DPE0 ----------------------------------------------------------
        fit = fr.it
        addr = self.addresses(desc, fit)
        regs = {name: Signal(ADDR_BITS, name=f"{name}_addr") for name in ("q", "k", "v")}
        m.d.comb += [self.q_base.eq(fr.trow * dchunks), self.s_base.eq(fr.half * half),
                     self.s_job.payload.tiles.eq((fit.visible + g.dpus - 1) // g.dpus),
                     self.s_job.payload.chunks.eq(dchunks)]
        front_phase = Signal(Phase)

        def load(kind, base, stride, rows, then, ok=1):
            m.d.comb += [self.load.valid.eq(ok), self.load.payload.kind.eq(kind),
                         self.load.payload.base.eq(base), self.load.payload.stride.eq(stride),
                         self.load.payload.rows.eq(rows), self.load.payload.d.eq(d),
                         front_phase.eq(Phase.LOAD)]
            with m.If(self.load.ready & ok):
                m.next = then

        def wait(busy, then):
            m.d.comb += front_phase.eq(Phase.LOAD)
            with m.If(~busy):
                m.next = then

        with m.FSM(name="front"):
            with m.State("IDLE"):
                m.d.comb += self.items.ready.eq(1)
                with m.If(self.items.valid):
                    m.d.sync += [fit.eq(self.items.payload), fr.half.eq(~fr.half),
                                 fr.trow.eq(Mux(self.items.payload.t0 == 0, 0, fr.trow + 1))]
                    m.next = "PREP"
            with m.State("PREP"):
                m.d.sync += [regs["q"].eq(addr["q"]), regs["k"].eq(addr["k"]),
                             regs["v"].eq(addr["v"]), fr.o.eq(addr["o"])]
                with m.If((fit.t0 == 0) & (fit.j0 == 0)):
                    m.next = "LOAD_Q"
                with m.Elif(fit.t0 == 0):
                    m.next = "LOAD_K"
                with m.Else():
                    m.next = "S_CLEAR"
            with m.State("LOAD_Q"):
                load(LoadKind.Q, regs["q"], addr["q_stride"], fit.rows, "WAIT_Q")
            with m.State("WAIT_Q"):
                wait(self.load_busy, "LOAD_K")
            with m.State("LOAD_K"):
                load(LoadKind.K, regs["k"], addr["k_stride"], fit.keys, "WAIT_K")
            with m.State("WAIT_K"):
                wait(self.load_busy, "LOAD_V")
            with m.State("LOAD_V"):
                # the items in the later stages still read the V of the block before
                load(LoadKind.V, regs["v"], addr["k_stride"], fit.keys, "WAIT_V",
                     ok=~sm_full & ~pv_full)
            with m.State("WAIT_V"):
                wait(self.load_busy, "S_CLEAR")
            with m.State("S_CLEAR"):
                m.d.comb += self.s_clear.eq(1)
                with m.If(fit.visible != 0):
                    m.next = "S_JOB"
                with m.Else():
                    m.next = "HAND"
            with m.State("S_JOB"):
                m.d.comb += [self.s_job.valid.eq(1), front_phase.eq(Phase.S)]
                with m.If(self.s_job.ready):
                    m.next = "S_WAIT"
            with m.State("S_WAIT"):
                m.d.comb += front_phase.eq(Phase.S)
                with m.If(self.s_count == self.s_job.payload.tiles):
                    m.next = "HAND"
            with m.State("HAND"):
                with m.If(sm_free):
                    m.d.comb += fr_enter_sm.eq(1)
                    m.d.sync += sm.eq(fr)
                    m.next = "IDLE"

        # -- softmax stage: m, l from UMEM, the RVPE passes, m, l to UMEM, 1 / l --------------
        sit = sm.it
        m.d.comb += [self.sm_base.eq(sm.half * half), self.u_r.addr.eq(sm.trow),
                     self.u_w.addr.eq(sm.trow),
                     self.u_w.data[0].eq(Cat(self.m_old.as_value(), self.l_old.as_value())),
                     self.vectors.eq((sit.visible + g.vector_width - 1)
                                     >> exact_log2(g.vector_width))]
        for r in range(L):
            raw = Signal(signed(28), name=f"raw{r}")
            m.d.comb += raw.eq(sit.q0 + sit.t0 + r + 1 + desc.sk - desc.sq - sit.j0)
            m.d.comb += self.limit[r].eq(Mux(~desc.causal, sit.keys,
                                             Mux(raw < 0, 0, Mux(raw > sit.keys, sit.keys, raw))))
        softmax_running = Signal()
        with m.FSM(name="softmax"):
            with m.State("IDLE"):
                with m.If(sm_full):
                    m.d.comb += self.u_r.en.eq(1)
                    m.next = "STATE"
            with m.State("STATE"):
                stored = self.u_r.data[0]
                m.d.sync += [self.m_old.eq(Mux(sit.first, Cat(*[Const(NEG_INF, 32)] * L),
                                               stored[:32 * L])),
                             self.l_old.eq(Mux(sit.first, 0, stored[32 * L:]))]
                with m.If(sit.visible != 0):
                    m.next = "SOFTMAX"
                with m.Else():
                    m.next = "SAVE"
            with m.State("SOFTMAX"):
                m.d.comb += [self.sm_start.eq(1), softmax_running.eq(1)]
                m.next = "SOFTMAX_WAIT"
            with m.State("SOFTMAX_WAIT"):
                m.d.comb += softmax_running.eq(1)
                with m.If(~self.sm_busy):
                    m.d.sync += [self.m_old.eq(self.m_new), self.l_old.eq(self.l_new)]
                    m.next = "SAVE"
            with m.State("SAVE"):
                # m and l of the row tile to UMEM, also when the tile skipped the block (the
                # first block's -inf and +0 must be there for the next block)
                m.d.comb += self.u_w.en[0].eq(1)
                with m.If(sit.last):
                    m.next = "RECIP"
                with m.Else():
                    m.next = "HAND"
            with m.State("RECIP"):
                m.d.comb += [self.sm_start.eq(1), self.sm_program.eq(1),
                             softmax_running.eq(1)]
                m.next = "RECIP_WAIT"
            with m.State("RECIP_WAIT"):
                m.d.comb += softmax_running.eq(1)
                with m.If(~self.sm_busy):
                    m.next = "HAND"
            with m.State("HAND"):
                with m.If(pv_free):
                    m.d.comb += [sm_leave.eq(1), sm_enter_pv.eq(1)]
                    m.d.sync += [pv.eq(sm), self.up_alpha.eq(self.alpha),
                                 self.up_rinv.eq(self.rinv), self.up_l.eq(self.l_old)]
                    m.next = "IDLE"

        # -- PV stage: DPE1 and the O update, the store ---------------------------------------
        pit = pv.it
        m.d.comb += [self.p_base.eq(pv.half * half), self.keys.eq(pit.keys),
                     self.tile.eq(pit.tile), self.o_base.eq(pv.trow * ctiles),
                     self.row_addr.eq(pv.o), self.row_stride.eq(addr["q_stride"]),
                     self.up_first.eq(pit.first),
                     self.pv_job.payload.tiles.eq(ctiles),
                     self.pv_job.payload.chunks.eq((pit.visible + g.mults - 1)
                                                   >> exact_log2(g.mults))]
        pv_phase = Signal(Phase)
        with m.FSM(name="pv"):
            with m.State("IDLE"):
                with m.If(pv_full):
                    with m.If(pit.visible != 0):
                        m.next = "PV"
                    with m.Elif(pit.last):
                        m.next = "STORE"
                    with m.Else():
                        m.next = "DONE"
            with m.State("PV"):
                m.d.comb += [self.pv_job.valid.eq(1), pv_phase.eq(Phase.PV)]
                with m.If(self.pv_job.ready):
                    m.d.comb += self.up_start.eq(1)
                    m.next = "PV_WAIT"
            with m.State("PV_WAIT"):
                m.d.comb += pv_phase.eq(Phase.PV)
                with m.If(~self.up_busy):
                    with m.If(pit.last):
                        m.next = "STORE"
                    with m.Else():
                        m.next = "DONE"
            with m.State("STORE"):
                m.d.comb += [self.up_start.eq(1), self.up_mode.eq(1), pv_phase.eq(Phase.STORE)]
                m.next = "STORE_WAIT"
            with m.State("STORE_WAIT"):
                m.d.comb += [self.up_mode.eq(1), pv_phase.eq(Phase.STORE)]
                with m.If(~self.up_busy):
                    m.next = "DONE"
            with m.State("DONE"):
                m.d.comb += pv_leave.eq(1)
                with m.If(pit.end):
                    m.next = "DRAIN"
                with m.Else():
                    m.next = "IDLE"
            with m.State("DRAIN"):
                m.d.comb += pv_phase.eq(Phase.STORE)
                with m.If(self.up_idle & self.writer_idle):
                    m.d.comb += self.finish.eq(1)
                    m.next = "IDLE"

        with m.If(softmax_running):
            m.d.comb += self.phase.eq(Phase.SOFTMAX)
        with m.Elif(pv_phase != Phase.CONTROL):
            m.d.comb += self.phase.eq(pv_phase)
        with m.Else():
            m.d.comb += self.phase.eq(front_phase)
        return m
