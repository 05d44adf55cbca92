"""exp2 and exp: fixed-point range reduction and a piecewise polynomial.

Numerics: docs/numerics.md ("Special functions"); the method: docs/arith.md.
"""

from amaranth.hdl import Cat, Const, Module, Mux
from amaranth.lib.wiring import In, Out

from hybridgen.golden import numerics

from .fixed import SpecialFunctionUnit, Steps, keep, piecewise_poly, round_pack, unpack_fp32
from .fp32 import FP32_CANONICAL_NAN, pack_float

__all__ = ["Fp32Exp", "exp_core"]


def exp_core(steps, x, natural, params, carry):
    """2^t for t = x (``natural`` = 0) or x log2(e) (``natural`` = 1), unrounded.

    ``x`` is a dict from :func:`~hybridgen.rtl.arith.fixed.unpack_fp32`; ``natural`` may be a constant
    or a run-time bit. Returns ``({n, p, big}, carried)`` with 2^t ~ p * 2^(n - 30) and ``big``
    = |x| >= 256 (the caller saturates). Steps: multiply by log2(e) (41 bits) | shift into the
    fixed-point t (32 fraction bits, magnitude truncated) and split n / f | polynomial.
    Bit-exact model: ``hybridgen.golden.numerics._exp_core``.
    """
    exponent = x["exponent"]
    s = steps.step({
        **carry,
        "exp_sign": x["sign"], "exp_exponent": x["exponent"],
        "exp_significand": x["significand"], "exp_natural": natural,
        "exp_product": x["significand"] * Const(numerics.EXP_LOG2E, 41),
    }, register=True)
    exponent = s["exp_exponent"]
    big = exponent >= 135
    # exp: floor(M * log2e / 2^(158 - e)); exp2: floor(M * 2^16 / 2^(134 - e)).
    natural_shift = Mux(big, 0, 158 - exponent)[:8]
    binary_shift = Mux(big, 0, 134 - exponent)[:8]
    magnitude = Mux(s["exp_natural"], s["exp_product"] >> natural_shift,
                    Cat(Const(0, 16), s["exp_significand"]) >> binary_shift)[:42]
    magnitude = Mux(big, 0, magnitude)
    t = Mux(s["exp_sign"], -magnitude, magnitude)[:43].as_signed()
    r = steps.step({
        **keep(s, *carry),
        "exp_big": big,
        "exp_n": t[numerics.EXP_ARG_BITS:].as_signed(),
        "exp_f": t[:numerics.EXP_ARG_BITS],
    }, register=True)
    table = numerics.sfu_coefficients("exp2", params.exp_table_bits, params.exp_degree)
    p, c = piecewise_poly(steps, table, params.exp_table_bits, r["exp_f"],
                          numerics.EXP_ARG_BITS, keep(r, *carry, "exp_big", "exp_n"))
    return {"n": c["exp_n"], "p": p[:32], "big": c["exp_big"]}, keep(c, *carry)


class Fp32Exp(SpecialFunctionUnit):
    """``o = 2^x`` (``natural = 0``) or ``e^x`` (``natural = 1``) on fp32; one result per cycle.

    Numerics: t = x or x log2(e) in fixed point (log2 e with 40 fraction bits, t with 32; the
    magnitude is truncated, no fp32 rounding of x log2 e), n = floor(t), 2^(t - n) by a
    piecewise polynomial (``2^exp_table_bits`` segments of degree ``exp_degree``, exact at
    segment starts: exp(0) = 1, exp2(n) = 2^n), then one round to nearest even. Subnormal
    inputs are zeros; -inf -> +0, +inf and overflow -> +inf; results below 2^-126 -> +0; NaN ->
    canonical NaN. Measured bounds (defaults): see docs/arith.md. Bit-exact models:
    :func:`hybridgen.golden.numerics.fp32_exp2`, :func:`hybridgen.golden.numerics.fp32_exp`.

    Parameters
    ----------
    params : golden.numerics.SfuParams or config
        ``exp_table_bits`` and ``exp_degree``.

    Members
    -------
    en : In(1)
        Clock enable (:mod:`hybridgen.rtl.arith.pipeline` convention).
    a : In(32)
        x, fp32 bit pattern.
    natural : In(1)
        0: 2^x, 1: e^x (may change every cycle).
    o : Out(32)
        Result, registered, ``latency`` enabled cycles after ``a``.
    """

    en: In(1)
    a: In(32)
    natural: In(1)
    o: Out(32)

    @property
    def latency(self):
        """Register stages: 2 (range reduction) + degree (Horner) + 2 (round) = degree + 4."""
        return self._params.exp_degree + 4

    def elaborate(self, platform):
        m = Module()
        steps = Steps(m, self.en, "exp")
        x = unpack_fp32(self.a)
        flags = {"nan": x["nan"], "inf": x["inf"], "negative": x["sign"]}
        e, c = exp_core(steps, x, self.natural, self._params, flags)
        result, c = round_pack(steps, 0, e["p"], e["n"] - numerics.POLY_COEFFICIENT_BITS,
                               {**c, "big": e["big"]})
        saturated = Mux(c["negative"], 0, pack_float(0, 0xFF, 0))
        steps.output(self.o, Mux(c["nan"], FP32_CANONICAL_NAN,
                             Mux(c["big"] | c["inf"], saturated, result)))
        assert steps.latency == self.latency, steps.latency
        return m
