"""The URSC dot-product engine (DPE): ``lanes x dpus`` dot-product units with fp32 accumulators.

Each DPU is one :class:`~hybridgen.rtl.arith.dot.Bf16Dot` of ``mults`` exact bf16 products
(pairwise fp32 tree) plus an fp32 accumulator (:class:`~hybridgen.rtl.arith.fp32.Fp32Add`).
Every result is exactly :func:`hybridgen.golden.numerics.dot_bf16_accumulate` ``(row, col,
mults)`` of its operands: ``acc = t_0``, then ``acc = fp32_add(acc, t_j)`` for the chunks
``t_j`` of the reduction in the order they arrive.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hybridgen.rtl.arith.dot import Bf16Dot
from hybridgen.rtl.arith.fp32 import Fp32Add
from hybridgen.rtl.arith.pipeline import pipeline_delay

from .carry import InterleavedCarry
from .parts import latency_of, place

__all__ = ["Dpu", "Dpe", "dpe_operands", "dpe_results", "ACCUMULATOR_LATENCY", "NEG_ZERO",
           "dpu_latency"]

#: Latency of the accumulator adder; also the number of interleaved output tiles.
ACCUMULATOR_LATENCY = 3
#: fp32 -0: ``fp32_add(-0, x) == x`` for every canonical fp32 ``x`` (the first beat of a
#: reduction adds it, so ``acc = t_0`` exactly, without a bypass path).
NEG_ZERO = 0x80000000



def dpe_operands(lanes, dpus, mults):
    """Payload of ``Dpe.i``: ``a[lane]``, ``b[dpu]`` (``mults`` bf16 each), ``first``, ``last``."""
    return data.StructLayout({"a": data.ArrayLayout(data.ArrayLayout(16, mults), lanes),
                              "b": data.ArrayLayout(data.ArrayLayout(16, mults), dpus),
                              "first": 1, "last": 1})


def dpe_results(lanes, dpus):
    """Payload of ``Dpe.o``: ``c[lane][dpu]``, fp32 bit patterns."""
    return data.ArrayLayout(data.ArrayLayout(32, dpus), lanes)


def dpu_latency(mults):
    """Latency of a :class:`Dpu` (and of the DPE): dot product + accumulator."""
    return latency_of(Bf16Dot(width=mults)) + ACCUMULATOR_LATENCY


class Dpu(wiring.Component):
    """One dot-product unit: ``o = acc (+) dot(a, b)`` with ``ACCUMULATOR_LATENCY`` interleaved
    accumulators.

    Valid beats rotate through the slots (:class:`~hybridgen.rtl.ursc.carry.InterleavedCarry`):
    beat n goes to slot ``n mod 3``. A beat with ``first`` starts its slot's reduction
    (``acc = dot``, computed as ``fp32_add(-0, dot)``, which equals ``dot`` bit for bit); any
    other beat adds its dot product to its slot's accumulator. ``o`` shows the slot's new
    accumulator ``latency`` enabled cycles after the beat was presented.

    Pipelined-datapath convention: registers advance only when ``en`` is 1; invalid beats
    travel as bubbles and touch no accumulator.

    Members
    -------
    en, valid, first : In(1)
    a, b : In(ArrayLayout(16, width))
    o : Out(32)
    """

    def __init__(self, *, width, library=None):
        self._width = width
        self._library = library
        super().__init__({"en": In(1), "valid": In(1), "first": In(1),
                          "a": In(data.ArrayLayout(16, width)),
                          "b": In(data.ArrayLayout(16, width)), "o": Out(32)})

    @property
    def latency(self):
        """Dot-product latency + accumulator latency (int)."""
        return dpu_latency(self._width)

    def elaborate(self, platform):
        m = Module()
        en = self.en
        m.submodules.dot = dot = Bf16Dot(width=self._width, library=self._library)
        m.d.comb += [dot.en.eq(en), dot.a.eq(self.a), dot.b.eq(self.b)]
        issue = pipeline_delay(m, en, self.valid, dot.latency, name="issue")
        first = pipeline_delay(m, en, self.first, dot.latency, name="first")
        m.submodules.carry = carry = InterleavedCarry(
            width=32, slots=ACCUMULATOR_LATENCY, distance=ACCUMULATOR_LATENCY)
        adder = place(m, self._library, "acc", f"fp32_add_l{ACCUMULATOR_LATENCY}",
                      lambda: Fp32Add(latency=ACCUMULATOR_LATENCY))
        m.d.comb += [
            carry.en.eq(en), carry.issue.eq(issue), carry.result.eq(adder.o),
            adder.en.eq(en), adder.a.eq(Mux(first, NEG_ZERO, carry.o)), adder.b.eq(dot.o),
            self.o.eq(adder.o),
        ]
        return m


class Dpe(wiring.Component):
    """Dot-product engine: ``lanes x dpus`` :class:`Dpu` s, one ``mults``-wide beat per cycle.

    Stream contract
    ---------------
    * ``i`` beat: ``a[l]`` is the next ``mults`` bf16 values of lane l's row (A operand), ``b[d]``
      the matching values of DPU column d's column (B operand); DPU (l, d) consumes
      ``a[l] . b[d]``. ``first`` marks the first chunk of a reduction, ``last`` its last chunk
      (both for a one-chunk reduction). A reduction shorter than a multiple of ``mults`` is padded
      with +0 by the sender (the model pads the same way).
    * Interleaving: the accumulator adder has ``interleave = 3`` cycles of latency, so the engine
      keeps 3 output tiles in flight: accepted beat n belongs to tile slot ``n mod 3``. A sender
      streams 3 tiles (each a ``lanes x dpus`` block of outputs) chunk-interleaved:
      ``(t0, k0), (t1, k0), (t2, k0), (t0, k1), ...``; tiles of one slot follow each other
      (``first`` restarts the slot). A slot with no tile gets filler beats with ``first = 1,
      last = 0`` (the next ``first`` of the slot discards them; nothing is output).
    * ``o`` beat: the ``lanes x dpus`` fp32 results ``c[l][d]`` of a tile, one beat per beat
      accepted with ``last``, in acceptance order.
    * Throughput: one ``i`` beat per cycle sustained (``2 * lanes * dpus * mults`` flops),
      stalled only by ``o`` back-pressure (the whole pipeline holds, as
      :class:`~hybridgen.rtl.arith.pipeline.StreamPipeline`). ``latency`` cycles from accepting
      a ``last`` beat to its ``o`` beat: ``1 + 3 log2(mults)`` (dot product) ``+ 3``
      (accumulator).
    * ``busy`` is 1 on every cycle an ``i`` beat is accepted (the multipliers do work); the
      controller's busy counter counts it.

    Numerics: each ``c[l][d]`` is exactly
    :func:`hybridgen.golden.numerics.dot_bf16_accumulate` ``(row_l, col_d, mults)``.

    Parameters
    ----------
    lanes, dpus : int
    mults : int
        Products per DPU, a power of two >= 2.
    library : gen.hierarchy.ModuleLibrary, optional
        When given, the DPU is converted once and instantiated ``lanes x dpus`` times.

    Members
    -------
    i : In(stream.Signature(dpe_operands(lanes, dpus, mults)))
    o : Out(stream.Signature(dpe_results(lanes, dpus)))
    busy : Out(1)
    """

    def __init__(self, *, lanes, dpus, mults, library=None):
        for name, value in (("lanes", lanes), ("dpus", dpus)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"DPE {name} must be a positive integer, not {value!r}")
        self._lanes, self._dpus, self._mults = lanes, dpus, mults
        self._library = library
        self._dpu_latency = dpu_latency(mults)
        super().__init__({"i": In(stream.Signature(dpe_operands(lanes, dpus, mults))),
                          "o": Out(stream.Signature(dpe_results(lanes, dpus))),
                          "busy": Out(1)})

    @property
    def latency(self):
        """Cycles from an accepted ``last`` beat to its ``o`` beat without stalls (int)."""
        return self._dpu_latency

    @property
    def interleave(self):
        """Output tiles in flight (slots of the accumulators)."""
        return ACCUMULATOR_LATENCY

    def elaborate(self, platform):
        m = Module()
        en = Signal()
        mults, library = self._mults, self._library
        for lane in range(self._lanes):
            for col in range(self._dpus):
                dpu = place(m, library, f"dpu_{lane}_{col}", f"dpu_m{mults}",
                            lambda: Dpu(width=mults, library=library))
                m.d.comb += [dpu.en.eq(en), dpu.valid.eq(self.i.valid),
                             dpu.first.eq(self.i.payload.first),
                             dpu.a.eq(self.i.payload.a[lane]), dpu.b.eq(self.i.payload.b[col]),
                             self.o.payload[lane][col].eq(dpu.o)]
        done = pipeline_delay(m, en, self.i.valid & self.i.payload.last, self.latency,
                              name="done")
        m.d.comb += [self.o.valid.eq(done), en.eq(~self.o.valid | self.o.ready),
                     self.i.ready.eq(en), self.busy.eq(self.i.valid & en)]
        return m
