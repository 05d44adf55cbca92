"""bf16 dot products with exact products and a pairwise fp32 adder tree (DPE, decode lanes).

The one dot-product datapath of the project: the URSC dot-product engines and the decode array's
lanes are arrays of it. Order of operations (docs/numerics.md rules 1-5):

1. ``width`` exact bf16 x bf16 products (:class:`~hybridgen.rtl.arith.fp32.Bf16MulExact`, fp32
   bit patterns, no rounding);
2. a balanced pairwise tree of :class:`~hybridgen.rtl.arith.fp32.Fp32Add`: level 1 adds products
   (0, 1), (2, 3), ...; each further level adds neighbouring partial sums, so the result is
   ``((p0 + p1) + (p2 + p3)) + ...`` with one rounding per addition.

Accumulating over a long reduction is the caller's: ``acc = fp32_add(acc, dot)`` per beat, as the
engines document. Bit-exact model: :func:`hybridgen.golden.numerics.dot_bf16`.
"""

from amaranth.hdl import Module
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from .fp32 import Bf16MulExact, Fp32Add
from .leaf import place

__all__ = ["Bf16Dot", "dot_operands"]


def dot_operands(width):
    """Payload of a stream of dot-product operands: ``{"a": ArrayLayout(16, width), "b": ...}``."""
    return data.StructLayout({"a": data.ArrayLayout(16, width),
                              "b": data.ArrayLayout(16, width)})


class Bf16Dot(wiring.Component):
    """``o = sum_k a[k] * b[k]``: exact bf16 products summed by a pairwise fp32 adder tree.

    Pipelined-datapath convention (:mod:`hybridgen.rtl.arith.pipeline`): registers advance only
    when ``en`` is 1; ``o`` is registered and holds the dot product of the operands presented
    ``latency = multiplier_latency + log2(width) * adder_latency`` enabled cycles earlier; a new
    operand pair is accepted every cycle. Numerics: module docstring; model
    :func:`hybridgen.golden.numerics.dot_bf16`.

    Parameters
    ----------
    width : int
        Products per dot product, a power of two >= 2.
    multiplier_latency : int
        1 or 2 (:class:`~hybridgen.rtl.arith.fp32.Bf16MulExact`).
    adder_latency : int
        Latency of each tree adder (:class:`~hybridgen.rtl.arith.fp32.Fp32Add`).
    library : gen.hierarchy.ModuleLibrary, optional
        When given, the multiplier and the adder are converted once and instantiated (large
        arrays of dot products); otherwise plain submodules (Amaranth simulation).

    Members
    -------
    en : In(1)
    a, b : In(ArrayLayout(16, width))
        Operands, bf16 bit patterns.
    o : Out(32)
        The dot product, fp32 bit pattern.
    """

    def __init__(self, *, width, multiplier_latency=1, adder_latency=3, library=None):
        if not isinstance(width, int) or width < 2 or width & (width - 1):
            raise ValueError(f"Dot-product width must be a power of two >= 2, not {width!r}")
        self._width = width
        self._multiplier_latency = multiplier_latency
        self._adder_latency = adder_latency
        self._library = library
        super().__init__({
            "en": In(1),
            "a": In(data.ArrayLayout(16, width)), "b": In(data.ArrayLayout(16, width)),
            "o": Out(32),
        })

    @property
    def width(self):
        return self._width

    @property
    def latency(self):
        """multiplier latency + log2(width) x adder latency (int)."""
        return self._multiplier_latency + exact_log2(self._width) * self._adder_latency

    def elaborate(self, platform):
        m = Module()
        mul_latency, add_latency = self._multiplier_latency, self._adder_latency
        level = []
        for k in range(self._width):
            unit = place(m, self._library, f"mul{k}", f"bf16_mul_exact_l{mul_latency}",
                         lambda: Bf16MulExact(latency=mul_latency))
            m.d.comb += [unit.en.eq(self.en), unit.a.eq(self.a[k]), unit.b.eq(self.b[k])]
            level.append(unit.o)
        depth = 0
        while len(level) > 1:
            nxt = []
            for j in range(len(level) // 2):
                unit = place(m, self._library, f"add_l{depth}_{j}", f"fp32_add_l{add_latency}",
                             lambda: Fp32Add(latency=add_latency))
                m.d.comb += [unit.en.eq(self.en), unit.a.eq(level[2 * j]),
                             unit.b.eq(level[2 * j + 1])]
                nxt.append(unit.o)
            level = nxt
            depth += 1
        m.d.comb += self.o.eq(level[0])
        return m
