"""The processing element of the weight-stationary systolic array.

Data moves through the PE in three directions:

* ``a_in`` / ``sel_in`` from the left, registered to ``a_out`` / ``sel_out`` (one cycle per PE);
* partial sums from above, ``psum_in`` -> ``psum_out`` (``psum_latency`` cycles per PE);
* weights down the column, one shift per cycle of ``w_shift``.

Weights are double-buffered: two weight registers (banks). ``w_shift`` moves the column's bank
``w_bank`` down by one PE (``w_out`` is the bank's current value, ``w_in`` its next); the other
bank keeps computing. Every ``a`` value carries the bank it multiplies (``sel``), so a bank
switch travels through the array with the data and no PE ever needs a global switch.

Numerics (``dtype``):

* ``"int8"``: ``psum_out = psum_in + a * w`` on int8 x int8 + int32, wrapping modulo 2^32; the
  product and the sum happen in the cycle ``a`` and ``psum`` arrive (``psum_latency`` 1);
* ``"bf16"``: the exact bf16 product (:class:`~rtl.arith.fp32.Bf16MulExact`) is registered one
  cycle after ``a`` arrives; ``psum_in`` arrives that cycle and goes through
  :class:`~rtl.arith.fp32.Fp32Add` (``adder_latency`` cycles):
  ``psum_out = fp32_add(psum_in, bf16_mul_exact(a, w))``. ``psum_latency = adder_latency``.
  Skew the rows so that ``psum_in`` of a PE arrives ``product_delay = 1`` cycle after its ``a``.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rtl.arith.fp32 import Bf16MulExact, Fp32Add

__all__ = ["ProcessingElement", "pe_timing", "ELEMENT_WIDTH", "ACC_WIDTH"]

#: Operand width per dtype.
ELEMENT_WIDTH = {"int8": 8, "bf16": 16}
#: Partial sums and results: int32 or fp32.
ACC_WIDTH = 32


def pe_timing(dtype, adder_latency):
    """``(psum_latency, product_delay)`` of a PE (see :class:`ProcessingElement`)."""
    return (1, 0) if dtype == "int8" else (adder_latency, 1)


class ProcessingElement(wiring.Component):
    """One weight-stationary MAC cell with two weight banks (see the module docstring).

    Parameters
    ----------
    dtype : {"int8", "bf16"}
    adder_latency : int
        Latency of the fp32 adder (bf16 only; 1..5).

    Attributes
    ----------
    psum_latency : int
        Cycles from ``psum_in`` to ``psum_out`` (1 for int8, ``adder_latency`` for bf16).
    product_delay : int
        Cycles from ``a_in`` to the matching ``psum_in`` (0 for int8, 1 for bf16).
    """

    def __init__(self, dtype, *, adder_latency=3):
        self.dtype = dtype
        self.adder_latency = adder_latency
        width = ELEMENT_WIDTH[dtype]
        super().__init__({
            "a_in": In(width), "sel_in": In(1), "a_out": Out(width), "sel_out": Out(1),
            "w_in": In(width), "w_shift": In(1), "w_bank": In(1), "w_out": Out(width),
            "psum_in": In(ACC_WIDTH), "psum_out": Out(ACC_WIDTH),
        })

    @property
    def psum_latency(self):
        return pe_timing(self.dtype, self.adder_latency)[0]

    @property
    def product_delay(self):
        return pe_timing(self.dtype, self.adder_latency)[1]

    def elaborate(self, platform):
        m = Module()
        width = ELEMENT_WIDTH[self.dtype]
        banks = [Signal(width, name=f"w_bank{i}") for i in range(2)]
        for index, bank in enumerate(banks):
            with m.If(self.w_shift & (self.w_bank == index)):
                m.d.sync += bank.eq(self.w_in)
        m.d.comb += self.w_out.eq(Mux(self.w_bank, banks[1], banks[0]))
        m.d.sync += [self.a_out.eq(self.a_in), self.sel_out.eq(self.sel_in)]
        weight = Mux(self.sel_in, banks[1], banks[0])
        if self.dtype == "int8":
            m.d.sync += self.psum_out.eq(self.psum_in + self.a_in.as_signed() * weight.as_signed())
        else:
            m.submodules.multiplier = multiplier = Bf16MulExact(latency=1)
            m.submodules.adder = adder = Fp32Add(latency=self.adder_latency)
            m.d.comb += [
                multiplier.en.eq(1), multiplier.a.eq(self.a_in), multiplier.b.eq(weight),
                adder.en.eq(1), adder.a.eq(self.psum_in), adder.b.eq(multiplier.o),
                self.psum_out.eq(adder.o),
            ]
        return m
