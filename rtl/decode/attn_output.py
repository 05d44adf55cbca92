"""The split-KV combine of decode attention on the array: every unit's partials, in unit
order, through one :class:`~hybridgen.rtl.decode.combine.PartialCombine`, and the o rows to
channel 0's write DMA.

For every job (batch ``b``, kv head ``h``, in that order) the tokens of all units are taken
(1: the unit read a tile of the job and sends ``heads`` partials, q head 0 first); then for q
head ``j = 0 .. heads - 1`` and unit ``u = 0 .. units - 1``: for ``j < g`` the unit's partial
(or, for a unit without a tile, the empty one ``m = -inf``) goes to the combine, ``last`` on
unit ``units - 1``; for ``j >= g`` (heads the job does not use) the unit's partial is dropped.
The combine's row of q head ``b hq + h g + j`` is written at ``o_addr + 2 d (b hq + h g + j)``
(``2 d`` bytes) - the rows of a kernel are one after the other.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hybridgen.rtl.mem.dma import write_row_layout

from .combine import NEG_INF, PartialCombine, partial_layout
from .layouts import BATCH_BITS, HEAD_BITS, descriptor_layout

__all__ = ["AttnOutput", "COMBINE_LANES"]

#: elements per cycle of the combine (its folds and normalization): the combine of the last
#: kv head is the kernel's tail (docs/decode.md)
COMBINE_LANES = 8


class AttnOutput(wiring.Component):
    """Combine every unit's partials and hand the o rows to the write DMA (module docstring).

    Members
    -------
    start : In(1); descriptor : In(descriptor_layout)
    partial : In(stream(partial_layout(attn_max_d))).array(units)
    token : In(stream(1)).array(units)
    orow : Out(stream(write_row_layout(addr_bits, 2 attn_max_d)))
    done : Out(1)     every row of the kernel handed to the write DMA
    """

    def __init__(self, geometry, params=None, library=None):
        self._g, self._params, self._library = geometry, params, library
        g = geometry
        dims = g.attn_max_d
        super().__init__({
            "start": In(1), "descriptor": In(descriptor_layout(g.addr_bits)),
            "partial": In(stream.Signature(partial_layout(dims))).array(g.units),
            "token": In(stream.Signature(1)).array(g.units),
            "orow": Out(stream.Signature(write_row_layout(g.addr_bits, 2 * dims))),
            "done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        g, U, H = self._g, self._g.units, self._g.attn_heads
        m.submodules.combine = comb = PartialCombine(dims=g.attn_max_d, params=self._params,
                                                    lanes=COMBINE_LANES,
                                                    library=self._library)
        d_ = self.descriptor
        hkv, d, group = Signal(HEAD_BITS), Signal(HEAD_BITS), Signal(range(H + 1))
        rows_left, jobs_left = Signal(BATCH_BITS + HEAD_BITS), Signal(BATCH_BITS + HEAD_BITS)
        o_ptr = Signal(g.addr_bits)
        with m.If(self.start):
            m.d.sync += [hkv.eq(d_.hkv), d.eq(d_.d), rows_left.eq(d_.batch * d_.hq),
                         jobs_left.eq(d_.batch * d_.hkv),
                         o_ptr.eq(d_.o_addr)]
            for k in range(1, H + 1):
                with m.If(d_.hq == d_.hkv * k):
                    m.d.sync += group.eq(k)
        m.d.comb += self.done.eq((rows_left == 0) & (jobs_left == 0))

        # the job's tokens, then (head, unit) in order
        j, u = Signal(range(max(H, 2))), Signal(range(max(U, 2)))
        have_all = Signal()                                  # every unit's token of the job
        ok = jobs_left != 0
        for k in range(U):
            ok = ok & self.token[k].valid
        m.d.comb += have_all.eq(ok)
        tok = Signal()
        with m.Switch(u):
            for k in range(U):
                with m.Case(k):
                    m.d.comb += tok.eq(self.token[k].payload)
        used = j < group
        sel_valid, sel_ready = Signal(), Signal()
        with m.Switch(u):
            for k in range(U):
                with m.Case(k):
                    m.d.comb += [sel_valid.eq(self.partial[k].valid),
                                 self.partial[k].ready.eq(sel_ready)]
                    m.d.comb += comb.i.payload.eq(self.partial[k].payload)
        with m.If(~tok):
            m.d.comb += [comb.i.payload.m.eq(NEG_INF), comb.i.payload.l.eq(0)]
        m.d.comb += comb.i.payload.last.eq(u == U - 1)
        step = Signal()
        with m.If(have_all):
            with m.If(used):
                m.d.comb += [comb.i.valid.eq(Mux(tok, sel_valid, 1)),
                             sel_ready.eq(tok & comb.i.ready),
                             step.eq(comb.i.valid & comb.i.ready)]
            with m.Else():
                m.d.comb += [sel_ready.eq(tok), step.eq(~tok | sel_valid)]
        with m.If(step):
            m.d.sync += u.eq(u + 1)
            with m.If(u == U - 1):
                m.d.sync += [u.eq(0), j.eq(j + 1)]
                with m.If(j == H - 1):
                    m.d.sync += [j.eq(0), jobs_left.eq(jobs_left - 1)]
                    m.d.comb += [self.token[k].ready.eq(1) for k in range(U)]

        # rows out
        m.d.comb += [self.orow.valid.eq(comb.o.valid), self.orow.payload.addr.eq(o_ptr),
                     self.orow.payload.nbytes.eq(d << 1),
                     self.orow.payload.data.eq(comb.o.payload.as_value()),
                     comb.o.ready.eq(self.orow.ready)]
        with m.If(self.orow.valid & self.orow.ready):
            m.d.sync += [o_ptr.eq(o_ptr + (d << 1)), rows_left.eq(rows_left - 1)]
        return m
