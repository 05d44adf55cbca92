"""The project's floating-point datapath units and fp32 / bf16 field helpers.

Every unit here implements the numerics contract of docs/numerics.md on raw bit patterns:
subnormal inputs are zeros of the same sign, exact results below 2^-126 in magnitude are zeros with
the sign of the result, everything else is rounded to nearest even with overflow to infinity, and
every NaN output is the canonical ``0x7FC00000``. The bit-exact models are in
:mod:`hybridgen.golden.numerics` (same names).

Units follow the pipelined-datapath convention of :mod:`hybridgen.rtl.arith.pipeline` (``en`` clock enable,
registered output, ``latency`` property); wrap them in
:class:`~hybridgen.rtl.arith.pipeline.StreamPipeline` for a stream interface.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Value
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .pipeline import stage_boundary

__all__ = [
    "FP32", "BF16", "FP32_CANONICAL_NAN", "BF16_CANONICAL_NAN", "FP32_BIAS",
    "fp32_fields", "bf16_fields", "is_nan", "is_inf", "is_zero", "pack_float",
    "count_leading_zeros", "Fp32Add", "Bf16MulExact",
]

#: Field layout of an fp32 bit pattern (fraction at the LSBs).
FP32 = data.StructLayout({"fraction": 23, "exponent": 8, "sign": 1})
#: Field layout of a bf16 bit pattern (fraction at the LSBs).
BF16 = data.StructLayout({"fraction": 7, "exponent": 8, "sign": 1})
#: The only NaN any unit produces (sign cleared, quiet bit set, rest of the payload zero).
FP32_CANONICAL_NAN = 0x7FC00000
#: The only bf16 NaN any unit produces.
BF16_CANONICAL_NAN = 0x7FC0
#: Exponent bias of fp32 and bf16.
FP32_BIAS = 127

_EXPONENT_ONES = 0xFF


def fp32_fields(value):
    """View a 32-bit value as :data:`FP32` fields (``.sign``, ``.exponent``, ``.fraction``)."""
    return data.View(FP32, value)


def bf16_fields(value):
    """View a 16-bit value as :data:`BF16` fields (``.sign``, ``.exponent``, ``.fraction``)."""
    return data.View(BF16, value)


def is_nan(fields):
    """1 if the :data:`FP32` / :data:`BF16` view ``fields`` is a NaN (any payload, any sign)."""
    return (fields.exponent == _EXPONENT_ONES) & (fields.fraction != 0)


def is_inf(fields):
    """1 if the :data:`FP32` / :data:`BF16` view ``fields`` is an infinity of either sign."""
    return (fields.exponent == _EXPONENT_ONES) & (fields.fraction == 0)


def is_zero(fields):
    """1 if ``fields`` counts as zero under docs/numerics.md: a zero or a subnormal, either sign."""
    return fields.exponent == 0


def pack_float(sign, exponent, fraction, layout=FP32):
    """The bit pattern with the given fields of ``layout`` (:data:`FP32` or :data:`BF16`).

    Integer fields become constants of the field's width; value fields must have that width.
    """
    parts = []
    for name, value in (("fraction", fraction), ("exponent", exponent), ("sign", sign)):
        width = layout[name].width
        value = Const(value, width) if isinstance(value, int) else Value.cast(value)
        if len(value) != width:
            raise ValueError(f"Field {name!r} is {width} bits wide, not {len(value)}: {value!r}")
        parts.append(value)
    return Cat(*parts)


def count_leading_zeros(value):
    """Number of leading zeros of ``value`` (``len(value)`` when it is 0); a log-depth tree.

    Returns an unsigned value wide enough for ``len(value)``.
    """
    value = Value.cast(value)
    width = len(value)
    if width == 0:
        raise ValueError("Cannot count leading zeros of a zero-width value")
    padded_width = 1 << ceil_log2(width)
    # Ones below the value stop the count at `width` when the value is 0.
    padding = padded_width - width
    padded = Cat(Const((1 << padding) - 1, padding), value) if padding else value
    all_zero, count = _leading_zeros_tree(padded)
    return Mux(all_zero, padded_width, count)


def _leading_zeros_tree(value):
    # (all zero, count) for a power-of-two width; count is only meaningful when not all zero.
    if len(value) == 1:
        return ~value[0], Const(0, 1)
    if len(value) == 2:
        return ~(value[0] | value[1]), ~value[1]
    half = len(value) // 2
    high_zero, high_count = _leading_zeros_tree(value[half:])
    low_zero, low_count = _leading_zeros_tree(value[:half])
    count = Mux(high_zero, Cat(low_count, Const(1, 1)), Cat(high_count, Const(0, 1)))
    return high_zero & low_zero, count


class Fp32Add(wiring.Component):
    """fp32 adder ``o = a + b`` on bit patterns, docs/numerics.md, one result per cycle.

    Numerics: subnormal inputs count as zeros of the same sign; the exact sum ``r`` is rounded to
    nearest, ties to even (correctly rounded: at most 0.5 ulp from ``r`` where the result is
    normal); ``|r| >= 2^128 - 2^103`` gives +-inf; ``0 < |r| < 2^-126`` (only possible exactly, by
    cancellation) gives a zero with the sign of ``r``; ``x + (-x) = +0``, ``(-0) + (-0) = -0``;
    ``inf + (-inf)`` and any NaN input give the canonical NaN ``0x7FC00000``. The operation is
    commutative. Bit-exact model: :func:`hybridgen.golden.numerics.fp32_add`.

    Datapath: unpack and order by magnitude, align the smaller operand with guard / round / sticky
    bits, add or subtract, normalize by leading-zero count, round and pack. ``latency`` chooses
    how many of these steps are separated by registers.

    Pipelined-datapath convention (:mod:`hybridgen.rtl.arith.pipeline`): all registers advance only when
    ``en`` is 1; ``o`` is registered and shows the sum of the operands presented ``latency``
    enabled cycles earlier.

    Parameters
    ----------
    latency : int
        Register stages, 1 to 5 (default 3).

    Members
    -------
    en : In(1)
        Clock enable.
    a, b : In(32)
        Operands, fp32 bit patterns.
    o : Out(32)
        Sum, fp32 bit pattern.
    """

    # Registered step boundaries for each latency (the output register is always there).
    # Steps: 1 order, 2 align, 3 add, 4 normalize, 5 round and pack.
    _BOUNDARIES = {1: (), 2: (3,), 3: (2, 4), 4: (1, 3, 4), 5: (1, 2, 3, 4)}

    en: In(1)
    a: In(32)
    b: In(32)
    o: Out(32)

    def __init__(self, *, latency=3):
        if latency not in self._BOUNDARIES:
            raise ValueError(f"Fp32Add latency must be one of {sorted(self._BOUNDARIES)}, "
                             f"not {latency!r}")
        self._latency = latency
        super().__init__()

    @property
    def latency(self):
        """Register stages from ``a``, ``b`` to ``o`` (int)."""
        return self._latency

    def elaborate(self, platform):
        m = Module()
        boundaries = self._BOUNDARIES[self._latency]

        def boundary(step, values):
            return stage_boundary(m, self.en, values, register=step in boundaries,
                                  name=f"step{step}")

        # Step 1: unpack, flush subnormals, detect specials, order by magnitude.
        a, b = fp32_fields(self.a), fp32_fields(self.b)
        a_magnitude = Mux(is_zero(a), 0, self.a[:31])
        b_magnitude = Mux(is_zero(b), 0, self.b[:31])
        a_is_big = a_magnitude >= b_magnitude
        big = Mux(a_is_big, a_magnitude, b_magnitude)
        small = Mux(a_is_big, b_magnitude, a_magnitude)
        big_exponent, small_exponent = big[23:31], small[23:31]
        a_inf, b_inf = is_inf(a), is_inf(b)
        s = boundary(1, {
            "nan": is_nan(a) | is_nan(b) | (a_inf & b_inf & (a.sign != b.sign)),
            "inf": a_inf | b_inf,
            "inf_sign": Mux(a_inf, a.sign, b.sign),
            "zero_sign": a.sign & b.sign,
            "sign": Mux(a_is_big, a.sign, b.sign),
            "subtract": a.sign ^ b.sign,
            "exponent": big_exponent,
            "exponent_difference": (big_exponent - small_exponent)[:8],
            "big": Cat(big[:23], big_exponent != 0),
            "small": Cat(small[:23], small_exponent != 0),
        })

        # Step 2: align the smaller significand; 3 extra bits (guard, round, sticky).
        shift = Mux(s["exponent_difference"] > 27, 27, s["exponent_difference"])[:5]
        shifted = Cat(Const(0, 27), Const(0, 3), s["small"]) >> shift
        aligned = shifted[27:54]
        sticky = shifted[:27].any()
        s = boundary(2, {
            **{key: s[key] for key in ("nan", "inf", "inf_sign", "zero_sign", "sign",
                                       "subtract", "exponent")},
            "big": Cat(Const(0, 3), s["big"]),
            "small": Cat(aligned[0] | sticky, aligned[1:]),
        })

        # Step 3: add or subtract (|big| >= |small|, so the difference is never negative).
        total = Mux(s["subtract"], s["big"] - s["small"], s["big"] + s["small"])[:28]
        s = boundary(3, {
            **{key: s[key] for key in ("nan", "inf", "inf_sign", "zero_sign", "sign",
                                       "exponent")},
            "total": total,
        })

        # Step 4: normalize so the leading one is bit 27; the exponent of the exact sum is
        # exponent + 1 - leading_zeros, and tininess (<= 0) is decided on it before rounding.
        leading_zeros = count_leading_zeros(s["total"])
        exponent_plus_one = s["exponent"] + 1
        s = boundary(4, {
            **{key: s[key] for key in ("nan", "inf", "inf_sign", "zero_sign", "sign")},
            "zero": s["total"] == 0,
            "tiny": exponent_plus_one <= leading_zeros,
            "exponent": (exponent_plus_one - leading_zeros)[:9],
            "normalized": (s["total"] << leading_zeros)[:28],
        })

        # Step 5: round to nearest even, detect overflow, pack; specials take priority.
        significand = s["normalized"][4:28]
        guard = s["normalized"][3]
        sticky = s["normalized"][:3].any()
        rounded = significand + (guard & (sticky | significand[0]))
        exponent = s["exponent"] + rounded[24]
        result = Mux(s["nan"], FP32_CANONICAL_NAN,
                 Mux(s["inf"], pack_float(s["inf_sign"], _EXPONENT_ONES, 0),
                 Mux(s["zero"], pack_float(s["zero_sign"], 0, 0),
                 Mux(s["tiny"], pack_float(s["sign"], 0, 0),
                 Mux(exponent >= _EXPONENT_ONES, pack_float(s["sign"], _EXPONENT_ONES, 0),
                     pack_float(s["sign"], exponent[:8], rounded[:23]))))))
        with m.If(self.en):
            m.d.sync += self.o.eq(result)
        return m


class Bf16MulExact(wiring.Component):
    """Exact bf16 x bf16 product as an fp32 bit pattern, docs/numerics.md rule 5.

    The 8-bit significands give a 16-bit product, so every product in the fp32 normal range is
    exact (no rounding ever happens). Subnormal inputs count as zeros; a product with
    ``0 < |p| < 2^-126`` gives a zero with the sign of ``p``; ``|p| >= 2^128`` gives +-inf;
    ``0 x inf`` and any NaN input give the canonical NaN ``0x7FC00000``. The result is never an
    fp32 subnormal. Bit-exact model: :func:`hybridgen.golden.numerics.bf16_mul_exact`.

    Pipelined-datapath convention (:mod:`hybridgen.rtl.arith.pipeline`): registers advance only when ``en``
    is 1; ``o`` is registered.

    Parameters
    ----------
    latency : int
        1 (default) or 2 (a register after the significand multiplier).

    Members
    -------
    en : In(1)
        Clock enable.
    a, b : In(16)
        Operands, bf16 bit patterns.
    o : Out(32)
        Product, fp32 bit pattern.
    """

    en: In(1)
    a: In(16)
    b: In(16)
    o: Out(32)

    def __init__(self, *, latency=1):
        if latency not in (1, 2):
            raise ValueError(f"Bf16MulExact latency must be 1 or 2, not {latency!r}")
        self._latency = latency
        super().__init__()

    @property
    def latency(self):
        """Register stages from ``a``, ``b`` to ``o`` (int)."""
        return self._latency

    def elaborate(self, platform):
        m = Module()
        a, b = bf16_fields(self.a), bf16_fields(self.b)
        a_zero, b_zero, a_inf, b_inf = is_zero(a), is_zero(b), is_inf(a), is_inf(b)
        s = stage_boundary(m, self.en, {
            "nan": is_nan(a) | is_nan(b) | (a_inf & b_zero) | (a_zero & b_inf),
            "inf": a_inf | b_inf,
            "zero": a_zero | b_zero,
            "sign": a.sign ^ b.sign,
            "exponent_sum": a.exponent + b.exponent,
            "product": Cat(a.fraction, Const(1, 1)) * Cat(b.fraction, Const(1, 1)),
        }, register=self._latency == 2, name="multiply")

        # product in [2^14, 2^16): its leading one is bit 15 or bit 14.
        product = s["product"]
        carry = product[15]
        fraction = Mux(carry, Cat(Const(0, 8), product[:15]), Cat(Const(0, 9), product[:14]))
        biased_plus_bias = s["exponent_sum"] + carry  # biased exponent of p, plus 127
        tiny = biased_plus_bias <= FP32_BIAS
        overflow = biased_plus_bias >= FP32_BIAS + _EXPONENT_ONES
        sign = s["sign"]
        result = Mux(s["nan"], FP32_CANONICAL_NAN,
                 Mux(s["inf"] | overflow, pack_float(sign, _EXPONENT_ONES, 0),
                 Mux(s["zero"] | tiny, pack_float(sign, 0, 0),
                     pack_float(sign, (biased_plus_bias - FP32_BIAS)[:8], fraction))))
        with m.If(self.en):
            m.d.sync += self.o.eq(result)
        return m
