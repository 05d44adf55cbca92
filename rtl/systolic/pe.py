"""The processing element of the systolic array: weight-stationary, output-stationary, or both.

Data moves through the PE in three directions:

* ``a_in`` / ``sel_in`` from the left, registered to ``a_out`` / ``sel_out`` (one cycle per PE);
* 32-bit values down the column, ``psum_in`` -> ``psum_out``;
* operand B down the column through the weight registers (``w_in`` -> ``w_out``).

**Weight-stationary** (``dataflow`` "ws", or "both" with ``os`` = 0). Two weight registers
(banks): ``w_shift`` moves the column's bank ``w_bank`` down by one PE (``w_out`` is the bank's
current value, ``w_in`` its next); the other bank keeps computing. Every ``a`` value carries
the bank it multiplies (``sel``), so a bank switch travels through the array with the data.
Partial sums flow down: ``psum_out = psum_in + a * w_sel`` (``psum_latency`` cycles per PE).

**Output-stationary** (``dataflow`` "os", or "both" with ``os`` = 1). B flows down through
bank 0 (``w_bank`` = 0), one PE per ``w_shift``, which the caller gives once per K step of
``interleave`` cycles; A flows right one PE per cycle; each PE accumulates its own outputs in
place. ``sel`` marks the first K step of a new output
tile: the PE starts its accumulators from zero and hands the finished values of the previous
tile to its *drain chain*, ``drain_depth`` registers that pass values from ``psum_in`` down to
``psum_out`` (the column's results leave at the bottom while the next tile computes).

* int8: one accumulator; ``acc = (first ? 0 : acc) + a * b``; ``interleave`` 1.
* bf16: the fp32 adder's ``adder_latency`` pipeline stages hold ``interleave = adder_latency``
  independent accumulators: the value in stage ``u`` comes back to the adder input exactly
  when the next product of output ``u`` arrives, so the PE computes ``interleave`` outputs at
  once, one product each per cycle, in turn (the caller interleaves them: in a K step the B
  value stays and consecutive cycles carry the A values of ``interleave`` output rows). Each
  output is ``fp32_add(...fp32_add(fp32_add(+0, p_0), p_1)..., p_{K-1})`` in K order.
  A cycle without data must carry a = -0 and b = +0: the product -0 leaves every accumulator
  unchanged (``x + (-0) = x`` exactly).

``drain_depth = 2 * interleave``: with that many registers per PE the values of a column,
captured ``interleave`` cycles later each row down (the skew), leave the bottom on consecutive
cycles without colliding (see :mod:`.core` for the schedule).

Numerics (``dtype``):

* ``"int8"``: int8 x int8 + int32, wrapping modulo 2^32; product and sum in the cycle ``a``
  arrives (``psum_latency`` 1, ``product_delay`` 0);
* ``"bf16"``: the exact bf16 product (:class:`~hybridgen.rtl.arith.fp32.Bf16MulExact`) is registered one
  cycle after ``a`` arrives (``product_delay`` 1) and added by :class:`~hybridgen.rtl.arith.fp32.Fp32Add`
  (``adder_latency`` cycles): WS ``psum_out = fp32_add(psum_in, bf16_mul_exact(a, w))``.
"""

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hybridgen.rtl.arith.fp32 import Bf16MulExact, Fp32Add

__all__ = ["ProcessingElement", "pe_timing", "ELEMENT_WIDTH", "ACC_WIDTH", "DATAFLOWS",
           "ZERO_A"]

#: Operand width per dtype.
ELEMENT_WIDTH = {"int8": 8, "bf16": 16}
#: Partial sums and results: int32 or fp32.
ACC_WIDTH = 32
#: Dataflows a PE (and the engine) can be generated for.
DATAFLOWS = ("ws", "os", "both")
#: The A value of a cycle without data in output-stationary mode (bf16 -0: see above).
ZERO_A = {"int8": 0, "bf16": 0x8000}


def pe_timing(dtype, adder_latency):
    """``(psum_latency, product_delay)`` of a PE (see :class:`ProcessingElement`)."""
    return (1, 0) if dtype == "int8" else (adder_latency, 1)


def os_interleave(dtype, adder_latency):
    """Outputs an output-stationary PE computes at once (1 for int8, the adder latency for bf16)."""
    return 1 if dtype == "int8" else adder_latency


class ProcessingElement(wiring.Component):
    """One MAC cell (see the module docstring).

    Parameters
    ----------
    dtype : {"int8", "bf16"}
    adder_latency : int
        Latency of the fp32 adder (bf16 only; 1..5).
    dataflow : {"ws", "os", "both"}
        "both" adds an ``os`` input that selects the dataflow (hold it for a whole GEMM).

    Attributes
    ----------
    psum_latency, product_delay : int
        WS: cycles from ``psum_in`` to ``psum_out``; cycles from ``a_in`` to the matching
        ``psum_in`` (also from ``a_in`` to the accumulator update in OS).
    interleave, drain_depth : int
        OS: outputs per PE, and registers per PE in the drain chain.
    """

    def __init__(self, dtype, *, adder_latency=3, dataflow="ws"):
        assert dataflow in DATAFLOWS
        self.dtype, self.adder_latency, self.dataflow = dtype, adder_latency, dataflow
        width = ELEMENT_WIDTH[dtype]
        members = {
            "a_in": In(width), "sel_in": In(1), "a_out": Out(width), "sel_out": Out(1),
            "w_in": In(width), "w_shift": In(1), "w_bank": In(1), "w_out": Out(width),
            "psum_in": In(ACC_WIDTH), "psum_out": Out(ACC_WIDTH),
        }
        if dataflow == "both":
            members["os"] = In(1)
        super().__init__(members)

    @property
    def psum_latency(self):
        return pe_timing(self.dtype, self.adder_latency)[0]

    @property
    def product_delay(self):
        return pe_timing(self.dtype, self.adder_latency)[1]

    @property
    def interleave(self):
        return os_interleave(self.dtype, self.adder_latency)

    @property
    def drain_depth(self):
        return 2 * self.interleave

    def elaborate(self, platform):
        m = Module()
        width = ELEMENT_WIDTH[self.dtype]
        os_mode = {"ws": Const(0), "os": Const(1), "both": getattr(self, "os", None)}[
            self.dataflow]
        n_banks = 1 if self.dataflow == "os" else 2
        banks = [Signal(width, name=f"w_bank{i}") for i in range(n_banks)]
        for index, bank in enumerate(banks):
            with m.If(self.w_shift & (self.w_bank == index)):
                m.d.sync += bank.eq(self.w_in)
        m.d.comb += self.w_out.eq(banks[0] if n_banks == 1
                                  else Mux(self.w_bank, banks[1], banks[0]))
        m.d.sync += [self.a_out.eq(self.a_in), self.sel_out.eq(self.sel_in)]
        if n_banks == 1:
            weight = banks[0]
        else:
            weight = Mux(self.sel_in & ~os_mode, banks[1], banks[0])
        if self.dtype == "int8":
            acc = Signal(ACC_WIDTH, name="acc")
            product = self.a_in.as_signed() * weight.as_signed()
            first = self.sel_in
            if self.dataflow == "ws":
                m.d.sync += acc.eq(self.psum_in + product)
            else:
                own = Mux(first, 0, acc)
                m.d.sync += acc.eq(Mux(os_mode, own, self.psum_in) + product)
            final = acc
        else:
            m.submodules.multiplier = multiplier = Bf16MulExact(latency=1)
            m.submodules.adder = adder = Fp32Add(latency=self.adder_latency)
            first = Signal(name="first")  # sel_in, aligned with the product
            m.d.sync += first.eq(self.sel_in)
            if self.dataflow == "ws":
                addend = self.psum_in
            else:
                own = Mux(first, 0, adder.o)
                addend = Mux(os_mode, own, self.psum_in)
            m.d.comb += [
                multiplier.en.eq(1), multiplier.a.eq(self.a_in), multiplier.b.eq(weight),
                adder.en.eq(1), adder.a.eq(addend), adder.b.eq(multiplier.o),
            ]
            acc = final = adder.o
        if self.dataflow == "ws":
            m.d.comb += self.psum_out.eq(acc)
            return m
        chain = [Signal(ACC_WIDTH, name=f"drain{i}") for i in range(self.drain_depth)]
        m.d.sync += chain[0].eq(Mux(first, final, self.psum_in))
        m.d.sync += [later.eq(earlier) for earlier, later in zip(chain, chain[1:])]
        m.d.comb += self.psum_out.eq(Mux(os_mode, chain[-1], acc) if self.dataflow == "both"
                                     else chain[-1])
        return m
