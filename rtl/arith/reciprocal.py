"""Reciprocal: seed table + Newton-Raphson in fixed point (docs/numerics.md, docs/arith.md)."""

from amaranth.hdl import Const, Module, Mux
from amaranth.lib.wiring import In, Out

from hybridgen.golden import numerics

from .fixed import SpecialFunctionUnit, Steps, keep, piecewise_poly, round_pack, unpack_fp32
from .fp32 import FP32_CANONICAL_NAN, pack_float

__all__ = ["Fp32Reciprocal", "recip_core", "recip_core_latency"]


def recip_core_latency(params):
    """Registers of :func:`recip_core`: seed degree + 2 per Newton step."""
    return params.recip_seed_degree + 2 * params.recip_newton_steps


def recip_core(steps, mantissa, fraction_bits, params, carry):
    """1/m for m = mantissa / 2^Q in [1, 2) (Q = ``fraction_bits``): y / 2^30, unrounded.

    Seed: piecewise polynomial of 1/(1 + u) indexed by the top ``recip_table_bits`` fraction
    bits; each Newton step ``e = (2^(Q+31) - M y) >> Q`` | ``y = (y e) >> 30`` (two registers,
    floor shifts). Bit-exact model: ``hybridgen.golden.numerics._recip_core``.
    """
    width = fraction_bits + 1
    table = numerics.sfu_coefficients("recip", params.recip_table_bits, params.recip_seed_degree)
    y, c = piecewise_poly(steps, table, params.recip_table_bits, mantissa[:fraction_bits],
                          fraction_bits, {**carry, "recip_m": mantissa})
    s = {**keep(c, *carry), "recip_m": c["recip_m"], "recip_y": y[:32]}
    two = Const(2 << (fraction_bits + numerics.RECIP_BITS), width + 33)
    for step in range(params.recip_newton_steps):
        error = ((two - s["recip_m"] * s["recip_y"]) >> fraction_bits)[:33]
        s = steps.step({**keep(s, *carry, "recip_m", "recip_y"), "recip_e": error},
                       register=True)
        s = steps.step({**keep(s, *carry, "recip_m"),
                        "recip_y": ((s["recip_y"] * s["recip_e"]) >> numerics.RECIP_BITS)[:32]},
                       register=True)
    return s["recip_y"], keep(s, *carry)


class Fp32Reciprocal(SpecialFunctionUnit):
    """``o = 1 / a`` on fp32; one result per cycle.

    Numerics: seed of 1/m (m the significand in [1, 2)) from a piecewise polynomial indexed by
    the top ``recip_table_bits`` fraction bits (``recip_seed_degree`` 0 = a plain table),
    ``recip_newton_steps`` Newton-Raphson steps in fixed point (30 fraction bits), one round to
    nearest even; a power of two gets the exact 1/m = 1. 1/+-0 = +-inf (subnormals are zeros), 1/+-inf = +-0, results below 2^-126 ->
    signed zero, NaN -> canonical NaN. Bit-exact model: :func:`hybridgen.golden.numerics.fp32_reciprocal`.

    Parameters
    ----------
    params : golden.numerics.SfuParams or config
        ``recip_table_bits``, ``recip_seed_degree``, ``recip_newton_steps``.

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
        """seed degree + 2 x Newton steps + 2 (round)."""
        return recip_core_latency(self._params) + 2

    def elaborate(self, platform):
        m = Module()
        steps = Steps(m, self.en, "recip")
        x = unpack_fp32(self.a)
        flags = {**keep(x, "nan", "inf", "zero", "sign"), "exponent": x["exponent"]}
        flags["power_of_two"] = x["significand"][:23] == 0
        y, c = recip_core(steps, x["significand"], 23, self._params, flags)
        y = Mux(c["power_of_two"], 1 << numerics.RECIP_BITS, y)
        # 1/x = y * 2^(-(e - 127) - 30)
        result, c = round_pack(steps, c["sign"], y, (127 - numerics.RECIP_BITS) - c["exponent"],
                               keep(c, "nan", "inf", "zero", "sign"))
        steps.output(self.o, Mux(c["nan"], FP32_CANONICAL_NAN,
                             Mux(c["zero"], pack_float(c["sign"], 0xFF, 0),
                             Mux(c["inf"], pack_float(c["sign"], 0, 0), result))))
        assert steps.latency == self.latency, steps.latency
        return m
