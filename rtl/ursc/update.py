"""The UpE side of PipeFlash on one update unit: the O update of an item and the store of a row
tile's output, the two interleaved on the unit.

* *update* (``start``): every P V tile of DPE1 (``lanes x dpus`` fp32, in tile order
  ``ct = 0, 1, ...``) becomes ``lanes`` UpE beats, lane r: ``MULADD`` with ``s = alpha[r]``,
  ``x`` = the O accumulator word ``o_base + ct`` of bank r (+0 when ``first``: the model's
  initial O), ``y`` = the tile's row r; the result is written back to that word. ``busy``
  ends when ``ctiles`` tiles are written back. The parameters (``o_base``, ``first``,
  ``alpha``) stay stable until ``busy`` falls.
* *store* (``store_start``): for row r < ``tile`` and ``ct < ctiles``: ``MUL_BF16`` with
  ``s = rinv[r]``, ``x`` = O word ``o_base + ct`` of bank r; the ``dpus`` bf16 results (zeros
  written as +0; a row with ``l = 0`` gives +0) go to the write DMA as one row of
  ``2 * min(dpus, d - ct * dpus)`` bytes at ``row_addr + r * row_stride + 2 * ct * dpus``.
  ``o_base``, ``tile``, ``row_addr``, ``rinv`` and ``l_fin`` are taken when the store starts
  (so the next item's update can start at once); ``store_busy`` until every O word of the
  store is read (an update may then write those words); ``idle`` when nothing is left, the
  write queue empty too.

One update and one store run at a time, side by side: each cycle the UpE takes an update beat
if a P V tile is there, else a store beat (DPE1's tiles come at most every ``chunks`` cycles
per lane beat, so the store fills the gaps). Every beat is one O read and its result one O
write (update) or one piece to the write DMA (store), so the values do not change.

Handshake: ``start`` while not ``busy``; ``store_start`` while not ``store_busy`` (and after the
update of the stored tile has ended: its O words are final).
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
    start, store_start, first : In(1)
    busy, store_busy, idle : Out(1)
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
            "start": In(1), "store_start": In(1), "first": In(1), "busy": Out(1),
            "store_busy": Out(1), "idle": Out(1),
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
        row = data.ArrayLayout(32, L)

        # -- issue: (lane, ct) of the update or the store -> O read -> UpE beat a cycle later
        updating, lane, ct = Signal(), Signal(16), Signal(16)          # the update
        storing, s_lane, s_ct = Signal(), Signal(16), Signal(16)       # the store, and its
        s_base, s_tile, s_addr = Signal(16), Signal(16), Signal(ADDR_BITS)   # parameters
        s_rinv, s_lfin = Signal(row), Signal(row)
        pending = Signal(range(depth + 2))   # store pieces issued and not yet in the DMA
        in_flight = Signal(range(depth + 2))  # update beats issued, results not written back
        advance = ~self.upe.valid | self.upe.ready
        room = tags.w_level < depth - 2
        can_update = updating & tiles.r_rdy
        pick = Signal()                       # 1: the store's beat is issued
        m.d.comb += pick.eq(~can_update & storing & (pending < depth - 2))
        issue = advance & room & (can_update | pick)
        last_lane = lane == L - 1
        last_ct = ct == self.ctiles - 1
        s_last_lane = s_lane == s_tile - 1
        s_last_ct = s_ct == self.ctiles - 1
        m.d.comb += [self.o_r.addr.eq(Mux(pick, s_base + s_ct, self.o_base + ct)),
                     self.o_r.en.eq(advance)]
        st_lane, st_pv, st_store = Signal(lane_bits), Signal(L * D * 32), Signal()
        with m.If(advance):
            m.d.sync += [self.upe.valid.eq(issue), st_lane.eq(Mux(pick, s_lane, lane)),
                         st_pv.eq(tiles.r_data), st_store.eq(pick)]
        tag = data.View(_TAG, tags.w_data)
        nbytes = Mux(s_last_ct, (self.d - s_ct * D) * 2, 2 * D)
        l_lane = s_lfin.as_value().word_select(s_lane[:lane_bits], 32)
        m.d.comb += [tags.w_en.eq(issue), tag.store.eq(pick), tag.lane.eq(Mux(pick, s_lane, lane)),
                     tag.word.eq(self.o_r.addr), tag.addr.eq(s_addr + s_ct * (2 * D)),
                     tag.nbytes.eq(nbytes), tag.zero.eq(l_lane[:31] == 0)]
        with m.If(issue & pick):               # store: pieces of a row, then the next row
            with m.If(~s_last_ct):
                m.d.sync += s_ct.eq(s_ct + 1)
            with m.Else():
                m.d.sync += [s_ct.eq(0), s_lane.eq(s_lane + 1), s_addr.eq(s_addr + self.row_stride)]
                with m.If(s_last_lane):
                    m.d.sync += storing.eq(0)
        with m.If(issue & ~pick):              # update: rows of a tile, then the next tile
            with m.If(~last_lane):
                m.d.sync += lane.eq(lane + 1)
            with m.Else():
                m.d.comb += tiles.r_en.eq(1)
                m.d.sync += [lane.eq(0), ct.eq(ct + 1)]
                with m.If(last_ct):
                    m.d.sync += updating.eq(0)
        beat = self.upe.payload
        o_word = self.o_r.data.as_value().word_select(st_lane, 32 * D)
        pv_row = st_pv.word_select(st_lane, 32 * D)
        m.d.comb += [beat.op.eq(Mux(st_store, UpeOp.MUL_BF16, UpeOp.MULADD)),
                     beat.s.eq(Mux(st_store, s_rinv.as_value(), self.alpha.as_value())
                               .word_select(st_lane, 32)),
                     beat.x.as_value()[:32 * D].eq(Mux(self.first & ~st_store, 0, o_word)),
                     beat.y.as_value()[:32 * D].eq(pv_row)]

        # -- results: write back (update) or queue the bf16 piece (store) -------------------
        res, got = self.upe_o.payload, self.upe_o.valid
        done_tag = data.View(_TAG, tags.r_data)
        m.d.comb += [self.upe_o.ready.eq(1), tags.r_en.eq(got), self.o_w.addr.eq(done_tag.word)]
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
        m.d.sync += [pending.eq(pending + (issue & pick) - sent),
                     in_flight.eq(in_flight + (issue & ~pick) - (got & ~done_tag.store))]
        m.d.comb += [self.busy.eq(updating | (in_flight != 0)), self.store_busy.eq(storing),
                     self.idle.eq(~updating & ~storing & ~tags.r_rdy & ~self.upe.valid
                                  & ~out.r_rdy)]
        with m.If(self.start & ~self.busy):
            m.d.sync += [updating.eq(1), lane.eq(0), ct.eq(0)]
        with m.If(self.store_start & ~storing):
            m.d.sync += [storing.eq(1), s_lane.eq(0), s_ct.eq(0), s_addr.eq(self.row_addr),
                         s_base.eq(self.o_base), s_tile.eq(self.tile), s_rinv.eq(self.rinv),
                         s_lfin.eq(self.l_fin)]
        return m
