"""softplus with its log1p, from the exp datapath (docs/numerics.md, docs/arith.md)."""

from amaranth.hdl import Cat, Const, Module, Mux
from amaranth.lib.wiring import In, Out

from hybridgen.golden import numerics

from .exp import exp_core
from .fixed import SpecialFunctionUnit, Steps, keep, piecewise_poly, round_pack, unpack_fp32
from .fp32 import FP32_CANONICAL_NAN

__all__ = ["Fp32Softplus", "log1p_core"]


def log1p_core(steps, p, n, params, carry):
    """log1p(e) for e = p * 2^(n - 30) in (0, 1] (n <= 0), unrounded: ``p * h`` (value
    ``* 2^(n - 60)``) with h = log1p(u)/u from a piecewise polynomial on u = e (32 fraction
    bits, clamped below 1). Relative accuracy is kept for tiny e. One register for p * h.
    """
    u = ((Cat(Const(0, 2), p)) >> (-n)[:10])[:33]
    u = Mux(u[32], (1 << 32) - 1, u[:32])
    table = numerics.sfu_coefficients("log1p_ratio", params.log_table_bits, params.log_degree)
    h, c = piecewise_poly(steps, table, params.log_table_bits, u, 32,
                          {**carry, "log_p": p, "log_n": n})
    s = steps.step({**keep(c, *carry), "log_n": c["log_n"],
                    "log1p": (c["log_p"] * h)[:62]}, register=True)
    return s["log1p"], s["log_n"], keep(s, *carry)


class Fp32Softplus(SpecialFunctionUnit):
    """``o = softplus(a)`` as Mamba uses it: x for x > 20, else max(x, 0) + log1p(exp(-|x|)).

    Numerics: e = exp(-|x|) unrounded from the exp datapath; log1p(e) = e h(e) with
    h(u) = log1p(u)/u by a piecewise polynomial (``log_table_bits``, ``log_degree``), so tiny e
    (x << 0) keep their relative accuracy; x < 0: one rounding of e h; 0 <= x <= 20: x + e h
    in fixed point (40 fraction bits, truncated), one rounding; x > 20: x itself (flushed).
    softplus(+inf) = +inf, softplus(-inf) = +0, results below 2^-126 -> +0, NaN -> canonical NaN.
    Bit-exact model: :func:`hybridgen.golden.numerics.fp32_softplus`.

    Parameters
    ----------
    params : golden.numerics.SfuParams or config
        exp and log parameters.

    Members
    -------
    en : In(1)
    a : In(32)
    o : Out(32)
        Registered, ``latency`` enabled cycles after ``a``.
    """

    en: In(1)
    a: In(32)
    o: Out(32)

    @property
    def latency(self):
        """exp (degree + 2) + log polynomial (degree) + 1 (e h) + 1 (sum) + 2 (round)."""
        return self._params.exp_degree + 2 + self._params.log_degree + 4

    def elaborate(self, platform):
        m = Module()
        steps = Steps(m, self.en, "softplus")
        x = unpack_fp32(self.a)
        flushed = Mux(x["exponent"] == 0, Cat(Const(0, 31), self.a[31]), self.a)
        flags = {**keep(x, "nan", "inf", "sign", "exponent", "significand"),
                 "above": ~self.a[31] & (flushed > 0x41A00000), "flushed": flushed}
        names = tuple(flags)
        e, c = exp_core(steps, {**x, "sign": Const(1, 1)}, 1, self._params, flags)
        p = Mux(e["big"], 0, e["p"])
        log1p, n, c = log1p_core(steps, p, e["n"], self._params, c)
        # x in fixed point, 40 fraction bits: (M << 21) >> (131 - e) for e <= 131 (x <= 20).
        exponent = c["exponent"]
        x_fixed = (Cat(Const(0, 21), c["significand"]) >>
                   Mux(exponent > 131, 0, 131 - exponent)[:8])[:46]
        log_fixed = (log1p >> (2 * numerics.POLY_COEFFICIENT_BITS
                                - numerics.SOFTPLUS_SUM_BITS - n)[:10])[:46]
        s = steps.step({
            **keep(c, "nan", "inf", "sign", "above", "flushed"),
            "mantissa": Mux(c["sign"], log1p, x_fixed + log_fixed)[:62],
            "exponent": Mux(c["sign"], n - 2 * numerics.POLY_COEFFICIENT_BITS,
                            -numerics.SOFTPLUS_SUM_BITS),
        }, register=True)
        result, c = round_pack(steps, 0, s["mantissa"], s["exponent"],
                               keep(s, "nan", "inf", "sign", "above", "flushed"))
        steps.output(self.o, Mux(c["nan"], FP32_CANONICAL_NAN,
                             Mux(c["inf"] & c["sign"], 0,
                             Mux(c["above"], c["flushed"], result))))
        assert steps.latency == self.latency, steps.latency
        return m
