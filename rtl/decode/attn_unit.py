"""One vector unit's share of decode attention (docs/decode.md, "Decode attention"): the
position tiles of one (batch, kv head) that split-KV gives the unit, K and V packed from its
channel, through :class:`~hybridgen.rtl.decode.scores.ScoreLanes` (dequantizer + QK lanes),
:class:`~hybridgen.rtl.decode.softmax.SoftmaxStep` (one per q head of the group) and
:class:`~hybridgen.rtl.decode.pv.PvLanes` (dequantizer + PV lanes), out the partial
``(m, l, O)`` of every q head of the kv head for :class:`~hybridgen.rtl.decode.combine.PartialCombine`.

Bit-exact: the unit's partials of :func:`hybridgen.golden.decode_attn.decode_attention_bits`
(``return_partials``, ``dot = 32``). A unit with no tile for a (batch, kv head) runs no job;
its partial is the empty one (``m = -inf``), which the controller sends to the combine itself.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hybridgen.golden import numerics
from hybridgen.rtl.arith.leaf import place
from hybridgen.rtl.ctrl.stream_fifo import buffer_stream
from hybridgen.rtl.kv.layouts import packed_layout

from .combine import partial_layout
from .pv import PvLanes
from .scores import ScoreLanes
from .softmax import POSITIONS, SoftmaxStep, softmax_out_layout

__all__ = ["AttnUnit", "tile_info_layout", "FIFO_DEPTH"]

#: packed beats buffered in front of each dequantizer (K and V)
FIFO_DEPTH = 24


def tile_info_layout():
    """Per position tile of a job: ``count`` valid positions (1..32), ``first`` (the job's
    first tile), ``last`` (its final tile)."""
    return data.StructLayout({"count": range(POSITIONS + 1), "first": 1, "last": 1})


class AttnUnit(wiring.Component):
    """Scores, softmax step and P V of one unit (module docstring).

    Parameters
    ----------
    geometry : TileGeometry
        Of the two dequantizers (K and V).
    width, heads, max_dim_tiles : int
        Lanes (``Bf16Dot`` of 32 each, in each of the QK and PV paths), q heads per kv head,
        largest ``d / 32``.
    params : golden.numerics.SfuParams or config
    library : hybridgen.gen.hierarchy.ModuleLibrary, optional
        With a library (generation) the unit's repeated parts are each one module, converted
        once: the softmax step (``attn_softmax_step``, placed ``heads`` times), the
        dequantizer (``attn_dequantizer``, K and V), the lanes' dot products, adders and
        multipliers; :meth:`place` makes the unit itself one Verilator hierarchy block placed
        by every channel.

    Members
    -------
    k, v : In(stream.Signature(packed_layout(geometry)))
        The job's K tiles and V tiles (position tile, then dim tile order).
    info : In(stream.Signature(tile_info_layout()))
        One beat per position tile of the job.
    q : In(ArrayLayout(16, heads * 32 * max_dim_tiles))
    dim_tiles : In(range(1, max_dim_tiles + 1))
    o : Out(stream.Signature(partial_layout(32 * max_dim_tiles)))
        Per job, ``heads`` partials (head 0 first), ``last`` = 0 (the combine's order is the
        controller's).
    """

    #: the key of the unit in the module library (one geometry per design)
    LIBRARY_KEY = "attn_unit"

    @classmethod
    def place(cls, m, name, geometry, *, width, heads, max_dim_tiles, params=None,
              library=None):
        """Place a unit as submodule ``name`` of ``m`` and return it: the component, or with a
        ``library`` the interface of its one converted module (a Verilator hierarchy block,
        the same module for every channel: the unit has no channel-dependent part)."""
        def make():
            return cls(geometry, width=width, heads=heads, max_dim_tiles=max_dim_tiles,
                       params=params, library=library)
        return place(m, library, name, cls.LIBRARY_KEY, make, hierarchy_block=True)

    def __init__(self, geometry, *, width, heads, max_dim_tiles, params=None, library=None,
                 fifo_depth=None):
        self._library = library
        self._fifo_depth = FIFO_DEPTH if fifo_depth is None else fifo_depth
        self._geometry, self._width, self._heads = geometry, width, heads
        self._max_dim_tiles = max_dim_tiles
        self._params = numerics.SfuParams.of(params)
        dims = POSITIONS * max_dim_tiles
        super().__init__({
            "k": In(stream.Signature(packed_layout(geometry))),
            "v": In(stream.Signature(packed_layout(geometry))),
            "info": In(stream.Signature(tile_info_layout())),
            "q": In(data.ArrayLayout(16, heads * dims)),
            "dim_tiles": In(range(1, max_dim_tiles + 1)),
            "o": Out(stream.Signature(partial_layout(dims))),
        })

    def elaborate(self, platform):
        m = Module()
        H, D = self._heads, self._max_dim_tiles
        m.submodules.scores = sc = ScoreLanes(self._geometry, width=self._width, heads=H,
                                              max_dim_tiles=D, library=self._library)
        # one softmax step per q head of the group: each takes one beat per position tile,
        # so the steps' ~100 cycles per beat stay below the tile group's bus time
        steps = [place(m, self._library, f"softmax{h}", "attn_softmax_step",
                       lambda: SoftmaxStep(heads=1, params=self._params, library=self._library))
                 for h in range(H)]
        m.submodules.pv = pv = PvLanes(self._geometry, width=self._width, heads=H,
                                       max_dim_tiles=D, library=self._library)
        self._packed_fifo(m, "k_fifo", self.k, sc.i)
        self._packed_fifo(m, "v_fifo", self.v, pv.i)
        m.d.comb += [sc.q.eq(self.q), sc.dim_tiles.eq(self.dim_tiles),
                     pv.dim_tiles.eq(self.dim_tiles)]

        # scores + tile info -> the softmax step of the beat's head (the info beat is used by
        # all heads of the tile)
        info = self.info
        head = sc.o.payload.head
        ready = Signal()
        for h, step in enumerate(steps):
            m.d.comb += [step.i.payload.s.eq(sc.o.payload.s), step.i.payload.head.eq(0),
                         step.i.payload.count.eq(info.payload.count),
                         step.i.payload.first.eq(info.payload.first),
                         step.i.payload.last.eq(info.payload.last)]
            with m.If(head == h):
                m.d.comb += [step.i.valid.eq(sc.o.valid & info.valid), ready.eq(step.i.ready)]
        m.d.comb += [sc.o.ready.eq(ready & info.valid),
                     info.ready.eq(ready & sc.o.valid & (head == H - 1))]

        # softmax steps, in head order -> P V weights; the final (m, l) of each head kept
        ml = [(Signal(32, name=f"m{h}"), Signal(32, name=f"l{h}")) for h in range(H)]
        held = Signal()                                      # (m, l) of a job not yet sent
        out_h = Signal(range(max(H, 2)))
        sp = Signal(softmax_out_layout(1))
        valid = Signal()
        for h, step in enumerate(steps):
            with m.If(out_h == h):
                m.d.comb += [sp.eq(step.o.payload), valid.eq(step.o.valid),
                             step.o.ready.eq(pv.w.ready & ~(sp.last & held & (out_h == 0)))]
        block = sp.last & held & (out_h == 0)
        m.d.comb += [pv.w.valid.eq(valid & ~block),
                     pv.w.payload.p.eq(sp.p), pv.w.payload.alpha.eq(sp.alpha),
                     pv.w.payload.head.eq(out_h), pv.w.payload.count.eq(sp.count),
                     pv.w.payload.first.eq(sp.first), pv.w.payload.last.eq(sp.last)]
        with m.If(pv.w.valid & pv.w.ready):
            m.d.sync += out_h.eq(Mux(out_h == H - 1, 0, out_h + 1))
            with m.If(sp.last):
                with m.Switch(out_h):
                    for h in range(H):
                        with m.Case(h):
                            m.d.sync += [ml[h][0].eq(sp.m), ml[h][1].eq(sp.l)]
                with m.If(out_h == H - 1):
                    m.d.sync += held.eq(1)

        # P V accumulators + (m, l) -> partial
        m.d.comb += [self.o.valid.eq(pv.o.valid), pv.o.ready.eq(self.o.ready),
                     self.o.payload.o.eq(pv.o.payload.o), self.o.payload.last.eq(0)]
        with m.Switch(pv.o.payload.head):
            for h in range(H):
                with m.Case(h):
                    m.d.comb += [self.o.payload.m.eq(ml[h][0]), self.o.payload.l.eq(ml[h][1])]
        with m.If(self.o.valid & self.o.ready & (pv.o.payload.head == H - 1)):
            m.d.sync += held.eq(0)
        return m

    def _packed_fifo(self, m, name, port, sink):
        """``port`` -> a FIFO of ``fifo_depth`` packed beats -> ``sink`` (a dequantizer's
        input); no FIFO with a depth of 0."""
        if not self._fifo_depth:
            wiring.connect(m, wiring.flipped(port), sink)
            return
        buffer_stream(m, name, port, sink, self._fifo_depth)
