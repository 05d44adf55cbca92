"""Operand feeds of the two DPEs for PipeFlash: one DPE job of one row-tile item each.

Each feed turns a job (``tiles`` output tiles over ``chunks`` reduction chunks) into DPE beats
in the 3-slot order of :class:`~hybridgen.rtl.ursc.dpe_order.DpeOrder` (the job is never
chained: ``chain = 0``), reads the operands of each beat from the memories (the banking of
:mod:`hybridgen.rtl.ursc.memories`) and presents them one cycle later (memory read latency),
holding them while the DPE does not take them.

* :class:`SFeed` (DPE0, ``S = Q_t K_j^T``): beat (tile, chunk) reads word
  ``q_base + chunk`` of every Q bank (A operand: lane l is row ``t0 + l``) and word
  ``k_base + tile * dchunks + chunk`` of every K bank (B operand: DPU c is key
  ``tile * dpus + c``).
* :class:`PvFeed` (DPE1, ``P V_j``): beat (tile, chunk) reads the P vector holding keys
  ``chunk * mults ...`` of every lane (word ``p_base + chunk * mults / vector_width``: the
  item's region of the P buffer) (A operand) and word ``v_base + chunk * ctiles + tile`` of
  every V bank (B operand: DPU c is column ``tile * dpus + c``, value x of key ``chunk * mults + x``);
  keys at or past ``keys`` (the block's end) are given as +0, as the model pads them.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from .dpe import dpe_operands
from .dpe_order import DpeOrder, dpe_job_layout
from .memories import read_signature

__all__ = ["SFeed", "PvFeed"]


def _reader(g, name):
    banks, width, depth, _ = g.memories[name]
    return Out(read_signature(banks, width, depth))


class _Feed(wiring.Component):
    def __init__(self, geometry, members):
        self._g = g = geometry
        super().__init__({"job": In(stream.Signature(dpe_job_layout())),
                          "dpe": Out(stream.Signature(dpe_operands(g.lanes, g.dpus, g.mults))),
                          **members})

    def stage(self, m):
        """The order and the read stage: returns (beat, advance)."""
        m.submodules.order = order = DpeOrder()
        wiring.connect(m, wiring.flipped(self.job), order.job)
        advance = ~self.dpe.valid | self.dpe.ready
        beat = order.beat.payload
        first, last = Signal(), Signal()
        m.d.comb += [order.beat.ready.eq(advance), self.dpe.payload.first.eq(first),
                     self.dpe.payload.last.eq(last)]
        with m.If(advance):
            m.d.sync += [self.dpe.valid.eq(order.beat.valid), first.eq(beat.first),
                         last.eq(beat.last)]
        return beat, advance


class SFeed(_Feed):
    """DPE0's feed (module docstring).

    Members
    -------
    job : In(stream.Signature(dpe_job_layout()))
    dpe : Out(stream.Signature(dpe_operands(lanes, dpus, mults)))
    q_base, dchunks, k_base : In(16)
        Word of the row tile's Q rows; chunks per row (``ceil(d / mults)``); first word of the
        block's K (its half of the K memory).
    q_r, k_r : Out(read_signature)
    """

    def __init__(self, geometry):
        super().__init__(geometry, {"q_base": In(16), "dchunks": In(16), "k_base": In(16),
                                    "q_r": _reader(geometry, "q"), "k_r": _reader(geometry, "k")})

    def elaborate(self, platform):
        m = Module()
        g = self._g
        beat, advance = self.stage(m)
        m.d.comb += [self.q_r.addr.eq(self.q_base + beat.chunk), self.q_r.en.eq(advance),
                     self.k_r.addr.eq(self.k_base + beat.tile * self.dchunks + beat.chunk),
                     self.k_r.en.eq(advance)]
        for lane in range(g.lanes):
            m.d.comb += self.dpe.payload.a[lane].eq(self.q_r.data[lane])
        for col in range(g.dpus):
            m.d.comb += self.dpe.payload.b[col].eq(self.k_r.data[col])
        return m


class PvFeed(_Feed):
    """DPE1's feed (module docstring).

    Members
    -------
    job : In(stream.Signature(dpe_job_layout()))
    dpe : Out(stream.Signature(dpe_operands(lanes, dpus, mults)))
    ctiles, keys, p_base, v_base : In(16)
        Output tiles per row (``ceil(d / dpus)``); keys of the block; first word of the item's
        region of the P buffer; first word of the block's V (its half of the V memory).
    p_r, v_r : Out(read_signature)
    """

    def __init__(self, geometry):
        super().__init__(geometry, {"ctiles": In(16), "keys": In(16), "p_base": In(16),
                                    "v_base": In(16),
                                    "p_r": _reader(geometry, "p"), "v_r": _reader(geometry, "v")})

    def elaborate(self, platform):
        m = Module()
        g = self._g
        beat, advance = self.stage(m)
        per_vector = g.vector_width // g.mults
        shift = exact_log2(per_vector)
        sub, key0 = Signal(range(max(2, per_vector))), Signal(16)
        with m.If(advance):
            m.d.sync += [sub.eq(beat.chunk[:shift] if shift else 0),
                         key0.eq(beat.chunk * g.mults)]
        m.d.comb += [self.p_r.addr.eq(self.p_base + (beat.chunk >> shift)), self.p_r.en.eq(advance),
                     self.v_r.addr.eq(self.v_base + beat.chunk * self.ctiles + beat.tile),
                     self.v_r.en.eq(advance)]
        for lane in range(g.lanes):
            word = self.p_r.data[lane]
            m.d.comb += self.dpe.payload.a[lane].eq(word.word_select(sub, 16 * g.mults))
        for col in range(g.dpus):
            for x in range(g.mults):
                value = self.v_r.data[x][16 * col:16 * (col + 1)]
                m.d.comb += self.dpe.payload.b[col][x].eq(
                    Mux(key0 + x < self.keys, value, 0))
        return m
