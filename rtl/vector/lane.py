"""One vector lane: every fp32 unit of :mod:`hybridgen.rtl.arith`, the op chosen per beat."""

import enum

from amaranth.hdl import Cat, Const, Module
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from hybridgen.golden import numerics
from hybridgen.rtl.arith.compare import Fp32MinMax
from hybridgen.rtl.arith.convert import Fp32ToBf16
from hybridgen.rtl.arith.exp import Fp32Exp
from hybridgen.rtl.arith.fp32 import Fp32Add
from hybridgen.rtl.arith.fp32_mul import Fp32Mul
from hybridgen.rtl.arith.pipeline import StreamPipeline, pipeline_delay
from hybridgen.rtl.arith.reciprocal import Fp32Reciprocal
from hybridgen.rtl.arith.sigmoid import Fp32Sigmoid
from hybridgen.rtl.arith.softplus import Fp32Softplus

__all__ = ["VectorOp", "VectorLane", "lane_latency", "lane_unit_latencies", "LANE_OPERANDS",
           "SfuLane", "LANE_UNITS", "OP_UNITS", "lane_units_of"]

#: The 4-bit op code (values from :data:`hybridgen.golden.numerics.VECTOR_OPS`).
VectorOp = enum.Enum("VectorOp", {name.upper(): code
                                  for name, code in numerics.VECTOR_OPS.items()},
                     type=int)
VectorOp.__doc__ = "Vector lane / unit op codes (golden.numerics.VECTOR_OPS)."

#: The units of a lane, by name, and the elementwise op names each one computes.
LANE_UNITS = {"add": ("add", "sub"), "mul": ("mul",), "minmax": ("max", "min"),
              "exp": ("exp", "exp2"), "recip": ("recip",), "sigmoid": ("sigmoid", "silu"),
              "softplus": ("softplus",), "bf16": ("bf16",)}
#: ``{elementwise op name: lane unit}``.
OP_UNITS = {op: unit for unit, ops in LANE_UNITS.items() for op in ops}


def lane_units_of(ops):
    """The lane units (in :data:`LANE_UNITS` order) that the op names ``ops`` need; reduction
    ops and ``pass`` need none. ``None`` means every unit."""
    if ops is None:
        return tuple(LANE_UNITS)
    unknown = sorted(set(ops) - set(numerics.VECTOR_OPS))
    if unknown:
        raise ValueError(f"ops must be names of golden.numerics.VECTOR_OPS, not {unknown!r}")
    needed = {OP_UNITS[op] for op in ops if op in OP_UNITS}
    return tuple(unit for unit in LANE_UNITS if unit in needed)


#: Payload of a single-lane stream (``SfuLane.i``): op at the LSBs, then a, then b.
LANE_OPERANDS = data.StructLayout({"op": 4, "a": 32, "b": 32})


def lane_unit_latencies(params, units=None):
    """``{unit: latency}`` of the units of a :class:`VectorLane` with ``params`` (without
    building them; the lane checks that its units agree); ``units`` (names of
    :data:`LANE_UNITS`, default all) keeps only those."""
    p = numerics.SfuParams.of(params)
    recip_core = p.recip_seed_degree + 2 * p.recip_newton_steps
    latencies = {"add": 3, "mul": 3, "minmax": 1, "exp": p.exp_degree + 4,
                 "recip": recip_core + 2, "sigmoid": p.exp_degree + 7 + recip_core,
                 "softplus": p.exp_degree + p.log_degree + 6, "bf16": 1}
    return {name: latencies[name] for name in (LANE_UNITS if units is None else units)}


def lane_latency(params, units=None):
    """Latency of a :class:`VectorLane` with ``params`` and ``units``: slowest unit + 1 (a lane
    without units is a 1-cycle ``pass``)."""
    return max(lane_unit_latencies(params, units).values(), default=0) + 1


class VectorLane(wiring.Component):
    """``o = op(a, b)`` for every elementwise op of :data:`hybridgen.golden.numerics.VECTOR_OPS`.

    Holds one of each unit - fp32 adder (add, sub), multiplier, min/max, exp/exp2, reciprocal,
    sigmoid/silu, softplus, fp32 -> bf16 rounding - all fed every cycle; each result is delayed
    to the slowest unit and ``op`` (delayed alongside) selects the output, so the op may change
    every cycle. Reduction ops and ``pass`` return ``a`` unchanged (the vector unit computes the
    reductions). Bit-exact model: :func:`hybridgen.golden.numerics.lane_op`.

    With ``units`` only those units are built (a reduced lane, e.g. one mode of the URSC RVPE);
    an op whose unit is absent returns ``a``, like ``pass``, and the latency is that of the
    slowest unit built + 1.

    Parameters
    ----------
    params : golden.numerics.SfuParams or config
        Approximation parameters of the special functions.
    units : iterable of str, optional
        Names of :data:`LANE_UNITS` to build (default all).

    Members
    -------
    en : In(1)
        Clock enable (:mod:`hybridgen.rtl.arith.pipeline` convention).
    op : In(4)
        Op code.
    a, b : In(32)
        Operands (fp32 bit patterns); unary ops use ``a``.
    o : Out(32)
        Result, registered, ``latency`` enabled cycles later.
    """

    en: In(1)
    op: In(4)
    a: In(32)
    b: In(32)
    o: Out(32)

    def __init__(self, params=None, *, units=None):
        self._params = numerics.SfuParams.of(params)
        p = self._params
        units = tuple(LANE_UNITS) if units is None else tuple(units)
        unknown = sorted(set(units) - set(LANE_UNITS))
        if unknown:
            raise ValueError(f"Lane units must be names of LANE_UNITS, not {unknown!r}")
        make = {"add": lambda: Fp32Add(latency=3), "mul": Fp32Mul, "minmax": Fp32MinMax,
                "exp": lambda: Fp32Exp(p), "recip": lambda: Fp32Reciprocal(p),
                "sigmoid": lambda: Fp32Sigmoid(p), "softplus": lambda: Fp32Softplus(p),
                "bf16": Fp32ToBf16}
        self._units = {name: make[name]() for name in LANE_UNITS if name in units}
        assert lane_unit_latencies(p, self._units) == self.unit_latencies
        super().__init__()

    @property
    def unit_latencies(self):
        """``{unit: latency}`` of the units inside."""
        return {name: unit.latency for name, unit in self._units.items()}

    @property
    def latency(self):
        """Slowest unit built (sigmoid/silu, 14 by default) + 1 (output select)."""
        return max(self.unit_latencies.values(), default=0) + 1

    def elaborate(self, platform):
        m = Module()
        units = self._units
        depth = self.latency - 1
        op = self.op
        for name, unit in units.items():
            m.submodules[name] = unit
            m.d.comb += [unit.en.eq(self.en), unit.a.eq(self.a)]
        controls = {
            "add": lambda u: [u.b.eq(self.b ^ Cat(Const(0, 31), op == VectorOp.SUB))],
            "mul": lambda u: [u.b.eq(self.b)],
            "minmax": lambda u: [u.b.eq(self.b), u.minimum.eq(op == VectorOp.MIN)],
            "exp": lambda u: [u.natural.eq(op == VectorOp.EXP)],
            "sigmoid": lambda u: [u.silu.eq(op == VectorOp.SILU)],
        }
        for name, unit in units.items():
            m.d.comb += controls.get(name, lambda u: [])(unit)
        results = {}
        for name, unit in units.items():
            value = Cat(Const(0, 16), unit.o) if name == "bf16" else unit.o
            results[name] = pipeline_delay(m, self.en, value, depth - unit.latency,
                                           name=f"{name}_result")
        op_late = pipeline_delay(m, self.en, op, depth, name="op")
        a_late = pipeline_delay(m, self.en, self.a, depth, name="a")
        with m.If(self.en):
            with m.Switch(op_late):
                for name in results:
                    with m.Case(*(VectorOp[op.upper()] for op in LANE_UNITS[name])):
                        m.d.sync += self.o.eq(results[name])
                with m.Default():
                    m.d.sync += self.o.eq(a_late)
        return m


class SfuLane(StreamPipeline):
    """Stream wrapper of one :class:`VectorLane` (the ``sfu`` block): ``i`` carries
    :data:`LANE_OPERANDS` (op, a, b), ``o`` the fp32 result; one result per cycle, handshake of
    :class:`~hybridgen.rtl.arith.pipeline.StreamPipeline`."""

    def __init__(self, params=None):
        super().__init__(VectorLane(params), in_layout=LANE_OPERANDS)
