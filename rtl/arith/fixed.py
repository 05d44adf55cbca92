"""Fixed-point building blocks of the fp32 special-function units.

* :class:`Steps` - describes a datapath as named steps; each step boundary is either a
  register (counted in ``latency``) or a named wire (see
  :func:`~hybridgen.rtl.arith.pipeline.stage_boundary` for why every value is named).
* :func:`unpack_fp32` - flushed fp32 fields and class flags (docs/numerics.md, rule 1).
* :func:`round_pack` - normalize a positive fixed-point mantissa by its leading one and round it
  once to fp32 (the final step of every special function and of the multiplier).
* :func:`piecewise_poly` - Horner evaluation of a segment-indexed coefficient table.

Their bit-exact numpy models are :func:`hybridgen.golden.numerics.round_pack` and the private helpers of
:mod:`hybridgen.golden.numerics` with the same names; the coefficient tables come from
:func:`hybridgen.golden.numerics.sfu_coefficients` (one source of truth for hardware and model).
"""

from amaranth.hdl import Array, Cat, Const, Mux, Value, signed
from amaranth.lib import wiring

from hybridgen.golden import numerics

from .fp32 import count_leading_zeros, fp32_fields, is_inf, is_nan, is_zero, pack_float
from .pipeline import stage_boundary

__all__ = ["SpecialFunctionUnit", "Steps", "keep", "as_signed", "unpack_fp32", "round_pack", "piecewise_poly"]


class Steps:
    """Builder of a pipelined datapath: a sequence of named step boundaries.

    Parameters
    ----------
    m : Module
    en : Value
        Clock enable of every register.
    name : str
        Prefix of every signal name.
    """

    def __init__(self, m, en, name):
        self.m, self.en, self.name = m, en, name
        self.latency = 0
        self._count = 0

    def step(self, values, *, register):
        """Name ``values`` (a dict); registered (latency + 1) when ``register`` is true."""
        self._count += 1
        if register:
            self.latency += 1
        return stage_boundary(self.m, self.en, values, register=register,
                              name=f"{self.name}{self._count}")

    def output(self, port, value):
        """Drive the unit's output register ``port`` with ``value`` (latency + 1)."""
        self.latency += 1
        with self.m.If(self.en):
            self.m.d.sync += port.eq(value)


def keep(values, *keys):
    """The sub-dict of ``values`` with ``keys`` (values carried across a boundary)."""
    return {key: values[key] for key in keys}


def as_signed(value):
    """``value`` as a signed value of the same numeric value (unsigned values gain a zero bit)."""
    value = Value.cast(value)
    return value if value.shape().signed else Cat(value, Const(0, 1)).as_signed()


def unpack_fp32(bits):
    """Flushed fp32 fields of ``bits``: dict of sign, exponent (8), significand (24 bits, 0 for
    zeros and subnormals), zero, nan, inf."""
    fields = fp32_fields(bits)
    zero = is_zero(fields)
    return {
        "sign": fields.sign,
        "exponent": fields.exponent,
        "significand": Mux(zero, 0, Cat(fields.fraction, Const(1, 1))),
        "zero": zero,
        "nan": is_nan(fields),
        "inf": is_inf(fields),
    }


def round_pack(steps, sign, mantissa, exponent, carry, *, register=True):
    """fp32 of ``(-1)^sign * mantissa * 2^exponent``, rounded once (model: golden round_pack).

    ``mantissa`` unsigned, ``exponent`` signed. Step 1 counts leading zeros and normalizes
    (registered when ``register``), step 2 rounds to nearest even on 24 bits with a sticky bit,
    flushes values below 2^-126 (decided before rounding) to a signed zero and overflows to
    +-inf. Returns ``(result, carried)``: the combinational fp32 result of step 2 and the values
    of ``carry`` after the boundary.
    """
    mantissa = Value.cast(mantissa)
    width = len(mantissa)
    leading_zeros = count_leading_zeros(mantissa)
    if width < 25:
        normalized = Cat(Const(0, 25 - width), (mantissa << leading_zeros)[:width])
    else:
        normalized = (mantissa << leading_zeros)[:width]
    s = steps.step({
        **carry,
        "rp_sign": sign,
        "rp_zero": mantissa == 0,
        "rp_top": as_signed(exponent) + (width - 1) - leading_zeros,
        "rp_normalized": normalized,
    }, register=register)
    normalized = s["rp_normalized"]
    full = len(normalized)
    significand = normalized[full - 24:]
    guard = normalized[full - 25]
    sticky = normalized[:full - 25].any() if full > 25 else Const(0, 1)
    r = steps.step({
        "rounded": significand + (guard & (sticky | significand[0])),
        "biased_top": s["rp_top"] + 127,
    }, register=False)
    biased = r["biased_top"] + r["rounded"][24]
    result = Mux(s["rp_zero"] | (r["biased_top"] <= 0), pack_float(s["rp_sign"], 0, 0),
             Mux(biased >= 255, pack_float(s["rp_sign"], 0xFF, 0),
                 pack_float(s["rp_sign"], biased[:8], r["rounded"][:23])))
    return result, {key: s[key] for key in carry}


def piecewise_poly(steps, table, table_bits, u, input_bits, carry):
    """Horner evaluation of coefficient ``table`` (int array [segments, degree + 1]) at ``u``.

    ``u`` has ``input_bits`` bits; the segment index is its top ``table_bits`` bits, the
    polynomial variable ``s`` the next ``R = min(28, input_bits - table_bits)`` bits;
    ``acc = c_d; acc = ((acc * s) >> R) + c_k`` (floor shift), one register per step.
    Returns ``(acc, carried)`` with ``acc`` signed, 30 fraction bits.
    """
    width = numerics.POLY_ACCUMULATOR_BITS
    argument_bits = numerics._poly_argument_bits(input_bits, table_bits)
    u = Value.cast(u)
    low = input_bits - table_bits - argument_bits
    index = u[input_bits - table_bits:input_bits] if table_bits else Const(0, 1)
    s_value = u[low:low + argument_bits]
    degree = table.shape[1] - 1

    def coefficient(idx, k):
        column = [Const(int(c), signed(width)) for c in table[:, k]]
        return column[0] if len(column) == 1 else Array(column)[idx]

    s = steps.step({**carry, "poly_index": index, "poly_s": s_value,
                    "poly_acc": coefficient(index, degree)}, register=False)
    for k in range(degree - 1, -1, -1):
        product = s["poly_acc"] * s["poly_s"]
        shifted = (product >> argument_bits)[:width].as_signed()
        s = steps.step({
            **{key: s[key] for key in carry},
            "poly_index": s["poly_index"], "poly_s": s["poly_s"],
            "poly_acc": (shifted + coefficient(s["poly_index"], k))[:width].as_signed(),
        }, register=True)
    return s["poly_acc"], {key: s[key] for key in carry}


class SpecialFunctionUnit(wiring.Component):
    """Base of the special-function units (exp, reciprocal, sigmoid/silu, softplus): holds
    their approximation parameters, ``params`` (:class:`hybridgen.golden.numerics.SfuParams` or a config
    with the same fields; defaults when ``None``)."""

    def __init__(self, params=None):
        self._params = numerics.SfuParams.of(params)
        super().__init__()
