"""Multiply-accumulate units: int8 x int8 + int32 and bf16 x bf16 + fp32, as stream components.

Each MAC exists twice, with one datapath: a pipelined datapath unit (``MacInt8Datapath``,
``MacBf16Datapath``; ``en`` clock-enable convention of :mod:`hybridgen.rtl.arith.pipeline`) for blocks that
embed it, and its :class:`~hybridgen.rtl.arith.pipeline.StreamPipeline` wrapper (``MacInt8``, ``MacBf16``)
with ``i`` / ``o`` streams. Bit-exact models: :func:`hybridgen.golden.numerics.mac_int8` and
:func:`hybridgen.golden.numerics.mac_bf16`.
"""

from amaranth.hdl import Module, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .fp32 import Bf16MulExact, Fp32Add
from .pipeline import StreamPipeline, pipeline_delay, pipeline_register

__all__ = ["MAC_INT8_OPERANDS", "MAC_BF16_OPERANDS", "MacInt8Datapath", "MacBf16Datapath",
           "MacInt8", "MacBf16"]

#: Payload of ``MacInt8.i``: a at the LSBs, then b, then acc (48 bits).
MAC_INT8_OPERANDS = data.StructLayout({"a": signed(8), "b": signed(8), "acc": signed(32)})
#: Payload of ``MacBf16.i``: bf16 a at the LSBs, then bf16 b, then fp32 acc (64 bits).
MAC_BF16_OPERANDS = data.StructLayout({"a": 16, "b": 16, "acc": 32})


class MacInt8Datapath(wiring.Component):
    """``o = a * b + acc`` on int8 x int8 + int32, wrapping modulo 2^32; latency 2.

    Stage 1 registers the exact 16-bit product and ``acc``; stage 2 registers the sum. Registers
    advance only when ``en`` is 1 (:mod:`hybridgen.rtl.arith.pipeline` convention).

    Members
    -------
    en : In(1)
        Clock enable.
    a, b : In(signed(8))
        Factors.
    acc : In(signed(32))
        Addend.
    o : Out(signed(32))
        ``(a * b + acc) mod 2^32`` as a two's-complement int32.
    """

    en: In(1)
    a: In(signed(8))
    b: In(signed(8))
    acc: In(signed(32))
    o: Out(signed(32))

    @property
    def latency(self):
        """Register stages from the inputs to ``o`` (2)."""
        return 2

    def elaborate(self, platform):
        m = Module()
        product = pipeline_register(m, self.en, self.a * self.b, name="product")
        acc = pipeline_register(m, self.en, self.acc, name="acc")
        with m.If(self.en):
            m.d.sync += self.o.eq((product + acc)[:32])
        return m


class MacBf16Datapath(wiring.Component):
    """``o = fp32_add(bf16_mul_exact(a, b), acc)`` on bit patterns (two roundings at most one).

    The bf16 product is exact in fp32 (:class:`~hybridgen.rtl.arith.fp32.Bf16MulExact`;
    docs/numerics.md rules for products: tiny -> signed zero, >= 2^128 -> inf, ``0 x inf`` -> NaN,
    subnormal inputs are zeros), then :class:`~hybridgen.rtl.arith.fp32.Fp32Add` adds ``acc`` with
    round-to-nearest-even. This is not a fused multiply-add: the product is first put into fp32 with
    the rows above (it is exact whenever it is a normal number). ``acc`` is delayed to meet the
    product.

    Parameters
    ----------
    adder_latency : int
        Latency of the :class:`~hybridgen.rtl.arith.fp32.Fp32Add` (1 to 5, default 3).
    multiplier_latency : int
        Latency of the :class:`~hybridgen.rtl.arith.fp32.Bf16MulExact` (1 or 2, default 1).

    Members
    -------
    en : In(1)
        Clock enable.
    a, b : In(16)
        Factors, bf16 bit patterns.
    acc : In(32)
        Addend, fp32 bit pattern.
    o : Out(32)
        Result, fp32 bit pattern; registered, ``latency`` enabled cycles after the inputs.
    """

    en: In(1)
    a: In(16)
    b: In(16)
    acc: In(32)
    o: Out(32)

    def __init__(self, *, adder_latency=3, multiplier_latency=1):
        self._multiplier = Bf16MulExact(latency=multiplier_latency)
        self._adder = Fp32Add(latency=adder_latency)
        super().__init__()

    @property
    def latency(self):
        """Register stages from the inputs to ``o``: multiplier plus adder latency (default 4)."""
        return self._multiplier.latency + self._adder.latency

    def elaborate(self, platform):
        m = Module()
        m.submodules.multiplier = multiplier = self._multiplier
        m.submodules.adder = adder = self._adder
        acc = pipeline_delay(m, self.en, self.acc, multiplier.latency, name="acc")
        m.d.comb += [
            multiplier.en.eq(self.en),
            multiplier.a.eq(self.a),
            multiplier.b.eq(self.b),
            adder.en.eq(self.en),
            adder.a.eq(multiplier.o),
            adder.b.eq(acc),
            self.o.eq(adder.o),
        ]
        return m


class MacInt8(StreamPipeline):
    """Stream int8 MAC: ``o = a * b + acc`` wrapping modulo 2^32, one result per cycle.

    Latency 2 (``latency`` property); handshake of :class:`~hybridgen.rtl.arith.pipeline.StreamPipeline`
    (``i.ready = ~o.valid | o.ready``, results in order, arbitrary back-pressure and bubbles).
    Bit-exact model: :func:`hybridgen.golden.numerics.mac_int8`.

    Members
    -------
    i : In(stream.Signature(MAC_INT8_OPERANDS))
        ``{"a": signed(8), "b": signed(8), "acc": signed(32)}``, a at the LSBs.
    o : Out(stream.Signature(signed(32)))
        Results.
    """

    def __init__(self):
        super().__init__(MacInt8Datapath(), in_layout=MAC_INT8_OPERANDS)


class MacBf16(StreamPipeline):
    """Stream bf16 MAC: ``o = fp32_add(exact bf16 product a * b, acc)``, one result per cycle.

    Numerics of :class:`MacBf16Datapath` (docs/numerics.md; not fused). Latency
    ``multiplier_latency + adder_latency`` (default 1 + 3 = 4, ``latency`` property); handshake of
    :class:`~hybridgen.rtl.arith.pipeline.StreamPipeline` (``i.ready = ~o.valid | o.ready``, results in
    order, arbitrary back-pressure and bubbles). Bit-exact model: :func:`hybridgen.golden.numerics.mac_bf16`.

    Parameters
    ----------
    adder_latency : int
        Latency of the fp32 adder (1 to 5, default 3).
    multiplier_latency : int
        Latency of the bf16 multiplier (1 or 2, default 1).

    Members
    -------
    i : In(stream.Signature(MAC_BF16_OPERANDS))
        ``{"a": 16, "b": 16, "acc": 32}`` bit patterns (bf16, bf16, fp32), a at the LSBs.
    o : Out(stream.Signature(32))
        Results, fp32 bit patterns.
    """

    def __init__(self, *, adder_latency=3, multiplier_latency=1):
        super().__init__(MacBf16Datapath(adder_latency=adder_latency,
                                         multiplier_latency=multiplier_latency),
                         in_layout=MAC_BF16_OPERANDS)
