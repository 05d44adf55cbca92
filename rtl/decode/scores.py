"""The QK score path of decode attention on the decode array's lane shape (docs/decode.md,
"Decode attention"): packed K tiles in, through the dequantizer, straight into the lanes'
dot products, the scaled fp32 scores of every q head of the kv head out. No dequantized copy
of K is kept beyond the one value beat the lanes are working on.

Lane mapping (the array's lanes: ``width`` lanes, each one
:class:`~hybridgen.rtl.arith.dot.Bf16Dot` of ``dot = 32`` products): a dequantized value
beat holds ``rows = lanes / 32`` whole tile rows (32 dims of one position each); the
``rows * heads`` work items (row r, q head h), item ``r heads + h``, are issued ``width`` per
cycle, lane ``k`` taking item ``c width + k`` in issue cycle ``c``: the dot product of
``K[p, 32 j .. 32 j + 31]`` (dim tile ``j``) and ``q[h, 32 j ..]``. One K value beat is thus
used ``heads`` times (GQA: each tile is read once per kv head). At decode-small (128-lane
dequantizer, 8 lanes, 4 heads) a beat takes 2 cycles and a BFP8 tile (17 bus beats, 8 value
beats) 16, so the lanes keep up with the bus.

Order of operations (bit-exact :func:`hybridgen.golden.decode_attn.decode_attention_bits` with
``dot = 32``): the chunk of dim tile ``j`` is ``t_j`` (the pairwise tree of ``Bf16Dot``);
``acc = -0 + t_0`` (exactly ``t_0``), ``acc = fp32_add(acc, t_j)`` in dim-tile order (the
tiles of a position tile group arrive dim tile 0 first); the score is
``fp32_mul(acc, c)``, ``c = fp32(1 / sqrt(d))`` (:func:`score_scale`). Masking is the
softmax step's (:mod:`hybridgen.rtl.decode.softmax`).
"""

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from hybridgen.golden.decode_attn import score_scale_bits
from hybridgen.rtl.arith.dot import Bf16Dot
from hybridgen.rtl.arith.fp32 import Fp32Add
from hybridgen.rtl.arith.fp32_mul import Fp32Mul
from hybridgen.rtl.arith.leaf import place
from hybridgen.rtl.arith.pipeline import pipeline_delay
from hybridgen.rtl.kv.bfp import TileGeometry
from hybridgen.rtl.kv.dequantizer import BfpDequantizer
from hybridgen.rtl.kv.layouts import packed_layout

from .select import write_one

__all__ = ["ScoreLanes", "score_layout", "score_scale", "place_lane_units"]

POSITIONS = 32
NEG_ZERO = 0x8000_0000


def score_scale(dim_tiles):
    """fp32 bits of ``c = fp32(1 / sqrt(32 dim_tiles))``."""
    return int(score_scale_bits(POSITIONS * dim_tiles))


def place_lane_units(m, library, k, adder_latency, names=("dot", "add", "mul")):
    """One lane's ``Bf16Dot`` of 32, fp32 adder and fp32 multiplier as submodules
    ``<name><k>`` (through ``library``, converted once, when given; also used by
    :mod:`hybridgen.rtl.decode.pv`). Returns the three units and their latencies."""
    A = adder_latency
    makers = {"dot": (f"bf16_dot32_l{A}",
                      lambda: Bf16Dot(width=POSITIONS, adder_latency=A, library=library)),
              "add": (f"fp32_add_l{A}", lambda: Fp32Add(latency=A)),
              "mul": ("fp32_mul", lambda: Fp32Mul())}
    units = {}
    for name in names:
        key, make = makers[name]
        units[name] = place(m, library, f"{name}{k}", key, make)
        m.d.comb += units[name].en.eq(1)
    # Bf16Dot: multiplier (1) + log2(32) adder levels; Fp32Mul: 3 (checked against the
    # components themselves when they are plain submodules)
    latency = {"dot": 1 + exact_log2(POSITIONS) * A, "add": A, "mul": 3}
    if library is None:
        assert (units["dot"].latency, units["mul"].latency) == (latency["dot"], latency["mul"])
    return units, latency


def score_layout(heads):
    """``s`` [32] fp32 scaled scores of one q head for one position tile, ``head``."""
    return data.StructLayout({"s": data.ArrayLayout(32, POSITIONS), "head": range(max(heads, 2))})


class ScoreLanes(wiring.Component):
    """Dequantizer-fed QK scores of one unit (module docstring).

    Parameters
    ----------
    geometry : TileGeometry
        Of the dequantizer; ``lanes`` a multiple of 32 (whole tile rows per value beat).
    width : int
        Lanes (dot products of 32 per cycle), >= 1.
    heads : int
        q heads per kv head (GQA group), >= 1.
    max_dim_tiles : int
        Largest ``d / 32``.

    Members
    -------
    i : In(stream.Signature(packed_layout(geometry)))
        The packed K tiles of position tile groups (``dim_tiles`` tiles each, dim tile 0
        first), as the dequantizer takes them.
    q : In(ArrayLayout(16, heads * 32 * max_dim_tiles))
        bf16 q of the kv head's ``heads`` q heads, head-major; held while their tiles stream.
    dim_tiles : In(range(1, max_dim_tiles + 1))
        ``d / 32``; held while a job runs. The scale is ``fp32(1 / sqrt(32 dim_tiles))``.
    o : Out(stream.Signature(score_layout(heads)))
        Per position tile group, ``heads`` beats (head 0 first) of 32 scores.
    """

    def __init__(self, geometry, *, width, heads, max_dim_tiles, library=None):
        self._library = library
        if not isinstance(geometry, TileGeometry) or geometry.lanes % POSITIONS:
            raise ValueError(f"geometry must be a TileGeometry of a multiple of 32 lanes, "
                             f"not {geometry!r}")
        for name, value in (("width", width), ("heads", heads), ("max_dim_tiles", max_dim_tiles)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        self._geometry, self._width, self._heads = geometry, width, heads
        self._max_dim_tiles = max_dim_tiles
        super().__init__({
            "i": In(stream.Signature(packed_layout(geometry))),
            "q": In(data.ArrayLayout(16, heads * POSITIONS * max_dim_tiles)),
            "dim_tiles": In(range(1, max_dim_tiles + 1)),
            "o": Out(stream.Signature(score_layout(heads))),
        })

    @property
    def rows(self):
        """Tile rows per dequantized value beat."""
        return self._geometry.lanes // POSITIONS

    @property
    def issue_cycles(self):
        """Lane cycles per value beat: ``ceil(rows * heads / width)``."""
        return -(-self.rows * self._heads // self._width)

    def elaborate(self, platform):
        m = Module()
        g, W, H, R = self._geometry, self._width, self._heads, self.rows
        A = 3
        deq = place(m, self._library, "dequantizer", "attn_dequantizer",
                    lambda: BfpDequantizer(g))
        wiring.connect(m, wiring.flipped(self.i), deq.i)
        v = deq.o

        # ---- the value beat being issued, and where it is ----------------------------------------
        beat = Signal(data.ArrayLayout(16, g.lanes))
        have = Signal()
        c = Signal(range(max(self.issue_cycles, 2)))
        row0 = Signal(range(POSITIONS))                      # first position of the beat
        j = Signal(range(self._max_dim_tiles))               # dim tile of the beat
        last_tile = Signal()                                 # the beat closes the tile
        claimed = Signal()                                   # the score buffer is being filled
        full = Signal()                                      # the score buffer holds a group
        block = (j == self.dim_tiles - 1) & (row0 == 0) & (c == 0) & claimed
        issue = have & ~block
        finish = issue & (c == self.issue_cycles - 1)
        m.d.comb += v.ready.eq(~have | finish)
        with m.If(v.valid & v.ready):
            m.d.sync += [beat.eq(v.payload.data), have.eq(1), c.eq(0), last_tile.eq(v.payload.last)]
        with m.Elif(finish):
            m.d.sync += have.eq(0)
        with m.If(issue & ~finish):
            m.d.sync += c.eq(c + 1)
        with m.If(finish):
            m.d.sync += row0.eq(row0 + R)
            with m.If(last_tile):
                m.d.sync += [row0.eq(0), j.eq(Mux(j == self.dim_tiles - 1, 0, j + 1))]
        with m.If(issue & (j == self.dim_tiles - 1) & (row0 == 0) & (c == 0)):
            m.d.sync += claimed.eq(1)

        # ---- lanes ----------------------------------------------------------------------------
        q = self.q.as_value()
        # one signal of 32 fp32 words per head (the same flops, far fewer Verilog lines)
        acc_h = [Signal(data.ArrayLayout(32, POSITIONS), name=f"acc{h}") for h in range(H)]
        sbuf_h = [Signal(data.ArrayLayout(32, POSITIONS), name=f"s{h}") for h in range(H)]
        acc = [[acc_h[h][p] for p in range(POSITIONS)] for h in range(H)]
        sbuf = [[sbuf_h[h][p] for p in range(POSITIONS)] for h in range(H)]
        scale = Signal(32)
        with m.Switch(self.dim_tiles):
            for n in range(1, self._max_dim_tiles + 1):
                with m.Case(n):
                    m.d.comb += scale.eq(score_scale(n))
        group_done = []
        for k in range(W):
            units, lat = place_lane_units(m, self._library, k, A)
            dot, add, mul = units["dot"], units["add"], units["mul"]
            item = Signal(range(self.issue_cycles * W + 1), name=f"item{k}")
            m.d.comb += item.eq(c * W + k)
            r, h = Signal(range(max(R, 2)), name=f"r{k}"), Signal(range(max(H, 2)), name=f"h{k}")
            m.d.comb += [r.eq(item // H), h.eq(item % H)]
            live = issue & (item < R * H)
            m.d.comb += dot.a.eq(beat.as_value().word_select(r, 16 * POSITIONS))
            m.d.comb += dot.b.eq(q.word_select(h * self._max_dim_tiles + j, 16 * POSITIONS))
            tag = data.StructLayout({"live": 1, "h": range(max(H, 2)), "p": range(POSITIONS),
                                     "first": 1, "last": 1, "end": 1})
            t_in = Signal(tag, name=f"tag{k}")
            final = j == self.dim_tiles - 1
            m.d.comb += [t_in.live.eq(live), t_in.h.eq(h), t_in.p.eq(row0 + r),
                         t_in.first.eq(j == 0), t_in.last.eq(final),
                         t_in.end.eq(final & last_tile & (c == self.issue_cycles - 1)
                                     & (item == R * H - 1))]
            t_dot = tag(pipeline_delay(m, Const(1), t_in.as_value(), lat["dot"], name=f"td{k}"))
            # accumulate: b = -0 on dim tile 0, else the running sum of (h, p)
            # lane k only takes items c W + k, item (p mod R) H + h of (h, p): a fixed lane per
            # (h, p), so the lane's multiplexer and decoders cover its own registers only
            mine = [(hh * POSITIONS + p, hh, p) for hh in range(H) for p in range(POSITIONS)
                    if ((p % R) * H + hh) % W == k]
            prev = Signal(32, name=f"prev{k}")
            with m.Switch(t_dot.h * POSITIONS + t_dot.p):
                for index, hh, p in mine:
                    with m.Case(index):
                        m.d.comb += prev.eq(acc[hh][p])
            m.d.comb += [add.a.eq(dot.o), add.b.eq(Mux(t_dot.first, NEG_ZERO, prev))]
            t_add = tag(pipeline_delay(m, Const(1), t_dot.as_value(), A, name=f"ta{k}"))
            write_one(m, [(index, acc[hh][p]) for index, hh, p in mine],
                      t_add.h * POSITIONS + t_add.p, add.o, t_add.live)
            m.d.comb += [mul.a.eq(add.o), mul.b.eq(scale)]
            t_mul = tag(pipeline_delay(m, Const(1), t_add.as_value(), lat["mul"], name=f"tm{k}"))
            write_one(m, [(index, sbuf[hh][p]) for index, hh, p in mine],
                      t_mul.h * POSITIONS + t_mul.p, mul.o, t_mul.live & t_mul.last)
            group_done.append(t_mul.live & t_mul.end)

        # ---- out: heads beats from the score buffer ---------------------------------------------
        out_h = Signal(range(max(H, 2)))
        with m.If(sum(group_done) if len(group_done) > 1 else group_done[0]):
            m.d.sync += full.eq(1)
        # the head inside each case: a lone partial assignment `o.head = out_h` becomes an
        # `always @*` that Icarus never runs at time 0, so the head stayed X
        m.d.comb += self.o.valid.eq(full)
        with m.Switch(out_h):
            for hh in range(H):
                with m.Case(hh):
                    m.d.comb += self.o.payload.head.eq(hh)
                    m.d.comb += self.o.payload.s.eq(sbuf_h[hh])
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += out_h.eq(out_h + 1)
            with m.If(out_h == H - 1):
                m.d.sync += [out_h.eq(0), full.eq(0), claimed.eq(0)]
        return m
