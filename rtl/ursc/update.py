"""The UpE side of PipeFlash on one update unit: the O update of an item and the store of a row
tile's output.

* ``mode`` 0, *update*: every P V tile of DPE1 (``lanes x dpus`` fp32, in tile order
  ``ct = 0, 1, ...``) becomes ``lanes`` UpE beats, lane r: ``MULADD`` with ``s = alpha[r]``,
  ``x`` = the O accumulator word ``o_base + ct`` of bank r (+0 when ``first``: the model's
  initial O), ``y`` = the tile's row r; the result is written back to that word. ``busy``
  ends when ``ctiles`` tiles are written back.
* ``mode`` 1, *store*: for row r < ``tile`` and ``ct < ctiles``: ``MUL_BF16`` with
  ``s = rinv[r]``, ``x`` = O word ``o_base + ct`` of bank r; the ``dpus`` bf16 results (zeros
  written as +0; a row with ``l = 0`` gives +0) go to the write DMA as one row of
  ``2 * min(dpus, d - ct * dpus)`` bytes at ``row_addr + r * row_stride + 2 * ct * dpus``.
  ``busy`` ends when every piece is queued for the write DMA; ``idle`` when the queue is
  empty too.

Handshake: ``start`` (with the parameters, stable until ``busy`` falls) while not ``busy``.
"""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from hybridgen.rtl.mem.dma import write_row_layout

from .dpe import dpe_results
from .memories import ADDR_BITS, read_signature, write_signature
from .upe import UpeOp, upe_latency, upe_operands

__all__ = ["OUpdate"]

_TAG = data.StructLayout({"store": 1, "lane": 8, "word": 16, "addr": ADDR_BITS,
                          "nbytes": 10, "zero": 1})


class OUpdate(wiring.Component):
    """See the module docstring.

    Members
    -------
    start, mode, first : In(1)
    busy, idle : Out(1)
    o_base, ctiles, tile, d : In(16)
    row_addr, row_stride : In(ADDR_BITS)
    alpha, rinv, l_fin : In(ArrayLayout(32, lanes))
    pv : In(stream.Signature(dpe_results(lanes, dpus)))      from DPE1
    upe : Out(stream.Signature(upe_operands(update_width)))   to an UpE unit
    upe_o : In(stream.Signature(ArrayLayout(32, update_width)))
    store : Out(stream.Signature(write_row_layout(ADDR_BITS, 2 * dpus)))   to the write DMA
    o_r, o_w : the O accumulators' ports
    """

    def __init__(self, geometry):
        self._g = g = geometry
        L, D, U = g.lanes, g.dpus, g.update_width
        row = data.ArrayLayout(32, L)
        banks, width, depth, _ = g.memories["o"]
        super().__init__({
            "start": In(1), "mode": In(1), "first": In(1), "busy": Out(1), "idle": Out(1),
            "o_base": In(16), "ctiles": In(16), "tile": In(16), "d": In(16),
            "row_addr": In(ADDR_BITS), "row_stride": In(ADDR_BITS),
            "alpha": In(row), "rinv": In(row), "l_fin": In(row),
            "pv": In(stream.Signature(dpe_results(L, D))),
            "upe": Out(stream.Signature(upe_operands(U))),
            "upe_o": In(stream.Signature(data.ArrayLayout(32, U))),
            "store": Out(stream.Signature(write_row_layout(ADDR_BITS, g.store_bytes))),
            "o_r": Out(read_signature(banks, width, depth)),
            "o_w": Out(write_signature(banks, width, depth, 1)),
        })

    def elaborate(self, platform):
        m = Module()
        g = self._g
        L, D = g.lanes, g.dpus
        depth = upe_latency() + 4
        m.submodules.tiles = tiles = fifo.SyncFIFO(width=L * D * 32, depth=4)
        m.submodules.tags = tags = fifo.SyncFIFO(width=_TAG.size, depth=depth)
        m.submodules.out = out = fifo.SyncFIFO(width=len(self.store.payload.as_value()),
                                               depth=depth)
        m.d.comb += [tiles.w_data.eq(self.pv.payload.as_value()), tiles.w_en.eq(self.pv.valid),
                     self.pv.ready.eq(tiles.w_rdy)]
        lane_bits = max(1, (L - 1).bit_length())

        # -- issue: (lane, ct) -> O read -> UpE beat one cycle later -------------------------
        issuing = Signal()
        lane, ct = Signal(16), Signal(16)
        addr = Signal(ADDR_BITS)             # byte address of row `lane`, piece ct
        pending = Signal(range(depth + 2))   # store pieces issued and not yet in the DMA
        advance = ~self.upe.valid | self.upe.ready
        room = tags.w_level < depth - 2
        can = Mux(self.mode, pending < depth - 2, tiles.r_rdy)
        issue = issuing & advance & room & can
        last_lane = lane == Mux(self.mode, self.tile, L) - 1
        last_ct = ct == self.ctiles - 1
        m.d.comb += [self.o_r.addr.eq(self.o_base + ct), self.o_r.en.eq(advance)]
        st_lane, st_pv = Signal(lane_bits), Signal(L * D * 32)
        with m.If(advance):
            m.d.sync += [self.upe.valid.eq(issue), st_lane.eq(lane), st_pv.eq(tiles.r_data)]
        tag = data.View(_TAG, tags.w_data)
        nbytes = Mux(last_ct, (self.d - ct * D) * 2, 2 * D)
        l_lane = self.l_fin.as_value().word_select(lane[:lane_bits], 32)
        m.d.comb += [tags.w_en.eq(issue), tag.store.eq(self.mode), tag.lane.eq(lane),
                     tag.word.eq(self.o_base + ct), tag.addr.eq(addr + ct * (2 * D)),
                     tag.nbytes.eq(nbytes), tag.zero.eq(l_lane[:31] == 0)]
        with m.If(issue):
            with m.If(self.mode):          # store: pieces of a row, then the next row
                with m.If(~last_ct):
                    m.d.sync += ct.eq(ct + 1)
                with m.Else():
                    m.d.sync += [ct.eq(0), lane.eq(lane + 1), addr.eq(addr + self.row_stride)]
                    with m.If(last_lane):
                        m.d.sync += issuing.eq(0)
            with m.Else():                 # update: rows of a tile, then the next tile
                with m.If(~last_lane):
                    m.d.sync += lane.eq(lane + 1)
                with m.Else():
                    m.d.comb += tiles.r_en.eq(1)
                    m.d.sync += [lane.eq(0), ct.eq(ct + 1)]
                    with m.If(last_ct):
                        m.d.sync += issuing.eq(0)
        beat = self.upe.payload
        o_word = self.o_r.data.as_value().word_select(st_lane, 32 * D)
        pv_row = st_pv.word_select(st_lane, 32 * D)
        m.d.comb += [beat.op.eq(Mux(self.mode, UpeOp.MUL_BF16, UpeOp.MULADD)),
                     beat.s.eq(Mux(self.mode, self.rinv.as_value(), self.alpha.as_value())
                               .word_select(st_lane, 32)),
                     beat.x.as_value()[:32 * D].eq(Mux(self.first & ~self.mode, 0, o_word)),
                     beat.y.as_value()[:32 * D].eq(pv_row)]

        # -- results: write back (update) or queue the bf16 piece (store) -------------------
        res, got = self.upe_o.payload, self.upe_o.valid
        done_tag = data.View(_TAG, tags.r_data)
        m.d.comb += [self.upe_o.ready.eq(1), tags.r_en.eq(got),
                     self.o_w.addr.eq(done_tag.word),
                     ]
        for r in range(L):
            m.d.comb += [self.o_w.data[r].eq(Cat(*[res[k] for k in range(D)])),
                         self.o_w.en[r].eq(got & ~done_tag.store & (done_tag.lane == r))]
        piece = data.View(self.store.payload.shape(), out.w_data)
        halves = [res[k][16:] for k in range(D)]
        m.d.comb += [piece.addr.eq(done_tag.addr), piece.nbytes.eq(done_tag.nbytes),
                     piece.data.eq(Cat(*[Mux(done_tag.zero | (h[:15] == 0), 0, h)
                                         for h in halves])),
                     out.w_en.eq(got & done_tag.store),
                     self.store.valid.eq(out.r_rdy), self.store.payload.eq(out.r_data),
                     out.r_en.eq(self.store.ready)]
        sent = self.store.valid & self.store.ready
        m.d.sync += pending.eq(pending + (issue & self.mode) - sent)
        m.d.comb += [self.busy.eq(issuing | tags.r_rdy | self.upe.valid),
                     self.idle.eq(~self.busy & ~out.r_rdy)]
        with m.If(self.start & ~self.busy):
            m.d.sync += [issuing.eq(1), lane.eq(0), ct.eq(0), addr.eq(self.row_addr)]
        return m
