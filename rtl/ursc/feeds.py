"""Operand feeds of the two DPEs for PipeFlash: one DPE job of one row-tile item each.

Each feed turns a stream of jobs (``tiles`` output tiles over ``chunks`` reduction chunks, and
``chain``) into DPE beats in the 3-slot order of :class:`~hybridgen.rtl.ursc.dpe_order.DpeOrder`
(a chained job's last group may hold the next job's first tiles), reads the operands of each
beat from the memories (the banking of :mod:`hybridgen.rtl.ursc.memories`) and presents them
one cycle later (memory read latency), holding them while the DPE does not take them. The
per-item bases are given per job parity (``[0]``, ``[1]``: the beat's ``job`` selects them), so
two jobs can be in the order at once; the sender sets a parity's bases when it sends that
parity's job and keeps them until the job's last beat is taken.

* :class:`SFeed` (DPE0, ``S = Q_t K_j^T``): beat (tile, chunk) of job parity p reads word
  ``q_base[p] + chunk`` of every Q bank (A operand: lane l is row ``t0 + l``) and word
  ``k_base + tile * dchunks + chunk`` of every K bank (B operand: DPU c is key
  ``tile * dpus + c``).
* :class:`PvFeed` (DPE1, ``P V_j``): beat (tile, chunk) reads the P vector holding keys
  ``chunk * mults ...`` of every lane (word ``p_base[p] + chunk * mults / vector_width``: the
  item's region of the P buffer) (A operand) and word ``v_base[p] + chunk * ctiles + tile`` of
  every V bank (B operand: DPU c is column ``tile * dpus + c``, value x of key ``chunk * mults + x``);
  keys at or past ``keys[p]`` (the block's end) are given as +0, as the model pads them.
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
    q_base, k_base : In(16).array(2)     per job parity
        Word of the row tile's Q rows; first word of the block's K (its half of the K memory).
    dchunks : In(16)
        Chunks per row (``ceil(d / mults)``).
    q_r, k_r : Out(read_signature)
    """

    def __init__(self, geometry):
        super().__init__(geometry, {"q_base": In(16).array(2), "dchunks": In(16),
                                    "k_base": In(16).array(2),
                                    "q_r": _reader(geometry, "q"), "k_r": _reader(geometry, "k")})

    def elaborate(self, platform):
        m = Module()
        g = self._g
        beat, advance = self.stage(m)
        q_base = Mux(beat.job, self.q_base[1], self.q_base[0])
        k_base = Mux(beat.job, self.k_base[1], self.k_base[0])
        m.d.comb += [self.q_r.addr.eq(q_base + beat.chunk), self.q_r.en.eq(advance),
                     self.k_r.addr.eq(k_base + beat.tile * self.dchunks + beat.chunk),
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
    ctiles : In(16)
        Output tiles per row (``ceil(d / dpus)``).
    keys, p_base, v_base : In(16).array(2)     per job parity
        Keys of the block; first word of the item's region of the P buffer; first word of the
        block's V (its half of the V memory).
    p_r, v_r : Out(read_signature)
    """

    def __init__(self, geometry):
        super().__init__(geometry, {"ctiles": In(16), "keys": In(16).array(2),
                                    "p_base": In(16).array(2), "v_base": In(16).array(2),
                                    "p_r": _reader(geometry, "p"), "v_r": _reader(geometry, "v")})

    def elaborate(self, platform):
        m = Module()
        g = self._g
        beat, advance = self.stage(m)
        per_vector = g.vector_width // g.mults
        shift = exact_log2(per_vector)
        sub, key0, keys = Signal(range(max(2, per_vector))), Signal(16), Signal(16)
        with m.If(advance):
            m.d.sync += [sub.eq(beat.chunk[:shift] if shift else 0),
                         key0.eq(beat.chunk * g.mults),
                         keys.eq(Mux(beat.job, self.keys[1], self.keys[0]))]
        p_base = Mux(beat.job, self.p_base[1], self.p_base[0])
        v_base = Mux(beat.job, self.v_base[1], self.v_base[0])
        m.d.comb += [self.p_r.addr.eq(p_base + (beat.chunk >> shift)), self.p_r.en.eq(advance),
                     self.v_r.addr.eq(v_base + beat.chunk * self.ctiles + beat.tile),
                     self.v_r.en.eq(advance)]
        for lane in range(g.lanes):
            word = self.p_r.data[lane]
            m.d.comb += self.dpe.payload.a[lane].eq(word.word_select(sub, 16 * g.mults))
        for col in range(g.dpus):
            for x in range(g.mults):
                value = self.v_r.data[x][16 * col:16 * (col + 1)]
                m.d.comb += self.dpe.payload.b[col][x].eq(
                    Mux(key0 + x < keys, value, 0))
        return m
