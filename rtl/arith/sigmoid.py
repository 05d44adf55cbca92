"""sigmoid and silu from the exp and reciprocal datapaths (docs/numerics.md, docs/arith.md)."""

from amaranth.hdl import Const, Module, Mux
from amaranth.lib.wiring import In, Out

from hybridgen.golden import numerics

from .exp import exp_core
from .fixed import SpecialFunctionUnit, Steps, keep, round_pack, unpack_fp32
from .fp32 import FP32_CANONICAL_NAN, pack_float
from .reciprocal import recip_core, recip_core_latency

__all__ = ["Fp32Sigmoid"]


class Fp32Sigmoid(SpecialFunctionUnit):
    """``o = sigmoid(a)`` (``silu = 0``) or ``a * sigmoid(a)`` (``silu = 1``); one per cycle.

    Numerics: e = exp(-|x|) from the exp datapath, kept unrounded as p * 2^(n - 30); 1 + e in
    fixed point (30 fraction bits; 2 is renormalized); r = 1/(1 + e) from the reciprocal
    datapath; x >= 0: sigmoid = r, x < 0: sigmoid = e r (product truncated to 30 fraction
    bits), so small results keep their relative accuracy; silu multiplies the unrounded sigmoid
    by x's significand (24 x 32 bits) with a wide exponent: x e^x stays right for very negative
    x (no fp32 underflow of sigmoid in between). One final round to nearest even.
    Specials: sigmoid(+inf) = 1, sigmoid(-inf) = +0, silu(+inf) = +inf, silu(-inf) = -0 (the
    limit), silu(+-0) = +-0, NaN -> canonical NaN. Bit-exact models:
    :func:`hybridgen.golden.numerics.fp32_sigmoid`, :func:`hybridgen.golden.numerics.fp32_silu`.

    Parameters
    ----------
    params : golden.numerics.SfuParams or config
        exp and reciprocal parameters.

    Members
    -------
    en : In(1)
    a : In(32)
    silu : In(1)
        0: sigmoid, 1: silu (may change every cycle).
    o : Out(32)
        Registered, ``latency`` enabled cycles after ``a``.
    """

    en: In(1)
    a: In(32)
    silu: In(1)
    o: Out(32)

    @property
    def latency(self):
        """exp (degree + 2) + 1 + reciprocal core + 1 (e r) + 1 (x er) + 2 (round); 14 by default."""
        return self._params.exp_degree + 2 + 1 + recip_core_latency(self._params) + 4

    def elaborate(self, platform):
        m = Module()
        steps = Steps(m, self.en, "sig")
        x = unpack_fp32(self.a)
        flags = {**keep(x, "nan", "inf", "sign", "exponent", "significand"), "silu": self.silu}
        names = tuple(flags)
        e, c = exp_core(steps, {**x, "sign": Const(1, 1)}, 1, self._params, flags)
        p = Mux(e["big"], 0, e["p"])
        one = 1 << numerics.RECIP_BITS
        d = (one + (p >> (-e["n"])[:10]))[:32]
        d_shift = d[numerics.RECIP_BITS + 1]
        s = steps.step({**keep(c, *names), "n": e["n"], "p": p, "d_shift": d_shift,
                        "d": Mux(d_shift, d >> 1, d)[:31]}, register=True)
        r, c = recip_core(steps, s["d"], numerics.RECIP_BITS, self._params,
                          keep(s, *names, "n", "p", "d_shift"))
        s = steps.step({
            **keep(c, *names),
            "er": Mux(c["sign"], (c["p"] * r) >> numerics.POLY_COEFFICIENT_BITS, r)[:32],
            "er_exponent": Mux(c["sign"], c["n"], 0) - numerics.RECIP_BITS - c["d_shift"],
        }, register=True)
        s = steps.step({
            **keep(s, "nan", "inf", "sign", "silu"),
            "mantissa": Mux(s["silu"], s["significand"] * s["er"], s["er"]),
            "exponent": Mux(s["silu"], s["exponent"] - 150 + s["er_exponent"], s["er_exponent"]),
        }, register=True)
        result, c = round_pack(steps, s["sign"] & s["silu"], s["mantissa"], s["exponent"],
                               keep(s, "nan", "inf", "sign", "silu"))
        infinite = Mux(c["silu"], pack_float(c["sign"], Mux(c["sign"], 0, 0xFF), 0),
                       Mux(c["sign"], 0, 0x3F800000))
        steps.output(self.o, Mux(c["nan"], FP32_CANONICAL_NAN,
                             Mux(c["inf"], infinite, result)))
        assert steps.latency == self.latency, steps.latency
        return m
