"""A decode lane: one bf16 dot product per beat, accumulated in fp32 over ``I`` interleaved
outputs (the accumulator ring), rounded to bf16 when an output is complete.

Order of operations for each output (a column of W against one row of x): chunk c's dot
product ``t_c`` (:class:`hybridgen.rtl.arith.dot.Bf16Dot`, pairwise tree) is added as
``acc = fp32_add(acc, t_c)`` in chunk order, ``acc`` starting at -0 (``-0 + t_0 = t_0``
exactly, so this is :func:`hybridgen.golden.numerics.dot_bf16_accumulate`), then
``fp32_to_bf16``.

The ring: the adder's result returns to its input ``I`` enabled cycles later (the adder's
``adder_latency`` stages plus ``I - adder_latency`` registers), so the beats of ``I`` outputs
taken in turn (beat t belongs to output ``t mod I``) accumulate without waiting for the adder.
"""

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from hybridgen.rtl.arith.convert import Fp32ToBf16
from hybridgen.rtl.arith.dot import Bf16Dot
from hybridgen.rtl.arith.fp32 import Fp32Add

__all__ = ["GemvLane"]

NEG_ZERO_FP32 = 0x8000_0000


class GemvLane(wiring.Component):
    """One lane of the decode array, see the module docstring.

    Pipelined-datapath convention (:mod:`hybridgen.rtl.arith.pipeline`): every register
    advances only when ``en`` is 1; one beat per enabled cycle. Counting enabled cycles: the
    beat taken at enabled cycle ``e`` reaches the accumulator at ``e + latency``; if its
    ``first`` is set, the output that held its ring slot is complete and shows (bf16) on ``o``
    at enabled cycle ``e + latency + 1``.

    Parameters
    ----------
    dot : int
        Products per beat (a power of two >= 2).
    interleave : int
        Outputs in the ring, >= ``adder_latency``.
    adder_latency : int
    library : gen.hierarchy.ModuleLibrary, optional
        Where the multipliers and adders are converted once.

    Members
    -------
    en : In(1)
    x, w : In(ArrayLayout(16, dot))
        bf16 operands of the beat.
    first : In(1)
        The beat is chunk 0 of its output: the ring slot restarts from -0.
    o : Out(16)
        bf16 result (see the timing above).
    """

    def __init__(self, *, dot, interleave, adder_latency, library=None):
        if interleave < adder_latency:
            raise ValueError(f"interleave must be >= adder_latency = {adder_latency}, "
                             f"not {interleave!r}")
        self._dot, self._interleave = dot, interleave
        self._adder_latency, self._library = adder_latency, library
        super().__init__({
            "en": In(1), "x": In(data.ArrayLayout(16, dot)), "w": In(data.ArrayLayout(16, dot)),
            "first": In(1), "o": Out(16),
        })

    @property
    def latency(self):
        """Enabled cycles from a beat to its dot product at the accumulator (Bf16Dot)."""
        return 1 + (self._dot.bit_length() - 1) * self._adder_latency

    def elaborate(self, platform):
        m = Module()
        lib = self._library
        m.submodules.dot = dot = Bf16Dot(width=self._dot, adder_latency=self._adder_latency,
                                          library=lib)
        assert dot.latency == self.latency
        if lib is None:
            m.submodules.acc = adder = Fp32Add(latency=self._adder_latency)
        else:
            adder = lib.instantiate(m, "acc", f"fp32_add_l{self._adder_latency}",
                                    lambda: Fp32Add(latency=self._adder_latency),
                                    no_inline=True)
        m.submodules.round = rnd = Fp32ToBf16()
        m.d.comb += [dot.en.eq(self.en), dot.a.eq(self.x), dot.b.eq(self.w),
                     adder.en.eq(self.en), rnd.en.eq(self.en)]
        # `first` travels beside the dot product
        first = self.first
        for stage in range(dot.latency):
            delayed = Signal(name=f"first_d{stage}")
            with m.If(self.en):
                m.d.sync += delayed.eq(first)
            first = delayed
        # the ring: adder output -> (interleave - adder_latency) registers -> adder input
        back = adder.o
        for stage in range(self._interleave - self._adder_latency):
            held = Signal(32, name=f"ring{stage}")
            with m.If(self.en):
                m.d.sync += held.eq(back)
            back = held
        m.d.comb += [adder.a.eq(dot.o),
                     adder.b.eq(Mux(first, Const(NEG_ZERO_FP32, 32), back)),
                     rnd.a.eq(back), self.o.eq(rnd.o)]
        return m
