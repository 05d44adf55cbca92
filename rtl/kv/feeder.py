"""The dequantizer-fed front end of the decode-attention QK product: packed K tiles in, the
per-lane operand chunks of 32 dot-product lanes out (docs/decode.md, "Decode attention"; the array uses the dot-32 mapping of rtl/decode/scores.py instead).

:class:`KvScoreFeeder` places a :class:`~hybridgen.rtl.kv.dequantizer.BfpDequantizer` in the
read path and turns its row-major bf16 tiles (32 positions x 32 dims, ``lanes`` values per
beat) into what the lanes of a unit take: lane ``p`` is position ``p`` of the tile and takes
``dot`` dims of it per beat, every dim chunk once per q head of the kv head's group (GQA: the
tile is read from memory once and used ``heads`` times). Bit-exact model of the values:
:func:`hybridgen.golden.kvquant.kv_unpack_tile_bf16_bits`; the products and the accumulation
are the lanes' (:func:`hybridgen.golden.decode_attn.decode_attention_bits`).
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from .bfp import TileGeometry
from .dequantizer import BfpDequantizer
from .layouts import packed_layout

__all__ = ["KvScoreFeeder", "feeder_layout"]

POSITIONS = 32


def feeder_layout(dot, heads, dim_tiles):
    """Payload of the lane operands: ``k`` [32 lanes][dot] bf16, ``head`` (the q head of the
    group, 0 .. heads - 1), ``chunk`` (the dim chunk, 0 .. dim_tiles * 32 / dot - 1: dims
    ``chunk * dot ..``), ``last`` (the final beat of a position tile group)."""
    return data.StructLayout({
        "k": data.ArrayLayout(data.ArrayLayout(16, dot), POSITIONS),
        "head": range(heads) if heads > 1 else 1,
        "chunk": range(dim_tiles * POSITIONS // dot),
        "last": 1,
    })


class KvScoreFeeder(wiring.Component):
    """Packed K tiles -> per-lane K chunks for the QK dot products of one unit.

    Input ``i``: the packed tiles of position tile groups (``dim_tiles`` tiles, dim tile 0
    first, each in the byte layout of docs/bfp.md or bf16), as the dequantizer takes them
    (:mod:`hybridgen.rtl.kv.layouts`). Output ``o``: per tile ``32 / dot`` chunks x ``heads``
    beats in the order chunk-major, head-minor (``chunk = j 32 / dot + c`` for dim tile ``j``);
    beat (c, h) gives lane ``p`` the values ``K[p, 32 j + c dot .. + dot - 1]``; ``last`` on the
    final beat of a group. The head-minor order is what an accumulator ring of ``heads`` slots
    per lane takes (one slot per q head, as the decode lanes interleave their outputs).

    Storage: two tile registers (double buffering), filled from the dequantizer's beats
    (``lanes / 32`` rows per beat, or a part of a row below 32 lanes), read while full.
    Throughput: one output beat per cycle while a tile is held; a tile takes ``32 heads / dot``
    output beats, so with ``heads = 4``, ``dot = 8`` (16 beats) the 64-byte bus (17 beats per
    BFP8 tile) stays the limit. ``o.valid`` and ``o.payload`` come from registers only.

    Parameters
    ----------
    geometry : TileGeometry
        Of the dequantizer (``lanes`` divides or is a multiple of 32).
    dot : int
        Values per lane per beat (a power of two, 2..32).
    heads : int
        q heads per kv head (>= 1).
    dim_tiles : int
        Dim tiles per position tile group (``d / 32``, >= 1).

    Members
    -------
    i : In(stream.Signature(packed_layout))
    o : Out(stream.Signature(feeder_layout))
    """

    def __init__(self, geometry, *, dot, heads, dim_tiles):
        if not isinstance(geometry, TileGeometry):
            raise TypeError(f"geometry must be a TileGeometry, not {geometry!r}")
        if dot not in (2, 4, 8, 16, 32):
            raise ValueError(f"dot must be a power of two in 2..32, not {dot!r}")
        if not isinstance(heads, int) or heads < 1:
            raise ValueError(f"heads must be a positive integer, not {heads!r}")
        if not isinstance(dim_tiles, int) or dim_tiles < 1:
            raise ValueError(f"dim_tiles must be a positive integer, not {dim_tiles!r}")
        self._geometry, self._dot, self._heads, self._dim_tiles = geometry, dot, heads, dim_tiles
        super().__init__({"i": In(stream.Signature(packed_layout(geometry))),
                          "o": Out(stream.Signature(feeder_layout(dot, heads, dim_tiles)))})

    @property
    def beats_per_tile(self):
        return POSITIONS // self._dot * self._heads

    def elaborate(self, platform):
        m = Module()
        g, dot, heads = self._geometry, self._dot, self._heads
        m.submodules.dequantizer = dequantizer = BfpDequantizer(g)
        wiring.connect(m, feeder=wiring.flipped(self.i), dequantizer=dequantizer.i)

        tiles = [Signal(data.ArrayLayout(data.ArrayLayout(16, POSITIONS), POSITIONS),
                        name=f"tile{b}") for b in range(2)]
        full = Signal(2)
        write_buffer, read_buffer = Signal(), Signal()

        # ---- write: dequantizer beats, row-major, into tile `write_buffer` --------------------
        d = dequantizer.o
        beat = Signal(range(g.value_beats))
        per_beat = g.lanes                                   # values of a beat
        take = d.valid & ~full.bit_select(write_buffer, 1)
        m.d.comb += d.ready.eq(~full.bit_select(write_buffer, 1))
        values = d.payload.data.as_value()
        width = 16 * per_beat
        for b in range(2):                                   # beat n: values n lanes .. + lanes
            flat = tiles[b].as_value()
            with m.If(take & (write_buffer == b)):
                with m.Switch(beat):
                    for n in range(g.value_beats):
                        with m.Case(n):
                            m.d.sync += flat[n * width:(n + 1) * width].eq(values)
        with m.If(take):
            m.d.sync += beat.eq(beat + 1)
            with m.If(d.payload.last):
                m.d.sync += [beat.eq(0), write_buffer.eq(~write_buffer)]
                for b in range(2):
                    with m.If(write_buffer == b):
                        m.d.sync += full[b].eq(1)

        # ---- read: (chunk, head) beats from tile `read_buffer` ------------------------------------
        chunks = POSITIONS // dot
        c = Signal(range(chunks))
        h = Signal(range(heads)) if heads > 1 else None
        j = Signal(range(self._dim_tiles))
        last_head = (h == heads - 1) if h is not None else 1
        last_beat = (c == chunks - 1) & last_head
        tile = Mux(read_buffer, tiles[1].as_value(), tiles[0].as_value())
        tile = data.ArrayLayout(data.ArrayLayout(16, POSITIONS), POSITIONS)(tile)
        p = self.o.payload
        m.d.comb += self.o.valid.eq(full.bit_select(read_buffer, 1))
        for lane in range(POSITIONS):
            row = tile[lane].as_value()
            m.d.comb += p.k[lane].eq(row.word_select(c, 16 * dot) if chunks > 1 else row)
        m.d.comb += [p.chunk.eq(j * chunks + c), p.last.eq(last_beat & (j == self._dim_tiles - 1))]
        if h is not None:
            m.d.comb += p.head.eq(h)
        with m.If(self.o.valid & self.o.ready):
            if h is not None:
                m.d.sync += h.eq(Mux(last_head, 0, h + 1))
            with m.If(last_head):
                m.d.sync += c.eq(c + 1)
            with m.If(last_beat):
                m.d.sync += [c.eq(0), read_buffer.eq(~read_buffer),
                             j.eq(Mux(j == self._dim_tiles - 1, 0, j + 1))]
                for b in range(2):
                    with m.If(read_buffer == b):
                        m.d.sync += full[b].eq(0)
        return m
