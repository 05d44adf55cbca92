"""The URSC update engine (UpE): ``units`` update units of ``width`` fp32 lanes.

One row operation covers every update the two dataflows need (lane k of a beat):

==============  ==================================================  ===========================
op              result                                              used for
==============  ==================================================  ===========================
``MULADD``      ``fp32_add(fp32_mul(s, x[k]), y[k])``               attention ``O = a*O + PV``
                                                                    (s = a, x = O, y = PV); SSD
                                                                    ``state = decay*state + new``
                                                                    and ``y = exp(cum)*(C state)
                                                                    + Y_diag``, ``+ D*x``
``MUL``         ``fp32_mul(s, x[k])``                               row scaling
``MUL_BF16``    ``fp32_to_bf16(fp32_mul(s, x[k]))`` (bf16 in the    attention ``O * (1/l)``
                upper half of the lane, the lower half 0)           -> bf16 output
==============  ==================================================  ===========================

``s`` is one fp32 scalar per beat (a row's factor: the rescale ``a = exp(m_old - m_new)``, the
reciprocal ``1/l``, a chunk's decay, ``exp(cum_l)``, ``D[h]``); the RVPE computes it. Every
operation rounds once per fp32 unit, in the order written (multiply, then add); bit-exact
models: :func:`hybridgen.golden.numerics.fp32_mul`, ``fp32_add``, ``fp32_to_bf16``.

Modes (:mod:`.modes`, :data:`~hybridgen.rtl.ursc.modes.UPE_USES`): attention uses ``MULADD``
and ``MUL_BF16``, SSD ``MULADD`` and ``MUL``; a single-mode build leaves the other path out
(attention: the product's delay for ``MUL``; SSD: the bf16 rounders), and an op outside the
running mode (the ``mode`` input of a "both" build) is executed as ``MULADD``.
"""

from amaranth.hdl import Cat, Const, Module
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from hybridgen.rtl.arith.convert import Fp32ToBf16
from hybridgen.rtl.arith.fp32 import Fp32Add
from hybridgen.rtl.arith.fp32_mul import Fp32Mul
from hybridgen.rtl.arith.pipeline import StreamPipeline, pipeline_delay

from .modes import ModeDecode, UrscMode, mode_names, upe_ops
from .parts import latency_of, place

__all__ = ["UpeOp", "UpeDatapath", "UpeUnit", "Upe", "upe_operands", "upe_latency"]


class UpeOp(enum.Enum, shape=2):
    """Update-unit op codes (2 bits)."""
    MULADD = 0
    MUL = 1
    MUL_BF16 = 2


def upe_latency():
    """Latency of an update unit: multiply + add (3) + output select (1)."""
    return latency_of(Fp32Mul()) + 3 + 1


def upe_operands(width):
    """Payload of ``UpeUnit.i``: ``op`` (2 bits), ``s`` (fp32), ``x``, ``y`` (``width`` fp32)."""
    return data.StructLayout({"op": 2, "s": 32, "x": data.ArrayLayout(32, width),
                              "y": data.ArrayLayout(32, width)})


class UpeDatapath(wiring.Component):
    """``width`` lanes of ``fp32_mul`` -> ``fp32_add`` / ``fp32_to_bf16``, op per beat
    (module docstring). Pipelined-datapath convention; ``latency`` = 3 (multiply) + 3 (add) +
    1 (output select) = 7 for every op, so the op may change every beat.

    With ``modes`` = "attention" or "ssd" only that mode's ops are built; an op not built is
    executed as ``MULADD``.

    Members
    -------
    en : In(1)
    op : In(2)
    s : In(32)
    x, y : In(ArrayLayout(32, width))
    o : Out(ArrayLayout(32, width))
    """

    def __init__(self, *, width, library=None, modes="both"):
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"Update width must be a positive integer, not {width!r}")
        self._width = width
        self._library = library
        self._modes = modes
        self._ops = upe_ops(modes)
        super().__init__({"en": In(1), "op": In(2), "s": In(32),
                          "x": In(data.ArrayLayout(32, width)),
                          "y": In(data.ArrayLayout(32, width)),
                          "o": Out(data.ArrayLayout(32, width))})

    @property
    def ops(self):
        """:class:`UpeOp` names built."""
        return self._ops

    @property
    def latency(self):
        return upe_latency()

    def elaborate(self, platform):
        m = Module()
        en, library, built = self.en, self._library, self._ops
        mul_latency = latency_of(Fp32Mul())
        op = pipeline_delay(m, en, self.op, self.latency - 1, name="op")
        for k in range(self._width):
            mul = place(m, library, f"mul{k}", "fp32_mul", Fp32Mul)
            add = place(m, library, f"add{k}", "upe_fp32_add_l3", lambda: Fp32Add(latency=3))
            y = pipeline_delay(m, en, self.y[k], mul_latency, name=f"y{k}")
            m.d.comb += [mul.en.eq(en), mul.a.eq(self.s), mul.b.eq(self.x[k]),
                         add.en.eq(en), add.a.eq(mul.o), add.b.eq(y)]
            results = {}
            if "MUL" in built:
                results[UpeOp.MUL] = pipeline_delay(m, en, mul.o, 3, name=f"product{k}")
            if "MUL_BF16" in built:
                bf16 = place(m, library, f"bf16_{k}", "fp32_to_bf16", Fp32ToBf16)
                m.d.comb += [bf16.en.eq(en), bf16.a.eq(mul.o)]
                results[UpeOp.MUL_BF16] = pipeline_delay(m, en, Cat(Const(0, 16), bf16.o), 2,
                                                         name=f"rounded{k}")
            with m.If(en):
                with m.Switch(op):
                    for code, value in results.items():
                        with m.Case(code):
                            m.d.sync += self.o[k].eq(value)
                    with m.Default():
                        m.d.sync += self.o[k].eq(add.o)
        return m


class UpeUnit(StreamPipeline):
    """Stream update unit: ``i`` = :func:`upe_operands`, ``o`` = ``width`` fp32 results, one row
    per cycle, ``latency`` 7, handshake of :class:`~hybridgen.rtl.arith.pipeline.StreamPipeline`
    (see :class:`UpeDatapath`; ``modes`` selects the ops built)."""

    def __init__(self, *, width, library=None, modes="both"):
        super().__init__(UpeDatapath(width=width, library=library, modes=modes),
                         in_layout=upe_operands(width))


class Upe(wiring.Component):
    """``units`` independent :class:`UpeUnit` s (rows of an output tile or of a state go to any
    unit; the controller splits them); with a ``library`` the unit is converted once.
    ``busy[u]`` is 1 on a cycle unit u accepts a beat.

    Every beat's op passes the per-mode decode (:class:`~hybridgen.rtl.ursc.modes.ModeDecode`)
    on its way into its unit: an op outside the running mode (``mode``, "both" builds) or
    outside the build is executed as ``MULADD``.

    Members
    -------
    i : In(stream.Signature(upe_operands(width))).array(units)
    o : Out(stream.Signature(ArrayLayout(32, width))).array(units)
    busy : Out(1).array(units)
    mode : In(UrscMode)
        With ``modes = "both"`` only.
    """

    def __init__(self, *, units, width, library=None, modes="both"):
        if not isinstance(units, int) or units < 1:
            raise ValueError(f"Update units must be a positive integer, not {units!r}")
        self._count, self._width, self._library = units, width, library
        self._modes = modes
        members = {"i": In(stream.Signature(upe_operands(width))).array(units),
                   "o": Out(stream.Signature(data.ArrayLayout(32, width))).array(units),
                   "busy": Out(1).array(units)}
        if len(mode_names(modes)) > 1:
            members["mode"] = In(UrscMode)
        super().__init__(members)

    @property
    def latency(self):
        return upe_latency()

    def elaborate(self, platform):
        m = Module()
        width, library, modes = self._width, self._library, self._modes
        codes = {name: [UpeOp[op] for op in upe_ops(name)] for name in mode_names(modes)}
        for u in range(self._count):
            unit = place(m, library, f"unit{u}", f"upe_unit_w{width}",
                         lambda: UpeUnit(width=width, library=library, modes=modes))
            decode = ModeDecode(modes=modes, codes=codes, bits=2, fallback=UpeOp.MULADD)
            m.submodules[f"decode{u}"] = decode
            source = self.i[u]
            m.d.comb += [unit.i.valid.eq(source.valid), source.ready.eq(unit.i.ready),
                         unit.i.payload.eq(source.payload), decode.op.eq(source.payload.op),
                         unit.i.payload.op.eq(decode.o)]
            if "mode" in self.signature.members:
                m.d.comb += decode.mode.eq(self.mode)
            wiring.connect(m, unit.o, wiring.flipped(self.o[u]))
            m.d.comb += self.busy[u].eq(unit.i.valid & unit.i.ready)
        return m
