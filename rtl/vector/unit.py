"""A ``width``-lane vector unit with row sum, row max and inclusive cumsum, op per vector."""

from amaranth.hdl import Cat, Const, Module, Mux
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from hybridgen.golden import numerics
from hybridgen.rtl.arith.compare import Fp32MinMax
from hybridgen.rtl.arith.leaf import place
from hybridgen.rtl.arith.fp32 import FP32_CANONICAL_NAN, Fp32Add, fp32_fields, is_nan, is_zero
from hybridgen.rtl.arith.pipeline import StreamPipeline, pipeline_delay

from .lane import VectorLane, VectorOp, lane_latency, lane_units_of

#: Latency of the reduction adders (Fp32Add default).
_ADDER_LATENCY = 3

__all__ = ["VectorDatapath", "VectorUnit", "vector_operands"]


def vector_operands(width):
    """Payload of ``VectorUnit.i``: ``{"op": 4, "a": ArrayLayout(32, width), "b": ...}``."""
    return data.StructLayout({"op": 4, "a": data.ArrayLayout(32, width),
                              "b": data.ArrayLayout(32, width)})


class VectorDatapath(wiring.Component):
    """``width`` :class:`~hybridgen.rtl.vector.lane.VectorLane` s plus row reductions of ``a``.

    Elementwise ops run lane by lane (lane k: ``o[k] = op(a[k], b[k])``). Reductions of ``a``,
    in a documented order (bit-exact models in :mod:`hybridgen.golden.numerics`):

    * ``rowsum`` - balanced pairwise tree of fp32 adders: level 1 adds lanes (0,1), (2,3), ...,
      each further level neighbouring partial sums (:func:`~hybridgen.golden.numerics.vector_rowsum`);
      the sum is broadcast to every lane of ``o``.
    * ``rowmax`` - the same tree of fp32 max units (exact; NaN if any lane is NaN), broadcast.
    * ``cumsum`` - inclusive prefix sum in Sklansky order: at level l every lane k with bit l
      set adds the partial sum of lane ``(k >> l << l) - 1``
      (:func:`~hybridgen.golden.numerics.vector_cumsum`); ``width/2 * log2(width)`` adders.

    All paths are padded to one latency, so the op may change every beat.

    With ``ops`` only what those ops need is built: the lane units of
    :func:`~hybridgen.rtl.vector.lane.lane_units_of` and the reductions named. An op that
    is not built returns ``a`` (as ``pass``); the latency is that of the paths built.

    Parameters
    ----------
    width : int
        Lanes, a power of two >= 2.
    params : golden.numerics.SfuParams or config
    ops : iterable of str, optional
        Op names of :data:`hybridgen.golden.numerics.VECTOR_OPS` to build (default all).
    library : gen.hierarchy.ModuleLibrary, optional
        When given, the lane, the adder and the max unit are converted once and instantiated
        (fast generation; simulate through cocotb); otherwise plain submodules (Amaranth sim).

    Members
    -------
    en : In(1)
    op : In(4)
    a, b : In(ArrayLayout(32, width))
    o : Out(ArrayLayout(32, width))
        Registered, ``latency`` enabled cycles later.
    """

    def __init__(self, *, width, params=None, library=None, ops=None):
        if not isinstance(width, int) or width < 2 or width & (width - 1):
            raise ValueError(f"Vector width must be a power of two >= 2, not {width!r}")
        self._width = width
        self._params = numerics.SfuParams.of(params)
        self._library = library
        self._units = lane_units_of(ops)
        self._reductions = tuple(op for op in ("rowsum", "rowmax", "cumsum")
                                 if ops is None or op in ops)
        super().__init__({
            "en": In(1), "op": In(4),
            "a": In(data.ArrayLayout(32, width)), "b": In(data.ArrayLayout(32, width)),
            "o": Out(data.ArrayLayout(32, width)),
        })

    @property
    def width(self):
        return self._width

    @property
    def levels(self):
        return exact_log2(self._width)

    @property
    def lane_units(self):
        """Names of the lane units built (:data:`~hybridgen.rtl.vector.lane.LANE_UNITS`)."""
        return self._units

    @property
    def reductions(self):
        """Names of the reductions built ("rowsum", "rowmax", "cumsum")."""
        return self._reductions

    @property
    def lane_latency(self):
        return lane_latency(self._params, self._units)

    @property
    def reduction_latency(self):
        """log2(width) x adder latency (rowsum, cumsum; 0 if neither is built)."""
        adders = {"rowsum", "cumsum"} & set(self._reductions)
        return self.levels * _ADDER_LATENCY if adders else 0

    @property
    def latency(self):
        """max(lane latency, reduction latency) + 1 (output select)."""
        return max(self.lane_latency, self.reduction_latency, self.levels) + 1

    def _place(self, m, name, key, make):
        # Leaves are compiled once by Verilator rather than inlined 16 times.
        return place(m, self._library, name, key, make)

    def _add(self, m, name, a, b):
        unit = self._place(m, name, "fp32_add", lambda: Fp32Add(latency=_ADDER_LATENCY))
        m.d.comb += [unit.en.eq(self.en), unit.a.eq(a), unit.b.eq(b)]
        return unit.o

    def _rowsum(self, m, depth):
        """Pairwise tree of fp32 adders, delayed to ``depth``."""
        level = [self.a[k] for k in range(self._width)]
        for depth_index in range(self.levels):
            level = [self._add(m, f"rowsum_l{depth_index}_{j}", level[2 * j], level[2 * j + 1])
                     for j in range(len(level) // 2)]
        return pipeline_delay(m, self.en, level[0], depth - self.reduction_latency,
                              name="rowsum")

    def _rowmax(self, m, depth):
        """Pairwise tree of max units (latency 1 each), delayed to ``depth``."""
        level = [self.a[k] for k in range(self._width)]
        for depth_index in range(self.levels):
            nxt = []
            for j in range(len(level) // 2):
                unit = self._place(m, f"rowmax_l{depth_index}_{j}", "fp32_minmax", Fp32MinMax)
                m.d.comb += [unit.en.eq(self.en), unit.a.eq(level[2 * j]),
                             unit.b.eq(level[2 * j + 1]), unit.minimum.eq(0)]
                nxt.append(unit.o)
            level = nxt
        return pipeline_delay(m, self.en, level[0], depth - self.levels, name="rowmax")

    def _cumsum(self, m, depth):
        """Inclusive cumsum in Sklansky order, every lane delayed to ``depth``."""
        width, en = self._width, self.en
        s = [self.a[k] for k in range(width)]
        for lvl in range(self.levels):
            nxt = []
            for k in range(width):
                if (k >> lvl) & 1:
                    j = ((k >> lvl) << lvl) - 1
                    nxt.append(self._add(m, f"cumsum_l{lvl}_{k}", s[j], s[k]))
                else:
                    nxt.append(pipeline_delay(m, en, s[k], _ADDER_LATENCY,
                                              name=f"cumsum_l{lvl}_{k}_pass"))
            s = nxt
        # Lane 0 is never added: flush and canonicalize it here like any fp32 result.
        first = fp32_fields(s[0])
        s[0] = Mux(is_nan(first), FP32_CANONICAL_NAN,
                   Mux(is_zero(first), Cat(Const(0, 31), s[0][31]), s[0]))
        return [pipeline_delay(m, en, s[k], depth - self.reduction_latency,
                               name=f"cumsum{k}") for k in range(width)]

    def elaborate(self, platform):
        m = Module()
        width, en = self._width, self.en
        depth = self.latency - 1
        params, units = self._params, self._units

        lanes = []
        for k in range(width):
            # the lane (every special-function unit): a hierarchy block, built once
            lane = place(m, self._library, f"lane{k}", "vector_lane",
                         lambda: VectorLane(params, units=units), hierarchy_block=True)
            m.d.comb += [lane.en.eq(en), lane.op.eq(self.op), lane.a.eq(self.a[k]),
                         lane.b.eq(self.b[k])]
            lanes.append(pipeline_delay(m, en, lane.o, depth - self.lane_latency,
                                        name=f"lane{k}_result"))
        build = {"rowsum": self._rowsum, "rowmax": self._rowmax, "cumsum": self._cumsum}
        results = {name: build[name](m, depth) for name in self._reductions}

        op = pipeline_delay(m, en, self.op, depth, name="op")
        with m.If(en):
            with m.Switch(op):
                for name, value in results.items():
                    with m.Case(VectorOp[name.upper()]):
                        if name == "cumsum":
                            m.d.sync += [self.o[k].eq(value[k]) for k in range(width)]
                        else:
                            m.d.sync += [self.o[k].eq(value) for k in range(width)]
                with m.Default():
                    m.d.sync += [self.o[k].eq(lanes[k]) for k in range(width)]
        return m


class VectorUnit(StreamPipeline):
    """Stream vector unit: ``i`` = :func:`vector_operands` (op, a, b), ``o`` = ``width`` fp32
    results; one vector per cycle, op chosen per vector; handshake of
    :class:`~hybridgen.rtl.arith.pipeline.StreamPipeline`. See :class:`VectorDatapath`."""

    def __init__(self, *, width, params=None, library=None, ops=None):
        super().__init__(VectorDatapath(width=width, params=params, library=library, ops=ops),
                         in_layout=vector_operands(width))
