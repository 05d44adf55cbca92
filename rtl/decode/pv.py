"""The P V path of decode attention on the decode array's lane shape (docs/decode.md, "Decode
attention"): packed V tiles in through the dequantizer, the softmax step's bf16 weights P and
rescale factors alpha beside them, the fp32 output accumulators ``O`` of every q head of the
kv head kept inside and read out after a unit's last position tile.

Lane mapping: a dequantized V tile (32 positions x 32 dims, row-major) is gathered into one of
two tile registers (the next tile fills while the lanes read the other); lane ``k`` then takes item ``c width + k`` of the ``32 heads`` items (dim ``col``,
q head ``h``), item ``col heads + h``: one ``Bf16Dot`` of 32 products, ``P_h . V[:, col]`` -
a whole column, so ``dot = 32`` is one chunk per tile. At decode-small (8 lanes, 4 heads) a
tile takes 16 lane cycles against 17 bus beats of BFP8.

Order of operations (bit-exact :func:`hybridgen.golden.decode_attn.decode_attention_bits`,
``dot = 32``): rows ``p >= count`` of V are replaced by +0 before the products (NaN / inf past
a cache length never reach O; P is +0 there too); ``O'[h, 32 j + col] = fp32_add(fp32_mul(alpha_h,
O[h, 32 j + col]), t)`` with ``t`` the pairwise-tree dot product; ``O = +0`` before a
sequence's first tile (``first``); a tile group with ``count = 0`` leaves O unchanged.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hybridgen.rtl.arith.leaf import place
from hybridgen.rtl.arith.pipeline import pipeline_delay
from hybridgen.rtl.kv.bfp import TileGeometry
from hybridgen.rtl.kv.dequantizer import BfpDequantizer
from hybridgen.rtl.kv.layouts import packed_layout

from .scores import place_lane_units
from .select import write_one

__all__ = ["PvLanes", "weights_layout", "output_layout"]

POSITIONS = 32


def weights_layout(heads):
    """One q head's weights of a position tile group: ``p`` [32] bf16, ``alpha`` fp32,
    ``head``, ``count`` (valid positions), ``first`` (O restarts from +0), ``last`` (the unit's
    final group: O is read out after it)."""
    return data.StructLayout({"p": data.ArrayLayout(16, POSITIONS), "alpha": 32,
                              "head": range(max(heads, 2)), "count": range(POSITIONS + 1),
                              "first": 1, "last": 1})


def output_layout(heads, max_dim_tiles):
    """``o`` [32 max_dim_tiles] fp32 accumulators of one q head, ``head``."""
    return data.StructLayout({"o": data.ArrayLayout(32, POSITIONS * max_dim_tiles),
                              "head": range(max(heads, 2))})


class PvLanes(wiring.Component):
    """Dequantizer-fed ``O = alpha O + P V`` of one unit (module docstring).

    Parameters
    ----------
    geometry : TileGeometry
        Of the dequantizer; ``lanes`` divides 1024.
    width, heads, max_dim_tiles : int
        Lanes (``Bf16Dot`` of 32), q heads per kv head, largest ``d / 32``.

    Members
    -------
    i : In(stream.Signature(packed_layout(geometry)))
        Packed V tiles of position tile groups (``dim_tiles`` tiles, dim tile 0 first).
    w : In(stream.Signature(weights_layout(heads)))
        Per group, ``heads`` beats (head 0 first), before or while its V tiles stream.
    dim_tiles : In(range(1, max_dim_tiles + 1))
    o : Out(stream.Signature(output_layout(heads, max_dim_tiles)))
        After a group marked ``last``: ``heads`` beats (head 0 first).
    """

    def __init__(self, geometry, *, width, heads, max_dim_tiles, library=None):
        self._library = library
        if not isinstance(geometry, TileGeometry):
            raise TypeError(f"geometry must be a TileGeometry, not {geometry!r}")
        for name, value in (("width", width), ("heads", heads), ("max_dim_tiles", max_dim_tiles)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        self._geometry, self._width, self._heads = geometry, width, heads
        self._max_dim_tiles = max_dim_tiles
        super().__init__({
            "i": In(stream.Signature(packed_layout(geometry))),
            "w": In(stream.Signature(weights_layout(heads))),
            "dim_tiles": In(range(1, max_dim_tiles + 1)),
            "o": Out(stream.Signature(output_layout(heads, max_dim_tiles))),
        })

    @property
    def issue_cycles(self):
        """Lane cycles per V tile: ``ceil(32 heads / width)``."""
        return -(-POSITIONS * self._heads // self._width)

    def elaborate(self, platform):
        m = Module()
        g, W, H, D = self._geometry, self._width, self._heads, self._max_dim_tiles
        A = 3
        deq = place(m, self._library, "dequantizer", "attn_dequantizer",
                    lambda: BfpDequantizer(g))
        wiring.connect(m, wiring.flipped(self.i), deq.i)
        v = deq.o

        # ---- the weights of the current group ----------------------------------------------------
        wp = [Signal(data.ArrayLayout(16, POSITIONS), name=f"p{h}") for h in range(H)]
        walpha = [Signal(32, name=f"alpha{h}") for h in range(H)]
        wfirst = Signal()
        wlast = Signal()
        count = Signal(range(POSITIONS + 1))
        w_h = Signal(range(max(H, 2)))
        w_full = Signal()
        m.d.comb += self.w.ready.eq(~w_full)
        with m.If(self.w.valid & self.w.ready):
            pl = self.w.payload
            with m.Switch(w_h):
                for h in range(H):
                    with m.Case(h):
                        m.d.sync += [wp[h].eq(pl.p), walpha[h].eq(pl.alpha)]
            m.d.sync += [count.eq(pl.count), wfirst.eq(pl.first), wlast.eq(pl.last),
                         w_h.eq(w_h + 1)]
            with m.If(w_h == H - 1):
                m.d.sync += [w_h.eq(0), w_full.eq(1)]

        rows, t_full, rb = self._v_tiles(m, v)
        draining = Signal()                                  # a last group not yet read out

        # ---- issue (col, head) items ------------------------------------------------------------
        c = Signal(range(max(self.issue_cycles, 2)))
        j = Signal(range(D))
        issue = t_full.bit_select(rb, 1) & w_full & ~draining
        finish = issue & (c == self.issue_cycles - 1)
        last_tile = j == self.dim_tiles - 1
        with m.If(issue):
            m.d.sync += c.eq(c + 1)
        with m.If(finish):
            m.d.sync += [c.eq(0), rb.eq(~rb), j.eq(Mux(last_tile, 0, j + 1))]
            for bank in range(2):
                with m.If(rb == bank):
                    m.d.sync += t_full[bank].eq(0)
            with m.If(last_tile):
                m.d.sync += [w_full.eq(0), draining.eq(wlast)]

        # O of head h as one signal of 32 D fp32 words (one Verilog register per head: the
        # same flops in far fewer lines)
        O_h = [Signal(data.ArrayLayout(32, POSITIONS * D), name=f"O{h}") for h in range(H)]
        O = [[O_h[h][e] for e in range(POSITIONS * D)] for h in range(H)]
        done = Signal()
        tag = data.StructLayout({"live": 1, "h": range(max(H, 2)), "e": range(POSITIONS * D),
                                 "end": 1})
        ends = []
        # Lane k only ever takes the items c W + k: item col H + h of O[h][32 j + col] is fixed
        # by (h, col), so each O register belongs to one lane (``bank``) and a lane's read
        # multiplexer and write decoder cover its own H * 32 * D / W registers, not all of them.
        def bank(h, e):
            return ((e % POSITIONS) * H + h) % W
        # with H a multiple of W the W items of a cycle are the heads of one column: the lanes
        # share one column multiplexer
        shared_col = H % W == 0
        column_of = {}

        def column(col, name):
            sig = Signal(data.ArrayLayout(16, POSITIONS), name=name)
            # rows past the group's count are +0 (whatever the cache holds there)
            m.d.comb += sig.eq(Cat(*(Mux(p < count, Mux(rb, rows[1][p], rows[0][p])
                                         .word_select(col, 16), 0)
                                     for p in range(POSITIONS))))
            return sig
        if shared_col:
            col0 = Signal(range(POSITIONS), name="col")
            m.d.comb += col0.eq((c * W) // H)
            column_of[None] = column(col0, "column")
        for k in range(W):
            units, lat = place_lane_units(m, self._library, k, A)
            dot, add, mul = units["dot"], units["add"], units["mul"]
            item = Signal(range(self.issue_cycles * W + 1), name=f"item{k}")
            m.d.comb += item.eq(c * W + k)
            col, h = Signal(range(POSITIONS), name=f"col{k}"), Signal(range(max(H, 2)), name=f"h{k}")
            m.d.comb += [col.eq(item // H), h.eq(item % H)]
            live = issue & (item < POSITIONS * H) & (count != 0)
            e = Signal(range(POSITIONS * D), name=f"e{k}")
            m.d.comb += e.eq(j * POSITIONS + col)
            col_values = column_of[None] if shared_col else column(col, f"column{k}")
            o_old, alpha, pw = Signal(32, name=f"oold{k}"), Signal(32, name=f"a{k}"), \
                Signal(data.ArrayLayout(16, POSITIONS), name=f"pw{k}")
            with m.Switch(h):
                for hh in range(H):
                    with m.Case(hh):
                        m.d.comb += [alpha.eq(walpha[hh]), pw.eq(wp[hh])]
            mine = [(hh * POSITIONS * D + ee, O[hh][ee]) for hh in range(H)
                    for ee in range(POSITIONS * D) if bank(hh, ee) == k]
            with m.Switch(h * POSITIONS * D + e):
                for index, reg in mine:
                    with m.Case(index):
                        m.d.comb += o_old.eq(reg)
            m.d.comb += [dot.a.eq(pw), dot.b.eq(col_values),
                         mul.a.eq(alpha), mul.b.eq(Mux(wfirst, 0, o_old))]
            scaled = pipeline_delay(m, Const(1), mul.o, lat["dot"] - lat["mul"], name=f"sc{k}")
            m.d.comb += [add.a.eq(scaled), add.b.eq(dot.o)]
            t_in = Signal(tag, name=f"tag{k}")
            m.d.comb += [t_in.live.eq(live), t_in.h.eq(h), t_in.e.eq(e),
                         t_in.end.eq(finish & last_tile & wlast & (item == POSITIONS * H - 1))]
            t_out = tag(pipeline_delay(m, Const(1), t_in.as_value(), lat["dot"] + A, name=f"t{k}"))
            write_one(m, mine, t_out.h * POSITIONS * D + t_out.e, add.o, t_out.live)
            ends.append(t_out.end)
        # ---- read-out ---------------------------------------------------------------------------
        end = Signal()
        m.d.comb += end.eq(sum(ends) != 0 if len(ends) > 1 else ends[0])
        out_h = Signal(range(max(H, 2)))
        with m.If(end):
            m.d.sync += done.eq(1)
        # the head inside each case (see rtl/decode/scores.py)
        m.d.comb += self.o.valid.eq(done)
        with m.Switch(out_h):
            for hh in range(H):
                with m.Case(hh):
                    m.d.comb += self.o.payload.head.eq(hh)
                    m.d.comb += self.o.payload.o.eq(O_h[hh])
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += out_h.eq(out_h + 1)
            with m.If(out_h == H - 1):
                m.d.sync += [out_h.eq(0), done.eq(0), draining.eq(0)]
        return m

    def _v_tiles(self, m, v):
        """Two V tile registers (32 positions x 32 bf16 each), filled alternately from the
        dequantizer's value beats; a bank is full from its tile's last beat until the lanes
        have read it. Returns the rows, the full flags and the bank being read."""
        g = self._geometry
        # ---- two V tile registers: one fills while the lanes read the other ---------------------
        rows = [[Signal(16 * POSITIONS, name=f"row{bank}_{p}") for p in range(POSITIONS)]
                for bank in range(2)]
        t_full = Signal(2)
        wb, rb = Signal(), Signal()                          # bank being filled / being read
        beat_n = Signal(range(g.value_beats))
        m.d.comb += v.ready.eq(~t_full.bit_select(wb, 1))
        with m.If(v.valid & v.ready):
            if g.lanes >= POSITIONS:
                # a value beat is R whole rows: beat n fills rows n R .. n R + R - 1 (one
                # 512-bit write per row, decoded per row)
                R = g.lanes // POSITIONS
                data_ = v.payload.data.as_value()
                for bank in range(2):
                    for pos in range(POSITIONS):
                        n, r = divmod(pos, R)
                        with m.If((wb == bank) & (beat_n == n)):
                            m.d.sync += rows[bank][pos].eq(
                                data_[16 * POSITIONS * r:16 * POSITIONS * (r + 1)])
            else:
                for bank in range(2):
                    with m.If(wb == bank):
                        with m.Switch(beat_n):
                            for n in range(g.value_beats):
                                with m.Case(n):
                                    for e in range(g.lanes):
                                        pos, dim = divmod(n * g.lanes + e, POSITIONS)
                                        m.d.sync += rows[bank][pos][16 * dim:16 * dim + 16].eq(
                                            v.payload.data[e])
            m.d.sync += beat_n.eq(beat_n + 1)
            with m.If(v.payload.last):
                m.d.sync += [beat_n.eq(0), wb.eq(~wb)]
                for bank in range(2):
                    with m.If(wb == bank):
                        m.d.sync += t_full[bank].eq(1)
        return rows, t_full, rb
