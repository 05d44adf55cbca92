"""The scalar and per-row parts of the Mamba-2 decode step (``ssm-step``), around
:class:`hybridgen.rtl.decode.ssm_lane.SsmLane` (order: :func:`hybridgen.golden.decode.ssm_step`).

* :class:`SsmHeadScalars` - per batch element and head: ``dt = fp32_add(dt_raw, dt_bias)``,
  ``fp32_softplus`` if ``softplus``; ``dA = fp32_exp(fp32_mul(dt, A))``.
* :class:`SsmRowValues` - per row p: ``u = fp32_mul(x, dt)``, ``dx = fp32_mul(D, x)``,
  ``sz = fp32_silu(z)``.
* :class:`SsmFinish` - per row, from the lane's finished sum: ``y = fp32_add(acc, dx)``, with z
  ``fp32_mul(y, sz)``; ``fp32_to_bf16``, a zero written as +0.

All three are pipelined datapaths (:mod:`hybridgen.rtl.arith.pipeline`): registers advance
when ``en`` is 1; ``o`` is valid ``latency`` enabled cycles after the inputs. They are built
from the ``rtl/arith`` units only.
"""

from amaranth.hdl import Module, Mux
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from hybridgen.rtl.arith.convert import Bf16ToFp32, Fp32ToBf16
from hybridgen.rtl.arith.exp import Fp32Exp
from hybridgen.rtl.arith.fp32 import Fp32Add
from hybridgen.rtl.arith.fp32_mul import Fp32Mul
from hybridgen.rtl.arith.pipeline import pipeline_delay
from hybridgen.rtl.arith.sigmoid import Fp32Sigmoid
from hybridgen.rtl.arith.softplus import Fp32Softplus

__all__ = ["SsmHeadScalars", "SsmRowValues", "SsmFinish"]


def _place(m, en, name, unit):
    m.submodules[name] = unit
    m.d.comb += unit.en.eq(en)
    return unit


class SsmHeadScalars(wiring.Component):
    """``dt`` and ``dA`` of one (batch element, head); see the module docstring.

    Members
    -------
    en : In(1)
    dt_raw : In(16)          bf16
    dt_bias, a : In(32)      fp32 (``a`` is the head's A)
    softplus : In(1)
    o : Out({dt, da})        fp32, ``latency`` enabled cycles later
    """

    def __init__(self, *, adder_latency=3, sfu=None):
        self._adder_latency, self._sfu = adder_latency, sfu
        self._softplus = Fp32Softplus(sfu)
        self._exp = Fp32Exp(sfu)
        super().__init__({"en": In(1), "dt_raw": In(16), "dt_bias": In(32), "a": In(32),
                          "softplus": In(1),
                          "o": Out(data.StructLayout({"dt": 32, "da": 32}))})

    @property
    def dt_latency(self):
        return 1 + self._adder_latency + self._softplus.latency

    @property
    def latency(self):
        return self.dt_latency + 3 + self._exp.latency

    def elaborate(self, platform):
        m = Module()
        en, L = self.en, self._adder_latency
        widen = _place(m, en, "widen", Bf16ToFp32())
        add = _place(m, en, "bias", Fp32Add(latency=L))
        soft = _place(m, en, "softplus", self._softplus)
        mul = _place(m, en, "dt_a", Fp32Mul())
        exp = _place(m, en, "exp", self._exp)
        m.d.comb += [widen.a.eq(self.dt_raw), add.a.eq(widen.o),
                     add.b.eq(pipeline_delay(m, en, self.dt_bias, 1, name="bias_d")),
                     soft.a.eq(add.o)]
        plain = pipeline_delay(m, en, add.o, soft.latency, name="plain")
        on = pipeline_delay(m, en, self.softplus, 1 + L + soft.latency, name="on")
        dt = Mux(on, soft.o, plain)
        m.d.comb += [mul.a.eq(dt), mul.b.eq(pipeline_delay(m, en, self.a, self.dt_latency,
                                                           name="a_d")),
                     exp.a.eq(mul.o), exp.natural.eq(1),
                     self.o.da.eq(exp.o),
                     self.o.dt.eq(pipeline_delay(m, en, dt, 3 + exp.latency, name="dt_d"))]
        return m


class SsmRowValues(wiring.Component):
    """``u``, ``dx`` and ``sz`` of one row; see the module docstring.

    Members
    -------
    en : In(1)
    x, z : In(16)            bf16
    dt, d : In(32)           fp32 (the head's dt and D)
    o : Out({u, dx, sz})     fp32, ``latency`` enabled cycles later
    """

    def __init__(self, *, sfu=None):
        self._silu = Fp32Sigmoid(sfu)
        super().__init__({"en": In(1), "x": In(16), "z": In(16), "dt": In(32), "d": In(32),
                          "o": Out(data.StructLayout({"u": 32, "dx": 32, "sz": 32}))})

    @property
    def latency(self):
        return 1 + max(3, self._silu.latency)

    def elaborate(self, platform):
        m = Module()
        en = self.en
        wx = _place(m, en, "widen_x", Bf16ToFp32())
        wz = _place(m, en, "widen_z", Bf16ToFp32())
        u = _place(m, en, "u", Fp32Mul())
        dx = _place(m, en, "dx", Fp32Mul())
        silu = _place(m, en, "silu", self._silu)
        m.d.comb += [wx.a.eq(self.x), wz.a.eq(self.z),
                     u.a.eq(wx.o), u.b.eq(pipeline_delay(m, en, self.dt, 1, name="dt_d")),
                     dx.a.eq(wx.o), dx.b.eq(pipeline_delay(m, en, self.d, 1, name="d_d")),
                     silu.a.eq(wz.o), silu.silu.eq(1)]
        pad = self.latency - 1
        m.d.comb += [self.o.u.eq(pipeline_delay(m, en, u.o, pad - 3, name="u_d")),
                     self.o.dx.eq(pipeline_delay(m, en, dx.o, pad - 3, name="dx_d")),
                     self.o.sz.eq(pipeline_delay(m, en, silu.o, pad - silu.latency,
                                                 name="sz_d"))]
        return m


class SsmFinish(wiring.Component):
    """y of one row from the lane's sum; see the module docstring.

    Members
    -------
    en : In(1)
    acc, dx, sz : In(32)     fp32
    with_z : In(1)
    o : Out(16)              bf16, ``latency`` enabled cycles later
    """

    def __init__(self, *, adder_latency=3):
        self._adder_latency = adder_latency
        super().__init__({"en": In(1), "acc": In(32), "dx": In(32), "sz": In(32),
                          "with_z": In(1), "o": Out(16)})

    @property
    def latency(self):
        return self._adder_latency + 3 + 1

    def elaborate(self, platform):
        m = Module()
        en, L = self.en, self._adder_latency
        add = _place(m, en, "skip", Fp32Add(latency=L))
        gate = _place(m, en, "gate", Fp32Mul())
        rnd = _place(m, en, "round", Fp32ToBf16())
        m.d.comb += [add.a.eq(self.acc), add.b.eq(self.dx), gate.a.eq(add.o),
                     gate.b.eq(pipeline_delay(m, en, self.sz, L, name="sz_d"))]
        with_z = pipeline_delay(m, en, self.with_z, L + 3, name="with_z_d")
        plain = pipeline_delay(m, en, add.o, 3, name="plain")
        m.d.comb += [rnd.a.eq(Mux(with_z, gate.o, plain)),
                     self.o.eq(Mux(rnd.o[:15] == 0, 0, rnd.o))]
        return m
