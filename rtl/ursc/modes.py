"""The URSC's modes: which RVPE and UpE logic each dataflow needs, and the per-mode op decode.

``modes`` (the ``ursc`` configuration field) is "attention" (PipeFlash), "ssd" (PipeSSD and
the SSD decode step) or "both". A single-mode build builds only what its dataflow uses; a
"both" build builds the union and has a ``mode`` input (:class:`UrscMode`) that the
controller sets from the descriptor.

What each dataflow uses is read off the bit-exact models of :mod:`hybridgen.golden.ursc`
(:data:`RVPE_USES`, :data:`UPE_USES`: ``ursc_attention``, ``ursc_ssd``, ``ursc_ssd_step``);
the DPEs are the same in every mode. A lane unit computes every op of its
:data:`~hybridgen.rtl.vector.lane.LANE_UNITS` entry, so a mode can run those too (``min``
with ``max``, ``exp2`` with ``exp``, ``sigmoid`` with ``silu``): :func:`rvpe_ops`.

The per-mode op decode (:class:`ModeDecode`, in front of every RVPE and UpE unit) is the
"per-mode local interconnect" of the issue: it routes an op to the units of the running mode
only. An op the mode does not build becomes the unit's fallback (RVPE ``pass``: the result is
``a``; UpE ``MULADD``), so a "both" build with ``mode`` = X gives, beat for beat, the bits
of the X-only build.
"""

from amaranth.hdl import Const, Module, Mux
from amaranth.lib import enum, wiring
from amaranth.lib.wiring import In, Out

from hybridgen.golden import numerics
from hybridgen.rtl.vector.lane import LANE_UNITS, OP_UNITS, lane_units_of

__all__ = ["MODES", "UrscMode", "RVPE_USES", "UPE_USES", "rvpe_ops", "upe_ops", "mode_names",
           "ModeDecode", "check_modes"]

#: Values of the ``modes`` configuration field.
MODES = ("attention", "ssd", "both")


class UrscMode(enum.Enum, shape=1):
    """The ``mode`` input of a "both" build (1 bit)."""
    ATTENTION = 0
    SSD = 1


#: RVPE ops each dataflow uses, with what it computes (golden/ursc.py).
RVPE_USES = {
    "attention": {
        "mul": "S * scale (ursc_attention step 1)",
        "rowmax": "rowmax of the scaled S row (step 2)",
        "max": "m' = max(m, rowmax S) (step 2)",
        "sub": "S - m_s and m - m_s (steps 3, 4)",
        "exp": "P = exp(S - m_s), a = exp(m - m_s) (steps 3, 4)",
        "bf16": "P16 = bf16(P), the DPE1 operand (step 3)",
        "rowsum": "rowsum(P16), the l update's sum (step 4)",
        "recip": "1 / l for the final O * (1/l)",
    },
    "ssd": {
        "add": "dt + dt_bias; Y_diag + Y_off + D x (ursc_ssd steps 1, output)",
        "softplus": "dt = softplus(dt + dt_bias) (step 1)",
        "mul": "dt A, CB^T * exp(segsum), dt x, decayed dt x, D x, y * silu(z)",
        "cumsum": "cum = cumsum(dt A) over the chunk (step 1)",
        "sub": "cum_i - cum_j (segsum), cum_last - cum_s (steps 2, 4)",
        "exp": "exp(cum_i - cum_j), exp(cum_last - cum_s), exp(cum_last), exp(cum_t), "
               "exp(dt A) (steps 2, 4, 5; ursc_ssd_step)",
        "bf16": "the DPE operands M, X, Xd and bf16(state); the output y",
        "silu": "silu(z) (with z)",
        "rowsum": "y = rowsum(state * C) of the decode step (ursc_ssd_step)",
    },
}

#: UpE ops each dataflow uses (:class:`~hybridgen.rtl.ursc.upe.UpeOp` names).
UPE_USES = {
    "attention": {"MULADD": "O = a O + P V, l = a l + rowsum P16",
                  "MUL_BF16": "o = bf16(O * (1/l))"},
    "ssd": {"MULADD": "S = exp(cum_last) S + S_c; exp(cum_t) Y_raw + Y_diag; D x + y; "
                      "decode: state exp(dt A) + u B",
            "MUL": "decode step: u_p * B (the state's new term)"},
}


def check_modes(modes):
    """``modes`` if it is one of :data:`MODES`, else ValueError."""
    if modes not in MODES:
        raise ValueError(f"modes must be one of {', '.join(MODES)}, not {modes!r}")
    return modes


def mode_names(modes):
    """The dataflows of ``modes``: ``("attention",)``, ``("ssd",)`` or both."""
    return ("attention", "ssd") if check_modes(modes) == "both" else (modes,)


def rvpe_ops(modes):
    """Op names (:data:`hybridgen.golden.numerics.VECTOR_OPS` order) an RVPE of ``modes``
    builds: the ops of the lane units its dataflows use, their reductions, and ``pass``."""
    used = set().union(*(RVPE_USES[name] for name in mode_names(modes)))
    units = lane_units_of(used)
    ops = {op for unit in units for op in LANE_UNITS[unit]} | (used - set(OP_UNITS)) | {"pass"}
    return tuple(op for op in numerics.VECTOR_OPS if op in ops)


def upe_ops(modes):
    """UpE op names (:class:`~hybridgen.rtl.ursc.upe.UpeOp` order) of ``modes``."""
    used = set().union(*(UPE_USES[name] for name in mode_names(modes)))
    return tuple(op for op in ("MULADD", "MUL", "MUL_BF16") if op in used)


class ModeDecode(wiring.Component):
    """The per-mode op decode: ``o = op`` if the running mode builds it, else ``fallback``.
    Combinational (no latency).

    Parameters
    ----------
    modes : str
        One of :data:`MODES`. A single-mode build ignores ``mode`` (it has no such port).
    codes : dict
        ``{"attention": [op codes], "ssd": [op codes]}``: what each mode builds.
    bits : int
        Width of the op code.
    fallback : int
        The code an op outside the mode becomes.

    Members
    -------
    op : In(bits)
    mode : In(UrscMode)
        Only with ``modes = "both"``.
    o : Out(bits)
    """

    def __init__(self, *, modes, codes, bits, fallback):
        self._names = mode_names(modes)
        self._masks = {name: sum(1 << _code(code) for code in codes[name]) for name in self._names}
        self._bits, self._fallback = bits, _code(fallback)
        members = {"op": In(bits), "o": Out(bits)}
        if len(self._names) > 1:
            members["mode"] = In(UrscMode)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        size = 1 << self._bits

        def allowed(name):
            return Const(self._masks[name], size).bit_select(self.op, 1)

        if len(self._names) > 1:
            ok = Mux(self.mode == UrscMode.SSD, allowed("ssd"), allowed("attention"))
        else:
            ok = allowed(self._names[0])
        m.d.comb += self.o.eq(Mux(ok, self.op, self._fallback))
        return m


def _code(value):
    """An op code as an int (an int, an IntEnum or an Amaranth enum member)."""
    return int(getattr(value, "value", value))
