"""fp32 multiplier (docs/numerics.md), one result per cycle."""

from amaranth.hdl import Module, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .fixed import Steps, round_pack, unpack_fp32
from .fp32 import FP32_CANONICAL_NAN, pack_float

__all__ = ["Fp32Mul"]


class Fp32Mul(wiring.Component):
    """``o = a * b`` on fp32 bit patterns, correctly rounded; latency 3.

    Numerics (docs/numerics.md): subnormal inputs are zeros; the exact 48-bit product is rounded
    once to nearest even (0.5 ulp); an exact product below 2^-126 gives a signed zero (tininess
    before rounding); overflow gives +-inf; ``0 x inf`` and NaN inputs give ``0x7FC00000``; the
    sign of zeros and infinities is ``sign(a) xor sign(b)``. Bit-exact model:
    :func:`hybridgen.golden.numerics.fp32_mul`.

    Steps: unpack and 24 x 24 multiply | normalize | round and pack (registered output).

    Members
    -------
    en : In(1)
        Clock enable (:mod:`hybridgen.rtl.arith.pipeline` convention).
    a, b : In(32)
        Factors, fp32 bit patterns.
    o : Out(32)
        Product, fp32 bit pattern.
    """

    en: In(1)
    a: In(32)
    b: In(32)
    o: Out(32)

    @property
    def latency(self):
        """Register stages from ``a``, ``b`` to ``o`` (3)."""
        return 3

    def elaborate(self, platform):
        m = Module()
        steps = Steps(m, self.en, "mul")
        a, b = unpack_fp32(self.a), unpack_fp32(self.b)
        s = steps.step({
            "nan": a["nan"] | b["nan"] | (a["inf"] & b["zero"]) | (a["zero"] & b["inf"]),
            "inf": a["inf"] | b["inf"],
            "sign": a["sign"] ^ b["sign"],
            "exponent": a["exponent"] + b["exponent"],
            "product": a["significand"] * b["significand"],
        }, register=True)
        result, c = round_pack(steps, s["sign"], s["product"], s["exponent"] - (2 * 127 + 46),
                               {"nan": s["nan"], "inf": s["inf"], "sign": s["sign"]})
        steps.output(self.o, Mux(c["nan"], FP32_CANONICAL_NAN,
                             Mux(c["inf"], pack_float(c["sign"], 0xFF, 0), result)))
        assert steps.latency == self.latency
        return m
