"""Format conversions: fp32 <-> bf16 and int32 <-> fp32 (docs/numerics.md, rules 8-11)."""

from amaranth.hdl import Cat, Const, Module, Mux, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .fixed import Steps, round_pack, unpack_fp32
from .fp32 import BF16_CANONICAL_NAN, fp32_fields, is_nan, is_zero

__all__ = ["Fp32ToBf16", "Bf16ToFp32", "Fp32ToInt32", "Int32ToFp32"]


class Fp32ToBf16(wiring.Component):
    """fp32 -> bf16, round to nearest even; latency 1.

    Subnormal inputs are zeros; ``(u + 0x7FFF + ((u >> 16) & 1)) >> 16`` on the flushed input
    (overflow to +-inf by the carry); NaN -> ``0x7FC0``. Never a bf16 subnormal (same exponent
    range as fp32). Bit-exact model: :func:`hybridgen.golden.numerics.fp32_to_bf16`.

    Members
    -------
    en : In(1)
    a : In(32)
        fp32 bit pattern.
    o : Out(16)
        bf16 bit pattern, registered.
    """

    en: In(1)
    a: In(32)
    o: Out(16)

    @property
    def latency(self):
        """1."""
        return 1

    def elaborate(self, platform):
        m = Module()
        fields = fp32_fields(self.a)
        flushed = Mux(is_zero(fields), Cat(Const(0, 31), self.a[31]), self.a)
        rounded = (flushed + 0x7FFF + flushed[16])[16:32]
        with m.If(self.en):
            m.d.sync += self.o.eq(Mux(is_nan(fields), BF16_CANONICAL_NAN, rounded))
        return m


class Bf16ToFp32(wiring.Component):
    """bf16 -> fp32 widening ``u << 16`` (exact, a format change); latency 1.

    Subnormals and NaN payloads pass unchanged (the arithmetic unit that consumes the value
    flushes them). Bit-exact model: :func:`hybridgen.golden.numerics.bf16_to_fp32`.

    Members
    -------
    en : In(1)
    a : In(16)
    o : Out(32)
    """

    en: In(1)
    a: In(16)
    o: Out(32)

    @property
    def latency(self):
        """1."""
        return 1

    def elaborate(self, platform):
        m = Module()
        with m.If(self.en):
            m.d.sync += self.o.eq(Cat(Const(0, 16), self.a))
        return m


class Fp32ToInt32(wiring.Component):
    """fp32 -> int32: round to nearest even, saturate, NaN -> 0; latency 2.

    Bit-exact model: :func:`hybridgen.golden.numerics.fp32_to_int32`.

    Members
    -------
    en : In(1)
    a : In(32)
        fp32 bit pattern.
    o : Out(signed(32))
        Registered.
    """

    en: In(1)
    a: In(32)
    o: Out(signed(32))

    @property
    def latency(self):
        """2."""
        return 2

    def elaborate(self, platform):
        m = Module()
        steps = Steps(m, self.en, "f2i")
        x = unpack_fp32(self.a)
        exponent = x["exponent"]
        # |x| = significand * 2^(e - 150); left shift for e >= 150 (e <= 157 here).
        wide = Cat(Const(0, 2), x["significand"])  # two extra bits: guard and sticky seed
        right = Mux(exponent >= 150, 0, Mux(exponent < 124, 27, 150 - exponent))[:5]
        shifted = wide >> right
        sticky = (wide & ((Const(1, 26) << right) - 1)[:26]).any()
        s = steps.step({
            "sign": x["sign"],
            "saturate": ~x["nan"] & (exponent >= 158),
            "nan": x["nan"],
            "big": exponent >= 150,
            "left": (x["significand"] << (exponent - 150)[:3])[:31],
            "integer": shifted[2:],
            "guard": shifted[1],
            "sticky": shifted[0] | sticky,
        }, register=True)
        rounded = s["integer"] + (s["guard"] & (s["sticky"] | s["integer"][0]))
        magnitude = Mux(s["big"], s["left"], rounded)[:32]
        value = Mux(s["sign"], -magnitude, magnitude)[:32]
        saturated = Mux(s["sign"], Const(-(1 << 31), signed(32)), Const((1 << 31) - 1, signed(32)))
        steps.output(self.o, Mux(s["nan"], 0, Mux(s["saturate"], saturated, value)))
        return m


class Int32ToFp32(wiring.Component):
    """int32 -> fp32, round to nearest even (exact below 2^24); latency 2.

    Bit-exact model: :func:`hybridgen.golden.numerics.int32_to_fp32`.

    Members
    -------
    en : In(1)
    a : In(signed(32))
    o : Out(32)
        fp32 bit pattern, registered.
    """

    en: In(1)
    a: In(signed(32))
    o: Out(32)

    @property
    def latency(self):
        """2."""
        return 2

    def elaborate(self, platform):
        m = Module()
        steps = Steps(m, self.en, "i2f")
        magnitude = Mux(self.a < 0, -self.a, self.a)[:32]
        result, _ = round_pack(steps, self.a[31], magnitude, Const(0, signed(2)), {})
        steps.output(self.o, result)
        return m
