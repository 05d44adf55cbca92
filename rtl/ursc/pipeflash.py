"""The PipeFlash controller: what happens to each row-tile item of the
:class:`~hybridgen.rtl.ursc.attention_seq.AttentionSequencer`.

The item pipeline: stages that each hold one item and run side by side (``t`` = the row
tile's index in its q-block, ``t0 = t * lanes``; item n's *half* ``h`` is its parity, its
*region* is ``n mod 3``):

0. **load stage**: takes the item from the sequencer; a new key block (``t0 = 0``): loads
   K_j, then V_j (:class:`~.loader.Loader`), into half ``kv`` of the K and V memories (``kv``
   alternates with the key blocks when :meth:`~.memories.CoreGeometry.kv_double` holds, else
   0) once no earlier item needs that half any more (K: until its S is computed, V: until its
   P V is; counted per half); the first item of a q-block then loads the Q rows once every
   earlier item's S is computed (Q is single-buffered); the item goes into the item queue
   (:data:`QUEUE_DEPTH` entries), so loads run ahead of compute;
1. **front** (items i and i + 1, :data:`FRONT_DEPTH`): the issue side takes the item from the
   queue and, if ``visible``, sends its S job to DPE0 (``ceil(visible / dpus)`` S tiles,
   :class:`~.feeds.SFeed`), chained into the next item's (:func:`chains`: the next row tile of
   the same key block), so the DPE runs on from one item's S tiles into the next one's without
   filler groups; the collect side takes the oldest item's results into S memory h
   (:class:`SCollect`) once softmax unit h's passes are over (the unit is empty or its item's
   m, l are in UMEM; until then DPE0 holds the results), then hands the item to unit h once
   the unit is empty;
2. **softmax**, one slot per softmax unit (``CoreGeometry.softmax_units``, RVPE units 0 and
   1; items i - 1 and i - 2): m and l of the row tile (-inf and +0 on ``first``, else UMEM word
   ``t``); if ``visible``: the RVPE unit runs the softmax passes (:class:`~.softmax.Softmax`)
   on S memory h, P into the item's P region; m and l go back to UMEM (also for a skipped
   item); if ``last``: the unit computes ``1 / l``; the item goes to the PV stage with its
   ``a``, ``1 / l`` and l, the units taking turns (item order);
3. **PV** (an issue register and :data:`PV_DEPTH` items with sent jobs): the issue side sends
   the item's P V job to DPE1 if ``visible`` (``ceil(d / dpus)`` tiles over ``ceil(visible /
   mults)`` chunks, :class:`~.feeds.PvFeed`, chained as the S jobs); the update side takes the
   items in order: the UpE folds the tiles into O (:class:`~.update.OUpdate`; the next item's
   tiles wait in DPE1 until its update starts); if ``last``: the UpE writes ``bf16(O / l)`` of
   the tile's rows to memory (the store runs beside the next items' updates, one store at a
   time; an update of the same row tile waits until the store has read its O words); after
   the ``end`` item the stage waits for the write DMA, then reports ``finish``.

Hazards: S memory h belongs to softmax unit h; DPE0 writes it only while the unit is empty or
past its passes. P region r: a softmax unit starts an item's passes only when the PV stage
holds no item of the same region (the item three before). m and l in UMEM (one read and one
write port, unit 0 first when both ask): a unit reads the row tile's m, l only when the other
unit does not hold an older item of the same row tile whose m, l are not written back yet
(consecutive items share a row tile when a q-block has one row tile). O is read and written by the PV stage only, in item order. Q and K
are read by the front only, V by the PV stage: the load stage's user counts.

A row of the tile that sees no key of a visited block is updated like the others (its S row is
all -inf, so m stays, ``a = 1`` and l, O add zeros), as verif/ursc/attention_model.py shows.
``phase`` tells the counters what the controller waits for: a softmax unit running
(``SOFTMAX``), else the PV stage (``PV``, ``STORE``: updating, storing or draining), else the
front (``S``: items wait for their S; ``LOAD``: its queue is empty while the load stage
loads), else ``CONTROL``.
"""

from types import SimpleNamespace

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, enum, fifo, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from .attention_desc import attention_descriptor
from .attention_seq import item_layout
from .dpe import dpe_results
from .dpe_order import dpe_job_layout
from .loader import LoadKind, load_command_layout
from .memories import ADDR_BITS, read_signature, write_signature
from .softmax import NEG_INF

__all__ = ["Phase", "SCollect", "PipeFlash", "SCHEDULE", "stage_layout", "chains"]


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
    vector_width / dpus``). ``count`` counts the results since ``clear``. A result is taken
    (``i.ready``) only while ``go`` is 1: the DPE holds the next item's results while their S
    memory is still the softmax unit's. (The core gives ``s_w`` to the S memory of the item's
    parity.)

    Members
    -------
    clear, go : In(1)
    count : Out(16)
    i : In(stream.Signature(dpe_results(lanes, dpus)))
    s_w : Out(write_signature)
    """

    def __init__(self, geometry):
        self._g = g = geometry
        banks, width, depth, gran = g.memories["s"]
        super().__init__({"clear": In(1), "go": In(1), "count": Out(16),
                          "i": In(stream.Signature(dpe_results(g.lanes, g.dpus))),
                          "s_w": Out(write_signature(banks, width, depth, width // gran))})

    def elaborate(self, platform):
        m = Module()
        g = self._g
        per = g.vector_width // g.dpus
        word, granule = Signal(16), Signal(range(per))
        take = self.i.valid & self.go
        m.d.comb += [self.i.ready.eq(self.go), self.s_w.addr.eq(word)]
        for lane in range(g.lanes):
            row = self.i.payload[lane].as_value()
            m.d.comb += [self.s_w.data[lane].eq(Cat(*[row] * per)),
                         self.s_w.en[lane].eq(Mux(take, 1 << granule, 0))]
        with m.If(take):
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
    (its UMEM word, ``trow * dchunks`` its Q word, ``trow * ctiles`` its O word), its parity
    ``half`` (S memory and softmax unit), its P ``region`` (item index mod 3), ``kv`` (the half
    of the K and V memories its key block is in), the byte address of its first O row."""
    return data.StructLayout({"it": item_layout(lanes), "trow": 16, "half": 1, "region": 2,
                              "kv": 1, "o": ADDR_BITS})


#: Entries of the item queue between the load stage and the front: how far the load stage runs
#: ahead. A key block's K_j and V_j load (V at one ``dpus``-bf16 chunk per cycle) must fit in
#: the compute of the items before it: on ursc-small (blocks 128, d = 128) the load is about
#: 5100 cycles and an item 256 DPE cycles, so 8 entries (~2100 cycles) left DPE0 waiting at
#: every key block; 32 entries are a whole key block of row tiles there.
QUEUE_DEPTH = 32
#: Items whose S job is sent and who are not in their softmax unit yet (the front), and items
#: whose P V job is sent and whose O update is not done (the PV stage): a chained job's
#: successor can be sent while the job runs.
FRONT_DEPTH = PV_DEPTH = 2
#: What the bench reports as the schedule.
SCHEDULE = (f"item pipeline: load stage (K_j, V_j, then Q; {QUEUE_DEPTH}-entry item queue), "
            "front (S on DPE0), two softmax units (RVPE units 0 and 1, one item each), PV "
            "(DPE1 + UpE); S per unit, P in 3 regions; DPE jobs chained over a key block's row "
            "tiles; the store beside the next updates")
#: The per-row scalars an item takes from its softmax unit to the PV stage.
SCALARS = ("alpha", "rinv", "l")


def row_layout(lanes):
    return data.ArrayLayout(32, lanes)


def chains(it):
    """Whether an item's DPE jobs (S and P V) chain into the next item's: the next item is the
    next row tile of the same key block (it then has jobs too: a later row sees at least the
    keys an earlier one sees). Chains never cross a key block (its K and V may not be loaded
    yet) or a q-block (Q is single-buffered)."""
    return it.t0 + it.tile < it.rows


class PipeFlash(wiring.Component):
    """The item pipeline of the module docstring.

    Members
    -------
    desc : In(attention_descriptor())       the accepted descriptor (stable while running)
    items : In(stream.Signature(item_layout(lanes)))   from the sequencer
    finish : Out(1)                          pulse: the kernel's last output is written
    phase : Out(Phase)
    load : Out(stream.Signature(load_command_layout())), load_busy : In(1)     the loader
    s_job : Out(stream), s_clear, s_go : Out(1), s_count : In(16), s_half : Out(1),
    q_base, k_base : Out(16).array(2), dchunks : Out(16)
        DPE0's feed (bases per job parity) and collector (front stage; ``s_half``: the S
        memory written, ``s_go``: it takes results)
    per softmax unit u (arrays of ``softmax_units``): sm_start, sm_program : Out(1),
    sm_busy : In(1), sm_base, vectors : Out(16), limit : Out(ArrayLayout(16, lanes)), m_old, l_old : Out(row),
    m_new, l_new, alpha, rinv : In(row)
        the softmax program (``l_old`` is also its ``l_fin``; ``sm_base``: its P region)
    pv_job : Out(stream), ctiles : Out(16), keys, p_base, v_base : Out(16).array(2)
        DPE1's feed (PV stage; bases per job parity)
    up_start, up_store, up_first : Out(1), up_busy, up_store_busy, up_idle : In(1),
    o_base, tile, d : Out(16),
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
        U = g.softmax_units
        super().__init__({
            "desc": In(attention_descriptor()), "items": In(stream.Signature(item_layout(L))),
            "finish": Out(1), "phase": Out(Phase),
            "load": Out(stream.Signature(load_command_layout())), "load_busy": In(1),
            "s_job": Out(job), "s_clear": Out(1), "s_go": Out(1), "s_count": In(16),
            "s_half": Out(1), "q_base": Out(16).array(2), "dchunks": Out(16),
            "k_base": Out(16).array(2), "kv_double": Out(1),
            "sm_start": Out(1).array(U), "sm_program": Out(1).array(U),
            "sm_busy": In(1).array(U), "sm_base": Out(16).array(U),
            "vectors": Out(16).array(U), "limit": Out(data.ArrayLayout(16, L)).array(U),
            "m_old": Out(row).array(U), "l_old": Out(row).array(U),
            "m_new": In(row).array(U), "l_new": In(row).array(U),
            "alpha": In(row).array(U), "rinv": In(row).array(U),
            "pv_job": Out(job), "ctiles": Out(16), "keys": Out(16).array(2),
            "p_base": Out(16).array(2), "v_base": Out(16).array(2), "up_start": Out(1), "up_store": Out(1), "up_first": Out(1),
            "up_busy": In(1), "up_store_busy": In(1), "up_idle": In(1), "o_base": Out(16), "tile": Out(16), "d": Out(16),
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
        """The four stages side by side (each a method below, in this order), and the phase."""
        m = Module()
        s = self._shared(m)
        self._load_stage(m, s)
        self._front_stage(m, s)
        self._softmax_stage(m, s)
        self._pv_stage(m, s)
        self._phase(m, s)
        return m

    def _shared(self, m):
        """The per-descriptor figures and the stage registers (front, softmax units, PV) with
        their full / enter / leave flags."""
        g, desc = self._g, self.desc
        g, desc = self._g, self.desc
        L, U = g.lanes, g.softmax_units
        d = desc.d
        dchunks = (d + g.mults - 1) >> exact_log2(g.mults)
        ctiles = (d + g.dpus - 1) // g.dpus
        m.d.comb += [self.dchunks.eq(dchunks), self.ctiles.eq(ctiles), self.d.eq(d)]

        fr, pv = Signal(stage_layout(L), name="front"), Signal(stage_layout(L), name="pv")
        pv_scalars = {name: Signal(row_layout(L), name=f"pv_{name}") for name in SCALARS}
        sm = [Signal(stage_layout(L), name=f"soft{u}") for u in range(U)]
        sm_full = [Signal(name=f"soft{u}_full") for u in range(U)]
        sm_saved = [Signal(name=f"soft{u}_saved") for u in range(U)]   # m, l in UMEM
        sm_leave = [Signal(name=f"soft{u}_leave") for u in range(U)]
        sm_enter = [Signal(name=f"soft{u}_enter") for u in range(U)]
        pv_full, pv_leave, pv_enter = Signal(), Signal(), Signal()
        p_busy = [Signal(name=f"p{r}_busy") for r in range(3)]   # an item of region r in PV
        newest = Signal(range(U))            # the unit that took the latest item
        pv_next = Signal(range(U))           # the unit whose item the PV stage takes next
        for u in range(U):
            m.d.sync += sm_full[u].eq((sm_full[u] & ~sm_leave[u]) | sm_enter[u])
        m.d.sync += pv_full.eq((pv_full & ~pv_leave) | pv_enter)
        pv_free = ~pv_full | pv_leave
        return SimpleNamespace(g=g, desc=desc, L=L, U=U, d=d, dchunks=dchunks,
                               ctiles=ctiles, fr=fr, pv=pv, sm=sm, sm_full=sm_full,
                               sm_saved=sm_saved, sm_leave=sm_leave, sm_enter=sm_enter,
                               pv_full=pv_full, pv_leave=pv_leave, pv_enter=pv_enter,
                               newest=newest, pv_next=pv_next, pv_free=pv_free,
                               pv_scalars=pv_scalars, p_busy=p_busy)

    def _load_stage(self, m, s):
        """Q, K_j, V_j ahead of compute (the ``loads`` FSM), the buffer user counts, the item queue."""
        (g, desc, L, U, d) = (
            s.g, s.desc, s.L, s.U, s.d)
        # -- load stage: Q, K_j, V_j ahead of compute; the item queue ----------------------
        m.submodules.queue = queue = fifo.SyncFIFOBuffered(width=stage_layout(L).size,
                                                           depth=QUEUE_DEPTH)
        ld = Signal(stage_layout(L), name="load")
        lit = ld.it
        addr = self.addresses(desc, lit)
        regs = {name: Signal(ADDR_BITS, name=f"{name}_addr") for name in ("q", "k", "v")}
        half_next, region_next, kv_now = Signal(range(U)), Signal(2), Signal()
        double = Signal()
        m.d.comb += double.eq(g.kv_double(block_k=Mux(desc.block_k < desc.sk, desc.block_k,
                                                       desc.sk), d=d))
        # users of each buffer: items taken by the load stage that still need it (Q, K: until
        # their S is computed; V: until their P V is)
        # (at most every item from the queue to the PV stage: the queue, the front's register
        # and its sent items, the softmax units, the PV stage's register and its sent items)
        width = range(QUEUE_DEPTH + 1 + FRONT_DEPTH + U + 1 + PV_DEPTH + 1)
        q_users = Signal(width)
        k_users = [Signal(width, name=f"k{h}_users") for h in range(2)]
        v_users = [Signal(width, name=f"v{h}_users") for h in range(2)]
        pushed, s_done, pv_done = Signal(), Signal(), Signal()
        s_kv, pv_kv = Signal(), Signal()
        m.d.sync += q_users.eq(q_users + pushed - s_done)
        for h in range(2):
            m.d.sync += [
                k_users[h].eq(k_users[h] + (pushed & (ld.kv == h)) - (s_done & (s_kv == h))),
                v_users[h].eq(v_users[h] + (pushed & (ld.kv == h)) - (pv_done & (pv_kv == h)))]
        k_free = ~Cat(*[u != 0 for u in k_users]).bit_select(ld.kv, 1)
        v_free = ~Cat(*[u != 0 for u in v_users]).bit_select(ld.kv, 1)
        kv_words = g.kv_half
        loading = Signal()

        def load(kind, base, stride, rows, word, then, ok=1):
            m.d.comb += [self.load.valid.eq(ok), self.load.payload.kind.eq(kind),
                         self.load.payload.base.eq(base), self.load.payload.stride.eq(stride),
                         self.load.payload.rows.eq(rows), self.load.payload.d.eq(d),
                         self.load.payload.word.eq(word), loading.eq(1)]
            with m.If(self.load.ready & ok):
                m.next = then

        def wait(busy, then):
            m.d.comb += loading.eq(1)
            with m.If(~busy):
                m.next = then

        m.d.comb += [queue.w_data.eq(ld.as_value()), self.kv_double.eq(double)]
        with m.FSM(name="loads"):
            with m.State("IDLE"):
                m.d.comb += self.items.ready.eq(1)
                with m.If(self.items.valid):
                    new_block = self.items.payload.t0 == 0
                    kv = Mux(new_block & double, ~kv_now, kv_now) & double
                    m.d.sync += [lit.eq(self.items.payload), ld.half.eq(half_next),
                                 half_next.eq(half_next + 1), ld.region.eq(region_next),
                                 region_next.eq(Mux(region_next == 2, 0, region_next + 1)),
                                 ld.trow.eq(Mux(new_block, 0, ld.trow + 1)),
                                 ld.kv.eq(kv), kv_now.eq(kv)]
                    m.next = "PREP"
            with m.State("PREP"):
                m.d.sync += [regs["q"].eq(addr["q"]), regs["k"].eq(addr["k"]),
                             regs["v"].eq(addr["v"]), ld.o.eq(addr["o"])]
                with m.If(lit.t0 == 0):
                    m.next = "LOAD_K"
                with m.Else():
                    m.next = "PUSH"
            # K_j and V_j first (their half is free once its items are done), then Q of a new
            # q-block (single-buffered: once every S of the q-block before is computed)
            with m.State("LOAD_K"):
                load(LoadKind.K, regs["k"], addr["k_stride"], lit.keys, ld.kv * kv_words["k"],
                     "WAIT_K", ok=k_free)
            with m.State("WAIT_K"):
                wait(self.load_busy, "LOAD_V")
            with m.State("LOAD_V"):
                load(LoadKind.V, regs["v"], addr["k_stride"], lit.keys, ld.kv * kv_words["v"],
                     "WAIT_V", ok=v_free)
            with m.State("WAIT_V"):
                with m.If(lit.j0 == 0):
                    wait(self.load_busy, "LOAD_Q")
                with m.Else():
                    wait(self.load_busy, "PUSH")
            with m.State("LOAD_Q"):
                load(LoadKind.Q, regs["q"], addr["q_stride"], lit.rows, 0, "WAIT_Q",
                     ok=q_users == 0)
            with m.State("WAIT_Q"):
                wait(self.load_busy, "PUSH")
            with m.State("PUSH"):
                m.d.comb += queue.w_en.eq(1)
                with m.If(queue.w_rdy):
                    m.d.comb += pushed.eq(1)
                    m.next = "IDLE"
        vars(s).update(queue=queue, loading=loading, kv_words=kv_words, s_done=s_done,
                       s_kv=s_kv, pv_done=pv_done, pv_kv=pv_kv)

    def _front_stage(self, m, s):
        """S of the queued items on DPE0 into the S memories of their softmax units: the issue
        side sends the S jobs (chained within a key block's row tiles), the collect side takes
        each item's results and hands it to its unit."""
        (g, L, U, dchunks, fr, sm, sm_full, sm_saved, sm_enter, sm_leave, newest, queue,
         loading, kv_words, s_done, s_kv) = (
            s.g, s.L, s.U, s.dchunks, s.fr, s.sm, s.sm_full, s.sm_saved, s.sm_enter,
            s.sm_leave, s.newest, s.queue, s.loading, s.kv_words, s.s_done, s.s_kv)
        # -- issue: the S job of the next queued item; the items whose S is under way --------
        m.submodules.s_items = issued = fifo.SyncFIFOBuffered(width=stage_layout(L).size,
                                                              depth=FRONT_DEPTH)
        fit = fr.it
        s_par = Signal()                         # parity of the next S job (as DpeOrder's)
        m.d.comb += [issued.w_data.eq(fr.as_value()),
                     self.s_job.payload.tiles.eq((fit.visible + g.dpus - 1) // g.dpus),
                     self.s_job.payload.chunks.eq(dchunks),
                     self.s_job.payload.chain.eq(chains(fit))]
        front_phase = Signal(Phase)
        with m.FSM(name="front"):
            with m.State("IDLE"):
                m.d.comb += queue.r_en.eq(issued.w_rdy)
                with m.If(queue.r_rdy & issued.w_rdy):
                    m.d.sync += fr.eq(queue.r_data)
                    m.next = "ISSUE"
                with m.Elif(loading & ~issued.r_rdy):
                    m.d.comb += front_phase.eq(Phase.LOAD)
            with m.State("ISSUE"):
                with m.If(fit.visible != 0):
                    m.d.comb += self.s_job.valid.eq(1)
                    with m.If(self.s_job.ready):
                        m.d.comb += issued.w_en.eq(1)
                        m.d.sync += s_par.eq(~s_par)
                        for p in range(2):
                            with m.If(s_par == p):
                                m.d.sync += [self.q_base[p].eq(fr.trow * dchunks),
                                             self.k_base[p].eq(fr.kv * kv_words["k"])]
                        m.next = "IDLE"
                with m.Else():
                    m.d.comb += issued.w_en.eq(1)
                    m.next = "IDLE"

        # -- collect: S memory `half` takes results once its unit's passes are over (the unit
        #    is empty or its item has m, l in UMEM); the item enters the unit once it is empty
        head = data.View(stage_layout(L), issued.r_data)
        tiles = Signal(16)
        released = Signal()
        unit_free = Signal()
        m.d.comb += [self.s_half.eq(head.half), s_kv.eq(head.kv),
                     tiles.eq((head.it.visible + g.dpus - 1) // g.dpus),
                     released.eq(Cat(*[~sm_full[u] | sm_saved[u] for u in range(U)])
                                 .bit_select(head.half, 1)),
                     unit_free.eq(Cat(*[~sm_full[u] | sm_leave[u] for u in range(U)])
                                  .bit_select(head.half, 1))]
        with m.FSM(name="collect"):
            with m.State("WAIT"):
                with m.If(issued.r_rdy):
                    m.d.comb += front_phase.eq(Phase.S)
                    with m.If(head.it.visible == 0):
                        m.next = "HAND"
                    with m.Elif(released):
                        m.d.comb += self.s_clear.eq(1)
                        m.next = "COLLECT"
            with m.State("COLLECT"):
                m.d.comb += [self.s_go.eq(self.s_count != tiles), front_phase.eq(Phase.S)]
                with m.If(self.s_count == tiles):
                    m.next = "HAND"
            with m.State("HAND"):
                m.d.comb += front_phase.eq(Phase.S)
                with m.If(unit_free):
                    m.d.comb += [s_done.eq(1), issued.r_en.eq(1)]
                    for u in range(U):
                        with m.If(head.half == u):
                            m.d.comb += sm_enter[u].eq(1)
                            m.d.sync += [sm[u].eq(head), sm_saved[u].eq(0)]
                    m.d.sync += newest.eq(head.half)
                    m.next = "WAIT"
        vars(s).update(front_phase=front_phase)

    def _softmax_stage(self, m, s):
        """One slot per softmax unit: m, l from UMEM, the RVPE passes, m, l to UMEM, 1 / l; items leave to the PV stage in their order."""
        (g, desc, L, U, sm, sm_full, sm_saved, sm_leave, newest, pv, pv_enter, pv_free,
         pv_next, pv_scalars, p_busy) = (
            s.g, s.desc, s.L, s.U, s.sm, s.sm_full, s.sm_saved, s.sm_leave, s.newest,
            s.pv, s.pv_enter, s.pv_free, s.pv_next, s.pv_scalars, s.p_busy)
        # -- softmax stage: one slot per unit; m, l from UMEM, the RVPE passes, m, l to UMEM,
        #    1 / l. UMEM: one read and one write port, unit 0 first.
        want_r = [Signal(name=f"soft{u}_want_r") for u in range(U)]
        want_w = [Signal(name=f"soft{u}_want_w") for u in range(U)]
        grant_r = [want_r[u] & ~Cat(*want_r[:u]).any() for u in range(U)]
        grant_w = [want_w[u] & ~Cat(*want_w[:u]).any() for u in range(U)]
        for u in range(U):
            with m.If(grant_r[u]):
                m.d.comb += [self.u_r.en.eq(1), self.u_r.addr.eq(sm[u].trow)]
            with m.If(grant_w[u]):
                m.d.comb += [self.u_w.en[0].eq(1), self.u_w.addr.eq(sm[u].trow),
                             self.u_w.data[0].eq(Cat(self.m_old[u].as_value(),
                                                     self.l_old[u].as_value()))]
        running = [Signal(name=f"soft{u}_running") for u in range(U)]
        for u in range(U):
            sit = sm[u].it
            # the other unit's item is older (it came first) and of the same row tile, and its
            # m, l are not in UMEM yet: wait for them
            blocked = 0
            if U == 2:
                other = 1 - u
                blocked = (sm_full[other] & ~sm_saved[other] & (newest == u)
                           & (sm[other].trow == sm[u].trow))
            m.d.comb += [self.sm_base[u].eq(sm[u].region * g.p_region),
                         self.vectors[u].eq((sit.visible + g.vector_width - 1)
                                            >> exact_log2(g.vector_width))]
            for r in range(L):
                raw = Signal(signed(28), name=f"raw{u}_{r}")
                m.d.comb += raw.eq(sit.q0 + sit.t0 + r + 1 + desc.sk - desc.sq - sit.j0)
                m.d.comb += self.limit[u][r].eq(
                    Mux(~desc.causal, sit.keys,
                        Mux(raw < 0, 0, Mux(raw > sit.keys, sit.keys, raw))))
            with m.FSM(name=f"softmax{u}"):
                with m.State("IDLE"):
                    # P region `region` is written by the passes: wait until the PV stage no
                    # longer holds the item three before (same region)
                    region_busy = Cat(*p_busy).bit_select(sm[u].region, 1)
                    with m.If(sm_full[u] & ~sm_leave[u] & ~blocked & ~region_busy):
                        m.d.comb += want_r[u].eq(1)
                        with m.If(grant_r[u]):
                            m.next = "STATE"
                with m.State("STATE"):
                    stored = self.u_r.data[0]
                    m.d.sync += [self.m_old[u].eq(Mux(sit.first, Cat(*[Const(NEG_INF, 32)] * L),
                                                      stored[:32 * L])),
                                 self.l_old[u].eq(Mux(sit.first, 0, stored[32 * L:]))]
                    with m.If(sit.visible != 0):
                        m.next = "SOFTMAX"
                    with m.Else():
                        m.next = "SAVE"
                with m.State("SOFTMAX"):
                    m.d.comb += [self.sm_start[u].eq(1), running[u].eq(1)]
                    m.next = "SOFTMAX_WAIT"
                with m.State("SOFTMAX_WAIT"):
                    m.d.comb += running[u].eq(1)
                    with m.If(~self.sm_busy[u]):
                        m.d.sync += [self.m_old[u].eq(self.m_new[u]),
                                     self.l_old[u].eq(self.l_new[u])]
                        m.next = "SAVE"
                with m.State("SAVE"):
                    # m and l of the row tile to UMEM, also when the tile skipped the block
                    # (the first block's -inf and +0 must be there for the next block)
                    m.d.comb += want_w[u].eq(1)
                    with m.If(grant_w[u]):
                        m.d.sync += sm_saved[u].eq(1)
                        with m.If(sit.last):
                            m.next = "RECIP"
                        with m.Else():
                            m.next = "HAND"
                with m.State("RECIP"):
                    m.d.comb += [self.sm_start[u].eq(1), self.sm_program[u].eq(1),
                                 running[u].eq(1)]
                    m.next = "RECIP_WAIT"
                with m.State("RECIP_WAIT"):
                    m.d.comb += running[u].eq(1)
                    with m.If(~self.sm_busy[u]):
                        m.next = "HAND"
                with m.State("HAND"):
                    # items reach the PV stage in their order: the units take turns
                    with m.If(pv_free & (pv_next == u)):
                        m.d.comb += [sm_leave[u].eq(1), pv_enter.eq(1)]
                        m.d.sync += [pv.eq(sm[u]), pv_scalars["alpha"].eq(self.alpha[u]),
                                     pv_scalars["rinv"].eq(self.rinv[u]),
                                     pv_scalars["l"].eq(self.l_old[u]),
                                     pv_next.eq(pv_next + 1)]
                        m.next = "IDLE"
        vars(s).update(running=running)

    def _pv_stage(self, m, s):
        """DPE1 and the O update of the items in order, the store on a last key block, the
        drain: the issue side sends the P V jobs (chained as the S jobs), the update side
        folds each item's tiles into O."""
        (g, desc, L, d, ctiles, pv, pv_full, pv_leave, pv_scalars, p_busy, kv_words, pv_kv,
         pv_done) = (
            s.g, s.desc, s.L, s.d, s.ctiles, s.pv, s.pv_full, s.pv_leave, s.pv_scalars,
            s.p_busy, s.kv_words, s.pv_kv, s.pv_done)
        # -- issue: the item from its softmax unit, its P V job -------------------------------
        entry = data.StructLayout({"stage": stage_layout(L),
                                   **{name: row_layout(L) for name in SCALARS}})
        m.submodules.pv_items = issued = fifo.SyncFIFOBuffered(width=entry.size,
                                                               depth=PV_DEPTH)
        pit = pv.it
        pv_par = Signal()                         # parity of the next P V job
        m.d.comb += [issued.w_data.eq(Cat(pv.as_value(),
                                          *[pv_scalars[n].as_value() for n in SCALARS])),
                     self.pv_job.payload.tiles.eq(ctiles),
                     self.pv_job.payload.chunks.eq((pit.visible + g.mults - 1)
                                                   >> exact_log2(g.mults)),
                     self.pv_job.payload.chain.eq(chains(pit))]
        with m.If(pv_full & issued.w_rdy):
            with m.If(pit.visible != 0):
                m.d.comb += self.pv_job.valid.eq(1)
                with m.If(self.pv_job.ready):
                    m.d.comb += [issued.w_en.eq(1), pv_leave.eq(1)]
                    m.d.sync += pv_par.eq(~pv_par)
                    for p in range(2):
                        with m.If(pv_par == p):
                            m.d.sync += [self.p_base[p].eq(pv.region * g.p_region),
                                         self.v_base[p].eq(pv.kv * kv_words["v"]),
                                         self.keys[p].eq(pit.keys)]
            with m.Else():
                m.d.comb += [issued.w_en.eq(1), pv_leave.eq(1)]

        # -- update: the oldest item's O update, its store, the drain after the `end` item --
        head = data.View(entry, issued.r_data)
        hst, hit = head.stage, head.stage.it
        m.d.comb += [pv_kv.eq(hst.kv), self.tile.eq(hit.tile), self.o_base.eq(hst.trow * ctiles),
                     self.row_addr.eq(hst.o), self.row_stride.eq((desc.hq * d * 2)[:ADDR_BITS]),
                     self.up_first.eq(hit.first), self.up_alpha.eq(head.alpha),
                     self.up_rinv.eq(head.rinv), self.up_l.eq(head.l)]
        # P regions in use: the items in the queue of sent jobs, and the item being issued
        for r in range(3):
            in_queue = Signal(name=f"p{r}_queued")
            m.d.sync += in_queue.eq((in_queue | (issued.w_en & (pv.region == r)))
                                    & ~(pv_done & (hst.region == r)))
            m.d.comb += p_busy[r].eq(in_queue | (pv_full & (pv.region == r)))
        pv_phase = Signal(Phase)
        # the store of a row tile runs beside the next items' updates; an update of the same
        # row tile (its O words) waits until the store has read them
        store_trow = Signal(16)
        trow_storing = self.up_store_busy & (store_trow == hst.trow)
        with m.FSM(name="pv"):
            with m.State("IDLE"):
                with m.If(issued.r_rdy):
                    with m.If(hit.visible != 0):
                        m.next = "PV"
                    with m.Elif(hit.last):
                        m.next = "STORE"
                    with m.Else():
                        m.next = "DONE"
                with m.Elif(pv_full):
                    m.d.comb += pv_phase.eq(Phase.PV)
            with m.State("PV"):
                with m.If(trow_storing):
                    m.d.comb += pv_phase.eq(Phase.STORE)
                with m.Else():
                    m.d.comb += [self.up_start.eq(1), pv_phase.eq(Phase.PV)]
                    m.next = "PV_WAIT"
            with m.State("PV_WAIT"):
                m.d.comb += pv_phase.eq(Phase.PV)
                with m.If(~self.up_busy):
                    with m.If(hit.last):
                        m.next = "STORE"
                    with m.Else():
                        m.next = "DONE"
            with m.State("STORE"):
                m.d.comb += pv_phase.eq(Phase.STORE)
                with m.If(~self.up_store_busy):
                    m.d.comb += self.up_store.eq(1)
                    m.d.sync += store_trow.eq(hst.trow)
                    m.next = "DONE"
            with m.State("DONE"):
                m.d.comb += [issued.r_en.eq(1), pv_done.eq(1)]
                with m.If(hit.end):
                    m.next = "DRAIN"
                with m.Else():
                    m.next = "IDLE"
            with m.State("DRAIN"):
                m.d.comb += pv_phase.eq(Phase.STORE)
                with m.If(self.up_idle & self.writer_idle):
                    m.d.comb += self.finish.eq(1)
                    m.next = "IDLE"
        vars(s).update(pv_phase=pv_phase)

    def _phase(self, m, s):
        """What the controller waits for: a softmax unit running first, then the PV stage, then the front."""
        (running, pv_phase, front_phase) = (
            s.running, s.pv_phase, s.front_phase)
        with m.If(Cat(*running).any()):
            m.d.comb += self.phase.eq(Phase.SOFTMAX)
        with m.Elif(pv_phase != Phase.CONTROL):
            m.d.comb += self.phase.eq(pv_phase)
        with m.Else():
            m.d.comb += self.phase.eq(front_phase)
