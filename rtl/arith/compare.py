"""fp32 min / max and comparison (docs/numerics.md, rule 12), one result per cycle, latency 1."""

from amaranth.hdl import Cat, Const, Module, Mux
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .fp32 import FP32_CANONICAL_NAN, fp32_fields, is_nan, is_zero

__all__ = ["Fp32MinMax", "Fp32Compare", "COMPARE_FLAGS", "order_key"]

#: Output of :class:`Fp32Compare`: one flag per relation, ``less`` at bit 0.
COMPARE_FLAGS = data.StructLayout({"less": 1, "equal": 1, "greater": 1, "unordered": 1})


def flush(bits):
    """``bits`` with a subnormal turned into the zero of the same sign."""
    return Mux(is_zero(fp32_fields(bits)), Cat(Const(0, 31), bits[31]), bits)


def order_key(bits):
    """33-bit unsigned key that orders flushed non-NaN fp32 patterns, with -0 < +0."""
    return Mux(bits[31], Cat(~bits[:31], Const(0, 2)), Cat(bits[:31], Const(1, 2)))


class Fp32MinMax(wiring.Component):
    """``o = max(a, b)`` (``minimum = 0``) or ``min(a, b)`` (``minimum = 1``); latency 1.

    Numerics (docs/numerics.md): subnormal inputs are zeros of their sign and the result is the
    flushed input; ``-0 < +0``; NaN if either input is NaN (canonical ``0x7FC00000``). Exact.
    Bit-exact models: :func:`hybridgen.golden.numerics.fp32_max`, :func:`hybridgen.golden.numerics.fp32_min`.

    Members
    -------
    en : In(1)
        Clock enable.
    a, b : In(32)
        fp32 bit patterns.
    minimum : In(1)
        0 selects the maximum, 1 the minimum (may change every cycle).
    o : Out(32)
        Result, registered.
    """

    en: In(1)
    a: In(32)
    b: In(32)
    minimum: In(1)
    o: Out(32)

    @property
    def latency(self):
        """1."""
        return 1

    def elaborate(self, platform):
        m = Module()
        a, b = flush(self.a), flush(self.b)
        a_key, b_key = order_key(a), order_key(b)
        take_a = Mux(self.minimum, a_key <= b_key, a_key >= b_key)
        nan = is_nan(fp32_fields(self.a)) | is_nan(fp32_fields(self.b))
        with m.If(self.en):
            m.d.sync += self.o.eq(Mux(nan, FP32_CANONICAL_NAN, Mux(take_a, a, b)))
        return m


class Fp32Compare(wiring.Component):
    """IEEE comparison of two fp32 patterns: ``o`` = :data:`COMPARE_FLAGS`; latency 1.

    Subnormal inputs are zeros; ``-0 == +0``; a NaN input sets only ``unordered``.
    Bit-exact model: :func:`hybridgen.golden.numerics.fp32_compare` (``less | equal << 1 | greater << 2 |
    unordered << 3``).

    Members
    -------
    en : In(1)
        Clock enable.
    a, b : In(32)
        fp32 bit patterns.
    o : Out(COMPARE_FLAGS)
        Flags, registered.
    """

    en: In(1)
    a: In(32)
    b: In(32)
    o: Out(COMPARE_FLAGS)

    @property
    def latency(self):
        """1."""
        return 1

    def elaborate(self, platform):
        m = Module()
        fa, fb = fp32_fields(self.a), fp32_fields(self.b)
        # Both zeros of either sign compare equal: map them to the +0 key.
        a_key = Mux(is_zero(fa), order_key(Const(0, 32)), order_key(self.a))
        b_key = Mux(is_zero(fb), order_key(Const(0, 32)), order_key(self.b))
        unordered = is_nan(fa) | is_nan(fb)
        with m.If(self.en):
            m.d.sync += [
                self.o.less.eq(~unordered & (a_key < b_key)),
                self.o.equal.eq(~unordered & (a_key == b_key)),
                self.o.greater.eq(~unordered & (a_key > b_key)),
                self.o.unordered.eq(unordered),
            ]
        return m
